/* The HTTP server: libmicrohttpd with epoll and a worker pool, a route table,
 * limits on header and body size and request time, per-route rate limits,
 * request ids, one JSON log line per request, and graceful shutdown.
 * The only module that includes microhttpd.h. */
#ifndef SSOGATE_HTTP_HTTP_H
#define SSOGATE_HTTP_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "util/config.h"
#include "util/err.h"
#include "util/util.h"

struct http_req;
struct http_server;

typedef void (*http_handler)(struct http_req *r);

enum http_method {
    HTTP_GET = 1,      /* implies HEAD, answered without a body */
    HTTP_POST = 2,
    HTTP_PUT = 4,
    HTTP_DELETE = 8,
    HTTP_PATCH = 16,
    HTTP_OPTIONS = 32,
    HTTP_ANY = 63,
};

enum http_route_flag {
    ROUTE_PREFIX = 1,  /* path ends in '*': matches the rest */
};

struct http_route {
    const char *name;         /* stable name for logs and metrics */
    unsigned methods;
    const char *path;         /* "/saml/{org}/acs"; {name} is one segment */
    http_handler handler;
    unsigned flags;
    int body_limit;           /* bytes; 0 = [server] max_body_bytes */
    enum ratelimit_class ratelimit;
};

/* Starts listening; routes must outlive the server (end with a NULL name).
 * Returns NULL with e filled on failure. */
struct http_server *http_server_start(const struct config *cfg, const struct http_route *routes,
                                      struct err *e);
/* Stop accepting, let in-flight requests finish for up to timeout_s, stop. */
void http_server_stop(struct http_server *s, int timeout_s);
int http_server_port(const struct http_server *s);

/* Request accessors. Returned strings belong to the request. */
const char *http_method(const struct http_req *r);
const char *http_path(const struct http_req *r);
const char *http_header(const struct http_req *r, const char *name);
const char *http_query(const struct http_req *r, const char *name);
/* The query string exactly as received (after '?', before any fragment
 * the client should not send), or NULL when the target had none. */
const char *http_raw_query(const struct http_req *r);
const char *http_cookie(const struct http_req *r, const char *name);
/* Number of cookies with this name (two session cookies are refused). */
int http_cookie_count(const struct http_req *r, const char *name);
const char *http_param(const struct http_req *r, const char *name);   /* {name} in path */
/* application/x-www-form-urlencoded body field; NULL when absent. */
const char *http_form(struct http_req *r, const char *name);
const char *http_body(const struct http_req *r, size_t *len);
const char *http_client_ip(const struct http_req *r);  /* peer, or X-Forwarded-For from a trusted proxy */
const char *http_peer_ip(const struct http_req *r);    /* the TCP peer, always */
int http_peer_trusted(const struct http_req *r);       /* peer in [server] trusted_proxies */
const char *http_request_id(const struct http_req *r);
const struct config *http_config(const struct http_req *r);
/* Slot for the handler's own state, freed with free_fn at completion. */
void http_set_data(struct http_req *r, void *data, void (*free_fn)(void *));
void *http_data(const struct http_req *r);
/* Annotate the log line and metrics. */
void http_log_org(struct http_req *r, const char *org);
void http_log_code(struct http_req *r, const char *code);

/* Rate limits a handler applies itself (e.g. failed API-key checks): blocked
 * returns the seconds to wait (0 = not limited) without spending a token;
 * spend takes one (call it on each failure). */
int http_ratelimit_blocked(struct http_req *r, enum ratelimit_class c);
void http_ratelimit_spend(struct http_req *r, enum ratelimit_class c);

/* Responses: exactly one per request. Headers added before the reply. */
void http_add_header(struct http_req *r, const char *name, const char *value);
void http_reply(struct http_req *r, int status, const char *content_type, const void *body,
                size_t len);
void http_reply_json(struct http_req *r, int status, json_t *body /* stolen */);
/* {"error": code, "message": msg} with the code's status. */
void http_reply_err(struct http_req *r, const struct err *e);
void http_reply_error(struct http_req *r, const char *code, const char *message);
void http_redirect(struct http_req *r, int status, const char *location);
/* The server's request metrics in Prometheus text format. */
void http_render_metrics(const struct http_req *r, struct buf *out);

#endif
