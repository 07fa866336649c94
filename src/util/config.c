/* Configuration table, INI parsing with inih and environment overrides.
 * inih 55 cuts lines at 200 characters and hands on the rest silently, so the
 * file is scanned for over-long lines first and refused with the line number. */
#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define CONFIG_MAX_FILE (1 << 20)
#define CONFIG_MAX_LINE 199 /* inih's INI_MAX_LINE is 200 including the NUL */

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

enum {
    OPT_SECRET = 1,   /* never printed */
    OPT_RESTART = 2,  /* needs a restart to change (all do today) */
};

typedef int (*opt_check)(const char *v, char *why, size_t n);

struct opt {
    const char *section;
    const char *key;
    enum opt_type type;
    const char *def;
    long min, max;
    int flags;
    size_t offset;
    opt_check check;
    const char *doc;
};

static int check_listen(const char *v, char *why, size_t n);
static int check_url(const char *v, char *why, size_t n);
static int check_redis_url(const char *v, char *why, size_t n);
static int check_level(const char *v, char *why, size_t n);
static int check_affinity(const char *v, char *why, size_t n);
static int check_cookie_name(const char *v, char *why, size_t n);
static int check_resolvers(const char *v, char *why, size_t n);
static int check_header_name(const char *v, char *why, size_t n);

#define F(field) offsetof(struct config, field)
#define RLF(arr, i) (offsetof(struct config, arr) + (i) * sizeof(int))

static const struct opt opts[] = {
    {"server", "listen", OPT_STR, "127.0.0.1:8080", 0, 0, OPT_RESTART, F(listen), check_listen,
     "Address to listen on, host:port (IPv4 or [IPv6]). Env alias SSOGATE_LISTEN."},
    {"server", "base_url", OPT_STR, "http://127.0.0.1:8080", 0, 0, OPT_RESTART, F(base_url), check_url,
     "Public scheme://host[:port] of ssogate as browsers see it; https turns on HSTS and Secure cookies."},
    {"server", "workers", OPT_INT, "0", 0, 256, OPT_RESTART, F(workers), NULL,
     "Worker threads (each with its own epoll and Redis connection); 0 = number of cores."},
    {"server", "cpu_affinity", OPT_STR, "off", 0, 0, OPT_RESTART, F(cpu_affinity), check_affinity,
     "auto: pin each worker thread to its own CPU of those the process may use (as nginx's worker_cpu_affinity auto); off: the kernel places them."},
    {"server", "max_header_bytes", OPT_INT, "16384", 2048, 1048576, OPT_RESTART, F(max_header_bytes), NULL,
     "Memory per connection for the request line and headers; larger requests get 431 or 414."},
    {"server", "max_body_bytes", OPT_INT, "262144", 1024, 16777216, OPT_RESTART, F(max_body_bytes), NULL,
     "Largest request body accepted (routes may set less); larger gets 413."},
    {"server", "request_timeout_s", OPT_INT, "30", 1, 3600, OPT_RESTART, F(request_timeout_s), NULL,
     "Time for a whole request to arrive; a body still arriving after it gets 408."},
    {"server", "idle_timeout_s", OPT_INT, "60", 1, 3600, OPT_RESTART, F(idle_timeout_s), NULL,
     "A connection silent for this long is closed (stalled clients, keep-alive)."},
    {"server", "connection_limit", OPT_INT, "4096", 16, 1000000, OPT_RESTART, F(connection_limit), NULL,
     "Most concurrent connections."},
    {"server", "keepalive_requests", OPT_INT, "1000", 0, 1000000, OPT_RESTART, F(keepalive_requests), NULL,
     "Requests served on one keep-alive connection before it is closed (as nginx's keepalive_requests); the client reconnects and the connection is placed on a worker again. 0 = no limit."},
    {"server", "shutdown_timeout_s", OPT_INT, "10", 0, 600, OPT_RESTART, F(shutdown_timeout_s), NULL,
     "On SIGTERM/SIGINT, how long in-flight requests may take to finish."},
    {"server", "trusted_proxies", OPT_STR, "", 0, 0, OPT_RESTART, F(trusted_proxies), NULL,
     "Comma-separated CIDRs of proxies whose X-Forwarded-* headers are believed."},
    {"server", "allowed_redirect_hosts", OPT_STR, "", 0, 0, OPT_RESTART, F(allowed_redirect_hosts), NULL,
     "Comma-separated hosts that rd= may send a browser back to (besides relative paths)."},
    {"server", "dev_plain_http", OPT_BOOL, "false", 0, 1, OPT_RESTART, F(dev_plain_http), NULL,
     "Loopback development only: cookies without Secure. Refused when base_url is https."},

    {"redis", "url", OPT_STR, "redis://127.0.0.1:6379/0", 0, 0, OPT_RESTART | OPT_SECRET, F(redis_url), check_redis_url,
     "redis://[:password@]host:port[/db] or unix:///path/to/socket. Env alias SSOGATE_REDIS_URL."},
    {"redis", "password", OPT_STR, "", 0, 0, OPT_RESTART | OPT_SECRET, F(redis_password), NULL,
     "AUTH password (overrides the one in url)."},
    {"redis", "sentinels", OPT_STR, "", 0, 0, OPT_RESTART, F(redis_sentinels), NULL,
     "Comma-separated host:port of Redis Sentinels; when set, the master comes from them."},
    {"redis", "master_name", OPT_STR, "ssogate", 0, 0, OPT_RESTART, F(redis_master_name), NULL,
     "Sentinel master name."},
    {"redis", "sentinel_password", OPT_STR, "", 0, 0, OPT_RESTART | OPT_SECRET, F(redis_sentinel_password), NULL,
     "AUTH password of the sentinels."},
    {"redis", "connect_timeout_ms", OPT_INT, "500", 10, 60000, OPT_RESTART, F(redis_connect_timeout_ms), NULL,
     "Connect timeout."},
    {"redis", "command_timeout_ms", OPT_INT, "500", 10, 60000, OPT_RESTART, F(redis_command_timeout_ms), NULL,
     "Command timeout; a request that needs Redis answers 503 after it."},
    {"redis", "reconnect_max_backoff_ms", OPT_INT, "1000", 50, 60000, OPT_RESTART, F(redis_reconnect_max_backoff_ms), NULL,
     "Reconnect backoff doubles from 50 ms up to this."},

    {"log", "level", OPT_STR, "info", 0, 0, 0, F(log_level), check_level,
     "debug, info, warn or error."},

    {"ratelimit", "login_per_minute", OPT_INT, "60", 1, 1000000, OPT_RESTART, RLF(rl_per_minute, RL_LOGIN), NULL,
     "Sign-in starts per client address per minute."},
    {"ratelimit", "login_burst", OPT_INT, "20", 1, 1000000, OPT_RESTART, RLF(rl_burst, RL_LOGIN), NULL,
     "Sign-in starts a client may make at once."},
    {"ratelimit", "acs_per_minute", OPT_INT, "60", 1, 1000000, OPT_RESTART, RLF(rl_per_minute, RL_ACS), NULL,
     "SAML responses per client address per minute."},
    {"ratelimit", "acs_burst", OPT_INT, "20", 1, 1000000, OPT_RESTART, RLF(rl_burst, RL_ACS), NULL,
     "SAML responses a client may post at once."},
    {"ratelimit", "apikey_per_minute", OPT_INT, "30", 1, 1000000, OPT_RESTART, RLF(rl_per_minute, RL_APIKEY), NULL,
     "Failed API-key checks per client address per minute."},
    {"ratelimit", "apikey_burst", OPT_INT, "10", 1, 1000000, OPT_RESTART, RLF(rl_burst, RL_APIKEY), NULL,
     "Failed API-key checks a client may make at once."},
    {"ratelimit", "max_clients", OPT_INT, "100000", 100, 10000000, OPT_RESTART, F(rl_max_clients), NULL,
     "Client addresses tracked per limit; the least recently seen are forgotten first."},

    {"saml", "sp_key", OPT_STR, "certs/dev/sp.key", 0, 0, OPT_RESTART | OPT_SECRET, F(sp_key), NULL,
     "SP private key (PEM) for signing requests and decrypting assertions."},
    {"saml", "sp_cert", OPT_STR, "certs/dev/sp.crt", 0, 0, OPT_RESTART, F(sp_cert), NULL,
     "SP certificate (PEM) published in SP metadata."},
    {"saml", "sp_next_key", OPT_STR, "", 0, 0, OPT_RESTART | OPT_SECRET, F(sp_next_key), NULL,
     "During an SP key rollover: the next key, published and accepted for decryption."},
    {"saml", "sp_next_cert", OPT_STR, "", 0, 0, OPT_RESTART, F(sp_next_cert), NULL,
     "During an SP key rollover: the next certificate, published in metadata."},
    {"saml", "request_ttl_s", OPT_INT, "600", 30, 86400, OPT_RESTART, F(saml_request_ttl_s), NULL,
     "How long a started sign-in waits for the IdP's answer."},
    {"saml", "clock_skew_s", OPT_INT, "60", 0, 600, OPT_RESTART, F(saml_clock_skew_s), NULL,
     "Default clock skew allowed on assertion times (connections may set their own)."},
    {"saml", "metadata_refresh_s", OPT_INT, "3600", 2, 604800, OPT_RESTART, F(saml_metadata_refresh_s), NULL,
     "How often IdP metadata set by URL is fetched again (one instance per round)."},
    {"saml", "metadata_timeout_ms", OPT_INT, "10000", 100, 120000, OPT_RESTART, F(saml_metadata_timeout_ms), NULL,
     "Time limit of one IdP metadata download."},
    {"saml", "cert_warn_days", OPT_INT, "30", 1, 3650, OPT_RESTART, F(saml_cert_warn_days), NULL,
     "Warn (log, metrics) this many days before an IdP signing certificate expires."},
    {"saml", "max_response_bytes", OPT_INT, "262144", 4096, 16777216, OPT_RESTART, F(saml_max_response_bytes), NULL,
     "Largest ACS body accepted; larger gets 413."},

    {"session", "keys", OPT_STR, "certs/dev/session.keys", 0, 0, OPT_RESTART | OPT_SECRET, F(session_keys), NULL,
     "File of session-signing keys, one 'kid base64url-secret' per line; the first signs."},
    {"session", "cookie_name", OPT_STR, "__Host-ssogate", 0, 0, OPT_RESTART, F(cookie_name), check_cookie_name,
     "Session cookie name; must start with __Host- unless cookie_domain is set."},
    {"session", "cookie_domain", OPT_STR, "", 0, 0, OPT_RESTART, F(cookie_domain), NULL,
     "Share one session across subdomains of this domain (then the cookie has no __Host- prefix)."},
    {"session", "max_age_s", OPT_INT, "43200", 60, 2592000, OPT_RESTART, F(session_max_age_s), NULL,
     "Absolute session lifetime (orgs may set less)."},
    {"session", "idle_timeout_s", OPT_INT, "3600", 60, 2592000, OPT_RESTART, F(session_idle_timeout_s), NULL,
     "A session unused this long ends (orgs may set less)."},
    {"session", "idle_refresh_s", OPT_INT, "60", 1, 3600, OPT_RESTART, F(session_idle_refresh_s), NULL,
     "The idle expiry is pushed forward at most this often per session."},
    {"session", "cache_ttl_ms", OPT_INT, "5000", 0, 5000, OPT_RESTART, F(session_cache_ttl_ms), NULL,
     "Per-worker cache of session and membership reads; a revocation takes effect within it."},

    {"gate", "default_route", OPT_STR, "", 0, 0, OPT_RESTART, F(default_route), NULL,
     "Name of the [route.NAME] used when no route matches; empty = refuse (403 no_route)."},
    {"gate", "header_user", OPT_STR, "X-Auth-User", 0, 0, OPT_RESTART, F(header_user), NULL,
     "Identity header: stable user id."},
    {"gate", "header_email", OPT_STR, "X-Auth-Email", 0, 0, OPT_RESTART, F(header_email), NULL,
     "Identity header: email."},
    {"gate", "header_org", OPT_STR, "X-Auth-Org", 0, 0, OPT_RESTART, F(header_org), NULL,
     "Identity header: organization slug."},
    {"gate", "header_workspace", OPT_STR, "X-Auth-Workspace", 0, 0, OPT_RESTART, F(header_workspace), NULL,
     "Identity header: ORG/WORKSPACE."},
    {"gate", "header_role", OPT_STR, "X-Auth-Role", 0, 0, OPT_RESTART, F(header_role), NULL,
     "Identity header: effective workspace role."},
    {"gate", "header_org_role", OPT_STR, "X-Auth-Org-Role", 0, 0, OPT_RESTART, F(header_org_role), NULL,
     "Identity header: org role."},
    {"gate", "identity_jwt_header", OPT_STR, "", 0, 0, OPT_RESTART, F(identity_jwt_header), check_header_name,
     "Signed identity header (a short-lived JWS, e.g. X-Auth-Identity) on allowed answers; empty = off."},
    {"gate", "identity_jwt_key", OPT_STR, "", 0, 0, OPT_RESTART | OPT_SECRET, F(identity_jwt_key), NULL,
     "PEM private key that signs it: Ed25519 (alg EdDSA) or EC P-256 (ES256)."},
    {"gate", "identity_jwt_ttl_s", OPT_INT, "60", 10, 3600, OPT_RESTART, F(identity_jwt_ttl_s), NULL,
     "Lifetime of a signed identity token (exp - iat)."},
    {"gate", "identity_jwt_extra_keys", OPT_STR, "", 0, 0, OPT_RESTART, F(identity_jwt_extra_keys), NULL,
     "Comma-separated PEM files of further public keys published in the JWKS (key rotation)."},
    {"dns", "resolvers", OPT_STR, "", 0, 0, OPT_RESTART, F(dns_resolvers), check_resolvers,
     "Resolvers for domain verification, comma-separated ip:port ([ipv6]:port); empty = the system's."},
    {"dns", "timeout_ms", OPT_INT, "3000", 100, 60000, OPT_RESTART, F(dns_timeout_ms), NULL,
     "Time a TXT look-up may take, all tries included."},
    {"dns", "recheck_interval_s", OPT_INT, "86400", 60, 2592000, OPT_RESTART, F(dns_recheck_interval_s), NULL,
     "How often verified domains are looked up again."},
    {"dns", "recheck_grace", OPT_INT, "3", 1, 100, OPT_RESTART, F(dns_recheck_grace), NULL,
     "Re-checks in a row that may miss the record (the org is warned) before the domain is removed."},

    {"org", "audit_max_entries", OPT_INT, "100000", 100, 100000000, OPT_RESTART, F(org_audit_max_entries), NULL,
     "Audit records kept per organization (Redis stream, trimmed approximately)."},
    {"org", "invitation_ttl_s", OPT_INT, "604800", 60, 7776000, OPT_RESTART, F(org_invitation_ttl_s), NULL,
     "How long an invitation link stays valid."},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL},
};

static int check_host_port(const char *v, char *host, size_t hn, int *port)
{
    const char *colon;
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (!end || end[1] != ':')
            return -1;
        if ((size_t)(end - v - 1) >= hn || end - v - 1 == 0)
            return -1;
        memcpy(host, v + 1, (size_t)(end - v - 1));
        host[end - v - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || colon == v || (size_t)(colon - v) >= hn)
            return -1;
        memcpy(host, v, (size_t)(colon - v));
        host[colon - v] = '\0';
        if (strchr(host, ':'))
            return -1;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static int check_listen(const char *v, char *why, size_t n)
{
    char host[256];
    int port;
    if (check_host_port(v, host, sizeof host, &port) < 0) {
        snprintf(why, n, "'%s' is not host:port", v);
        return -1;
    }
    return 0;
}

static int check_url(const char *v, char *why, size_t n)
{
    const char *rest;
    if (strncmp(v, "https://", 8) == 0)
        rest = v + 8;
    else if (strncmp(v, "http://", 7) == 0)
        rest = v + 7;
    else {
        snprintf(why, n, "'%s' must start with http:// or https://", v);
        return -1;
    }
    if (!*rest || strpbrk(rest, "/?#@ \\") || rest[strlen(rest) - 1] == ':') {
        snprintf(why, n, "'%s' must be scheme://host[:port] with no path, query or user", v);
        return -1;
    }
    return 0;
}

static int check_redis_url(const char *v, char *why, size_t n)
{
    if (strncmp(v, "redis://", 8) != 0 && strncmp(v, "unix://", 7) != 0) {
        snprintf(why, n, "must be redis://[:password@]host:port[/db] or unix:///path");
        return -1;
    }
    if (strncmp(v, "unix://", 7) == 0 && v[7] != '/') {
        snprintf(why, n, "unix:// URL needs an absolute path (unix:///path/to/socket)");
        return -1;
    }
    return 0;
}

static int check_level(const char *v, char *why, size_t n)
{
    if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error")) {
        snprintf(why, n, "'%s' is not one of debug, info, warn, error", v);
        return -1;
    }
    return 0;
}

static int check_affinity(const char *v, char *why, size_t n)
{
    if (strcmp(v, "auto") && strcmp(v, "off")) {
        snprintf(why, n, "'%s' is not one of auto, off", v);
        return -1;
    }
    return 0;
}

static int check_cookie_name(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_')) {
            snprintf(why, n, "'%s' is not a valid cookie name", v);
            return -1;
        }
    return 0;
}

/* An HTTP field name (RFC 9110 section 5.1: a token), short enough for any proxy. */
static int check_header_name(const char *v, char *why, size_t n)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t len = strlen(v);
    if (len > 64 || strspn(v, tchar) != len) {
        snprintf(why, n, "'%s' is not an HTTP header name (1-64 token characters)", v);
        return -1;
    }
    return 0;
}

/* ip:port or [ipv6]:port, comma-separated (c-ares' servers CSV). */
static int check_resolvers(const char *v, char *why, size_t n)
{
    char *copy = util_xstrdup(v);
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        char host[256];
        int port;
        if (check_host_port(t, host, sizeof host, &port) < 0 || port == 0) {
            snprintf(why, n, "'%s' is not ip:port", t);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Set one option from text; on error fill why. */
static int opt_set(struct config *c, const struct opt *o, const char *v, char *why, size_t n)
{
    char *base = (char *)c;
    if (o->type == OPT_STR) {
        if (o->check && *v && o->check(v, why, n) < 0)
            return -1;
        char **slot = (char **)(base + o->offset);
        free(*slot);
        *slot = util_xstrdup(v);
        return 0;
    }
    if (o->type == OPT_BOOL) {
        int b;
        if (parse_bool(v, &b) < 0) {
            snprintf(why, n, "'%s' is not a boolean (true/false)", v);
            return -1;
        }
        *(int *)(base + o->offset) = b;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        snprintf(why, n, "'%s' is not an integer", v);
        return -1;
    }
    if (x < o->min || x > o->max) {
        snprintf(why, n, "%ld is out of range [%ld, %ld]", x, o->min, o->max);
        return -1;
    }
    *(int *)(base + o->offset) = (int)x;
    return 0;
}

static const struct opt *opt_find(const char *section, const char *key)
{
    for (const struct opt *o = opts; o->key; o++)
        if (!strcmp(o->section, section) && !strcmp(o->key, key))
            return o;
    return NULL;
}

struct parse_state {
    struct config *c;
    char why[400];
    int failed;
};

static int route_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static struct config_route *route_get(struct config *c, const char *name)
{
    for (int i = 0; i < c->nroutes; i++)
        if (strcmp(c->routes[i].name, name) == 0)
            return &c->routes[i];
    if (c->nroutes >= CONFIG_MAX_ROUTES)
        return NULL;
    struct config_route *r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof *r);
    r->name = util_xstrdup(name);
    r->host = util_xstrdup("");
    r->path_prefix = util_xstrdup("/");
    r->workspace = util_xstrdup("");
    r->permission = util_xstrdup("workspace:read");
    return r;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = util_xstrdup(v);
}

/* One option of a [route.NAME] section. */
static int route_option(struct parse_state *st, const char *rname, const char *key, const char *value)
{
    struct config_route *r = route_name_ok(rname) ? route_get(st->c, rname) : NULL;
    const char *why = NULL;
    if (!route_name_ok(rname))
        why = "route names are 1-63 of [a-z0-9_-]";
    else if (!r)
        why = "too many routes";
    else if (!strcmp(key, "host"))
        set_str(&r->host, value);
    else if (!strcmp(key, "path_prefix")) {
        if (value[0] != '/' || strpbrk(value, "?#\\ %"))
            why = "path_prefix must start with '/' and hold no '?', '#', '%', spaces or backslashes";
        else
            set_str(&r->path_prefix, value);
    } else if (!strcmp(key, "workspace")) {
        const char *slash = strchr(value, '/');
        if (!slash || slash == value || !slash[1] || strchr(slash + 1, '/'))
            why = "workspace must be ORG/WORKSPACE";
        else
            set_str(&r->workspace, value);
    } else if (!strcmp(key, "permission"))
        set_str(&r->permission, value);
    else if (!strcmp(key, "api") || !strcmp(key, "envoy_redirect")) {
        int b;
        if (parse_bool(value, &b) < 0)
            why = "not a boolean (true/false)";
        else if (!strcmp(key, "api"))
            r->api = b;
        else
            r->envoy_redirect = b;
    } else {
        snprintf(st->why, sizeof st->why, "unknown option '%s' in section [route.%s]", key, rname);
        st->failed = 1;
        return 0;
    }
    if (why) {
        snprintf(st->why, sizeof st->why, "[route.%s] %s: %s", rname, key, why);
        st->failed = 1;
        return 0;
    }
    return 1;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;
    if (st->failed)
        return 1; /* keep the first error only */
    if (strncmp(section, "route.", 6) == 0)
        return route_option(st, section + 6, name, value);
    const struct opt *o = opt_find(section, name);
    if (!o) {
        snprintf(st->why, sizeof st->why, "unknown option '%s' in section [%s]", name, section);
        st->failed = 1;
        return 0;
    }
    char why[300];
    if (opt_set(st->c, o, value, why, sizeof why) < 0) {
        snprintf(st->why, sizeof st->why, "[%s] %s: %s", section, name, why);
        st->failed = 1;
        return 0;
    }
    return 1;
}

static int check_line_lengths(const char *path, const char *data, struct err *e)
{
    int line = 1;
    size_t len = 0;
    for (const char *p = data; *p; p++) {
        if (*p == '\n') {
            line++;
            len = 0;
            continue;
        }
        if (++len > CONFIG_MAX_LINE)
            return err_set(e, "config_invalid", "%s:%d: line longer than %d characters",
                           path, line, CONFIG_MAX_LINE);
    }
    return 0;
}

static int config_load_file(struct config *c, const char *path, struct err *e)
{
    size_t len;
    char *data = util_read_file(path, CONFIG_MAX_FILE, &len);
    if (!data)
        return err_set(e, "config_invalid", "%s: cannot read: %s", path,
                       errno == EFBIG ? "file larger than 1 MiB" : strerror(errno));
    int rc = -1;
    if (memchr(data, '\0', len)) {
        err_set(e, "config_invalid", "%s: contains a NUL byte", path);
        goto done;
    }
    if (check_line_lengths(path, data, e) < 0)
        goto done;
    struct parse_state st = {.c = c};
    int line = ini_parse_string(data, ini_cb, &st);
    if (line != 0) {
        err_set(e, "config_invalid", "%s:%d: %s", path, line,
                st.failed ? st.why : "syntax error (expected [section] or key = value)");
        goto done;
    }
    rc = 0;
done:
    free(data);
    return rc;
}

void config_env_name(const char *section, const char *key, char *out, size_t n)
{
    snprintf(out, n, "SSOGATE_%s_%s", section, key);
    for (char *p = out; *p; p++)
        *p = *p == '.' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
}

static int config_load_env(struct config *c, struct err *e)
{
    static const struct {
        const char *env, *section, *key;
    } aliases[] = {
        {"SSOGATE_LISTEN", "server", "listen"},
        {"SSOGATE_REDIS_URL", "redis", "url"},
    };
    char why[300];
    for (const struct opt *o = opts; o->key; o++) {
        char name[128];
        config_env_name(o->section, o->key, name, sizeof name);
        const char *v = getenv(name);
        if (v && opt_set(c, o, v, why, sizeof why) < 0)
            return err_set(e, "config_invalid", "environment %s: %s", name, why);
    }
    /* The short aliases win over the long names: deployment tools set them. */
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        const char *v = getenv(aliases[i].env);
        if (v && opt_set(c, opt_find(aliases[i].section, aliases[i].key), v, why, sizeof why) < 0)
            return err_set(e, "config_invalid", "environment %s: %s", aliases[i].env, why);
    }
    return 0;
}

static int base_url_is_loopback(const char *url)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(url, hosts[i], n) == 0 && (url[n] == '\0' || url[n] == ':'))
            return 1;
    }
    return 0;
}

static int config_derive(struct config *c, struct err *e)
{
    if (check_host_port(c->listen, c->listen_host, sizeof c->listen_host, &c->listen_port) < 0)
        return err_set(e, "config_invalid", "%s: [server] listen: '%s' is not host:port", c->path,
                       c->listen);
    c->base_url_https = strncmp(c->base_url, "https://", 8) == 0;
    if (c->base_url_https && c->dev_plain_http)
        return err_set(e, "config_invalid",
                       "%s: [server] dev_plain_http is for loopback development and cannot be used "
                       "with an https base_url",
                       c->path);
    if (c->dev_plain_http && !base_url_is_loopback(c->base_url))
        return err_set(e, "config_invalid",
                       "%s: [server] dev_plain_http is for loopback development: base_url must be "
                       "http://127.0.0.1, http://localhost or http://[::1] (with any port)",
                       c->path);
    for (int i = 0; i < c->nroutes; i++)
        if (!c->routes[i].workspace[0])
            return err_set(e, "config_invalid", "%s: [route.%s] needs workspace = ORG/WORKSPACE", c->path,
                           c->routes[i].name);
    if (c->default_route[0]) {
        int found = 0;
        for (int i = 0; i < c->nroutes; i++)
            found |= strcmp(c->routes[i].name, c->default_route) == 0;
        if (!found)
            return err_set(e, "config_invalid", "%s: [gate] default_route '%s' is not a [route.NAME] section",
                           c->path, c->default_route);
    }
    if (!c->cookie_domain[0] && strncmp(c->cookie_name, "__Host-", 7) != 0 && !c->dev_plain_http)
        return err_set(e, "config_invalid",
                       "%s: [session] cookie_name must start with __Host- unless cookie_domain is set", c->path);
    if (c->cookie_domain[0] && strncmp(c->cookie_name, "__Host-", 7) == 0)
        return err_set(e, "config_invalid",
                       "%s: [session] a __Host- cookie cannot carry a domain: rename cookie_name when setting "
                       "cookie_domain", c->path);
    if (c->identity_jwt_header[0] && !c->identity_jwt_key[0])
        return err_set(e, "config_invalid",
                       "%s: [gate] identity_jwt_header needs identity_jwt_key (a PEM private key)", c->path);
    if (c->redis_sentinels[0] && !c->redis_master_name[0])
        return err_set(e, "config_invalid", "%s: [redis] sentinels needs master_name", c->path);
    return 0;
}

int config_load(struct config *c, const char *path, struct err *e)
{
    memset(c, 0, sizeof *c);
    char why[300];
    for (const struct opt *o = opts; o->key; o++)
        if (opt_set(c, o, o->def, why, sizeof why) < 0) {
            fprintf(stderr, "BUG: default of [%s] %s: %s\n", o->section, o->key, why);
            abort();
        }
    c->path = util_xstrdup(path ? path : "(defaults)");
    if (path && config_load_file(c, path, e) < 0)
        return -1;
    if (config_load_env(c, e) < 0)
        return -1;
    return config_derive(c, e);
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (const struct opt *o = opts; o->key; o++)
        if (o->type == OPT_STR) {
            char **slot = (char **)((char *)c + o->offset);
            free(*slot);
            *slot = NULL;
        }
    for (int i = 0; i < c->nroutes; i++) {
        struct config_route *r = &c->routes[i];
        free(r->name);
        free(r->host);
        free(r->path_prefix);
        free(r->workspace);
        free(r->permission);
    }
    c->nroutes = 0;
    free(c->path);
    c->path = NULL;
}

void config_write_example(FILE *f)
{
    fputs("# ssogate configuration. Every option, with its default.\n"
          "# Each can also be set by the environment: SSOGATE_<SECTION>_<KEY>\n"
          "# (upper case, dots and dashes as underscores), e.g. SSOGATE_SERVER_WORKERS=4.\n"
          "# Short aliases: SSOGATE_LISTEN = [server] listen, SSOGATE_REDIS_URL = [redis] url.\n"
          "# Lines longer than 199 characters are refused.\n", f);
    const char *section = "";
    for (const struct opt *o = opts; o->key; o++) {
        if (strcmp(section, o->section)) {
            section = o->section;
            fprintf(f, "\n[%s]\n", section);
        }
        char env[128];
        config_env_name(o->section, o->key, env, sizeof env);
        fprintf(f, "\n# %s\n# env %s", o->doc, env);
        if (o->type == OPT_INT)
            fprintf(f, "; %ld..%ld", o->min, o->max);
        fprintf(f, "\n%s = %s\n", o->key, o->def);
    }
    fputs("\n# Forward-auth routes: one [route.NAME] section each (none by default).\n"
          "# A request is matched on host (empty = any) and the longest path_prefix of its\n"
          "# normalized path; it then needs `permission` in `workspace`. Example:\n"
          "#\n"
          "# [route.app-a]\n"
          "# host = app.example.com\n"
          "# path_prefix = /a/\n"
          "# workspace = acme/research\n"
          "# permission = workspace:read\n"
          "# api = false            ; true: 401 for unauthenticated callers, never a redirect\n"
          "# envoy_redirect = false ; Envoy dialect: 302 browsers to sign-in instead of 401\n", f);
}
