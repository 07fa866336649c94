/* The HTTP server: one libmicrohttpd daemon per worker, each with one thread
 * and its own epoll set, and one thread that accepts connections and hands
 * each to a worker (worker_pick: the one at home on the CPU that received
 * it, within a bound; docs/operations.md). All state of one request lives
 * in struct http_req, made on the first call of the access handler and
 * freed in the completed callback, which also writes the log line and the
 * metrics. Responses are queued after the body, or on the second call of a
 * body-less request: one queued on the very first call costs keep-alive
 * (see STYLE.md). */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/metrics.h"
#include "http/ratelimit.h"
#include "util/log.h"
#include "util/net.h"
#include "util/util.h"

#define MAX_PARAMS 4
#define MAX_HEADERS 16
#define REQUEST_ID_MAX 64

/* One event loop: a libmicrohttpd daemon of its own, with one thread. */
struct http_worker {
    struct MHD_Daemon *daemon;
    atomic_int conns;              /* handed to it and not yet closed */
    int cpu;                       /* to pin itself to, or -1 */
};

struct http_server {
    const struct config *cfg;
    const struct http_route *routes;
    int nroutes;
    const char **route_names;
    struct metrics *metrics;
    struct ratelimit *rl[RL_CLASSES];
    struct cidr_list *trusted;
    atomic_int inflight;
    int port;
    int listen_fd;
    pthread_t acceptor;
    int acceptor_started;
    atomic_int stopping;
    unsigned next;                 /* where the acceptor's scan starts (ties) */
    struct http_worker *workers;
    unsigned nworkers;
    short cpu_worker[CPU_SETSIZE]; /* the worker at home on each CPU, or -1 */
};

struct kv {
    char *name;
    char *value;
};

struct http_conn;

struct http_req {
    int pre;                       /* allocated by uri_log, not yet set up */
    struct http_conn *owner;       /* the connection it is part of, or NULL: on the heap */
    char *raw_uri;                 /* the request target as received */
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    int route;                     /* index, -1 when none */
    int early_status;              /* refused before the body: 404, 405, 413, 429 */
    int retry_after;
    const char *early_code;
    struct kv params[MAX_PARAMS];
    int nparams;
    struct buf body;
    size_t body_limit;
    struct kv *form;
    int nform;
    int form_parsed;
    struct kv headers[MAX_HEADERS];
    int nheaders;
    size_t hbuf_len;
    char request_id[REQUEST_ID_MAX + 1];
    char peer[INET6_ADDRSTRLEN];
    char client[INET6_ADDRSTRLEN];
    int64_t start_ms;
    int64_t start_us;
    int calls;
    int replied;
    int status;
    char *org;                     /* org_inline, or on the heap when longer */
    char org_inline[64];
    const char *code;
    void *data;
    void (*data_free)(void *);
    /* Buffers last: a reused struct is zeroed up to here (uri_log). */
    char raw_inline[256];          /* raw_uri when it fits */
    char hbuf[1024];               /* response header text, to spare mallocs */
};

/* One per TCP connection (MHD_OPTION_NOTIFY_CONNECTION): the peer address,
 * formatted once, and the request struct that the connection's requests use
 * one after the other. A proxy sends thousands of requests on one keep-alive
 * connection; this spares each of them an allocation (a large one, which
 * makes glibc consolidate its fast bins) and the peer formatting. */
struct http_conn {
    struct http_req req;
    int req_busy;                  /* req holds a request not yet completed */
    unsigned requests;             /* served in req so far */
    int closed;                    /* MHD closed the connection while req_busy */
    char peer[INET6_ADDRSTRLEN];
};

static void request_count(struct http_req *r);

/* ---- request accessors ---- */

const char *http_method(const struct http_req *r) { return r->method; }
const char *http_path(const struct http_req *r) { return r->path; }
const char *http_request_id(const struct http_req *r) { return r->request_id; }
const char *http_client_ip(const struct http_req *r) { return r->client; }
const char *http_peer_ip(const struct http_req *r) { return r->peer; }
const struct config *http_config(const struct http_req *r) { return r->srv->cfg; }
void *http_data(const struct http_req *r) { return r->data; }

int http_peer_trusted(const struct http_req *r)
{
    return net_cidr_list_match(r->srv->trusted, r->peer);
}

const char *http_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_raw_query(const struct http_req *r)
{
    const char *q = r->raw_uri ? strchr(r->raw_uri, '?') : NULL;
    return q ? q + 1 : NULL;
}

const char *http_cookie(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

struct count_ctx {
    const char *name;
    int n;
};

static enum MHD_Result count_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct count_ctx *c = cls;
    (void)kind;
    (void)value;
    if (key && strcmp(key, c->name) == 0)
        c->n++;
    return MHD_YES;
}

int http_cookie_count(const struct http_req *r, const char *name)
{
    struct count_ctx c = {name, 0};
    MHD_get_connection_values(r->conn, MHD_COOKIE_KIND, count_cb, &c);
    return c.n;
}

const char *http_param(const struct http_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

const char *http_body(const struct http_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data;
}

void http_set_data(struct http_req *r, void *data, void (*free_fn)(void *))
{
    r->data = data;
    r->data_free = free_fn;
}

static void org_clear(struct http_req *r)
{
    if (r->org != r->org_inline)
        free(r->org);
    r->org = NULL;
}

void http_log_org(struct http_req *r, const char *org)
{
    org_clear(r);
    if (org && strlen(org) < sizeof r->org_inline)
        r->org = strcpy(r->org_inline, org); /* the usual slug: no allocation */
    else if (org)
        r->org = util_xstrdup(org);
}

void http_log_code(struct http_req *r, const char *code)
{
    r->code = code;
}

/* ---- forms ---- */

static enum MHD_Result form_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *encoding, const char *data,
                               uint64_t off, size_t size)
{
    struct http_req *r = cls;
    (void)kind, (void)filename, (void)content_type, (void)encoding;
    /* A value may arrive in pieces: append to the field of the same name that
     * is being filled (off > 0), else start a new one. */
    if (off > 0 && r->nform > 0 && strcmp(r->form[r->nform - 1].name, key) == 0) {
        struct kv *f = &r->form[r->nform - 1];
        size_t old = strlen(f->value);
        f->value = util_xrealloc(f->value, old + size + 1);
        memcpy(f->value + old, data, size);
        f->value[old + size] = '\0';
        return MHD_YES;
    }
    if (r->nform >= 64)
        return MHD_NO;
    r->form = util_xrealloc(r->form, (size_t)(r->nform + 1) * sizeof *r->form);
    r->form[r->nform].name = util_xstrdup(key);
    r->form[r->nform].value = util_xstrndup(data ? data : "", size);
    r->nform++;
    return MHD_YES;
}

static void form_parse(struct http_req *r)
{
    r->form_parsed = 1;
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 || r->body.len == 0)
        return;
    struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 16384, form_cb, r);
    if (!pp)
        return;
    MHD_post_process(pp, r->body.data, r->body.len);
    MHD_destroy_post_processor(pp);
}

const char *http_form(struct http_req *r, const char *name)
{
    if (!r->form_parsed)
        form_parse(r);
    for (int i = 0; i < r->nform; i++)
        if (strcmp(r->form[i].name, name) == 0)
            return r->form[i].value;
    return NULL;
}

/* ---- responses ---- */

/* A copy of s for a response header: in the request's buffer while it has
 * room (the usual case: a handful of short headers), else on the heap. */
static char *header_copy(struct http_req *r, const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > sizeof r->hbuf - r->hbuf_len)
        return util_xstrdup(s);
    char *p = r->hbuf + r->hbuf_len;
    memcpy(p, s, n);
    r->hbuf_len += n;
    return p;
}

static void header_free(struct http_req *r, char *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)r->hbuf;
    if (a < lo || a >= lo + sizeof r->hbuf)
        free(p);
}

void http_add_header(struct http_req *r, const char *name, const char *value)
{
    if (r->nheaders >= MAX_HEADERS) {
        log_msg(LOG_ERROR, "BUG: too many response headers on %s", r->path);
        return;
    }
    r->headers[r->nheaders].name = header_copy(r, name);
    r->headers[r->nheaders].value = header_copy(r, value);
    r->nheaders++;
}

static void add_standard_headers(struct http_req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->srv->cfg->base_url_https)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    int has_cc = 0;
    for (int i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Cache-Control") == 0)
            has_cc = 1;
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    }
    /* Everything ssogate answers is about a person or a secret: never cache. */
    if (!has_cc)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
}

void http_reply(struct http_req *r, int status, const char *content_type, const void *body, size_t len)
{
    if (r->replied) {
        log_msg(LOG_ERROR, "BUG: second reply on %s", r->path);
        return;
    }
    r->replied = 1;
    r->status = status;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(body && len ? body : ""), len ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_standard_headers(r, resp);
    int limit = r->srv->cfg->keepalive_requests;
    if (limit && r->owner && r->owner->requests >= (unsigned)limit)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    request_count(r);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (!s) {
        http_reply(r, 500, "application/json", "{\"error\":\"internal_error\"}", 26);
        return;
    }
    size_t n = strlen(s);
    s[n] = '\n';
    http_reply(r, status, "application/json", s, n + 1);
    free(s);
}

void http_reply_error(struct http_req *r, const char *code, const char *message)
{
    int status = err_status(code);
    if (status < 0) {
        log_msg(LOG_ERROR, "BUG: unknown error code %s", code);
        code = "internal_error";
        status = 500;
    }
    r->code = code;
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(message ? message : err_default_message(code)));
    http_reply_json(r, status, o);
}

void http_reply_err(struct http_req *r, const struct err *e)
{
    http_reply_error(r, e->code ? e->code : "internal_error", e->msg[0] ? e->msg : NULL);
}

void http_redirect(struct http_req *r, int status, const char *location)
{
    http_add_header(r, MHD_HTTP_HEADER_LOCATION, location);
    http_reply(r, status, "text/plain; charset=utf-8", "", 0);
}

/* ---- routing ---- */

static unsigned method_bit(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } tab[] = {{"GET", HTTP_GET}, {"HEAD", HTTP_GET}, {"POST", HTTP_POST}, {"PUT", HTTP_PUT},
               {"DELETE", HTTP_DELETE}, {"PATCH", HTTP_PATCH}, {"OPTIONS", HTTP_OPTIONS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].name, m) == 0)
            return tab[i].bit;
    return 0;
}

/* Match path against pattern; fills params. A {name} segment matches one
 * non-empty segment; a trailing '*' matches the rest (possibly empty). */
static int route_match(const char *pattern, const char *path, struct http_req *r)
{
    const char *p = pattern, *s = path;
    int np = 0;
    while (*p) {
        if (*p == '*' && p[1] == '\0') {
            r->nparams = np;
            return 1;
        }
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!se)
                se = s + strlen(s);
            if (!pe || se == s || np >= MAX_PARAMS)
                return 0;
            free(r->params[np].name);
            free(r->params[np].value);
            r->params[np].name = util_xstrndup(p + 1, (size_t)(pe - p - 1));
            r->params[np].value = util_xstrndup(s, (size_t)(se - s));
            np++;
            p = pe + 1;
            s = se;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    if (*s)
        return 0;
    r->nparams = np;
    return 1;
}

static void route_find(struct http_req *r)
{
    unsigned bit = method_bit(r->method);
    int path_matched = 0;
    r->route = -1;
    for (int i = 0; i < r->srv->nroutes; i++) {
        if (!route_match(r->srv->routes[i].path, r->path, r))
            continue;
        path_matched = 1;
        if (bit & r->srv->routes[i].methods) {
            r->route = i;
            return;
        }
    }
    r->early_status = path_matched ? 405 : 404;
    r->early_code = path_matched ? "method_not_allowed" : "not_found";
}

/* ---- request set-up ---- */

static int request_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static void peer_format(struct MHD_Connection *conn, char *out /* INET6_ADDRSTRLEN */)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    strcpy(out, "unknown");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
    }
}

static void peer_address(struct http_req *r)
{
    if (r->owner)
        memcpy(r->peer, r->owner->peer, sizeof r->peer);
    else
        peer_format(r->conn, r->peer);
    strcpy(r->client, r->peer);
    /* Behind a trusted proxy the client is the right-most X-Forwarded-For
     * entry that is not itself a trusted proxy; anything left of it could be
     * written by the client. */
    const char *xff = http_header(r, "X-Forwarded-For");
    if (!xff || !http_peer_trusted(r) || strlen(xff) > 1024)
        return;
    char copy[1025];
    snprintf(copy, sizeof copy, "%s", xff);
    char *end = copy + strlen(copy);
    while (end > copy) {
        char *comma = end;
        while (comma > copy && comma[-1] != ',')
            comma--;
        *end = '\0';
        char *tok = comma;
        while (*tok == ' ')
            tok++;
        for (char *t = tok + strlen(tok); t > tok && t[-1] == ' '; t--)
            t[-1] = '\0';
        struct in6_addr tmp;
        if (inet_pton(AF_INET, tok, &tmp) != 1 && inet_pton(AF_INET6, tok, &tmp) != 1)
            return;
        if (!net_cidr_list_match(r->srv->trusted, tok)) {
            size_t n = strlen(tok);
            if (n < sizeof r->client) {
                memcpy(r->client, tok, n + 1);
            }
            return;
        }
        end = comma > copy ? comma - 1 : copy;
    }
}

static void request_limits(struct http_req *r)
{
    const struct http_route *rt = &r->srv->routes[r->route];
    r->body_limit = (size_t)(rt->body_limit ? rt->body_limit : r->srv->cfg->max_body_bytes);
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end || n > r->body_limit) {
            r->early_status = 413;
            r->early_code = "body_too_large";
            return;
        }
    }
    if (rt->ratelimit != RL_NONE && r->srv->rl[rt->ratelimit]) {
        int wait = ratelimit_take(r->srv->rl[rt->ratelimit], r->client, util_mono_ms());
        if (wait > 0) {
            r->early_status = 429;
            r->early_code = "rate_limited";
            r->retry_after = wait;
        }
    }
}

int http_ratelimit_blocked(struct http_req *r, enum ratelimit_class c)
{
    struct ratelimit *rl = c > RL_NONE && c < RL_CLASSES ? r->srv->rl[c] : NULL;
    return rl ? ratelimit_peek(rl, r->client, util_mono_ms()) : 0;
}

void http_ratelimit_spend(struct http_req *r, enum ratelimit_class c)
{
    struct ratelimit *rl = c > RL_NONE && c < RL_CLASSES ? r->srv->rl[c] : NULL;
    if (rl)
        ratelimit_take(rl, r->client, util_mono_ms());
}

/* MHD's URI log callback sees the request target before MHD unescapes and
 * splits it: keep it, because a Redirect-binding signature covers the query
 * string exactly as sent (SAML Bindings 3.4.4.1), which cannot be rebuilt
 * from decoded values. Its return value becomes *con_cls. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = ci ? ci->socket_context : NULL;
    struct http_req *r;
    if (c && !c->req_busy) {
        r = &c->req;
        /* Everything but the buffers at the end, written before read. */
        memset(r, 0, offsetof(struct http_req, raw_inline));
        r->owner = c;
        c->req_busy = 1;
        c->requests++;
    } else {
        r = util_xcalloc(1, sizeof *r);
    }
    r->pre = 1;
    size_t n = uri ? strlen(uri) : 0;
    if (n < sizeof r->raw_inline) {
        memcpy(r->raw_inline, uri ? uri : "", n + 1);
        r->raw_uri = r->raw_inline;
    } else {
        r->raw_uri = util_xstrdup(uri);
    }
    return r;
}

/* The end of a request struct: back to its connection, or freed. */
static void request_release(struct http_req *r)
{
    if (r->raw_uri != r->raw_inline)
        free(r->raw_uri);
    struct http_conn *c = r->owner;
    if (!c) {
        free(r);
        return;
    }
    c->req_busy = 0;
    if (c->closed)
        free(c);
}

/* [server] cpu_affinity = auto: a worker thread pins itself, on its first
 * connection, to a CPU of its own of those the process may use (worker i to
 * the i-th, round the list). Unpinned, the kernel at times ran both workers
 * of a 2-core machine on one core while a load generator held the other. */
static void worker_pin(struct http_worker *w)
{
    static __thread int done;
    if (done || w->cpu < 0)
        return;
    done = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        log_msg(LOG_WARN, "[server] cpu_affinity: cannot pin a worker to CPU %d", w->cpu);
    else
        log_msg(LOG_INFO, "worker thread pinned to CPU %d", w->cpu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_worker *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        worker_pin(w);
        struct http_conn *c = util_xcalloc(1, sizeof *c);
        peer_format(conn, c->peer);
        *socket_context = c;
        return;
    }
    atomic_fetch_sub_explicit(&w->conns, 1, memory_order_relaxed);
    struct http_conn *c = *socket_context;
    *socket_context = NULL;
    if (c && c->req_busy)
        c->closed = 1; /* the request completes later and frees it */
    else
        free(c);
}

/* Request ids must be unique, not secret: a random base per thread (from
 * the CSPRNG, once) and a counter, through the splitmix64 finalizer (a
 * bijection, so a thread never repeats one). No RAND_bytes per request: in
 * OpenSSL 3 it costs a getpid() system call and a locked DRBG. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void request_id_make(char *out /* 25 bytes */)
{
    static __thread uint64_t base, n;
    static __thread uint32_t tag;
    if (!base) {
        util_random(&base, sizeof base);
        util_random(&tag, sizeof tag);
        base |= 1;
    }
    uint64_t v = mix64(base + ++n);
    unsigned char b[12];
    memcpy(b, &v, 8);
    memcpy(b + 8, &tag, 4);
    util_hex_encode(b, sizeof b, out);
}

static struct http_req *request_new(struct http_server *srv, struct http_req *r, struct MHD_Connection *conn,
                                    const char *url, const char *method)
{
    if (!r)
        r = util_xcalloc(1, sizeof *r);
    r->pre = 0;
    r->srv = srv;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->start_us = util_mono_us();
    r->start_ms = r->start_us / 1000;
    buf_init(&r->body);
    const char *rid = http_header(r, "X-Request-Id");
    if (rid && request_id_ok(rid)) {
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    } else {
        request_id_make(r->request_id);
    }
    peer_address(r);
    route_find(r);
    if (r->route >= 0)
        request_limits(r);
    atomic_fetch_add(&srv->inflight, 1);
    return r;
}

static void reply_early(struct http_req *r)
{
    if (r->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", r->retry_after);
        http_add_header(r, "Retry-After", s);
    }
    http_reply_error(r, r->early_code, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *srv = cls;
    (void)version;
    struct http_req *r = *con_cls;
    if (!r || r->pre) {
        *con_cls = request_new(srv, r, conn, url, method);
        r = *con_cls;
        /* Refuse an announced oversized body now, before reading it. */
        if (r->early_status == 413) {
            reply_early(r);
            return MHD_YES;
        }
        return MHD_YES;
    }
    r->calls++;
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->replied || r->early_status)
            return MHD_YES; /* discard: the answer is already decided */
        if (util_mono_ms() - r->start_ms > (int64_t)srv->cfg->request_timeout_s * 1000) {
            r->early_status = 408;
            r->early_code = "request_timeout";
            return MHD_YES;
        }
        if (r->body.len + n > r->body_limit) {
            r->early_status = 413;
            r->early_code = "body_too_large";
            reply_early(r);
            return MHD_YES;
        }
        buf_append(&r->body, upload_data, n);
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->early_status) {
        reply_early(r);
        return MHD_YES;
    }
    srv->routes[r->route].handler(r);
    if (!r->replied) {
        log_msg(LOG_ERROR, "BUG: handler %s did not reply", srv->routes[r->route].name);
        http_reply_error(r, "internal_error", NULL);
    }
    return MHD_YES;
}

/* Counted when the answer is queued, so that a scrape right after a
 * response already sees it. */
static void request_count(struct http_req *r)
{
    double ms = (double)(util_mono_us() - r->start_us) / 1000.0;
    metrics_observe(r->srv->metrics, r->route, r->status, ms);
    if (r->code)
        metrics_count_code(r->srv->metrics, r->code);
}

static void request_log(struct http_req *r)
{
    enum log_level lvl = r->status >= 500 ? LOG_ERROR : LOG_INFO;
    if (!log_enabled(lvl))
        return;
    double ms = (double)(util_mono_us() - r->start_us) / 1000.0;
    json_t *o = json_object();
    json_object_set_new(o, "request_id", json_string(r->request_id));
    json_object_set_new(o, "method", json_string(r->method));
    json_object_set_new(o, "path", json_string(r->path));
    json_object_set_new(o, "route", json_string(r->route >= 0 ? r->srv->routes[r->route].name : "unmatched"));
    json_object_set_new(o, "status", json_integer(r->status));
    if (r->code)
        json_object_set_new(o, "code", json_string(r->code));
    json_object_set_new(o, "duration_ms", json_real(ms));
    if (r->org)
        json_object_set_new(o, "org", json_string(r->org));
    json_object_set_new(o, "client", json_string(r->client));
    log_json(lvl, o);
}

static void request_free(struct http_req *r)
{
    if (r->data_free)
        r->data_free(r->data);
    for (int i = 0; i < MAX_PARAMS; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    for (int i = 0; i < r->nform; i++) {
        free(r->form[i].name);
        free(r->form[i].value);
    }
    free(r->form);
    for (int i = 0; i < r->nheaders; i++) {
        header_free(r, r->headers[i].name);
        header_free(r, r->headers[i].value);
    }
    buf_free(&r->body);
    org_clear(r);
    request_release(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    (void)conn;
    if (!r)
        return;
    if (r->pre) { /* closed before the handler ever ran */
        request_release(r);
        *con_cls = NULL;
        return;
    }
    if (!r->replied) {
        /* Closed before we answered: timeout or the client went away. */
        r->status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
        if (!r->code)
            r->code = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "request_timeout" : NULL;
        request_count(r);
    }
    request_log(r);
    request_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string(msg));
    json_object_set_new(o, "component", json_string("libmicrohttpd"));
    log_json(LOG_DEBUG, o);
}

/* ---- start and stop ---- */

static int server_prepare(struct http_server *s, const struct config *cfg, const struct http_route *routes,
                          struct err *e)
{
    s->cfg = cfg;
    s->routes = routes;
    while (routes[s->nroutes].name)
        s->nroutes++;
    s->route_names = util_xcalloc((size_t)s->nroutes + 1, sizeof *s->route_names);
    for (int i = 0; i < s->nroutes; i++)
        s->route_names[i] = routes[i].name;
    s->metrics = metrics_new(s->route_names, s->nroutes);
    for (int c = 1; c < RL_CLASSES; c++)
        s->rl[c] = ratelimit_new(cfg->rl_per_minute[c], cfg->rl_burst[c], cfg->rl_max_clients);
    s->trusted = net_cidr_list_parse(cfg->trusted_proxies, e);
    return s->trusted ? 0 : -1;
}

static void server_free(struct http_server *s)
{
    if (!s)
        return;
    for (int c = 0; c < RL_CLASSES; c++)
        ratelimit_free(s->rl[c]);
    metrics_free(s->metrics);
    net_cidr_list_free(s->trusted);
    free(s->route_names);
    free(s);
}

static int listen_addr(const struct config *cfg, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, cfg->listen_host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->listen_port);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->listen_host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->listen_port);
        *len = sizeof *in6;
        return 0;
    }
    return err_set(e, "config_invalid", "[server] listen: '%s' is not an IP address", cfg->listen_host);
}

static int listen_open(struct http_server *s, const struct config *cfg, struct err *e)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (listen_addr(cfg, &ss, &len, e) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int eno = errno;
        if (fd >= 0)
            close(fd);
        return err_set(e, "config_invalid", "cannot listen on %s (%s)", cfg->listen, strerror(eno));
    }
    s->listen_fd = fd;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    else
        s->port = cfg->listen_port;
    return 0;
}

/* The worker for a new connection: the one whose CPU received it
 * (SO_INCOMING_CPU) unless that one holds more than a quarter (and 2) over
 * the fewest, else the one holding the fewest; ties go round the workers.
 * *total: the connections of all of them. */
static struct http_worker *worker_pick(struct http_server *s, int fd, int *total)
{
    struct http_worker *best = NULL;
    int best_n = INT_MAX, sum = 0, cpu = -1;
    socklen_t len = sizeof cpu;
    for (unsigned k = 0; k < s->nworkers; k++) {
        struct http_worker *w = &s->workers[(s->next + k) % s->nworkers];
        int n = atomic_load_explicit(&w->conns, memory_order_relaxed);
        sum += n;
        if (n < best_n)
            best = w, best_n = n;
    }
    s->next++;
    *total = sum;
    if (s->nworkers > 1 && getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) == 0 && cpu >= 0 &&
        cpu < CPU_SETSIZE && s->cpu_worker[cpu] >= 0) {
        struct http_worker *home = &s->workers[s->cpu_worker[cpu]];
        if (atomic_load_explicit(&home->conns, memory_order_relaxed) <= best_n + 2 + best_n / 4)
            return home;
    }
    return best;
}

/* One thread accepts and hands each connection to a worker (worker_pick).
 * With the listening socket in every worker's epoll instead, whichever
 * worker woke first took the connection: 64 kept-alive connections were
 * split 28/37 to 55/10 between two workers, and, split evenly or not, a
 * client thread's connections on the other CPU's worker did a fifth of the
 * requests of those on its own CPU's (bimodal latency). One hop more per
 * new connection (an eventfd write), none per request. */
/* A warning the accepting thread may repeat at most once a second. */
static int warn_due(int64_t *last)
{
    int64_t now = util_mono_ms();
    if (now - *last < 1000)
        return 0;
    *last = now;
    return 1;
}

static void *acceptor_main(void *arg)
{
    struct http_server *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int64_t last_warn = 0;
    while (!atomic_load(&s->stopping)) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&s->stopping))
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN || errno == EPROTO)
                continue;
            if (warn_due(&last_warn))
                log_msg(LOG_WARN, "accept: %s", strerror(errno)); /* EMFILE, ENFILE, ENOBUFS... */
            usleep(10000); /* the next accept would fail alike: let connections close */
            continue;
        }
        int total;
        struct http_worker *w = worker_pick(s, fd, &total);
        if (total >= s->cfg->connection_limit) {
            close(fd);
            if (warn_due(&last_warn))
                log_msg(LOG_WARN, "[server] connection_limit %d reached: refusing new connections",
                        s->cfg->connection_limit);
            continue;
        }
        atomic_fetch_add_explicit(&w->conns, 1, memory_order_relaxed);
        if (MHD_add_connection(w->daemon, fd, (struct sockaddr *)&ss, len) != MHD_YES)
            atomic_fetch_sub_explicit(&w->conns, 1, memory_order_relaxed); /* MHD closed it */
    }
    return NULL;
}

static void server_teardown(struct http_server *s)
{
    if (s->acceptor_started) {
        atomic_store(&s->stopping, 1);
        shutdown(s->listen_fd, SHUT_RDWR); /* wakes the blocked accept4 */
        pthread_join(s->acceptor, NULL);
        s->acceptor_started = 0;
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
}

static void workers_stop(struct http_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].daemon)
            MHD_stop_daemon(s->workers[i].daemon);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
}

struct http_server *http_server_start(const struct config *cfg, const struct http_route *routes, struct err *e)
{
    struct http_server *s = util_xcalloc(1, sizeof *s);
    s->listen_fd = -1;
    if (server_prepare(s, cfg, routes, e) < 0 || listen_open(s, cfg, e) < 0)
        goto fail;
    unsigned n = (unsigned)(cfg->workers > 0 ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN));
    if (n < 1)
        n = 1;
    /* The j-th CPU the process may use is home to worker j (mod the number
     * of workers); pinned (cpu_affinity = auto), worker i runs on the i-th. */
    int cpus[CPU_SETSIZE], ncpus = 0;
    cpu_set_t set;
    memset(s->cpu_worker, 0xff, sizeof s->cpu_worker);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) {
                s->cpu_worker[c] = (short)((unsigned)ncpus % n);
                cpus[ncpus++] = c;
            }
    int pin = cfg->cpu_affinity && strcmp(cfg->cpu_affinity, "auto") == 0;
    s->workers = util_xcalloc(n, sizeof *s->workers);
    s->nworkers = n;
    for (unsigned i = 0; i < n; i++) {
        struct http_worker *w = &s->workers[i];
        w->cpu = pin && ncpus ? cpus[i % (unsigned)ncpus] : -1;
        w->daemon = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0, NULL,
            NULL, on_request, s,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_bytes,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->connection_limit, /* the acceptor keeps the total */
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
            MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
            MHD_OPTION_END);
        if (!w->daemon) {
            err_set(e, "internal", "cannot start HTTP worker %u of %u", i + 1, n);
            goto fail;
        }
    }
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        err_set(e, "internal", "cannot start the accepting thread");
        goto fail;
    }
    pthread_setname_np(s->acceptor, "ssogate-accept");
    s->acceptor_started = 1;
    return s;
fail:
    server_teardown(s);
    workers_stop(s);
    server_free(s);
    return NULL;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s, int timeout_s)
{
    if (!s)
        return;
    /* Stop accepting; requests already under way finish (graceful shutdown). */
    server_teardown(s);
    int64_t deadline = util_mono_ms() + (int64_t)timeout_s * 1000;
    while (atomic_load(&s->inflight) > 0 && util_mono_ms() < deadline)
        usleep(10000);
    int left = atomic_load(&s->inflight);
    if (left > 0)
        log_msg(LOG_WARN, "shutdown: %d requests still running after %d s; closing them", left, timeout_s);
    workers_stop(s);
    server_free(s);
}

void http_render_metrics(const struct http_req *r, struct buf *out)
{
    const struct http_server *s = r->srv;
    metrics_render(s->metrics, out);
    buf_appends(out, "# HELP ssogate_http_worker_connections Open connections held by each worker thread.\n"
                     "# TYPE ssogate_http_worker_connections gauge\n");
    for (unsigned i = 0; i < s->nworkers; i++)
        buf_appendf(out, "ssogate_http_worker_connections{worker=\"%u\"} %d\n", i,
                    atomic_load_explicit(&s->workers[i].conns, memory_order_relaxed));
}
