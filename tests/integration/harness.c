/* The integration harness (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

static void dump_logs(const struct sg *s)
{
    if (s->log)
        ts_dump_log(s->log, 8000);
    if (s->redis.log)
        ts_dump_log(s->redis.log, 2000);
}

static void write_conf(struct sg *s, const char *extra)
{
    char *certs = ts_path(s->dir, "certs");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/certs/gen-dev-certs.sh %s >/dev/null", SSOGATE_SOURCE_DIR, certs);
    cr_assert_eq(system(cmd), 0, "gen-dev-certs.sh failed");
    char *text = util_xasprintf("[server]\nlisten = 127.0.0.1:%d\nbase_url = http://127.0.0.1:%d\n"
                                "dev_plain_http = true\nshutdown_timeout_s = 5\n"
                                "[redis]\nurl = %s\ncommand_timeout_ms = 300\nconnect_timeout_ms = 300\n"
                                "reconnect_max_backoff_ms = 400\n"
                                "[saml]\nsp_key = %s/sp.key\nsp_cert = %s/sp.crt\n"
                                "[session]\nkeys = %s/session.keys\n%s\n",
                                s->port, s->port, s->redis.url, certs, certs, certs, extra ? extra : "");
    cr_assert_eq(ts_write_file(s->conf, text), 0);
    free(text);
    free(certs);
}

static const char *const *saved_env;

const char *sg_bin(void)
{
    const char *bin = getenv("SSOGATE_BIN");
    return bin ? bin : SSOGATE_BINARY_DIR "/ssogate";
}

void sg_restart_server(struct sg *s)
{
    const char *bin = sg_bin();
    const char *argv[] = {bin, "serve", "-c", s->conf, NULL};
    s->pid = ts_spawn(argv, saved_env, s->log);
    cr_assert_gt(s->pid, 0, "cannot start %s: %s", bin, ts_last_error());
    if (ts_wait_tcp("127.0.0.1", s->port, s->pid, 10000) < 0) {
        dump_logs(s);
        cr_assert_fail("ssogate did not start listening on %d", s->port);
    }
}

void sg_start(struct sg *s, const char *extra_conf, const char *const *env)
{
    memset(s, 0, sizeof *s);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s->dir = ts_mkdtemp("ssogate-it");
    cr_assert_not_null(s->dir);
    s->conf = ts_path(s->dir, "ssogate.conf");
    s->log = ts_path(s->dir, "ssogate.log");
    struct ts_redis_opts ro = {.aof = 1}; /* as in production: data survives a restart */
    if (ts_redis_start(&s->redis, &ro) < 0)
        cr_assert_fail("redis-server: %s", ts_last_error());
    s->port = ts_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    write_conf(s, extra_conf);
    saved_env = env;
    sg_restart_server(s);
}

void sg_stop_server(struct sg *s)
{
    if (s->pid > 0) {
        int st = ts_kill(s->pid, 8000);
        s->pid = 0;
        /* A clean shutdown on SIGTERM exits 0; anything else (a crash, a
         * sanitizer report) fails the test that owns the server. */
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            dump_logs(s);
            cr_expect_fail("ssogate did not exit cleanly on SIGTERM (status %d)", st);
        }
    }
}

void sg_stop(struct sg *s)
{
    sg_stop_server(s);
    ts_redis_free(&s->redis);
    if (s->dir && !ts_keep_files())
        ts_rm_rf(s->dir);
    free(s->dir);
    free(s->conf);
    free(s->log);
    memset(s, 0, sizeof *s);
}

static size_t collect(char *p, size_t sz, size_t n, void *u)
{
    buf_append(u, p, sz * n);
    return sz * n;
}

void sg_request(const struct sg *s, const char *method, const char *path, struct curl_slist *hdrs,
                const char *body, struct sg_resp *out)
{
    struct buf b, h;
    buf_init(&b);
    buf_init(&h);
    CURL *c = curl_easy_init();
    char *url = util_xasprintf("%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    out->status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
    free(url);
    out->body = b.data;
    out->headers = h.data;
}

void sg_get(const struct sg *s, const char *path, struct sg_resp *out)
{
    sg_request(s, "GET", path, NULL, NULL, out);
}

void sg_resp_free(struct sg_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

char *sg_header(const struct sg_resp *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            return util_xstrndup(v, (size_t)(end - v));
        }
        line = end + 2;
    }
    return NULL;
}

long sg_wait_status(const struct sg *s, const char *path, long want, int timeout_ms)
{
    int64_t t0 = util_mono_ms();
    while (util_mono_ms() - t0 <= timeout_ms) {
        struct sg_resp r;
        sg_get(s, path, &r);
        long st = r.status;
        sg_resp_free(&r);
        if (st == want)
            return (long)(util_mono_ms() - t0);
        usleep(20 * 1000);
    }
    return -1;
}

extern char **environ;

char *sg_org_create(const struct sg *s, const char *slug, const char *owner)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    setenv("SSOGATE_REDIS_URL", s->redis.url, 1);
    const char *argv[] = {sg_bin(), "org", "create", slug, "--owner", owner, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, sg_bin(), &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "org create: %s", buf);
    json_t *j = json_loads(buf, 0, NULL);
    cr_assert_not_null(j, "%s", buf);
    char *key = util_xstrdup(json_string_value(json_object_get(j, "owner_api_key")));
    json_decref(j);
    return key;
}
