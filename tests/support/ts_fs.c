/* Test support: temp dirs (mkdtemp) removed recursively by nftw, small
 * file helpers, and dumping a server's log when a test fails. */
#include "ts_fs.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_util.h"

int ts_keep_files(void)
{
    const char *k = getenv("TS_KEEP");
    return k && *k && strcmp(k, "0") != 0;
}

char *ts_mkdtemp(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *tmpl = NULL;
    if (asprintf(&tmpl, "%s/%s.XXXXXX", base, prefix ? prefix : "ssogate-test") < 0)
        return NULL;
    if (!mkdtemp(tmpl)) {
        ts_fail("mkdtemp %s: %s", tmpl, strerror(errno));
        free(tmpl);
        return NULL;
    }
    return tmpl;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        return ts_fail("remove %s: %s", path, strerror(errno));
    return 0;
}

int ts_rm_rf(const char *path)
{
    if (!path)
        return 0;
    if (ts_keep_files()) {
        fprintf(stderr, "test support: TS_KEEP set, keeping %s\n", path);
        return 0;
    }
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *ts_path(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

int ts_write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return ts_fail("open %s: %s", path, strerror(errno));
    size_t n = strlen(content);
    int ok = fwrite(content, 1, n, f) == n;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : ts_fail("write %s: %s", path, strerror(errno));
}

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void ts_dump_log(const char *path, size_t max_bytes)
{
    size_t n = 0;
    char *s = path ? ts_read_file(path, &n) : NULL;
    if (!s) {
        fprintf(stderr, "---- %s: (unreadable) ----\n", path ? path : "(null)");
        return;
    }
    const char *from = n > max_bytes ? s + n - max_bytes : s;
    fprintf(stderr, "---- last %zu bytes of %s ----\n%s---- end of %s ----\n",
            (size_t)(s + n - from), path, from, path);
    free(s);
}
