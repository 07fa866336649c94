/* Integration harness: a real redis-server (unix socket in a temp dir) and
 * the built ssogate binary on a free port, spoken to over HTTP with libcurl,
 * both stopped by PID. */
#ifndef SSOGATE_TESTS_HARNESS_H
#define SSOGATE_TESTS_HARNESS_H

#include <curl/curl.h>
#include <sys/types.h>

#include "ts.h"

struct sg {
    struct ts_redis redis;
    pid_t pid;
    int port;
    char *dir;
    char *conf;
    char *log;
    char base[64];   /* http://127.0.0.1:PORT */
};

struct sg_resp {
    long status;     /* -1: no answer */
    char *body;
    char *headers;
};

/* Start redis + ssogate; extra_conf is appended to the generated config
 * (sections and options), may be NULL. env: extra NAME=VALUE, may be NULL.
 * Asserts (criterion) on failure, dumping the logs. */
void sg_start(struct sg *s, const char *extra_conf, const char *const *env);
/* Start only ssogate again (same config) after sg_stop_server. */
void sg_restart_server(struct sg *s);
void sg_stop_server(struct sg *s);
/* Stop both, remove the temp dir. */
void sg_stop(struct sg *s);

/* The ssogate binary under test ($SSOGATE_BIN, else the build dir's). */
const char *sg_bin(void);

/* One request; hdrs may be NULL; body NULL for none. */
void sg_request(const struct sg *s, const char *method, const char *path, struct curl_slist *hdrs,
                const char *body, struct sg_resp *out);
void sg_get(const struct sg *s, const char *path, struct sg_resp *out);
void sg_resp_free(struct sg_resp *r);
/* Case-insensitive header value from a response, malloc'd, or NULL. */
char *sg_header(const struct sg_resp *r, const char *name);
/* Poll path until it answers want (or timeout_ms passes); returns ms waited or -1. */
long sg_wait_status(const struct sg *s, const char *path, long want, int timeout_ms);
/* `ssogate org create SLUG --owner EMAIL` against the harness's Redis (asserts
 * exit 0); the owner's API key, malloc'd. */
char *sg_org_create(const struct sg *s, const char *slug, const char *owner);

#endif
