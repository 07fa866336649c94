/* Per-org SAML connections: storage in one hash under the org's tag, and an
 * in-process cache of compiled connections. Building a LassoServer and
 * loading the IdP keys costs milliseconds, so it happens once per stored
 * version, never per request (issue 3 "Speed": per-request set-up is what
 * makes mod_auth_mellon slow). A request pays one HGET of the version. */
#include "saml/connection.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "saml/idp.h"
#include "saml/mdurl.h"
#include "saml/sp.h"
#include "saml/spkey.h"
#include "store/store.h"
#include "util/log.h"
#include "util/tlcache.h"
#include "util/util.h"

struct connection {
    int refs;                 /* under cache_lock */
    char org_id[ORG_ID_MAX];
    char slug[ORG_SLUG_MAX];  /* metrics label */
    long long version;
    struct idp *idp;
    struct sp *sp;
    char *sp_entity_id;
    char *acs_url;
    char *email_attribute;    /* NULL: the defaults */
    char *metadata_url;       /* NULL: metadata set from a file */
    int allow_idp_initiated;
    int allow_sha1;
    int clock_skew_s;
};

struct cache_entry {
    struct connection *c;
    struct cache_entry *next;
};

static struct {
    char *base_url;
    char *key_pem, *cert_pem, *next_cert_pem;
    struct spkey *spkey;
    int default_skew;
    int warn_days;            /* [saml] cert_warn_days */
} g;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *cache;

static char *read_pem(const char *path, struct err *e)
{
    size_t n;
    char *s = util_read_file(path, 1 << 20, &n);
    if (!s)
        err_set(e, "config_invalid", "cannot read %s", path);
    return s;
}

int connection_configure(const struct config *cfg, struct err *e)
{
    connection_shutdown();
    g.base_url = util_xstrdup(cfg->base_url);
    size_t n = strlen(g.base_url);
    while (n > 0 && g.base_url[n - 1] == '/')
        g.base_url[--n] = '\0';
    g.default_skew = cfg->saml_clock_skew_s;
    g.warn_days = cfg->saml_cert_warn_days > 0 ? cfg->saml_cert_warn_days : 30;
    if (!(g.key_pem = read_pem(cfg->sp_key, e)) || !(g.cert_pem = read_pem(cfg->sp_cert, e)))
        return -1;
    if (cfg->sp_next_cert[0] && !(g.next_cert_pem = read_pem(cfg->sp_next_cert, e)))
        return -1;
    g.spkey = spkey_new(g.key_pem, strlen(g.key_pem), e);
    if (!g.spkey)
        return -1;
    /* Rollover: the next key decrypts too, since our metadata already
     * offers its certificate for encryption. */
    if (cfg->sp_next_key[0]) {
        struct spkey *next = spkey_new_from_file(cfg->sp_next_key, e);
        if (!next)
            return -1;
        spkey_chain(g.spkey, next);
    }
    /* Refuse a key/certificate pair lasso cannot use now, not at the first sign-in. */
    char *md = connection_sp_metadata("check", e);
    free(md);
    return md ? 0 : -1;
}

static void connection_free(struct connection *c)
{
    if (!c)
        return;
    idp_free(c->idp);
    sp_free(c->sp);
    free(c->sp_entity_id);
    free(c->acs_url);
    free(c->email_attribute);
    free(c->metadata_url);
    free(c);
}

void connection_shutdown(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache) {
        struct cache_entry *x = cache;
        cache = x->next;
        if (--x->c->refs == 0)
            connection_free(x->c);
        free(x);
    }
    pthread_mutex_unlock(&cache_lock);
    free(g.base_url);
    free(g.key_pem);
    free(g.cert_pem);
    free(g.next_cert_pem);
    spkey_free(g.spkey);
    memset(&g, 0, sizeof g);
}

char *connection_url(const char *slug, const char *what)
{
    return util_xasprintf("%s/saml/%s/%s", g.base_url ? g.base_url : "", slug, what);
}

static void identity_init(struct sp_identity *id, const char *slug)
{
    id->entity_id = connection_url(slug, "metadata");
    id->acs_url = connection_url(slug, "acs");
    id->slo_url = connection_url(slug, "slo");
    id->key_pem = g.key_pem;
    id->cert_pem = g.cert_pem;
    id->next_cert_pem = g.next_cert_pem;
}

static void identity_clear(struct sp_identity *id)
{
    free((char *)id->entity_id);
    free((char *)id->acs_url);
    free((char *)id->slo_url);
}

char *connection_sp_metadata(const char *slug, struct err *e)
{
    if (!g.cert_pem) {
        err_set(e, "internal_error", "connections are not configured");
        return NULL;
    }
    struct sp_identity id;
    identity_init(&id, slug);
    char *md = sp_metadata(&id, e);
    identity_clear(&id);
    return md;
}

/* Compile stored fields into a connection. NULL + e when they do not. */
static struct connection *compile(const struct org_info *org, const char *metadata, size_t len,
                                  const char *email_attr, int idp_init, int sha1, int skew, struct err *e)
{
    struct connection *c = util_xcalloc(1, sizeof *c);
    c->refs = 1;
    snprintf(c->org_id, sizeof c->org_id, "%s", org->id);
    snprintf(c->slug, sizeof c->slug, "%s", org->slug);
    struct sp_identity id;
    identity_init(&id, org->slug);
    c->idp = idp_new(metadata, len, e);
    if (c->idp) {
        char *md = util_xstrndup(metadata, len);
        c->sp = sp_new(&id, md, e);
        free(md);
    }
    c->sp_entity_id = util_xstrdup(id.entity_id);
    c->acs_url = util_xstrdup(id.acs_url);
    identity_clear(&id);
    if (!c->idp || !c->sp) {
        connection_free(c);
        return NULL;
    }
    c->email_attribute = email_attr && *email_attr ? util_xstrdup(email_attr) : NULL;
    c->allow_idp_initiated = idp_init;
    c->allow_sha1 = sha1;
    c->clock_skew_s = skew;
    return c;
}

static int input_check(const struct connection_input *in, struct err *e)
{
    if (!in->idp_metadata || in->idp_metadata_len == 0)
        return err_set(e, "saml_metadata_invalid", "the IdP metadata is empty");
    if (in->idp_metadata_len > CONNECTION_MAX_METADATA)
        return err_set(e, "saml_metadata_invalid", "the IdP metadata is larger than %d bytes",
                       CONNECTION_MAX_METADATA);
    if (in->email_attribute && strlen(in->email_attribute) > 256)
        return err_set(e, "invalid_setting", "the email attribute name is longer than 256 bytes");
    if (in->clock_skew_s < -1 || in->clock_skew_s > 600)
        return err_set(e, "invalid_setting", "the clock skew must be 0..600 seconds");
    return 0;
}

static const char lua_set[] =
    "local err = need_org('connection.set', ARGV[6]) if err then return err end\n"
    "local v = redis.call('HINCRBY', k('conn'), 'version', 1)\n"
    "redis.call('HSET', k('conn'), 'idp_entity_id', ARGV[6], 'idp_metadata', ARGV[7], 'email_attribute', ARGV[8],\n"
    "  'allow_idp_initiated', ARGV[9], 'allow_sha1', ARGV[10], 'clock_skew_s', ARGV[11], 'updated_ms', NOW,\n"
    "  'idp_metadata_url', ARGV[13])\n"
    "audit('connection.set', ARGV[6], 'ok', '', '', ARGV[12], '')\n"
    "return {'ok', tostring(v)}\n";

int connection_set(const struct org_actor *a, const struct org_info *org, const struct connection_input *in,
                   json_t **out, struct err *e)
{
    if (input_check(in, e) < 0)
        return -1;
    int skew = in->clock_skew_s < 0 ? g.default_skew : in->clock_skew_s;
    struct connection *c = compile(org, in->idp_metadata, in->idp_metadata_len, in->email_attribute,
                                   in->allow_idp_initiated, in->allow_sha1, skew, e);
    if (!c)
        return -1;
    char skew_s[16];
    snprintf(skew_s, sizeof skew_s, "%d", in->clock_skew_s);
    char *after = util_xasprintf("{\"email_attribute\":\"%s\",\"allow_idp_initiated\":%s,\"allow_sha1\":%s,"
                                 "\"clock_skew_s\":%d}",
                                 c->email_attribute ? c->email_attribute : "",
                                 in->allow_idp_initiated ? "true" : "false", in->allow_sha1 ? "true" : "false", skew);
    char *md = util_xstrndup(in->idp_metadata, in->idp_metadata_len);
    const char *args[] = {idp_entity_id(c->idp), md, c->email_attribute ? c->email_attribute : "",
                          in->allow_idp_initiated ? "1" : "0", in->allow_sha1 ? "1" : "0",
                          in->clock_skew_s < 0 ? "" : skew_s, after,
                          in->idp_metadata_url ? in->idp_metadata_url : ""};
    /* The email attribute name goes into JSON above: refuse quotes there. */
    int rc = -1;
    if (c->email_attribute && strpbrk(c->email_attribute, "\"\\")) {
        err_set(e, "invalid_setting", "the email attribute name may not hold quotes or backslashes");
        goto done;
    }
    if (in->idp_metadata_url && *in->idp_metadata_url && !mdurl_valid(in->idp_metadata_url)) {
        err_set(e, "invalid_setting", "the metadata URL must be an absolute http(s) URL");
        goto done;
    }
    struct store_reply *r = org_script(lua_set, org->id, a, 8, args, e);
    if (!r)
        goto done;
    store_reply_free(r);
    rc = 0;
    if (out)
        *out = connection_show(org, e);
done:
    free(md);
    free(after);
    connection_free(c);
    return rc;
}

static char *conn_key(const char *org_id)
{
    return util_xasprintf("sg:{o:%s}:conn", org_id);
}

/* ---- IdP certificate expiry ---- */

static int cert_expiring(time_t not_after, time_t now)
{
    return not_after > 0 && not_after - now < (time_t)g.warn_days * 86400;
}

/* How many of the IdP's signing certificates expire within the warning window. */
static int certs_expiring(const struct connection *c, time_t now)
{
    int n = 0;
    for (size_t i = 0; i < idp_key_count(c->idp); i++)
        n += cert_expiring(idp_key_not_after(c->idp, i), now);
    return n;
}

/* The earliest notAfter of the IdP's certificates, 0 when none is readable. */
static time_t certs_first_expiry(const struct connection *c)
{
    time_t first = 0;
    for (size_t i = 0; i < idp_key_count(c->idp); i++) {
        time_t t = idp_key_not_after(c->idp, i);
        if (t > 0 && (first == 0 || t < first))
            first = t;
    }
    return first;
}

static json_t *certs_json(const struct connection *c)
{
    json_t *a = json_array();
    time_t now = time(NULL);
    for (size_t i = 0; i < idp_key_count(c->idp); i++) {
        time_t t = idp_key_not_after(c->idp, i);
        char when[32] = "";
        struct tm tm;
        if (t > 0 && gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(a, json_pack("{s:s?, s:I, s:b}", "not_after", t > 0 ? when : NULL,
                                           "expires_in_s", (json_int_t)(t > 0 ? t - now : 0),
                                           "expiring_soon", cert_expiring(t, now)));
    }
    return a;
}

/* A warning line per certificate inside the [saml] cert_warn_days window
 * (expired ones too): the IdP must publish its next certificate in time. */
static void certs_warn(const struct connection *c)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < idp_key_count(c->idp); i++) {
        time_t t = idp_key_not_after(c->idp, i);
        if (!cert_expiring(t, now))
            continue;
        if (t <= now)
            log_msg(LOG_WARN, "org %s: IdP signing certificate %zu of %s expired %lld s ago", c->slug, i + 1,
                    idp_entity_id(c->idp), (long long)(now - t));
        else
            log_msg(LOG_WARN, "org %s: IdP signing certificate %zu of %s expires in %lld s (%lld days)", c->slug,
                    i + 1, idp_entity_id(c->idp), (long long)(t - now), (long long)((t - now) / 86400));
    }
}

int connection_check_expiry(const struct org_info *org, struct err *e)
{
    struct connection *c = connection_get(org, e);
    if (!c)
        return -1;
    certs_warn(c);
    int n = certs_expiring(c, time(NULL));
    connection_release(c);
    return n;
}

json_t *connection_show(const struct org_info *org, struct err *e)
{
    struct connection *c = connection_get(org, e);
    if (!c)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "org", json_string(org->slug));
    json_object_set_new(o, "version", json_integer(c->version));
    json_object_set_new(o, "idp_entity_id", json_string(idp_entity_id(c->idp)));
    const char *sso = idp_sso_url(c->idp, IDP_BINDING_REDIRECT);
    const char *slo = idp_slo_url(c->idp, IDP_BINDING_REDIRECT);
    json_object_set_new(o, "idp_sso_url", sso ? json_string(sso) : json_null());
    json_object_set_new(o, "idp_slo_url", slo ? json_string(slo) : json_null());
    json_object_set_new(o, "idp_signing_keys", json_integer((json_int_t)idp_key_count(c->idp)));
    json_object_set_new(o, "idp_certificates", certs_json(c));
    json_object_set_new(o, "idp_cert_expiry_warning", json_boolean(certs_expiring(c, time(NULL)) > 0));
    json_object_set_new(o, "idp_metadata_url", c->metadata_url ? json_string(c->metadata_url) : json_null());
    json_object_set_new(o, "email_attribute", c->email_attribute ? json_string(c->email_attribute) : json_null());
    json_object_set_new(o, "allow_idp_initiated", json_boolean(c->allow_idp_initiated));
    json_object_set_new(o, "allow_sha1", json_boolean(c->allow_sha1));
    json_object_set_new(o, "clock_skew_s", json_integer(c->clock_skew_s));
    json_object_set_new(o, "sp_entity_id", json_string(c->sp_entity_id));
    json_object_set_new(o, "acs_url", json_string(c->acs_url));
    char *slo_sp = connection_url(org->slug, "slo");
    json_object_set_new(o, "sp_slo_url", json_string(slo_sp));
    free(slo_sp);
    connection_release(c);
    return o;
}

/* ---- refresh from the metadata URL ---- */

static const char lua_refresh[] =
    "local cur = redis.call('HMGET', k('conn'), 'version', 'idp_metadata_url')\n"
    "if cur[1] ~= ARGV[6] or cur[2] ~= ARGV[7] then return {'ok', '0'} end\n" /* changed meanwhile */
    "local v = redis.call('HINCRBY', k('conn'), 'version', 1)\n"
    "redis.call('HSET', k('conn'), 'idp_metadata', ARGV[8], 'updated_ms', NOW)\n"
    "audit('connection.metadata_refresh', ARGV[7], 'ok', '', ARGV[9], ARGV[10], '')\n"
    "return {'ok', tostring(v)}\n";

static const char lua_refresh_failed[] =
    "audit('connection.metadata_refresh', ARGV[6], 'failed', ARGV[7], '', '', ARGV[8])\n"
    "return {'ok'}\n";

static const struct org_actor refresh_actor = {.operator = 1, .uid = "", .label = "system:metadata"};

/* Validate a downloaded document as connection_set would, and refuse an
 * entityID change: a refresh keeps the connection's IdP, it does not swap it. */
static int refresh_check(const struct org_info *org, const struct connection *old, const char *md, size_t len,
                         struct err *e)
{
    struct connection *c = compile(org, md, len, NULL, 0, 0, 0, e);
    if (!c)
        return -1;
    int rc = strcmp(idp_entity_id(c->idp), idp_entity_id(old->idp)) == 0
                 ? 0
                 : err_set(e, "saml_metadata_invalid", "the metadata names another entityID (%s, was %s)",
                           idp_entity_id(c->idp), idp_entity_id(old->idp));
    connection_free(c);
    return rc;
}

static void refresh_failed(const struct org_info *org, const char *url, const struct err *fe)
{
    log_msg(LOG_WARN, "org %s: IdP metadata refresh from %s failed, the stored metadata stays: %s", org->slug,
            url, fe->msg);
    struct err e;
    err_clear(&e);
    const char *args[] = {url, fe->code ? fe->code : "internal_error", fe->msg};
    store_reply_free(org_script(lua_refresh_failed, org->id, &refresh_actor, 3, args, &e));
}

int connection_refresh(const struct org_info *org, int timeout_ms, struct err *e)
{
    struct connection *old = connection_get(org, e);
    if (!old)
        return -1;
    int rc = 0;
    char *md = NULL, *url = old->metadata_url ? util_xstrdup(old->metadata_url) : NULL;
    char *stored = NULL;
    size_t len = 0;
    if (!url)
        goto done;
    struct err fe;
    err_clear(&fe);
    if (mdurl_fetch(url, timeout_ms, CONNECTION_MAX_METADATA, &md, &len, &fe) < 0 ||
        refresh_check(org, old, md, len, &fe) < 0) {
        refresh_failed(org, url, &fe);
        *e = fe;
        rc = -1;
        goto done;
    }
    char *key = conn_key(org->id);
    struct store_reply *r = store_cmdl(e, "HGET", key, "idp_metadata", NULL);
    free(key);
    if (!r) {
        rc = -1;
        goto done;
    }
    const char *cur = store_reply_str(r, NULL);
    int same = cur && strlen(cur) == len && memcmp(cur, md, len) == 0;
    store_reply_free(r);
    if (same)
        goto done;
    char ver[32];
    snprintf(ver, sizeof ver, "%lld", old->version);
    stored = util_xasprintf("version %lld", old->version);
    const char *args[] = {ver, url, md, stored, idp_entity_id(old->idp)};
    r = org_script(lua_refresh, org->id, &refresh_actor, 5, args, e);
    if (!r) {
        rc = -1;
        goto done;
    }
    rc = strcmp(store_reply_str(store_reply_elem(r, 1), NULL), "0") != 0;
    store_reply_free(r);
    if (rc)
        log_msg(LOG_INFO, "org %s: IdP metadata refreshed from %s", org->slug, url);
done:
    free(stored);
    free(md);
    free(url);
    connection_release(old);
    return rc;
}

/* ---- cache ---- */

static struct connection *cache_find(const char *org_id, long long version)
{
    struct connection *found = NULL;
    pthread_mutex_lock(&cache_lock);
    for (struct cache_entry *x = cache; x; x = x->next)
        if (strcmp(x->c->org_id, org_id) == 0 && x->c->version == version) {
            found = x->c;
            found->refs++;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

/* Replace the org's entry (another thread may have compiled the same
 * version meanwhile: either copy is correct). Takes a reference for the
 * caller. */
static void cache_put(struct connection *c)
{
    pthread_mutex_lock(&cache_lock);
    struct cache_entry **pp = &cache;
    while (*pp) {
        struct cache_entry *x = *pp;
        if (strcmp(x->c->org_id, c->org_id) == 0) {
            *pp = x->next;
            if (--x->c->refs == 0)
                connection_free(x->c);
            free(x);
            continue;
        }
        pp = &x->next;
    }
    struct cache_entry *n = util_xcalloc(1, sizeof *n);
    n->c = c;
    n->next = cache;
    cache = n;
    c->refs++;
    pthread_mutex_unlock(&cache_lock);
}

static struct connection *load(const struct org_info *org, struct err *e)
{
    char *key = conn_key(org->id);
    struct store_reply *r = store_cmdl(e, "HGETALL", key, NULL);
    free(key);
    struct connection *c = NULL;
    if (!r)
        return NULL;
    const char *md = org_reply_field(r, "idp_metadata");
    const char *ver = org_reply_field(r, "version");
    if (!md || !ver) {
        err_set(e, "connection_not_found", "The organization %s has no SAML connection.", org->slug);
        goto done;
    }
    const char *skew = org_reply_field(r, "clock_skew_s");
    const char *ia = org_reply_field(r, "allow_idp_initiated");
    const char *sha1 = org_reply_field(r, "allow_sha1");
    c = compile(org, md, strlen(md), org_reply_field(r, "email_attribute"), ia && !strcmp(ia, "1"),
                sha1 && !strcmp(sha1, "1"), skew && *skew ? atoi(skew) : g.default_skew, e);
    const char *url = org_reply_field(r, "idp_metadata_url");
    if (c) {
        c->version = atoll(ver);
        c->metadata_url = url && *url ? util_xstrdup(url) : NULL;
        certs_warn(c);
    } else
        log_msg(LOG_ERROR, "stored SAML connection of org %s does not compile: %s", org->id, e->msg);
done:
    store_reply_free(r);
    return c;
}

/* The stored version: from the process cache (short TTL, dropped on every
 * invalidation message, which connection_set and the refresh publish
 * through org_script), else one HGET. 0 when there is no connection. */
static int version_get(const struct org_info *org, long long *version, struct err *e)
{
    char ckey[TLCACHE_KEY_MAX];
    snprintf(ckey, sizeof ckey, "cv:%s", org->id);
    if (tlcache_get(ckey, version, sizeof *version))
        return 0;
    char *key = conn_key(org->id);
    struct store_reply *r = store_cmdl(e, "HGET", key, "version", NULL);
    free(key);
    if (!r)
        return -1;
    const char *v = store_reply_str(r, NULL);
    *version = v ? atoll(v) : 0;
    store_reply_free(r);
    if (*version > 0)
        tlcache_put(ckey, version, sizeof *version);
    return 0;
}

struct connection *connection_get(const struct org_info *org, struct err *e)
{
    long long version;
    if (version_get(org, &version, e) < 0)
        return NULL;
    if (version <= 0) {
        err_set(e, "connection_not_found", "The organization %s has no SAML connection.", org->slug);
        return NULL;
    }
    struct connection *c = cache_find(org->id, version);
    if (c)
        return c;
    c = load(org, e);
    if (!c)
        return NULL;
    cache_put(c);
    return c;
}

void connection_metrics_render(struct buf *out)
{
    time_t now = time(NULL);
    buf_appends(out, "# HELP ssogate_idp_cert_expiry_seconds Seconds until the first IdP signing certificate "
                     "of an org's connection expires (negative: expired); connections compiled here.\n"
                     "# TYPE ssogate_idp_cert_expiry_seconds gauge\n");
    struct buf cnt;
    buf_init(&cnt);
    buf_appends(&cnt, "# HELP ssogate_idp_certs_expiring IdP signing certificates expiring within "
                      "[saml] cert_warn_days.\n"
                      "# TYPE ssogate_idp_certs_expiring gauge\n");
    pthread_mutex_lock(&cache_lock);
    for (struct cache_entry *x = cache; x; x = x->next) {
        time_t first = certs_first_expiry(x->c);
        if (first > 0)
            buf_appendf(out, "ssogate_idp_cert_expiry_seconds{org=\"%s\"} %lld\n", x->c->slug,
                        (long long)(first - now));
        buf_appendf(&cnt, "ssogate_idp_certs_expiring{org=\"%s\"} %d\n", x->c->slug, certs_expiring(x->c, now));
    }
    pthread_mutex_unlock(&cache_lock);
    buf_append(out, cnt.data, cnt.len);
    buf_free(&cnt);
}

void connection_release(struct connection *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&cache_lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&cache_lock);
    if (last)
        connection_free(c);
}

const struct idp *connection_idp(const struct connection *c)
{
    return c->idp;
}

const struct sp *connection_sp(const struct connection *c)
{
    return c->sp;
}

void connection_response_settings(const struct connection *c, struct response_settings *s)
{
    s->idp = c->idp;
    s->sp_entity_id = c->sp_entity_id;
    s->acs_url = c->acs_url;
    s->clock_skew = c->clock_skew_s > 0 ? c->clock_skew_s : -1;
    s->allow_sha1 = c->allow_sha1;
    s->allow_idp_initiated = c->allow_idp_initiated;
    s->email_attribute = c->email_attribute;
    s->sp_key = g.spkey;
}
