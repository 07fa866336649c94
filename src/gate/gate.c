/* Forward auth and the JSON decision endpoints. Fail closed throughout: no
 * valid credentials -> the dialect's "not signed in"; Redis unreachable ->
 * 503; no route -> 403 no_route unless a default route is configured; and a
 * 200 only after a checked session or key and an allowing decision. */
#include "gate/gate.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz/authz.h"
#include "gate/idtoken.h"
#include "org/apikey.h"
#include "org/org.h"
#include "session/session.h"
#include "util/bgwork.h"
#include "util/log.h"
#include "util/tlcache.h"
#include "util/url.h"
#include "util/util.h"

enum dialect { D_NGINX, D_FORWARD, D_ENVOY, D_JSON };

static const struct config *cfg;
static const struct keyring *ring;
static char cookie_name[128];
static struct session_limits limits;

/* Who is asking: a session or an API key. */
struct principal {
    int is_key;
    char uid[65];
    char email[321];
    char org_id[65];           /* the session's or key's org */
    char key_ws_id[ORG_ID_MAX];
    char scopes[512];
};

/* The request being authorized, as the proxy saw it. */
struct original {
    char host[256];
    char uri[URL_MAX + 1];     /* raw target: path, query, maybe fragment */
    char method[16];
    char proto[8];
    int known;                 /* host and uri came from somewhere we trust */
};

int gate_init(const struct config *c, const struct keyring *k, struct err *e)
{
    cfg = c;
    ring = k;
    limits.max_age_s = c->session_max_age_s;
    limits.idle_timeout_s = c->session_idle_timeout_s;
    limits.idle_refresh_s = c->session_idle_refresh_s;
    const char *name = c->cookie_name;
    /* Browsers refuse __Host- cookies without Secure: plain-http development
     * uses the bare name. */
    if (c->dev_plain_http && strncmp(name, "__Host-", 7) == 0)
        name += 7;
    util_strlcpy(cookie_name, name, sizeof cookie_name);
    tlcache_configure(c->session_cache_ttl_ms);
    return idtoken_init(c, e);
}

void gate_shutdown(void)
{
    idtoken_shutdown();
}

const char *gate_cookie_name(void)
{
    return cookie_name;
}

char *gate_cookie_set(const char *token, int max_age_s)
{
    return util_xasprintf("%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s%s%s", cookie_name, token, max_age_s,
                          cfg->dev_plain_http ? "" : "; Secure", cfg->cookie_domain[0] ? "; Domain=" : "",
                          cfg->cookie_domain);
}

char *gate_cookie_clear(void)
{
    return gate_cookie_set("", 0);
}

/* ---- credentials ---- */

/* Cached values are a fixed part and then NUL-terminated strings, stored at
 * their length: a hit copies a few hundred bytes, not the strings' bounds.
 * off[i] is where string i starts in text. Returns the bytes of text used
 * (at most cap, which must be at least n). */
static size_t pack_strings(char *text, size_t cap, unsigned short *off, const char *const *v, int n)
{
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(v[i] ? v[i] : "");
        /* The bounds are the callers' (a longer string is a bug, never
         * input); cut anyway, leaving each string still to come its NUL. */
        size_t room = cap - used - (size_t)(n - i);
        if (len > room)
            len = room;
        off[i] = (unsigned short)used;
        memcpy(text + used, v[i] ? v[i] : "", len);
        text[used + len] = '\0';
        used += len + 1;
    }
    return used;
}

/* What the gate keeps of a session in the cache: until when, and who (user
 * id, email, org: packed strings). */
enum { SE_USER, SE_EMAIL, SE_ORG, SE_N };
struct session_entry {
    int64_t abs_expiry_ms;
    int64_t idle_expiry_ms;
    unsigned short off[SE_N];
    char text[65 + 321 + TOKEN_ORG_MAX + 1];
};

/* A session's cache entry is keyed by the whole token text, and made only
 * after that text verified: a hit is a token whose HMAC was checked before
 * (the key ring is fixed for the life of the process), so the hot path skips
 * the HMAC, the base64 and the SHA-256 of the id. Any other text, a forgery
 * included, misses (the slot's 64-bit hash and then the whole key must
 * match) and is verified before Redis is asked. */
static int session_cache_key(char *key, const char *token)
{
    size_t n = strlen(token);
    if (n + 3 > TLCACHE_KEY_MAX)
        return -1;
    memcpy(key, "t:", 2);
    memcpy(key + 2, token, n + 1);
    return 0;
}

/* Cache what loading the record of a verified token gave (rc, s or e): the
 * entry, under the token; a session that has ended leaves the cache at once;
 * Redis trouble leaves the entry to its TTL and is the caller's. stamp: the
 * org's, taken before the read (revocations name the session's org). */
static int session_keep(const char *text, const char *org, uint64_t stamp, int rc, const struct session *s,
                        const struct err *e, struct session_entry *out)
{
    char key[TLCACHE_KEY_MAX];
    int cacheable = session_cache_key(key, text) == 0;
    if (rc < 0) {
        if (cacheable && strcmp(e->code, "store_unavailable") != 0)
            tlcache_del(key);
        return -1;
    }
    out->abs_expiry_ms = s->abs_expiry_ms;
    out->idle_expiry_ms = s->idle_expiry_ms;
    const char *v[SE_N] = {s->user_id, s->email, s->org};
    size_t n = offsetof(struct session_entry, text) + pack_strings(out->text, sizeof out->text, out->off, v, SE_N);
    if (cacheable)
        tlcache_put_tagged(key, out, n, org, stamp);
    return 0;
}

static int session_fetch(const char *text, const struct token *t, struct session_entry *out, struct err *e)
{
    uint64_t stamp = tlcache_stamp(t->org);
    struct session s;
    int rc = session_load_hash(&limits, t->org, t->id_hash, &s, e);
    return session_keep(text, t->org, stamp, rc, &s, e, out);
}

/* Background reloads, together (util/bgwork batches): the arguments are
 * token texts, verified again here, off the request path, to name their
 * records, which are read in one Redis round trip. */
static void sessions_refresh(void *const *args, size_t n)
{
    struct sjob {
        const char *text;
        struct token t;
        uint64_t stamp;
    } *j = util_xcalloc(n, sizeof *j);
    struct session *s = util_xcalloc(n, sizeof *s);
    struct err *errs = util_xcalloc(n, sizeof *errs);
    const char **orgs = util_xcalloc(n, sizeof *orgs), **ids = util_xcalloc(n, sizeof *ids);
    int *rc = util_xcalloc(n, sizeof *rc), m = 0;
    for (size_t i = 0; i < n; i++) {
        if (token_verify(ring, args[i], &j[m].t, &errs[m]) < 0)
            continue;
        j[m].text = args[i];
        j[m].stamp = tlcache_stamp(j[m].t.org);
        orgs[m] = j[m].t.org;
        ids[m] = j[m].t.id_hash;
        m++;
    }
    session_load_hashes(&limits, m, orgs, ids, s, rc, errs);
    struct session_entry ignored;
    for (int k = 0; k < m; k++)
        session_keep(j[k].text, j[k].t.org, j[k].stamp, rc[k], &s[k], &errs[k], &ignored);
    free(rc), free(ids), free(orgs), free(errs), free(s), free(j);
}

/* The session behind a token: the process cache of verified tokens (at most
 * [session] cache_ttl_ms old, flushed on any revocation message; hot entries
 * reloaded in the background before they expire); on a miss the signature
 * first (no Redis for a forged token), then Redis. */
static int principal_from_session(const char *text, struct principal *p, struct err *e)
{
    char key[TLCACHE_KEY_MAX];
    struct session_entry s;
    struct token t;
    int again = 0, hit = session_cache_key(key, text) == 0 && tlcache_get_var(key, &s, sizeof s, NULL, &again);
    if (again)
        bgwork_submit_batch(sessions_refresh, text, strlen(text) + 1);
    if (!hit && (token_verify(ring, text, &t, e) < 0 || session_fetch(text, &t, &s, e) < 0))
        return -1;
    int64_t now = util_now_ms();
    /* Expired by the cached figures: the record may have slid since (a miss
     * has just read it and verified the token). */
    if (hit && (now >= s.abs_expiry_ms || now >= s.idle_expiry_ms) &&
        (token_verify(ring, text, &t, e) < 0 || session_fetch(text, &t, &s, e) < 0))
        return -1;
    util_strlcpy(p->uid, s.text + s.off[SE_USER], sizeof p->uid);
    util_strlcpy(p->email, s.text + s.off[SE_EMAIL], sizeof p->email);
    util_strlcpy(p->org_id, s.text + s.off[SE_ORG], sizeof p->org_id);
    return 0;
}

static int principal_from_key(struct http_req *r, const char *key, struct principal *p, struct err *e)
{
    int wait = http_ratelimit_blocked(r, RL_APIKEY);
    if (wait > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", wait);
        http_add_header(r, "Retry-After", s);
        return err_set(e, "rate_limited", "Too many failed API-key checks from this address.");
    }
    struct apikey_principal ap;
    if (apikey_verify(key, &ap, e) < 0) {
        if (strcmp(e->code, "store_unavailable") != 0)
            http_ratelimit_spend(r, RL_APIKEY);
        return -1;
    }
    p->is_key = 1;
    util_strlcpy(p->uid, ap.uid, sizeof p->uid);
    util_strlcpy(p->org_id, ap.org_id, sizeof p->org_id);
    util_strlcpy(p->key_ws_id, ap.ws_id, sizeof p->key_ws_id);
    util_strlcpy(p->scopes, ap.scopes, sizeof p->scopes);
    return 0;
}

/* 0 with p filled; -1 with unauthorized, rate_limited or store_unavailable. */
static int authenticate(struct http_req *r, struct principal *p, struct err *e)
{
    memset(p, 0, sizeof *p);
    int n = http_cookie_count(r, cookie_name);
    const char *auth = http_header(r, "Authorization");
    if (n > 1)
        return err_set(e, "unauthorized", "Two session cookies were sent; sign in again.");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *cred = auth + 7;
        while (*cred == ' ')
            cred++;
        if (strlen(cred) > 512)
            return err_set(e, "unauthorized", NULL);
        if (strncmp(cred, "s1.", 3) == 0)
            return principal_from_session(cred, p, e);
        return principal_from_key(r, cred, p, e);
    }
    const char *cookie = n == 1 ? http_cookie(r, cookie_name) : NULL;
    if (!cookie || !*cookie)
        return err_set(e, "unauthorized", NULL);
    return principal_from_session(cookie, p, e);
}

/* ---- the original request ---- */

static void original_from_headers(struct http_req *r, struct original *o)
{
    const char *xhost = http_header(r, "X-Forwarded-Host");
    const char *xuri = http_header(r, "X-Forwarded-Uri");
    const char *ourl = http_header(r, "X-Original-URL");
    if (xuri) {
        util_strlcpy(o->host, xhost ? xhost : http_header(r, "Host"), sizeof o->host);
        util_strlcpy(o->uri, xuri, sizeof o->uri);
        util_strlcpy(o->method, http_header(r, "X-Forwarded-Method"), sizeof o->method);
        util_strlcpy(o->proto, http_header(r, "X-Forwarded-Proto"), sizeof o->proto);
        o->known = strlen(xuri) <= URL_MAX;
    } else if (ourl) {
        /* X-Original-URL: scheme://host/path?query (nginx ingress style). */
        const char *hs = strstr(ourl, "://");
        if (hs && strlen(ourl) <= URL_MAX) {
            snprintf(o->proto, sizeof o->proto, "%.*s", (int)(hs - ourl), ourl);
            hs += 3;
            size_t hl = strcspn(hs, "/?#");
            snprintf(o->host, sizeof o->host, "%.*s", (int)hl, hs);
            util_strlcpy(o->uri, hs[hl] == '/' ? hs + hl : "/", sizeof o->uri);
            util_strlcpy(o->method, http_header(r, "X-Original-Method"), sizeof o->method);
            o->known = 1;
        }
    }
}

static void original_request(struct http_req *r, enum dialect d, struct original *o)
{
    memset(o, 0, sizeof *o);
    util_strlcpy(o->method, http_method(r), sizeof o->method);
    util_strlcpy(o->proto, cfg->base_url_https ? "https" : "http", sizeof o->proto);
    if (d == D_ENVOY) {
        /* Envoy appends the original path to /auth/envoy; the Host header is
         * the original one. The query is not in http_path. */
        const char *path = http_path(r) + strlen("/auth/envoy");
        util_strlcpy(o->uri, *path ? path : "/", sizeof o->uri);
        util_strlcpy(o->host, http_header(r, "Host"), sizeof o->host);
        o->known = 1;
        return;
    }
    /* X-Forwarded-* and X-Original-* only from a configured trusted proxy:
     * from anyone else they are the client's own words. */
    if (http_peer_trusted(r))
        original_from_headers(r, o);
    if (!o->method[0])
        util_strlcpy(o->method, http_method(r), sizeof o->method);
}

/* ---- routes ---- */

static int host_matches(const char *want, const char *host)
{
    if (!want[0])
        return 1;
    if (strcasecmp(want, host) == 0)
        return 1;
    size_t n = strlen(want);
    return strncasecmp(want, host, n) == 0 && host[n] == ':';
}

static int prefix_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0)
        return 0;
    return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
}

static const struct config_route *route_find(const struct original *o, const char *path)
{
    const struct config_route *best = NULL;
    size_t best_len = 0;
    int best_host = 0;
    for (int i = 0; i < cfg->nroutes; i++) {
        const struct config_route *rt = &cfg->routes[i];
        if (!host_matches(rt->host, o->host) || !prefix_matches(rt->path_prefix, path))
            continue;
        size_t len = strlen(rt->path_prefix);
        int has_host = rt->host[0] != '\0';
        if (!best || len > best_len || (len == best_len && has_host && !best_host)) {
            best = rt;
            best_len = len;
            best_host = has_host;
        }
    }
    if (!best && cfg->default_route[0])
        for (int i = 0; i < cfg->nroutes; i++)
            if (strcmp(cfg->routes[i].name, cfg->default_route) == 0)
                best = &cfg->routes[i];
    return best;
}

struct target {
    char org[ORG_SLUG_MAX];
    char ws[ORG_SLUG_MAX];
    char permission[129];
    const struct config_route *route;
};

static int split_workspace(const char *w, struct target *t)
{
    const char *slash = strchr(w, '/');
    if (!slash || slash == w || !slash[1] || strchr(slash + 1, '/') || (size_t)(slash - w) >= sizeof t->org ||
        strlen(slash + 1) >= sizeof t->ws)
        return -1;
    snprintf(t->org, sizeof t->org, "%.*s", (int)(slash - w), w);
    util_strlcpy(t->ws, slash + 1, sizeof t->ws);
    return 0;
}

/* Where the decision applies. The workspace query parameter counts only on
 * the endpoints whose URL the proxy's own configuration writes (/auth,
 * /auth/forward, /v1/authz); on /auth/envoy the query is the client's. */
static int find_target(struct http_req *r, enum dialect d, const struct original *o, struct target *t,
                       struct err *e)
{
    memset(t, 0, sizeof *t);
    const char *ws = d == D_ENVOY ? NULL : http_query(r, "workspace");
    const char *perm = d == D_ENVOY ? NULL : http_query(r, "permission");
    if (ws) {
        if (split_workspace(ws, t) < 0)
            return err_set(e, "bad_request", "workspace must be ORG/WORKSPACE");
        util_strlcpy(t->permission, perm ? perm : "workspace:read", sizeof t->permission);
        return 0;
    }
    if (d == D_JSON)
        return err_set(e, "bad_request", "workspace=ORG/WORKSPACE is required");
    char path[URL_MAX + 1];
    const struct config_route *rt = NULL;
    if (o->known) {
        if (url_normalize_path(o->uri, path, sizeof path, e) < 0)
            return -1;
        rt = route_find(o, path);
    } else if (cfg->default_route[0]) {
        rt = route_find(o, "\x01"); /* matches nothing: falls to the default */
    }
    if (!rt)
        return err_set(e, "forbidden", "No route covers this request.");
    t->route = rt;
    split_workspace(rt->workspace, t);
    util_strlcpy(t->permission, rt->permission, sizeof t->permission);
    return 0;
}

/* ---- the decision ---- */

static size_t split_words(char *s, const char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = s ? strtok_r(s, " ", &save) : NULL; w && n < max; w = strtok_r(NULL, " ", &save))
        out[n++] = w;
    return n;
}

static int key_scope_allows(const struct principal *p, const char *ws_id, const char *permission)
{
    if (!p->is_key)
        return 1;
    if (p->key_ws_id[0] && strcmp(p->key_ws_id, ws_id) != 0)
        return 0; /* a workspace key speaks for its workspace only */
    char copy[512];
    util_strlcpy(copy, p->scopes, sizeof copy);
    const char *words[32];
    size_t n = split_words(copy, words, 32);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(words[i], "org:admin") || !strcmp(words[i], permission) || !strcmp(words[i], "authz:check"))
            return 1;
    return 0;
}

struct verdict {
    struct authz_result res;
    char org_role[16];
    char role[64];
    char reason[64];
};

/* What the decision needs about (uid, org, workspace), as cached: the fixed
 * part, then the workspace id, the explicit workspace role, the workspace's
 * default role, the custom role's permissions and the entitlements (packed
 * strings, at most what org_ws_access_load returns). */
enum { AC_WS_ID, AC_WS_ROLE, AC_DEFAULT_ROLE, AC_PERMS, AC_ENTS, AC_N };
struct access {
    int exists;               /* 0: no such org or workspace */
    enum org_role org_role;
    unsigned short off[AC_N];
    char text[ORG_ID_MAX + 64 + 64 + ORG_PERMS_MAX + ORG_ENTITLEMENTS_MAX];
};

static const char *access_str(const struct access *a, int i)
{
    return a->text + a->off[i];
}

/* Whose access to which workspace: the argument of a background reload. */
struct access_ref {
    char uid[65];
    char org[ORG_SLUG_MAX];
    char ws[ORG_SLUG_MAX];
};

/* "a:" uid "|" org "|" ws: the parts are bounded well below the key's size. */
static void access_cache_key(char *key, const struct access_ref *ref)
{
    size_t u = strlen(ref->uid), o = strlen(ref->org), w = strlen(ref->ws);
    char *p = key;
    memcpy(p, "a:", 2), p += 2;
    memcpy(p, ref->uid, u), p += u;
    *p++ = '|';
    memcpy(p, ref->org, o), p += o;
    *p++ = '|';
    memcpy(p, ref->ws, w + 1);
}

/* Cache what loading (uid, org, workspace) gave: the access (tagged with the
 * org that owns the workspace, stamp taken before the read: only that org's
 * changes make it stale); a missing org or workspace as "no access", which
 * any change anywhere drops (epoch taken before the read); Redis trouble is
 * never cached and never a guess. */
static int access_keep(const struct access_ref *ref, const char *org_id, uint64_t stamp, uint64_t epoch, int rc,
                       const struct org_ws_access *acc, const struct err *e, struct access *a)
{
    char key[TLCACHE_KEY_MAX];
    access_cache_key(key, ref);
    if (rc == 0) {
        a->exists = 1;
        a->org_role = acc->org_role;
        const char *v[AC_N] = {acc->ws_id, acc->ws_role, acc->default_role, acc->role_perms, acc->entitlements};
        size_t n = offsetof(struct access, text) + pack_strings(a->text, sizeof a->text, a->off, v, AC_N);
        tlcache_put_tagged(key, a, n, org_id, stamp);
        return 0;
    }
    if (strcmp(e->code, "org_not_found") && strcmp(e->code, "not_found") && strcmp(e->code, "workspace_not_found"))
        return -1;
    a->exists = 0;
    a->org_role = ORG_ROLE_NONE;
    const char *none[AC_N] = {0};
    size_t n = offsetof(struct access, text) + pack_strings(a->text, sizeof a->text, a->off, none, AC_N);
    tlcache_put_at(key, a, n, epoch);
    return 0;
}

static int access_fetch(const struct access_ref *ref, struct access *a, struct err *e)
{
    uint64_t epoch = tlcache_epoch(), stamp = 0;
    struct org_info org;
    struct org_ws_access acc;
    memset(&org, 0, sizeof org);
    memset(&acc, 0, sizeof acc);
    int rc = org_lookup_cached(ref->org, &org, e);
    if (rc == 0) {
        stamp = tlcache_stamp(org.id);
        rc = org_ws_access_load(org.id, ref->ws, ref->uid, &acc, e);
    }
    rc = access_keep(ref, org.id, stamp, epoch, rc, &acc, e, a);
    org_ws_access_clear(&acc);
    return rc;
}

/* Background reloads, together: the arguments are access_refs, read in one
 * Redis round trip (their orgs come from the org cache). */
static void accesses_refresh(void *const *args, size_t n)
{
    uint64_t epoch = tlcache_epoch();
    struct ajob {
        const struct access_ref *ref;
        struct org_info org;
        uint64_t stamp;
    } *j = util_xcalloc(n, sizeof *j);
    struct access *a = util_xmalloc(sizeof *a);
    struct org_ws_access *acc = util_xcalloc(n, sizeof *acc);
    struct err *errs = util_xcalloc(n, sizeof *errs);
    const char **ids = util_xcalloc(n, sizeof *ids), **ws = util_xcalloc(n, sizeof *ws);
    const char **uids = util_xcalloc(n, sizeof *uids);
    int *rc = util_xcalloc(n, sizeof *rc), m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct access_ref *ref = args[i];
        if (org_lookup_cached(ref->org, &j[m].org, &errs[m]) < 0) {
            access_keep(ref, NULL, 0, epoch, -1, NULL, &errs[m], a);
            continue;
        }
        j[m].ref = ref;
        j[m].stamp = tlcache_stamp(j[m].org.id);
        ids[m] = j[m].org.id;
        ws[m] = ref->ws;
        uids[m] = ref->uid;
        m++;
    }
    org_ws_access_load_many(m, ids, ws, uids, acc, rc, errs);
    for (int k = 0; k < m; k++) {
        access_keep(j[k].ref, ids[k], j[k].stamp, epoch, rc[k], &acc[k], &errs[k], a);
        org_ws_access_clear(&acc[k]);
    }
    free(rc), free(uids), free(ws), free(ids), free(errs), free(acc), free(a), free(j);
}

/* The cache's read path: a hit answers at once and, in the entry's last
 * eighth of life, has it reloaded in the background; a miss reads Redis and
 * fills the cache. */
static int access_load(const char *uid, const struct target *t, struct access *a, struct err *e)
{
    struct access_ref ref;
    util_strlcpy(ref.uid, uid, sizeof ref.uid);
    util_strlcpy(ref.org, t->org, sizeof ref.org);
    util_strlcpy(ref.ws, t->ws, sizeof ref.ws);
    char key[TLCACHE_KEY_MAX];
    access_cache_key(key, &ref);
    int again = 0;
    if (!tlcache_get_var(key, a, sizeof *a, NULL, &again))
        return access_fetch(&ref, a, e);
    if (again)
        bgwork_submit_batch(accesses_refresh, &ref, sizeof ref);
    return 0;
}

#define WORDS_MAX 512

static int decide(const struct principal *p, const struct target *t, struct verdict *v, struct err *e)
{
    memset(v, 0, sizeof *v);
    struct access a;
    if (access_load(p->uid, t, &a, e) < 0)
        return -1;
    if (!a.exists) {
        util_strlcpy(v->reason, "no_workspace_access", sizeof v->reason);
        return 0;
    }
    const char *custom[WORDS_MAX], *ents[WORDS_MAX];
    const char *ws_role = access_str(&a, AC_WS_ROLE), *def = access_str(&a, AC_DEFAULT_ROLE);
    struct authz_subject s = {
        .org_role = a.org_role,
        .workspace_role = ws_role[0] ? ws_role : NULL,
        .default_role = def[0] ? def : NULL,
    };
    s.ncustom = split_words(a.text + a.off[AC_PERMS], custom, WORDS_MAX);
    s.custom_permissions = custom;
    s.nentitlements = split_words(a.text + a.off[AC_ENTS], ents, WORDS_MAX);
    s.entitlements = ents;
    authz_decide(&s, t->permission, &v->res);
    util_strlcpy(v->reason, v->res.reason, sizeof v->reason);
    util_strlcpy(v->role, v->res.role, sizeof v->role);
    util_strlcpy(v->org_role, org_role_name(a.org_role), sizeof v->org_role);
    if (v->res.allow && !key_scope_allows(p, access_str(&a, AC_WS_ID), t->permission)) {
        v->res.allow = 0;
        util_strlcpy(v->reason, "key_scope", sizeof v->reason);
    }
    return 0;
}

/* ---- answers ---- */

static int wants_html(struct http_req *r, const struct target *t)
{
    if (t && t->route && t->route->api)
        return 0;
    const char *xrw = http_header(r, "X-Requested-With");
    if (xrw && strcasecmp(xrw, "XMLHttpRequest") == 0)
        return 0;
    const char *accept = http_header(r, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

static char *login_url(const struct original *o)
{
    if (!o->known || !o->host[0])
        return util_xasprintf("%s/login", cfg->base_url);
    char *full = util_xasprintf("%s://%s%s", strcmp(o->proto, "https") == 0 ? "https" : "http", o->host, o->uri);
    char *enc = url_encode(full);
    char *out = util_xasprintf("%s/login?rd=%s", cfg->base_url, enc);
    free(enc);
    free(full);
    return out;
}

static void reply_unauthenticated(struct http_req *r, enum dialect d, const struct original *o,
                                  const struct target *t, const struct err *e)
{
    if (!strcmp(e->code, "store_unavailable") || !strcmp(e->code, "rate_limited")) {
        http_reply_err(r, e);
        return;
    }
    http_log_code(r, "unauthorized");
    char *loc = login_url(o);
    int html = wants_html(r, t);
    switch (d) {
    case D_NGINX:
        /* nginx turns a 302 from auth_request into a 500: 401 + Location. */
        http_add_header(r, "Location", loc);
        http_reply_error(r, "unauthorized", NULL);
        break;
    case D_FORWARD:
        if (html)
            http_redirect(r, strcmp(o->method, "GET") == 0 || strcmp(o->method, "HEAD") == 0 ? 302 : 303, loc);
        else
            http_reply_error(r, "unauthorized", NULL);
        break;
    default:
        http_reply_error(r, "unauthorized", NULL);
        break;
    }
    free(loc);
}

/* The headers of an allowed answer; the signed one (when configured) is
 * made first, so that a failure adds none of them. aud: the original host
 * when known (docs/proxies.md). */
static int set_identity_headers(struct http_req *r, const struct principal *p, const struct original *o,
                                const struct target *t, const struct verdict *v, struct err *e)
{
    char ws[2 * ORG_SLUG_MAX + 2];
    snprintf(ws, sizeof ws, "%s/%s", t->org, t->ws);
    char jwt[IDTOKEN_MAX];
    struct idtoken_claims c = {.sub = p->uid, .email = p->email, .org = t->org, .workspace = ws,
                               .role = v->role, .org_role = v->org_role, .aud = o->known ? o->host : NULL};
    const char *signed_header = idtoken_header();
    if (signed_header && idtoken_get(&c, jwt, sizeof jwt, e) < 0)
        return -1;
    if (signed_header)
        http_add_header(r, signed_header, jwt);
    http_add_header(r, cfg->header_user, p->uid);
    if (p->email[0])
        http_add_header(r, cfg->header_email, p->email);
    http_add_header(r, cfg->header_org, t->org);
    http_add_header(r, cfg->header_workspace, ws);
    http_add_header(r, cfg->header_role, v->role);
    if (v->org_role[0])
        http_add_header(r, cfg->header_org_role, v->org_role);
    return 0;
}

static void forward_auth(struct http_req *r, enum dialect d)
{
    struct err e;
    err_clear(&e);
    struct original o;
    original_request(r, d, &o);
    struct principal p;
    struct target t;
    if (authenticate(r, &p, &e) < 0) {
        /* Credentials first: whatever the route, no valid session is "not
         * signed in". The route only says whether a redirect is allowed. */
        struct err ignored;
        if (find_target(r, d, &o, &t, &ignored) < 0)
            memset(&t, 0, sizeof t);
        reply_unauthenticated(r, d, &o, &t, &e);
        return;
    }
    if (find_target(r, d, &o, &t, &e) < 0) {
        http_reply_error(r, !strcmp(e.code, "forbidden") ? "no_route" : e.code, e.msg);
        return;
    }
    http_log_org(r, t.org);
    struct verdict v;
    if (decide(&p, &t, &v, &e) < 0) {
        http_reply_err(r, &e);
        return;
    }
    if (!v.res.allow) {
        http_reply_error(r, "forbidden", v.reason);
        return;
    }
    if (set_identity_headers(r, &p, &o, &t, &v, &e) < 0) {
        http_reply_err(r, &e);
        return;
    }
    http_reply(r, 200, NULL, "", 0); /* no body, so no Content-Type */
}

void gate_auth_nginx(struct http_req *r) { forward_auth(r, D_NGINX); }
void gate_auth_forward(struct http_req *r) { forward_auth(r, D_FORWARD); }
void gate_auth_envoy(struct http_req *r) { forward_auth(r, D_ENVOY); }

void gate_v1_authz(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    struct principal p;
    struct original o;
    original_request(r, D_JSON, &o);
    if (authenticate(r, &p, &e) < 0) {
        if (strcmp(e.code, "store_unavailable") && strcmp(e.code, "rate_limited"))
            err_set(&e, "unauthorized", NULL);
        http_reply_err(r, &e);
        return;
    }
    struct target t;
    if (find_target(r, D_JSON, &o, &t, &e) < 0) {
        http_reply_err(r, &e);
        return;
    }
    http_log_org(r, t.org);
    struct verdict v;
    if (decide(&p, &t, &v, &e) < 0) {
        http_reply_err(r, &e);
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "allow", json_boolean(v.res.allow));
    json_object_set_new(out, "reason", json_string(v.reason));
    json_object_set_new(out, "role", json_string(v.role));
    http_reply_json(r, 200, out);
}

/* The workspaces of the session's org this person may read, with the
 * effective role in each: [{"workspace": "ORG/WS", "role": "..."}]. */
static json_t *session_workspaces(const struct principal *p, const struct org_info *org)
{
    json_t *list = json_array(), *all = NULL;
    struct err e;
    if (org_workspaces_json(org->id, &all, &e) < 0)
        return list;
    size_t i;
    json_t *w;
    json_array_foreach(all, i, w) {
        struct target t;
        memset(&t, 0, sizeof t);
        util_strlcpy(t.org, org->slug, sizeof t.org);
        util_strlcpy(t.ws, json_string_value(json_object_get(w, "slug")), sizeof t.ws);
        snprintf(t.permission, sizeof t.permission, "workspace:read");
        struct verdict v;
        if (decide(p, &t, &v, &e) < 0 || !v.res.allow)
            continue;
        char name[2 * ORG_SLUG_MAX + 2];
        snprintf(name, sizeof name, "%s/%s", t.org, t.ws);
        json_array_append_new(list, json_pack("{s:s, s:s}", "workspace", name, "role", v.role));
    }
    json_decref(all);
    return list;
}

void gate_v1_session(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    struct principal p;
    if (authenticate(r, &p, &e) < 0) {
        if (strcmp(e.code, "store_unavailable") && strcmp(e.code, "rate_limited"))
            err_set(&e, "unauthorized", NULL);
        http_reply_err(r, &e);
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "user_id", json_string(p.uid));
    if (p.email[0])
        json_object_set_new(out, "email", json_string(p.email));
    json_object_set_new(out, "kind", json_string(p.is_key ? "api_key" : "session"));
    struct org_info org;
    if (org_lookup(p.org_id, &org, &e) == 0) {
        json_object_set_new(out, "org", json_string(org.slug));
        struct org_member m;
        if (org_member_get(org.id, p.uid, &m, &e) == 0)
            json_object_set_new(out, "org_role", json_string(org_role_name(m.role)));
        json_object_set_new(out, "workspaces", session_workspaces(&p, &org));
    }
    http_reply_json(r, 200, out);
}
