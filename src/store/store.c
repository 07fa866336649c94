/* The Redis adapter. Each calling thread owns one blocking hiredis context
 * (a context is neither thread-safe nor reusable after an error), opened on
 * first use, dropped after any I/O error, timeout or "server moved" reply,
 * and reopened on a later call behind a process-wide exponential backoff.
 * With Sentinel, the master is discovered and verified with ROLE. */
#include "store/store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "util/config.h"
#include "util/util.h"

#define STORE_BACKOFF_MIN_MS 50
#define STORE_MAX_SENTINELS 16
#define STORE_HOST_MAX 256
#define STORE_MAX_SCRIPTS 512 /* cached SHA-1s; scripts are a fixed set */

struct store_addr {
    char host[STORE_HOST_MAX];
    int port;
};

/* A parsed redis:// or unix:// URL. */
struct store_url {
    int is_unix;
    struct store_addr tcp;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *password; /* malloc'd, NULL when absent */
    int db;
};

/* Process-wide configuration: written by store_init before worker threads
 * start, read-only afterwards. */
static struct {
    int initialized;
    struct store_url url;
    const char *password; /* effective data-node password (cfg or URL) */
    char *cfg_password;
    struct store_addr sentinels[STORE_MAX_SENTINELS];
    int nsentinels;
    char *master_name;
    char *sentinel_password;
    int connect_timeout_ms;
    int command_timeout_ms;
    int max_backoff_ms;
} g;

static atomic_uint_fast64_t st_commands, st_errors, st_reconnects, st_failovers;
/* Bumped by store_init/store_shutdown so that threads drop stale contexts. */
static atomic_uint g_generation;
/* Backoff shared by all threads, so N workers do not hammer a dead Redis
 * N times per period: no connection attempt before g_retry_at_ms. */
static atomic_int_fast64_t g_retry_at_ms;
static atomic_int g_backoff_ms;
static atomic_int g_sentinel_first; /* the sentinel that answered last */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the fields below */
static struct store_addr g_master;                          /* last master seen via Sentinel */
static int g_master_known;
static char g_last_error[256];                              /* why the last connect failed */

static __thread redisContext *t_ctx;
static __thread unsigned t_generation;
static __thread int t_connected_once;

/* ---- URL and address parsing ------------------------------------------ */

static int parse_port(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

static int host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* "host:port" or "[v6]:port" in s[0..n) into a. */
static int parse_hostport(const char *s, size_t n, struct store_addr *a)
{
    const char *host = s, *colon;
    size_t hlen;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close + 1 >= s + n || close[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
        for (size_t i = 0; i < hlen; i++)
            if (!((host[i] >= '0' && host[i] <= '9') || (host[i] >= 'a' && host[i] <= 'f') ||
                  (host[i] >= 'A' && host[i] <= 'F') || host[i] == ':' || host[i] == '.'))
                return -1;
    } else {
        colon = memchr(s, ':', n);
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
        for (size_t i = 0; i < hlen; i++)
            if (!host_char_ok(host[i]))
                return -1;
    }
    if (hlen == 0 || hlen >= sizeof a->host)
        return -1;
    if (parse_port(colon + 1, (size_t)(s + n - colon - 1), &a->port) < 0)
        return -1;
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode the password (so '@', '/', ':' and '%' can be written as
 * %40, %2F, %3A, %25). NULL on a bad escape, a NUL byte or an empty result. */
static char *decode_password(const char *s, size_t n)
{
    char *out = util_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else if ((unsigned char)c <= 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        } else {
            out[j++] = c;
        }
    }
    if (j == 0) {
        free(out);
        return NULL;
    }
    out[j] = '\0';
    return out;
}

static int parse_unix_url(const char *path, struct store_url *u, struct err *e)
{
    size_t n = strlen(path);
    if (n < 2 || path[0] != '/')
        return err_set(e, "config_invalid", "redis url: unix:// needs an absolute socket path (unix:///path/to/socket)");
    if (n >= sizeof u->path)
        return err_set(e, "config_invalid", "redis url: unix socket path is longer than %zu bytes",
                       sizeof u->path - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f || path[i] == '?' || path[i] == '#')
            return err_set(e, "config_invalid", "redis url: unix socket path has a forbidden character");
    u->is_unix = 1;
    memcpy(u->path, path, n + 1);
    return 0;
}

static int parse_db(const char *s, struct store_url *u, struct err *e)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return err_set(e, "config_invalid", "redis url: the database after '/' must be a number (0-99999)");
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return err_set(e, "config_invalid",
                           "redis url: the database after '/' must be a number; no query or fragment");
        v = v * 10 + (s[i] - '0');
    }
    u->db = v;
    return 0;
}

/* redis://[:password@]host:port[/db] */
static int parse_tcp_url(const char *rest, struct store_url *u, struct err *e)
{
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            at = rest + i;
    const char *hp = rest;
    if (at) {
        if (rest[0] != ':')
            return err_set(e, "config_invalid",
                           "redis url: only redis://:password@host:port is supported (no user name)");
        u->password = decode_password(rest + 1, (size_t)(at - rest - 1));
        if (!u->password)
            return err_set(e, "config_invalid",
                           "redis url: the password is empty or badly percent-encoded");
        hp = at + 1;
    }
    if (parse_hostport(hp, (size_t)(rest + alen - hp), &u->tcp) < 0)
        return err_set(e, "config_invalid", "redis url: expected host:port (port 1-65535) after redis://");
    if (slash && parse_db(slash + 1, u, e) < 0)
        return -1;
    return 0;
}

static void url_clear(struct store_url *u)
{
    free(u->password);
    memset(u, 0, sizeof *u);
}

static int parse_url(const char *url, struct store_url *u, struct err *e)
{
    memset(u, 0, sizeof *u);
    int rc;
    if (!url || !*url)
        return err_set(e, "config_invalid", "redis url is empty");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return err_set(e, "config_invalid", "redis url contains spaces or control characters");
    if (strncmp(url, "unix://", 7) == 0)
        rc = parse_unix_url(url + 7, u, e);
    else if (strncmp(url, "redis://", 8) == 0)
        rc = parse_tcp_url(url + 8, u, e);
    else
        rc = err_set(e, "config_invalid",
                     "redis url must be redis://[:password@]host:port[/db] or unix:///path/to/socket");
    if (rc < 0)
        url_clear(u);
    return rc;
}

static int parse_sentinels(const char *list, struct err *e)
{
    const char *p = list;
    g.nsentinels = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (g.nsentinels == STORE_MAX_SENTINELS)
            return err_set(e, "config_invalid", "redis sentinels: at most %d", STORE_MAX_SENTINELS);
        if (parse_hostport(p, n, &g.sentinels[g.nsentinels]) < 0)
            return err_set(e, "config_invalid", "redis sentinels: '%.*s' is not host:port", (int)(n > 100 ? 100 : n), p);
        g.nsentinels++;
        if (!end)
            break;
        p = end + 1;
    }
    if (g.nsentinels == 0)
        return err_set(e, "config_invalid", "redis sentinels: empty list");
    return 0;
}

/* ---- connection set-up ------------------------------------------------- */

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void note_failure(const char *msg)
{
    pthread_mutex_lock(&g_lock);
    snprintf(g_last_error, sizeof g_last_error, "%.255s", msg);
    pthread_mutex_unlock(&g_lock);
}

/* Open a blocking context with the connect timeout, then arm the command
 * timeout (SO_RCVTIMEO/SO_SNDTIMEO) so no call blocks longer than that. */
static redisContext *ctx_open(const char *unix_path, const struct store_addr *a, struct err *e)
{
    struct timeval tv = ms_to_tv(g.connect_timeout_ms);
    redisContext *c = unix_path ? redisConnectUnixWithTimeout(unix_path, tv)
                                : redisConnectWithTimeout(a->host, a->port, tv);
    const char *where = unix_path ? unix_path : a->host;
    int port = unix_path ? 0 : a->port;
    if (!c) {
        err_set(e, "store_unavailable", "Redis %s: out of memory while connecting", where);
        return NULL;
    }
    if (c->err) {
        if (port)
            err_set(e, "store_unavailable", "Redis %s:%d: cannot connect: %s", where, port, c->errstr);
        else
            err_set(e, "store_unavailable", "Redis %s: cannot connect: %s", where, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, ms_to_tv(g.command_timeout_ms)) != REDIS_OK) {
        err_set(e, "store_unavailable", "Redis %s: cannot set the command timeout", where);
        redisFree(c);
        return NULL;
    }
    if (!unix_path)
        redisEnableKeepAlive(c); /* notice a silently vanished peer */
    return c;
}

/* Describe a failed call on c (I/O error, timeout or protocol error). */
static void describe_io_error(redisContext *c, int saved_errno, const char *what, struct err *e)
{
    if (c->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
        err_set(e, "store_unavailable", "Redis %s: timed out after %d ms", what, g.command_timeout_ms);
    else
        err_set(e, "store_unavailable", "Redis %s: %s", what,
                c->errstr[0] ? c->errstr : "connection lost");
}

/* Run one set-up command; returns the reply (any type) or NULL with e. */
static redisReply *ctx_call(redisContext *c, const char *what, int argc, const char **argv,
                            struct err *e)
{
    errno = 0;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        describe_io_error(c, errno, what, e);
    return r;
}

static int expect_ok(redisContext *c, const char *what, int argc, const char **argv, struct err *e)
{
    redisReply *r = ctx_call(c, what, argc, argv, e);
    if (!r)
        return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR)
        rc = err_set(e, "store_unavailable", "Redis refused %s: %.200s", what, r->str);
    else if (r->type != REDIS_REPLY_STATUS)
        rc = err_set(e, "store_unavailable", "Redis %s: unexpected reply type %d", what, r->type);
    freeReplyObject(r);
    return rc;
}

/* AUTH and SELECT on a freshly opened data connection. */
static int ctx_handshake(redisContext *c, struct err *e)
{
    if (g.password) {
        const char *argv[] = {"AUTH", g.password};
        if (expect_ok(c, "AUTH", 2, argv, e) < 0)
            return -1;
    }
    if (g.url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", g.url.db);
        const char *argv[] = {"SELECT", db};
        if (expect_ok(c, "SELECT", 2, argv, e) < 0)
            return -1;
    }
    return 0;
}

/* ROLE: 1 when the server says it is a master, 0 when not, -1 on error. */
static int ctx_is_master(redisContext *c, char *role, size_t n, struct err *e)
{
    const char *argv[] = {"ROLE"};
    redisReply *r = ctx_call(c, "ROLE", 1, argv, e);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        (r->element[0]->type == REDIS_REPLY_STRING || r->element[0]->type == REDIS_REPLY_STATUS)) {
        snprintf(role, n, "%s", r->element[0]->str);
        rc = strcmp(r->element[0]->str, "master") == 0;
    } else {
        err_set(e, "store_unavailable", "Redis ROLE: unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

static redisContext *connect_direct(struct err *e)
{
    redisContext *c = ctx_open(g.url.is_unix ? g.url.path : NULL, &g.url.tcp, e);
    if (c && ctx_handshake(c, e) < 0) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* Ask one sentinel where the master is. 0 and out filled, or -1 with e. */
static int sentinel_ask(const struct store_addr *s, struct store_addr *out, struct err *e)
{
    redisReply *r = NULL;
    int rc = -1;
    redisContext *c = ctx_open(NULL, s, e);
    if (!c)
        goto done;
    if (g.sentinel_password) {
        const char *argv[] = {"AUTH", g.sentinel_password};
        if (expect_ok(c, "AUTH (sentinel)", 2, argv, e) < 0)
            goto done;
    }
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", g.master_name};
    r = ctx_call(c, "SENTINEL get-master-addr-by-name", 3, argv, e);
    if (!r)
        goto done;
    if (r->type == REDIS_REPLY_NIL) {
        err_set(e, "store_unavailable", "sentinel %s:%d does not know master '%s'", s->host, s->port,
                g.master_name);
        goto done;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 ||
        r->element[0]->len >= sizeof out->host ||
        parse_port(r->element[1]->str, r->element[1]->len, &out->port) < 0) {
        err_set(e, "store_unavailable", "sentinel %s:%d: unexpected answer for master '%s'%s%.200s",
                s->host, s->port, g.master_name, r->type == REDIS_REPLY_ERROR ? ": " : "",
                r->type == REDIS_REPLY_ERROR ? r->str : "");
        goto done;
    }
    memcpy(out->host, r->element[0]->str, r->element[0]->len + 1);
    rc = 0;
done:
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return rc;
}

/* Count a failover when the verified master is not the one seen before. */
static void note_master(const struct store_addr *m)
{
    pthread_mutex_lock(&g_lock);
    if (g_master_known && (strcmp(g_master.host, m->host) != 0 || g_master.port != m->port))
        atomic_fetch_add(&st_failovers, 1);
    g_master = *m;
    g_master_known = 1;
    pthread_mutex_unlock(&g_lock);
}

/* Connect to the master a sentinel names, and make sure it is one: a
 * sentinel with a stale view may name a demoted server, and writes must
 * never go to a replica. */
static redisContext *connect_master(const struct store_addr *m, struct err *e)
{
    char role[32] = "";
    redisContext *c = ctx_open(NULL, m, e);
    if (!c)
        return NULL;
    if (ctx_handshake(c, e) < 0)
        goto fail;
    int is_master = ctx_is_master(c, role, sizeof role, e);
    if (is_master < 0)
        goto fail;
    if (!is_master) {
        err_set(e, "store_unavailable", "Redis %s:%d named master by Sentinel reports ROLE '%s'; refusing it",
                m->host, m->port, role);
        goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

static redisContext *connect_sentinel(struct err *e)
{
    int first = atomic_load(&g_sentinel_first);
    for (int i = 0; i < g.nsentinels; i++) {
        int idx = (first + i) % g.nsentinels;
        struct store_addr m;
        if (sentinel_ask(&g.sentinels[idx], &m, e) < 0)
            continue;
        redisContext *c = connect_master(&m, e);
        if (!c)
            continue;
        atomic_store(&g_sentinel_first, idx);
        note_master(&m);
        return c;
    }
    /* e holds the last sentinel's reason */
    return NULL;
}

/* Worker threads belong to libmicrohttpd and exit without calling
 * store_thread_close: a key destructor frees their connection then. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_destroy(void *p)
{
    redisFree(p);
}

static void ctx_key_make(void)
{
    pthread_key_create(&ctx_key, ctx_destroy);
}

static void ctx_drop(void)
{
    if (t_ctx) {
        pthread_setspecific(ctx_key, NULL);
        redisFree(t_ctx);
    }
    t_ctx = NULL;
}

/* A connection the server closed while idle (timeout, restart, failover)
 * is readable with EOF; one that is fine has nothing to read between our
 * request/reply pairs. Checking first keeps an idle close from turning the
 * next request into a 503, without ever re-sending a command. */
static int ctx_is_stale(redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    return n > 0;
}

static void backoff_fail(void)
{
    int b = atomic_load(&g_backoff_ms);
    int nb = b ? b * 2 : STORE_BACKOFF_MIN_MS;
    if (nb > g.max_backoff_ms)
        nb = g.max_backoff_ms;
    atomic_store(&g_backoff_ms, nb);
    atomic_store(&g_retry_at_ms, util_mono_ms() + nb);
}

static void backoff_reset(void)
{
    atomic_store(&g_backoff_ms, 0);
    atomic_store(&g_retry_at_ms, 0);
}

/* The calling thread's context, (re)connecting when needed; NULL with e. */
static redisContext *ctx_get(struct err *e)
{
    if (!g.initialized) {
        err_set(e, "store_unavailable", "the store is not initialized (store_init not called)");
        return NULL;
    }
    unsigned gen = atomic_load(&g_generation);
    if (t_ctx && (t_generation != gen || ctx_is_stale(t_ctx)))
        ctx_drop();
    if (t_ctx)
        return t_ctx;
    int64_t wait = atomic_load(&g_retry_at_ms) - util_mono_ms();
    if (wait > 0) {
        pthread_mutex_lock(&g_lock);
        err_set(e, "store_unavailable", "Redis unreachable (%.300s); next attempt in %lld ms", g_last_error,
                (long long)wait);
        pthread_mutex_unlock(&g_lock);
        return NULL;
    }
    redisContext *c = g.nsentinels ? connect_sentinel(e) : connect_direct(e);
    if (!c) {
        atomic_fetch_add(&st_errors, 1);
        note_failure(e ? e->msg : "connection failed");
        backoff_fail();
        return NULL;
    }
    backoff_reset();
    if (t_connected_once)
        atomic_fetch_add(&st_reconnects, 1);
    t_connected_once = 1;
    t_generation = gen;
    t_ctx = c;
    pthread_once(&ctx_once, ctx_key_make);
    pthread_setspecific(ctx_key, c);
    return c;
}

/* ---- commands ---------------------------------------------------------- */

/* Error replies that mean "this server cannot serve us now" rather than
 * "your command is wrong": the master moved (READONLY: we reached a
 * replica, whatever Sentinel or the URL said), the replica lost its master,
 * the dataset is still loading, or the connection lost its AUTH. The
 * connection is dropped so the next call rediscovers the master. */
static int reply_means_moved(const redisReply *r)
{
    static const char *const prefixes[] = {"READONLY", "MASTERDOWN", "LOADING", "NOAUTH"};
    if (r->type != REDIS_REPLY_ERROR || !r->str)
        return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(r->str, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

struct store_reply *store_cmd(struct err *e, int argc, const char **argv, const size_t *argvlen)
{
    struct err scratch;
    if (!e)
        e = &scratch;
    if (argc < 1 || !argv || !argv[0]) {
        err_set(e, "internal_error", "store_cmd: empty command");
        return NULL;
    }
    redisContext *c = ctx_get(e);
    if (!c)
        return NULL;
    atomic_fetch_add(&st_commands, 1);
    errno = 0;
    redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
    if (!r) {
        /* Never log argv: it may carry secrets. */
        describe_io_error(c, errno, argv[0], e);
        atomic_fetch_add(&st_errors, 1);
        ctx_drop();
        return NULL;
    }
    if (reply_means_moved(r)) {
        err_set(e, "store_unavailable", "Redis cannot serve %s now: %.200s", argv[0], r->str);
        freeReplyObject(r);
        atomic_fetch_add(&st_errors, 1);
        ctx_drop();
        return NULL;
    }
    /* store_reply is never defined: the pointer is the hiredis reply itself,
     * converted back in the accessors below, so elements need no wrapping. */
    return (struct store_reply *)r;
}

struct store_reply *store_cmdl(struct err *e, const char *arg0, ...)
{
    va_list ap;
    int argc = 1;
    va_start(ap, arg0);
    while (va_arg(ap, const char *))
        argc++;
    va_end(ap);
    const char **argv = util_xmalloc(sizeof *argv * (size_t)argc);
    argv[0] = arg0;
    va_start(ap, arg0);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, const char *);
    va_end(ap);
    struct store_reply *r = store_cmd(e, argc, argv, NULL);
    free(argv);
    return r;
}

/* ---- scripts ----------------------------------------------------------- */

struct script_sha {
    char *script;
    size_t len;
    uint64_t hash;   /* FNV-1a of the text: scripts share long preludes, so
                      * comparing text first would read them again and again */
    char sha[41];
};
static pthread_mutex_t g_script_lock = PTHREAD_MUTEX_INITIALIZER;
static struct script_sha *g_scripts;
static size_t g_nscripts, g_script_cap;

/* SHA-1 of the script as Redis names it for EVALSHA (its own scheme; not a
 * security use of SHA-1). Cached because every request evaluates scripts. */
static uint64_t script_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void script_sha(const char *script, char out[41])
{
    size_t len = strlen(script);
    uint64_t h = script_hash(script, len);
    pthread_mutex_lock(&g_script_lock);
    for (size_t i = 0; i < g_nscripts; i++) {
        if (g_scripts[i].hash == h && g_scripts[i].len == len && memcmp(g_scripts[i].script, script, len) == 0) {
            memcpy(out, g_scripts[i].sha, 41);
            pthread_mutex_unlock(&g_script_lock);
            return;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(script, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        fputs("ssogate: SHA-1 unavailable for EVALSHA\n", stderr);
        abort();
    }
    util_hex_encode(md, 20, out);
    if (g_nscripts == STORE_MAX_SCRIPTS) { /* scripts built at run time: do not grow */
        pthread_mutex_unlock(&g_script_lock);
        return;
    }
    if (g_nscripts == g_script_cap) {
        g_script_cap = g_script_cap ? g_script_cap * 2 : 16;
        g_scripts = util_xrealloc(g_scripts, g_script_cap * sizeof *g_scripts);
    }
    g_scripts[g_nscripts].script = util_xstrdup(script);
    g_scripts[g_nscripts].len = len;
    g_scripts[g_nscripts].hash = h;
    memcpy(g_scripts[g_nscripts].sha, out, 41);
    g_nscripts++;
    pthread_mutex_unlock(&g_script_lock);
}

static void script_cache_clear(void)
{
    pthread_mutex_lock(&g_script_lock);
    for (size_t i = 0; i < g_nscripts; i++)
        free(g_scripts[i].script);
    free(g_scripts);
    g_scripts = NULL;
    g_nscripts = g_script_cap = 0;
    pthread_mutex_unlock(&g_script_lock);
}

/* The part of a key Redis Cluster hashes: the text between the first '{'
 * and the next '}' when non-empty, else the whole key. */
static void key_hash_part(const char *key, size_t len, const char **part, size_t *plen)
{
    const char *open = memchr(key, '{', len);
    const char *close = open ? memchr(open + 1, '}', (size_t)(key + len - open - 1)) : NULL;
    if (close && close > open + 1) {
        *part = open + 1;
        *plen = (size_t)(close - open - 1);
    } else {
        *part = key;
        *plen = len;
    }
}

/* docs/keys.md rule 1: a script's keys share one hash tag, so the script is
 * atomic on one Redis and runs in one slot of a Cluster. Checked on every
 * call, because a violation works on one Redis and fails only later. */
static int check_one_slot(int nkeys, const char **keys, const size_t *lens, struct err *e)
{
    const char *p0 = NULL, *p = NULL;
    size_t l0 = 0, l = 0;
    for (int i = 0; i < nkeys; i++) {
        key_hash_part(keys[i], lens ? lens[i] : strlen(keys[i]), &p, &l);
        if (i == 0) {
            p0 = p;
            l0 = l;
        } else if (l != l0 || memcmp(p, p0, l) != 0) {
            return err_set(e, "internal_error", "BUG: script keys span hash tags ('%.*s' and '%.*s')",
                           (int)(l0 > 80 ? 80 : l0), p0, (int)(l > 80 ? 80 : l), p);
        }
    }
    return 0;
}

/* The argument vector of EVALSHA for a script (store_eval, pipelines), and
 * its switch to EVAL when the server does not know the script. */
struct eval_argv {
    const char **argv;
    size_t *len;
    int argc;
    char sha[41], nk[16];
};

static void eval_argv_make(struct eval_argv *x, const char *script, int nkeys, int nargs, const char **args,
                           const size_t *argslen)
{
    script_sha(script, x->sha);
    snprintf(x->nk, sizeof x->nk, "%d", nkeys);
    x->argc = 3 + nkeys + nargs;
    x->argv = util_xmalloc(sizeof *x->argv * (size_t)x->argc);
    x->len = util_xmalloc(sizeof *x->len * (size_t)x->argc);
    x->argv[0] = "EVALSHA", x->len[0] = 7;
    x->argv[1] = x->sha, x->len[1] = 40;
    x->argv[2] = x->nk, x->len[2] = strlen(x->nk);
    for (int i = 0; i < nkeys + nargs; i++) {
        x->argv[3 + i] = args[i];
        x->len[3 + i] = argslen ? argslen[i] : strlen(args[i]);
    }
}

static void eval_argv_free(struct eval_argv *x)
{
    free(x->len);
    free(x->argv);
}

/* A script not cached on this server (restart, failover, SCRIPT FLUSH):
 * EVAL runs it and caches it for the next EVALSHA. */
static struct store_reply *eval_plain(struct err *e, const char *script, int nkeys, int nargs, const char **args,
                                      const size_t *argslen)
{
    struct eval_argv x;
    eval_argv_make(&x, script, nkeys, nargs, args, argslen);
    x.argv[0] = "EVAL", x.len[0] = 4;
    x.argv[1] = script, x.len[1] = strlen(script);
    struct store_reply *r = store_cmd(e, x.argc, x.argv, x.len);
    eval_argv_free(&x);
    return r;
}

static int reply_is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

struct store_reply *store_eval(struct err *e, const char *script, int nkeys, int nargs,
                               const char **args, const size_t *argslen)
{
    struct err scratch;
    if (!e)
        e = &scratch;
    if (!script || nkeys < 0 || nargs < 0 || (nkeys + nargs > 0 && !args)) {
        err_set(e, "internal_error", "store_eval: bad arguments");
        return NULL;
    }
    if (check_one_slot(nkeys, args, argslen, e) < 0)
        return NULL;
    struct eval_argv x;
    eval_argv_make(&x, script, nkeys, nargs, args, argslen);
    struct store_reply *r = store_cmd(e, x.argc, x.argv, x.len);
    eval_argv_free(&x);
    if (reply_is_noscript((const redisReply *)r)) {
        store_reply_free(r);
        r = eval_plain(e, script, nkeys, nargs, args, argslen);
    }
    return r;
}

/* ---- pipelines ---------------------------------------------------------- */

/* Queue one command on the context's output buffer (nothing is sent yet). */
static int pipe_append(redisContext *c, const struct store_cmdv *cmd, struct err *e)
{
    int rc;
    if (!cmd->script) {
        rc = redisAppendCommandArgv(c, cmd->argc, cmd->argv, cmd->argvlen);
    } else {
        struct eval_argv x;
        eval_argv_make(&x, cmd->script, cmd->nkeys, cmd->argc - cmd->nkeys, cmd->argv, cmd->argvlen);
        rc = redisAppendCommandArgv(c, x.argc, x.argv, x.len);
        eval_argv_free(&x);
    }
    return rc == REDIS_OK ? 0 : err_set(e, "internal_error", "cannot queue a Redis command");
}

static void replies_free(int n, struct store_reply **replies)
{
    for (int i = 0; i < n; i++) {
        store_reply_free(replies[i]);
        replies[i] = NULL;
    }
}

/* Read the n replies of what was queued; -1 on a broken connection or a
 * reply that says the master moved (both drop the connection). */
static int pipe_read(redisContext *c, int n, struct store_reply **replies, struct err *e)
{
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        errno = 0;
        if (redisGetReply(c, &r) != REDIS_OK || !r) {
            describe_io_error(c, errno, "pipeline", e);
            goto fail;
        }
        replies[i] = (struct store_reply *)r;
        if (reply_means_moved(r)) {
            err_set(e, "store_unavailable", "Redis cannot serve a pipeline now: %.200s", ((redisReply *)r)->str);
            goto fail;
        }
    }
    return 0;
fail:
    atomic_fetch_add(&st_errors, 1);
    replies_free(n, replies);
    ctx_drop();
    return -1;
}

int store_pipeline(struct err *e, int n, const struct store_cmdv *cmds, struct store_reply **replies)
{
    struct err scratch;
    if (!e)
        e = &scratch;
    for (int i = 0; i < n; i++)
        replies[i] = NULL;
    for (int i = 0; i < n; i++)
        if (cmds[i].script && check_one_slot(cmds[i].nkeys, cmds[i].argv, cmds[i].argvlen, e) < 0)
            return -1;
    if (n <= 0)
        return 0;
    redisContext *c = ctx_get(e);
    if (!c)
        return -1;
    for (int i = 0; i < n; i++)
        if (pipe_append(c, &cmds[i], e) < 0) {
            ctx_drop(); /* queued commands must not reach the next caller */
            return -1;
        }
    atomic_fetch_add(&st_commands, (unsigned)n);
    if (pipe_read(c, n, replies, e) < 0)
        return -1;
    /* Scripts the server does not know: EVAL, once each (it caches them). */
    for (int i = 0; i < n; i++) {
        if (!cmds[i].script || !reply_is_noscript((const redisReply *)replies[i]))
            continue;
        store_reply_free(replies[i]);
        replies[i] = eval_plain(e, cmds[i].script, cmds[i].nkeys, cmds[i].argc - cmds[i].nkeys, cmds[i].argv,
                                cmds[i].argvlen);
        if (!replies[i]) {
            replies_free(n, replies);
            return -1;
        }
    }
    return 0;
}

/* ---- replies ----------------------------------------------------------- */

enum store_type store_reply_type(const struct store_reply *r)
{
    const redisReply *rr = (const redisReply *)r;
    if (!rr)
        return STORE_NIL;
    switch (rr->type) {
    case REDIS_REPLY_STRING: return STORE_STRING;
    case REDIS_REPLY_INTEGER: return STORE_INTEGER;
    case REDIS_REPLY_ARRAY: return STORE_ARRAY;
    case REDIS_REPLY_STATUS: return STORE_STATUS;
    case REDIS_REPLY_ERROR: return STORE_ERROR;
    default: return STORE_NIL;
    }
}

const char *store_reply_str(const struct store_reply *r, size_t *len)
{
    const redisReply *rr = (const redisReply *)r;
    int has_str = rr && (rr->type == REDIS_REPLY_STRING || rr->type == REDIS_REPLY_STATUS ||
                  rr->type == REDIS_REPLY_ERROR);
    if (len)
        *len = has_str ? rr->len : 0;
    return has_str ? rr->str : NULL;
}

long long store_reply_int(const struct store_reply *r)
{
    const redisReply *rr = (const redisReply *)r;
    return rr && rr->type == REDIS_REPLY_INTEGER ? rr->integer : 0;
}

size_t store_reply_len(const struct store_reply *r)
{
    const redisReply *rr = (const redisReply *)r;
    return rr && rr->type == REDIS_REPLY_ARRAY ? rr->elements : 0;
}

const struct store_reply *store_reply_elem(const struct store_reply *r, size_t i)
{
    const redisReply *rr = (const redisReply *)r;
    if (!rr || rr->type != REDIS_REPLY_ARRAY || i >= rr->elements)
        return NULL;
    return (const struct store_reply *)rr->element[i];
}

void store_reply_free(struct store_reply *r)
{
    if (r)
        freeReplyObject(r);
}

/* ---- probes, stats, life cycle ----------------------------------------- */

int store_ping(struct err *e)
{
    struct store_reply *r = store_cmdl(e, "PING", (const char *)NULL);
    if (!r)
        return -1;
    size_t n;
    const char *s = store_reply_str(r, &n);
    int rc = 0;
    if (store_reply_type(r) != STORE_STATUS || !s || strcmp(s, "PONG") != 0)
        rc = err_set(e, "store_error", "Redis PING: unexpected answer %.100s", s ? s : "");
    store_reply_free(r);
    return rc;
}

int store_maxmemory_policy(char *out, size_t n, struct err *e)
{
    struct store_reply *r = store_cmdl(e, "CONFIG", "GET", "maxmemory-policy", (const char *)NULL);
    if (!r)
        return -1;
    int rc = -1;
    const struct store_reply *v = store_reply_elem(r, 1);
    size_t len = 0;
    const char *s = v ? store_reply_str(v, &len) : NULL;
    if (store_reply_type(r) == STORE_ERROR) {
        err_set(e, "store_error", "Redis refused CONFIG GET maxmemory-policy: %.200s",
                store_reply_str(r, NULL));
    } else if (!s || store_reply_type(v) != STORE_STRING) {
        err_set(e, "store_error", "Redis CONFIG GET maxmemory-policy: unexpected reply");
    } else if (len >= n) {
        err_set(e, "store_error", "maxmemory-policy value too long");
    } else {
        memcpy(out, s, len + 1);
        rc = 0;
    }
    store_reply_free(r);
    return rc;
}

void store_stats(struct store_stats *out)
{
    out->commands = atomic_load(&st_commands);
    out->errors = atomic_load(&st_errors);
    out->reconnects = atomic_load(&st_reconnects);
    out->failovers = atomic_load(&st_failovers);
}

static void config_clear(void)
{
    url_clear(&g.url);
    free(g.cfg_password);
    free(g.master_name);
    free(g.sentinel_password);
    memset(&g, 0, sizeof g);
}

static char *dup_nonempty(const char *s)
{
    return s && *s ? util_xstrdup(s) : NULL;
}

static int check_timeouts(const struct store_config *cfg, struct err *e)
{
    if (cfg->connect_timeout_ms < 1 || cfg->command_timeout_ms < 1)
        return err_set(e, "config_invalid", "redis connect and command timeouts must be at least 1 ms");
    if (cfg->reconnect_max_backoff_ms < STORE_BACKOFF_MIN_MS)
        return err_set(e, "config_invalid", "redis reconnect_max_backoff_ms must be at least %d",
                       STORE_BACKOFF_MIN_MS);
    return 0;
}

int store_init(const struct store_config *cfg, struct err *e)
{
    if (g.initialized)
        store_shutdown();
    if (check_timeouts(cfg, e) < 0)
        return -1;
    int sentinel = cfg->sentinels && *cfg->sentinels;
    /* With Sentinel the address comes from the sentinels; the URL, when
     * set, still gives the password and the database. */
    if ((!sentinel || (cfg->url && *cfg->url)) && parse_url(cfg->url, &g.url, e) < 0)
        goto fail;
    if (sentinel && g.url.is_unix) {
        err_set(e, "config_invalid", "redis: a unix:// url cannot be combined with sentinels");
        goto fail;
    }
    if (sentinel && parse_sentinels(cfg->sentinels, e) < 0)
        goto fail;
    if (sentinel && !(cfg->master_name && *cfg->master_name)) {
        err_set(e, "config_invalid", "redis: sentinels need a master name");
        goto fail;
    }
    g.cfg_password = dup_nonempty(cfg->password);
    g.password = g.cfg_password ? g.cfg_password : g.url.password;
    g.master_name = dup_nonempty(cfg->master_name);
    g.sentinel_password = dup_nonempty(cfg->sentinel_password);
    g.connect_timeout_ms = cfg->connect_timeout_ms;
    g.command_timeout_ms = cfg->command_timeout_ms;
    g.max_backoff_ms = cfg->reconnect_max_backoff_ms;
    /* hiredis 0.14 writes with write(2): a Redis that closed the socket
     * would kill the process with SIGPIPE unless it is ignored. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    backoff_reset();
    atomic_store(&g_sentinel_first, 0);
    pthread_mutex_lock(&g_lock);
    g_master_known = 0;
    g_last_error[0] = '\0';
    pthread_mutex_unlock(&g_lock);
    atomic_fetch_add(&g_generation, 1);
    g.initialized = 1;
    return 0;
fail:
    config_clear();
    return -1;
}

void store_thread_close(void)
{
    ctx_drop();
}

void store_shutdown(void)
{
    ctx_drop();
    atomic_fetch_add(&g_generation, 1);
    script_cache_clear();
    config_clear();
}

/* ---- pub/sub ----------------------------------------------------------- */

/* A subscriber has its own connection: a subscribed connection can run no
 * other command, so it is never a worker's. Messages published while it is
 * disconnected are lost, which is why store_sub_next reports the gap. */
struct store_sub {
    redisContext *c;
    char **channels;
    int nchannels;
    int backoff_ms;
    int64_t retry_at_ms;
};

static int sub_subscribe(struct store_sub *s, struct err *e)
{
    const char **argv = util_xmalloc(sizeof *argv * (size_t)(s->nchannels + 1));
    argv[0] = "SUBSCRIBE";
    for (int i = 0; i < s->nchannels; i++)
        argv[i + 1] = s->channels[i];
    int rc = 0;
    if (redisAppendCommandArgv(s->c, s->nchannels + 1, argv, NULL) != REDIS_OK)
        rc = err_set(e, "store_unavailable", "Redis SUBSCRIBE: %s", s->c->errstr);
    /* One confirmation per channel. */
    for (int i = 0; rc == 0 && i < s->nchannels; i++) {
        void *r = NULL;
        errno = 0;
        if (redisGetReply(s->c, &r) != REDIS_OK) {
            describe_io_error(s->c, errno, "SUBSCRIBE", e);
            rc = -1;
        } else if (((redisReply *)r)->type != REDIS_REPLY_ARRAY) {
            rc = err_set(e, "store_unavailable", "Redis SUBSCRIBE refused: %.200s",
                         ((redisReply *)r)->str ? ((redisReply *)r)->str : "unexpected reply");
        }
        if (r)
            freeReplyObject(r);
    }
    free(argv);
    return rc;
}

static int sub_connect(struct store_sub *s, struct err *e)
{
    if (util_mono_ms() < s->retry_at_ms)
        return err_set(e, "store_unavailable", "Redis subscriber: waiting before reconnecting");
    s->c = g.nsentinels ? connect_sentinel(e) : connect_direct(e);
    if (s->c && sub_subscribe(s, e) == 0) {
        s->backoff_ms = 0;
        s->retry_at_ms = 0;
        return 0;
    }
    if (s->c)
        redisFree(s->c);
    s->c = NULL;
    atomic_fetch_add(&st_errors, 1);
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : STORE_BACKOFF_MIN_MS;
    if (s->backoff_ms > g.max_backoff_ms)
        s->backoff_ms = g.max_backoff_ms;
    s->retry_at_ms = util_mono_ms() + s->backoff_ms;
    return -1;
}

struct store_sub *store_sub_new(const char *const *channels, int n, struct err *e)
{
    if (!g.initialized || n < 1 || !channels) {
        err_set(e, "internal_error", "store_sub_new: store not initialized or no channels");
        return NULL;
    }
    struct store_sub *s = util_xcalloc(1, sizeof *s);
    s->channels = util_xcalloc((size_t)n, sizeof *s->channels);
    for (int i = 0; i < n; i++)
        s->channels[i] = util_xstrdup(channels[i]);
    s->nchannels = n;
    struct err scratch;
    sub_connect(s, e ? e : &scratch); /* a failure here is retried by next */
    return s;
}

/* A message reply: ["message", channel, payload]. */
static int sub_take(redisReply *r, char **channel, char **msg, size_t *msglen)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0 || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return 0;
    *channel = util_xstrndup(r->element[1]->str, r->element[1]->len);
    *msg = util_xstrndup(r->element[2]->str, r->element[2]->len);
    if (msglen)
        *msglen = r->element[2]->len;
    return 1;
}

static int sub_fail(struct store_sub *s, struct err *e)
{
    describe_io_error(s->c, errno, "subscriber", e);
    atomic_fetch_add(&st_errors, 1);
    redisFree(s->c);
    s->c = NULL;
    return -1;
}

int store_sub_next(struct store_sub *s, int timeout_ms, char **channel, char **msg, size_t *msglen,
                   struct err *e)
{
    struct err scratch;
    if (!e)
        e = &scratch;
    int64_t deadline = util_mono_ms() + timeout_ms;
    if (!s->c) {
        /* Disconnected: wait out the backoff (within the timeout) rather
         * than make the caller spin. */
        int64_t wait = (s->retry_at_ms < deadline ? s->retry_at_ms : deadline) - util_mono_ms();
        if (wait > 0)
            poll(NULL, 0, (int)wait);
        if (sub_connect(s, e) < 0)
            return -1;
    }
    for (;;) {
        void *r = NULL;
        /* Replies already read into the buffer first: poll cannot see them. */
        if (redisReaderGetReply(s->c->reader, &r) != REDIS_OK)
            return sub_fail(s, e);
        if (!r) {
            int64_t left = deadline - util_mono_ms();
            struct pollfd p = {.fd = s->c->fd, .events = POLLIN};
            int n = left > 0 ? poll(&p, 1, (int)left) : 0;
            if (n == 0)
                return 0;
            if (n < 0 && errno == EINTR)
                continue;
            errno = 0;
            if (n < 0 || redisGetReply(s->c, &r) != REDIS_OK)
                return sub_fail(s, e);
        }
        int got = sub_take(r, channel, msg, msglen);
        freeReplyObject(r);
        if (got)
            return 1;
    }
}

void store_sub_free(struct store_sub *s)
{
    if (!s)
        return;
    if (s->c)
        redisFree(s->c);
    for (int i = 0; i < s->nchannels; i++)
        free(s->channels[i]);
    free(s->channels);
    free(s);
}

long long store_publish(const char *channel, const void *msg, size_t len, struct err *e)
{
    const char *argv[] = {"PUBLISH", channel, msg};
    const size_t argvlen[] = {7, strlen(channel), len};
    struct store_reply *r = store_cmd(e, 3, argv, argvlen);
    if (!r)
        return -1;
    long long n = -1;
    if (store_reply_type(r) == STORE_INTEGER)
        n = store_reply_int(r);
    else
        err_set(e, "store_error", "Redis PUBLISH refused: %.200s", store_reply_str(r, NULL));
    store_reply_free(r);
    return n;
}

int store_init_from_config(const struct config *cfg, struct err *e)
{
    struct store_config sc = {
        .url = cfg->redis_url,
        .password = cfg->redis_password[0] ? cfg->redis_password : NULL,
        .sentinels = cfg->redis_sentinels[0] ? cfg->redis_sentinels : NULL,
        .master_name = cfg->redis_master_name,
        .sentinel_password = cfg->redis_sentinel_password[0] ? cfg->redis_sentinel_password : NULL,
        .connect_timeout_ms = cfg->redis_connect_timeout_ms,
        .command_timeout_ms = cfg->redis_command_timeout_ms,
        .reconnect_max_backoff_ms = cfg->redis_reconnect_max_backoff_ms,
    };
    return store_init(&sc, e);
}
