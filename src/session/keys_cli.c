/* `ssogate keys`: the session-signing key ring file. Rotation without logging
 * anybody out, on one instance or many (docs/sessions.md):
 *   keys stage   -> append a new key marked "next": it verifies, never signs;
 *                   copy the file to every instance and restart them in turn
 *   keys rotate  -> the staged key (or a new one) becomes the signer; the old
 *                   signer stays as a verifier; copy and restart again
 *   keys retire KID -> drop a verifier once sessions it signed have expired
 *   keys list    -> kids and roles, never secrets
 * The file is rewritten atomically (temp file + rename, mode 0600). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "session/token.h"
#include "util/config.h"
#include "util/util.h"

#define LINES_MAX 32

struct line {
    char kid[TOKEN_KID_MAX + 1];
    char secret[128];
    int staged;
};

static int read_lines(const char *path, struct line *out, int *n)
{
    size_t len;
    char *text = util_read_file(path, 65536, &len);
    if (!text)
        return -1;
    /* Let the key ring parser refuse a bad file first. */
    struct err e;
    struct keyring *k = keyring_parse(text, &e);
    if (!k) {
        fprintf(stderr, "ssogate keys: %s: %s\n", path, e.msg);
        free(text);
        return -1;
    }
    keyring_free(k);
    *n = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l && *n < LINES_MAX; l = strtok_r(NULL, "\n", &save)) {
        char kid[TOKEN_KID_MAX + 1] = "", sec[128] = "", flag[16] = "";
        if (l[0] == '#' || sscanf(l, "%32s %127s %15s", kid, sec, flag) < 2)
            continue;
        snprintf(out[*n].kid, sizeof out[*n].kid, "%s", kid);
        snprintf(out[*n].secret, sizeof out[*n].secret, "%s", sec);
        out[*n].staged = strcmp(flag, "next") == 0;
        (*n)++;
    }
    free(text);
    return 0;
}

static int write_lines(const char *path, const struct line *l, int n)
{
    char *tmp = util_xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "ssogate keys: cannot write %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    fputs("# ssogate session keys: \"kid secret [next]\"; the first key not marked next signs.\n", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s %s%s\n", l[i].kid, l[i].secret, l[i].staged ? " next" : "");
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -1;
    fclose(f);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        fprintf(stderr, "ssogate keys: cannot replace %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static void new_line(struct line *l, const struct line *existing, int n)
{
    unsigned char raw[32];
    util_random(raw, sizeof raw);
    char *s = util_b64url_encode(raw, sizeof raw);
    snprintf(l->secret, sizeof l->secret, "%s", s);
    free(s);
    char day[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    for (int suffix = 0;; suffix++) {
        snprintf(l->kid, sizeof l->kid, suffix ? "k%s-%d" : "k%s", day, suffix);
        int taken = 0;
        for (int i = 0; i < n; i++)
            taken |= strcmp(existing[i].kid, l->kid) == 0;
        if (!taken)
            break;
    }
    l->staged = 0;
}

static void print_list(const struct line *l, int n)
{
    int signer = -1;
    for (int i = 0; i < n && signer < 0; i++)
        if (!l[i].staged)
            signer = i;
    for (int i = 0; i < n; i++)
        printf("{\"kid\": \"%s\", \"role\": \"%s\"}\n", l[i].kid,
               i == signer ? "signing" : l[i].staged ? "staged" : "verify");
}

static void usage(FILE *f)
{
    fputs("usage: ssogate keys list|stage|rotate|retire KID [-c CONFIG | --file KEYS_FILE]\n", f);
}

int cli_keys(int argc, char **argv)
{
    const char *cfgpath = NULL, *file = NULL;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"file", required_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:f:", longopts, NULL)) != -1) {
        if (ch == 'c')
            cfgpath = optarg;
        else if (ch == 'f')
            file = optarg;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    struct config cfg;
    struct err e;
    if (!file) {
        if (config_load(&cfg, cfgpath, &e) < 0) {
            fprintf(stderr, "ssogate: %s\n", e.msg);
            config_free(&cfg);
            return 2;
        }
        file = util_xstrdup(cfg.session_keys);
        config_free(&cfg);
    } else {
        file = util_xstrdup(file);
    }
    struct line lines[LINES_MAX + 1];
    int n = 0, rc = 1;
    if (read_lines(file, lines, &n) < 0) {
        fprintf(stderr, "ssogate keys: cannot read %s\n", file);
        goto done;
    }
    if (!strcmp(verb, "list")) {
        print_list(lines, n);
        rc = 0;
    } else if (!strcmp(verb, "stage")) {
        for (int i = 0; i < n; i++)
            if (lines[i].staged) {
                fprintf(stderr, "ssogate keys: %s is already staged; rotate first\n", lines[i].kid);
                goto done;
            }
        if (n >= LINES_MAX)
            goto done;
        new_line(&lines[n], lines, n);
        lines[n].staged = 1;
        n++;
        rc = write_lines(file, lines, n) < 0 ? 1 : 0;
        if (rc == 0)
            printf("{\"staged\": \"%s\"}\n", lines[n - 1].kid);
    } else if (!strcmp(verb, "rotate")) {
        struct line promoted;
        int idx = -1;
        for (int i = 0; i < n; i++)
            if (lines[i].staged)
                idx = i;
        if (idx >= 0) {
            promoted = lines[idx];
            memmove(&lines[idx], &lines[idx + 1], (size_t)(n - idx - 1) * sizeof lines[0]);
            n--;
        } else {
            new_line(&promoted, lines, n);
            fprintf(stderr, "ssogate keys: no staged key: made a new one. With several instances, stage "
                            "first so that every instance verifies it before any signs with it.\n");
        }
        promoted.staged = 0;
        memmove(&lines[1], &lines[0], (size_t)n * sizeof lines[0]);
        lines[0] = promoted;
        n++;
        rc = write_lines(file, lines, n) < 0 ? 1 : 0;
        if (rc == 0)
            printf("{\"signing\": \"%s\"}\n", promoted.kid);
    } else if (!strcmp(verb, "retire") && optind + 1 < argc) {
        const char *kid = argv[optind + 1];
        int idx = -1, signers = 0;
        for (int i = 0; i < n; i++) {
            if (!strcmp(lines[i].kid, kid))
                idx = i;
            signers += !lines[i].staged;
        }
        if (idx < 0) {
            fprintf(stderr, "ssogate keys: no key %s\n", kid);
            goto done;
        }
        if (!lines[idx].staged && signers == 1) {
            fprintf(stderr, "ssogate keys: %s is the only signing key\n", kid);
            goto done;
        }
        memmove(&lines[idx], &lines[idx + 1], (size_t)(n - idx - 1) * sizeof lines[0]);
        n--;
        rc = write_lines(file, lines, n) < 0 ? 1 : 0;
        if (rc == 0)
            printf("{\"retired\": \"%s\"}\n", kid);
    } else {
        usage(stderr);
        rc = 2;
    }
done:
    free((char *)file);
    return rc;
}
