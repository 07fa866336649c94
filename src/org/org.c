/* Organizations, members, workspaces and roles in Redis. Each change is one
 * Lua script over the org's keys (hash tag {o:<id>}), which checks every rule
 * before its first write (Redis does not roll back a script that fails
 * half-way) and appends the audit record in the same step. Global claims
 * (slug -> org) are taken before the script and undone when it refuses. */
#include "org/org.h"

#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "org/apikey.h"
#include "org/domain.h"
#include "store/store.h"
#include "util/bgwork.h"
#include "util/log.h"
#include "util/tlcache.h"
#include "util/util.h"

static struct {
    int max_session_s, idle_timeout_s, audit_max, invitation_ttl_s;
} lim = {43200, 3600, 100000, 7 * 86400};
static char base_url[256] = "http://127.0.0.1:8080";

void org_configure(const struct config *cfg)
{
    lim.max_session_s = cfg->session_max_age_s;
    lim.idle_timeout_s = cfg->session_idle_timeout_s;
    lim.audit_max = cfg->org_audit_max_entries;
    lim.invitation_ttl_s = cfg->org_invitation_ttl_s;
    snprintf(base_url, sizeof base_url, "%s", cfg->base_url);
    domain_configure(cfg->dns_resolvers, cfg->dns_timeout_ms, cfg->dns_recheck_grace);
}

const char *org_base_url(void) { return base_url; }

int org_instance_max_session_s(void) { return lim.max_session_s; }
int org_instance_idle_timeout_s(void) { return lim.idle_timeout_s; }
int org_invitation_ttl_s(void) { return lim.invitation_ttl_s; }

static const char *const role_names[] = {"", "viewer", "member", "admin", "owner"};

const char *org_role_name(enum org_role r)
{
    return r >= ORG_ROLE_NONE && r <= ORG_ROLE_OWNER ? role_names[r] : "";
}

int org_role_parse(const char *s, enum org_role *out)
{
    for (int i = ORG_ROLE_VIEWER; i <= ORG_ROLE_OWNER; i++)
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (enum org_role)i;
            return 0;
        }
    return -1;
}

/* [a-z0-9][a-z0-9-]{1,62} (DESIGN.md). */
int org_slug_valid(const char *slug)
{
    size_t n = slug ? strlen(slug) : 0;
    if (n < 2 || n > 63 || slug[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = slug[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

int org_id_valid(char kind, const char *id)
{
    if (!id || id[0] != kind || id[1] != '_' || strlen(id) != 22)
        return 0;
    return strspn(id + 2, "0123456789abcdef") == 20;
}

#define NEED_ID(kind, id, code)                                                                    \
    do {                                                                                           \
        if (!org_id_valid(kind, id))                                                               \
            return err_set(e, code, NULL);                                                         \
    } while (0)

int org_email_normalize(const char *in, char *out, size_t n, struct err *e)
{
    size_t len = in ? strlen(in) : 0;
    const char *at = in ? strchr(in, '@') : NULL;
    if (len == 0 || len >= n || len >= ORG_EMAIL_MAX || !at || at == in || strchr(at + 1, '@') ||
        !strchr(at + 1, '.') || at[1] == '.' || in[len - 1] == '.')
        return err_set(e, "invalid_email", NULL);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
            return err_set(e, "invalid_email", NULL);
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[len] = '\0';
    return 0;
}

void org_new_id(char prefix, char out[ORG_ID_MAX])
{
    unsigned char rnd[10];
    util_random(rnd, sizeof rnd);
    out[0] = prefix;
    out[1] = '_';
    util_hex_encode(rnd, sizeof rnd, out + 2);
}

void org_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ---- scripts ------------------------------------------------------------ */

/* KEYS[1] is the org's key prefix "sg:{o:<id>}:"; every key a script touches
 * starts with it, so all of them hash to one slot. */
const char org_lua_prelude[] =
    "local P = KEYS[1]\n"
    "local NOW, AMAX, ALABEL, AUID, AOP = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'\n"
    "local RANK = {viewer = 1, member = 2, admin = 3, owner = 4}\n"
    "local function k(s) return P .. s end\n"
    "local function audit(action, target, outcome, code, before, after, detail)\n"
    "  redis.call('XADD', k('audit'), 'MAXLEN', '~', AMAX, '*', 'time', NOW, 'actor', ALABEL,\n"
    "    'action', action, 'target', target or '', 'outcome', outcome, 'code', code or '',\n"
    "    'before', before or '', 'after', after or '', 'detail', detail or '')\n"
    "end\n"
    "local function actor_rank()\n"
    "  if AOP then return 5 end\n"
    "  local r = redis.call('HGET', k('members'), AUID)\n"
    "  return r and RANK[r] or 0\n"
    "end\n"
    "local function fail(action, target, code, msg)\n"
    "  if redis.call('EXISTS', k('org')) == 1 then audit(action, target, 'refused', code) end\n"
    "  return {'err', code, msg}\n"
    "end\n"
    "local function owners()\n"
    "  local n = 0\n"
    "  for _, v in ipairs(redis.call('HVALS', k('members'))) do if v == 'owner' then n = n + 1 end end\n"
    "  return n\n"
    "end\n"
    "local function need_org(action, target)\n"
    "  if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "  if actor_rank() < 3 then return fail(action, target, 'admin_required', 'Only an owner or admin may do this.') end\n"
    "  return nil\n"
    "end\n";

static char *org_prefix(const char *org_id)
{
    return util_xasprintf("sg:{o:%s}:", org_id);
}

/* The full text (hash line, prelude, script) of each script, built once:
 * scripts are static arrays, so their address names them. Building it per
 * call was ~5% of a sign-in's CPU (issue 3 "Speed"). Never freed (bounded
 * by the number of scripts in the binary); reachable, so no leak report. */
#define ORG_SCRIPT_CACHE 64
static struct {
    const char *script;
    char *full;
} script_cache[ORG_SCRIPT_CACHE];
static int script_cache_n;
static pthread_mutex_t script_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static char *org_script_build(const char *script)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)script; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return util_xasprintf("-- %016llx\n%s%s", (unsigned long long)h, org_lua_prelude, script);
}

/* Cached full text of a static script; a table overflow builds a copy the
 * caller must free (org_script_text_done). */
static const char *org_script_text(const char *script)
{
    pthread_mutex_lock(&script_cache_lock);
    for (int i = 0; i < script_cache_n; i++)
        if (script_cache[i].script == script) {
            const char *full = script_cache[i].full;
            pthread_mutex_unlock(&script_cache_lock);
            return full;
        }
    const char *full = NULL;
    if (script_cache_n < ORG_SCRIPT_CACHE) {
        script_cache[script_cache_n].script = script;
        full = script_cache[script_cache_n++].full = org_script_build(script);
    }
    pthread_mutex_unlock(&script_cache_lock);
    return full ? full : org_script_build(script);
}

static int org_script_cached(const char *full)
{
    pthread_mutex_lock(&script_cache_lock);
    int found = 0;
    for (int i = 0; i < script_cache_n && !found; i++)
        found = script_cache[i].full == full;
    pthread_mutex_unlock(&script_cache_lock);
    return found;
}

/* The arguments of one run of a directory script: KEYS[1] the org's prefix,
 * then NOW, AMAX, the actor (label, uid, operator) and the script's own. */
struct script_call {
    const char *full;
    char *prefix;
    char now[32], amax[16];
    const char **argv;
    int argc;
};

static void script_call_begin(struct script_call *c, const char *script, const char *org_id,
                              const struct org_actor *a, int nargs, const char **args)
{
    /* A first line unique to the script: the store's SHA cache compares
     * texts, and a shared prelude first would make every look-up compare
     * the prelude's kilobyte for every cached script. */
    c->full = org_script_text(script);
    c->prefix = org_prefix(org_id);
    snprintf(c->now, sizeof c->now, "%lld", (long long)util_now_ms());
    snprintf(c->amax, sizeof c->amax, "%d", lim.audit_max);
    c->argc = nargs + 6;
    c->argv = util_xcalloc((size_t)c->argc, sizeof *c->argv);
    c->argv[0] = c->prefix;
    c->argv[1] = c->now;
    c->argv[2] = c->amax;
    c->argv[3] = a && a->label ? a->label : "system";
    c->argv[4] = a && a->uid ? a->uid : "";
    c->argv[5] = a && a->operator ? "1" : "0";
    for (int i = 0; i < nargs; i++)
        c->argv[6 + i] = args[i] ? args[i] : "";
}

static void script_call_end(struct script_call *c)
{
    free(c->argv);
    free(c->prefix);
    if (!org_script_cached(c->full))
        free((char *)c->full);
}

/* A script's reply: {"ok", ...} is returned; {"err", code, message} and
 * anything else become e, the reply freed. */
static struct store_reply *script_reply(struct store_reply *r, const char *org_id, const struct org_actor *a,
                                        struct err *e)
{
    if (!r)
        return NULL;
    if (store_reply_type(r) == STORE_ARRAY && store_reply_len(r) >= 1) {
        const char *tag = store_reply_str(store_reply_elem(r, 0), NULL);
        if (tag && strcmp(tag, "ok") == 0) {
            /* Roles, grants or members may have changed: every instance
             * drops its cached access reads (docs/sessions.md). */
            struct err pe;
            if (!a || !a->reads_only)
                store_publish(STORE_INVALIDATION_CHANNEL, org_id, strlen(org_id), &pe);
            return r;
        }
        if (tag && strcmp(tag, "err") == 0 && store_reply_len(r) >= 3) {
            const char *code = store_reply_str(store_reply_elem(r, 1), NULL);
            const char *msg = store_reply_str(store_reply_elem(r, 2), NULL);
            if (err_status(code) < 0)
                err_set(e, "internal_error", "script refused with unknown code");
            else
                err_set(e, code, "%s", msg ? msg : "");
            store_reply_free(r);
            return NULL;
        }
    }
    err_set(e, "internal_error", "directory script failed: %s",
            store_reply_type(r) == STORE_ERROR ? store_reply_str(r, NULL) : "unexpected reply");
    store_reply_free(r);
    return NULL;
}

struct store_reply *org_script(const char *script, const char *org_id, const struct org_actor *a, int nargs,
                               const char **args, struct err *e)
{
    struct script_call c;
    script_call_begin(&c, script, org_id, a, nargs, args);
    struct store_reply *r = store_eval(e, c.full, 1, c.argc - 1, c.argv, NULL);
    script_call_end(&c);
    return script_reply(r, org_id, a, e);
}

/* Run a script whose only interesting answer is ok/err. */
static int org_script_simple(const char *script, const char *org_id, const struct org_actor *a, int nargs,
                             const char **args, struct err *e)
{
    struct store_reply *r = org_script(script, org_id, a, nargs, args, e);
    store_reply_free(r);
    return r ? 0 : -1;
}

/* Copy the second element of an {"ok", value} reply. */
static void reply_copy(const struct store_reply *r, size_t i, char *out, size_t n)
{
    out[0] = '\0';
    if (store_reply_len(r) > i) {
        const char *s = store_reply_str(store_reply_elem(r, i), NULL);
        if (s)
            snprintf(out, n, "%s", s);
    }
}

/* ---- organizations ------------------------------------------------------ */

static const char lua_org_create[] =
    "if redis.call('EXISTS', k('org')) == 1 then return {'err', 'org_exists', 'The organization exists.'} end\n"
    "local id, slug, name, email, uid, kp, kh = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]\n"
    "redis.call('HSET', k('org'), 'id', id, 'slug', slug, 'name', name, 'created', NOW,\n"
    "  'max_session_s', 0, 'idle_timeout_s', 0, 'capture', 0, 'default_role', 'member', 'require_sso', 0)\n"
    "redis.call('HSET', k('members'), uid, 'owner')\n"
    "redis.call('HSET', k('user:' .. uid), 'id', uid, 'email', email, 'kind', 'human', 'name', '', 'link', '',\n"
    "  'created', NOW)\n"
    "redis.call('HSET', k('email'), email, uid)\n"
    "redis.call('HSET', k('key:' .. kp), 'prefix', kp, 'hash', kh, 'kind', 'org', 'ws', '', 'principal', uid,\n"
    "  'scopes', 'org:admin', 'name', 'owner bootstrap key', 'created', NOW, 'expires', 0, 'last_used', 0,\n"
    "  'revoked', 0)\n"
    "redis.call('SADD', k('keys'), kp)\n"
    "audit('org.create', slug, 'ok', '', '', 'owner=' .. email)\n"
    "return {'ok', uid}\n";

/* A slug (or key prefix) claim whose org no longer exists is dangling (a
 * create that died half-way): readers ignore it, writers take it over. */
static const char lua_cas[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end\n"
    "  return 1 end\n"
    "return 0\n";

static int global_cas(const char *key, const char *expect, const char *value, struct err *e)
{
    const char *argv[3] = {key, expect, value};
    struct store_reply *r = store_eval(e, lua_cas, 1, 2, argv, NULL);
    if (!r)
        return -1;
    int ok = store_reply_type(r) == STORE_INTEGER && store_reply_int(r) == 1;
    store_reply_free(r);
    return ok ? 1 : 0;
}

static int org_exists(const char *org_id, struct err *e)
{
    char *key = util_xasprintf("sg:{o:%s}:org", org_id);
    struct store_reply *r = store_cmdl(e, "EXISTS", key, NULL);
    free(key);
    if (!r)
        return -1;
    int x = store_reply_type(r) == STORE_INTEGER && store_reply_int(r) == 1;
    store_reply_free(r);
    return x;
}

/* Claim a global name -> org id key, taking over a dangling one. 1 claimed,
 * 0 held by a live org, -1 store error. */
int org_global_claim(const char *key, const char *org_id, org_claim_live_fn live_fn, struct err *e)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        struct store_reply *r = store_cmdl(e, "SET", key, org_id, "NX", NULL);
        if (!r)
            return -1;
        int set = store_reply_type(r) == STORE_STATUS;
        store_reply_free(r);
        if (set)
            return 1;
        r = store_cmdl(e, "GET", key, NULL);
        if (!r)
            return -1;
        char cur[ORG_ID_MAX] = "";
        if (store_reply_type(r) == STORE_STRING)
            snprintf(cur, sizeof cur, "%s", store_reply_str(r, NULL));
        store_reply_free(r);
        if (!cur[0])
            continue;
        if (strcmp(cur, org_id) == 0)
            return 1;
        int live = live_fn ? live_fn(cur, key, e) : org_exists(cur, e);
        if (live != 0)
            return live < 0 ? -1 : 0;
        int cas = global_cas(key, cur, org_id, e);
        if (cas != 0)
            return cas;
    }
    return 0;
}

void org_global_release(const char *key, const char *org_id)
{
    struct err e;
    err_clear(&e);
    global_cas(key, org_id, "", &e);
}

int org_create(const struct org_actor *a, const char *slug, const char *name, const char *owner_email,
               struct org_info *out, char **owner_key, struct err *e)
{
    char email[ORG_EMAIL_MAX], id[ORG_ID_MAX], uid[ORG_ID_MAX];
    *owner_key = NULL;
    if (!org_slug_valid(slug))
        return err_set(e, "invalid_slug", NULL);
    if (org_email_normalize(owner_email, email, sizeof email, e) < 0)
        return -1;
    if (name && strlen(name) >= ORG_NAME_MAX)
        return err_set(e, "bad_request", "The name is longer than %d bytes.", ORG_NAME_MAX - 1);
    org_new_id('o', id);
    org_new_id('u', uid);
    struct apikey_new key;
    apikey_generate(&key);
    char *slug_key = util_xasprintf("sg:slug:%s", slug);
    char *key_key = util_xasprintf("sg:apikey:%s", key.prefix);
    int rc = -1, have_slug = 0, have_key = 0;
    int c = org_global_claim(slug_key, id, NULL, e);
    if (c <= 0) {
        if (c == 0)
            err_set(e, "org_exists", "An organization with the slug '%s' already exists.", slug);
        goto done;
    }
    have_slug = 1;
    if ((c = org_global_claim(key_key, id, NULL, e)) <= 0) {
        if (c == 0)
            err_set(e, "conflict", "API key prefix collision; try again.");
        goto done;
    }
    have_key = 1;
    const char *args[] = {id, slug, name && *name ? name : slug, email, uid, key.prefix, key.hash};
    if (org_script_simple(lua_org_create, id, a, 7, args, e) < 0)
        goto done;
    *owner_key = key.full;
    key.full = NULL;
    rc = 0;
    if (out && org_lookup(id, out, e) < 0)
        rc = -1;
done:
    if (rc < 0 && !*owner_key) {
        if (have_key)
            org_global_release(key_key, id);
        if (have_slug)
            org_global_release(slug_key, id);
    }
    apikey_new_clear(&key);
    free(key_key);
    free(slug_key);
    return rc;
}

/* Every key of the org is reachable from its indexes; the script deletes
 * them all and returns what the global claims need: the slug, the verified
 * domains and the key prefixes. */
static const char lua_org_delete[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "if actor_rank() < 4 then return fail('org.delete', '', 'owner_required', 'Only an owner may delete the org.') end\n"
    "local slug = redis.call('HGET', k('org'), 'slug')\n"
    "local del = {k('org'), k('members'), k('email'), k('idp'), k('outsiders'), k('ws'), k('roles'), k('domains'),\n"
    "  k('keys'), k('inv_email'), k('audit')}\n"
    "local users = {}\n"
    "for _, uid in ipairs(redis.call('HKEYS', k('members'))) do users[uid] = true end\n"
    "for _, uid in ipairs(redis.call('HVALS', k('email'))) do users[uid] = true end\n"
    "for _, uid in ipairs(redis.call('SMEMBERS', k('outsiders'))) do users[uid] = true end\n"
    "for uid in pairs(users) do table.insert(del, k('user:' .. uid)) table.insert(del, k('user:' .. uid .. ':ws')) end\n"
    "for _, id in ipairs(redis.call('HVALS', k('ws'))) do\n"
    "  table.insert(del, k('ws:' .. id)) table.insert(del, k('ws:' .. id .. ':members'))\n"
    "  table.insert(del, k('ws:' .. id .. ':ent')) end\n"
    "for _, th in ipairs(redis.call('HVALS', k('inv_email'))) do table.insert(del, k('inv:' .. th)) end\n"
    "local verified = {}\n"
    "for _, d in ipairs(redis.call('SMEMBERS', k('domains'))) do\n"
    "  if redis.call('HGET', k('domain:' .. d), 'status') == 'verified' then table.insert(verified, d) end\n"
    "  table.insert(del, k('domain:' .. d)) end\n"
    "local prefixes = redis.call('SMEMBERS', k('keys'))\n"
    "for _, kp in ipairs(prefixes) do table.insert(del, k('key:' .. kp)) end\n"
    "for i = 1, #del, 500 do redis.call('DEL', unpack(del, i, math.min(i + 499, #del))) end\n"
    "return {'ok', slug, verified, prefixes}\n";

int org_delete(const struct org_actor *a, const char *org_id, struct err *e)
{
    if (!org_id_valid('o', org_id))
        return err_set(e, "org_not_found", NULL);
    struct store_reply *r = org_script(lua_org_delete, org_id, a, 0, NULL, e);
    if (!r)
        return -1;
    char *key = util_xasprintf("sg:slug:%s", store_reply_str(store_reply_elem(r, 1), NULL));
    org_global_release(key, org_id);
    free(key);
    for (int list = 2; list <= 3; list++) {
        const struct store_reply *v = store_reply_elem(r, (size_t)list);
        for (size_t i = 0; i < store_reply_len(v); i++) {
            key = util_xasprintf(list == 2 ? "sg:domain:%s" : "sg:apikey:%s",
                                 store_reply_str(store_reply_elem(v, i), NULL));
            org_global_release(key, org_id);
            free(key);
        }
    }
    store_reply_free(r);
    return 0;
}

/* Value of field name in a flat HGETALL reply. */
const char *org_reply_field(const struct store_reply *r, const char *name)
{
    if (!r || store_reply_type(r) != STORE_ARRAY)
        return NULL;
    size_t n = store_reply_len(r);
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *f = store_reply_str(store_reply_elem(r, i), NULL);
        if (f && strcmp(f, name) == 0)
            return store_reply_str(store_reply_elem(r, i + 1), NULL);
    }
    return NULL;
}

static int field_int(const struct store_reply *r, const char *name)
{
    const char *v = org_reply_field(r, name);
    return v ? atoi(v) : 0;
}

/* Resolve a slug to an id through the global claim; 0 when absent. */
static int slug_to_id(const char *slug, char id[ORG_ID_MAX], struct err *e)
{
    char *key = util_xasprintf("sg:slug:%s", slug);
    struct store_reply *r = store_cmdl(e, "GET", key, NULL);
    free(key);
    if (!r)
        return -1;
    int found = store_reply_type(r) == STORE_STRING;
    if (found)
        snprintf(id, ORG_ID_MAX, "%s", store_reply_str(r, NULL));
    store_reply_free(r);
    return found;
}

int org_lookup(const char *slug_or_id, struct org_info *out, struct err *e)
{
    char id[ORG_ID_MAX];
    if (!slug_or_id || !*slug_or_id || strlen(slug_or_id) >= ORG_ID_MAX)
        return err_set(e, "org_not_found", NULL);
    if (strncmp(slug_or_id, "o_", 2) == 0) {
        if (!org_id_valid('o', slug_or_id))
            return err_set(e, "org_not_found", NULL);
        snprintf(id, sizeof id, "%s", slug_or_id);
    } else {
        if (!org_slug_valid(slug_or_id))
            return err_set(e, "org_not_found", NULL);
        int f = slug_to_id(slug_or_id, id, e);
        if (f <= 0)
            return f < 0 ? -1 : err_set(e, "org_not_found", "No organization '%s'.", slug_or_id);
    }
    char *key = util_xasprintf("sg:{o:%s}:org", id);
    struct store_reply *r = store_cmdl(e, "HGETALL", key, NULL);
    free(key);
    if (!r)
        return -1;
    int rc = -1;
    const char *slug = org_reply_field(r, "slug");
    /* a dangling slug claim, or an id that names no org */
    if (!slug || (strncmp(slug_or_id, "o_", 2) != 0 && strcmp(slug, slug_or_id) != 0)) {
        err_set(e, "org_not_found", "No organization '%s'.", slug_or_id);
        goto done;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->slug, sizeof out->slug, "%s", slug);
    snprintf(out->name, sizeof out->name, "%s", org_reply_field(r, "name") ? org_reply_field(r, "name") : "");
    const char *created = org_reply_field(r, "created");
    out->created_ms = created ? atoll(created) : 0;
    out->settings.max_session_s = field_int(r, "max_session_s");
    out->settings.idle_timeout_s = field_int(r, "idle_timeout_s");
    out->settings.domain_capture = field_int(r, "capture");
    out->settings.require_sso = field_int(r, "require_sso");
    if (org_role_parse(org_reply_field(r, "default_role"), &out->settings.default_role) < 0)
        out->settings.default_role = ORG_ROLE_MEMBER;
    rc = 0;
done:
    store_reply_free(r);
    return rc;
}

/* Organizations by slug change rarely and are shared by all their members:
 * the process cache keeps them (any invalidation message drops them, and
 * every org change publishes one), reloaded in the background before they
 * expire when they are in use. */
static void org_cache_key(char *key, const char *slug)
{
    snprintf(key, TLCACHE_KEY_MAX, "o:%s", slug);
}

static int org_fetch(const char *slug, struct org_info *org, struct err *e)
{
    char key[TLCACHE_KEY_MAX];
    org_cache_key(key, slug);
    uint64_t epoch = tlcache_epoch();
    if (org_lookup(slug, org, e) < 0)
        return -1;
    tlcache_put_at(key, org, sizeof *org, epoch);
    return 0;
}

static void org_refresh(void *arg)
{
    struct org_info org;
    struct err e;
    org_fetch(arg, &org, &e);
}

int org_lookup_cached(const char *slug, struct org_info *org, struct err *e)
{
    if (!slug || strlen(slug) >= ORG_SLUG_MAX)
        return org_lookup(slug, org, e);
    char key[TLCACHE_KEY_MAX];
    org_cache_key(key, slug);
    int refresh = 0;
    if (!tlcache_get_ex(key, org, sizeof *org, &refresh))
        return org_fetch(slug, org, e);
    if (refresh)
        bgwork_submit(org_refresh, slug, strlen(slug) + 1);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int org_list(char ***slugs, size_t *n, struct err *e)
{
    size_t cap = 16, len = 0;
    char **v = util_xcalloc(cap, sizeof *v);
    char cursor[32] = "0";
    do {
        struct store_reply *r = store_cmdl(e, "SCAN", cursor, "MATCH", "sg:slug:*", "COUNT", "1000", NULL);
        if (!r || store_reply_type(r) != STORE_ARRAY || store_reply_len(r) != 2) {
            store_reply_free(r);
            org_strv_free(v);
            return r ? err_set(e, "internal_error", "unexpected SCAN reply") : -1;
        }
        snprintf(cursor, sizeof cursor, "%s", store_reply_str(store_reply_elem(r, 0), NULL));
        const struct store_reply *keys = store_reply_elem(r, 1);
        for (size_t i = 0; i < store_reply_len(keys); i++) {
            const char *k = store_reply_str(store_reply_elem(keys, i), NULL);
            struct org_info info;
            struct err ignore;
            if (org_lookup(k + 8, &info, &ignore) < 0)
                continue; /* dangling claim */
            if (len + 2 > cap)
                v = util_xrealloc(v, (cap *= 2) * sizeof *v);
            v[len++] = util_xstrdup(info.slug);
        }
        store_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    v[len] = NULL;
    qsort(v, len, sizeof *v, cmp_str);
    *slugs = v;
    *n = len;
    return 0;
}

static const char lua_settings[] =
    "local deny = need_org('org.settings', '') if deny then return deny end\n"
    "local before = table.concat(redis.call('HMGET', k('org'), 'max_session_s', 'idle_timeout_s', 'capture',\n"
    "  'default_role', 'require_sso'), ',')\n"
    "redis.call('HSET', k('org'), 'max_session_s', ARGV[6], 'idle_timeout_s', ARGV[7], 'capture', ARGV[8],\n"
    "  'default_role', ARGV[9], 'require_sso', ARGV[10])\n"
    "audit('org.settings', '', 'ok', '', before, table.concat({ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]}, ','))\n"
    "return {'ok'}\n";

int org_settings_update(const struct org_actor *a, const char *org_id, const struct org_settings *s,
                        struct err *e)
{
    if (s->max_session_s < 0 || s->max_session_s > lim.max_session_s)
        return err_set(e, "invalid_setting", "max_session_s must be between 0 and %d (the instance's).",
                       lim.max_session_s);
    if (s->idle_timeout_s < 0 || s->idle_timeout_s > lim.idle_timeout_s)
        return err_set(e, "invalid_setting", "idle_timeout_s must be between 0 and %d (the instance's).",
                       lim.idle_timeout_s);
    /* Just-in-time provisioning never makes owners (only owners make owners). */
    if (s->default_role < ORG_ROLE_VIEWER || s->default_role > ORG_ROLE_ADMIN)
        return err_set(e, "invalid_setting", "default_role must be viewer, member or admin.");
    char ms[16], it[16];
    snprintf(ms, sizeof ms, "%d", s->max_session_s);
    snprintf(it, sizeof it, "%d", s->idle_timeout_s);
    const char *args[] = {ms, it, s->domain_capture ? "1" : "0", org_role_name(s->default_role),
                          s->require_sso ? "1" : "0"};
    return org_script_simple(lua_settings, org_id, a, 5, args, e);
}

/* ---- members ------------------------------------------------------------ */

/* Role rules, in one place: admins manage members up to admin; owners are
 * made, demoted and removed by owners only; the last owner stays. */
static const char lua_member_add[] =
    "local email, role, uid, kind, name = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]\n"
    "local deny = need_org('member.add', email ~= '' and email or name) if deny then return deny end\n"
    "if role == 'owner' and actor_rank() < 4 then\n"
    "  return fail('member.add', email, 'owner_required', 'Only an owner may make owners.') end\n"
    "if email ~= '' then\n"
    "  local cur = redis.call('HGET', k('email'), email)\n"
    "  if cur then\n"
    "    if redis.call('HEXISTS', k('members'), cur) == 1 then\n"
    "      return fail('member.add', email, 'member_exists', 'This person is already a member.') end\n"
    "    uid = cur\n" /* an outsider becomes a member and keeps their id */
    "    redis.call('SREM', k('outsiders'), uid)\n"
    "  end\n"
    "end\n"
    "if redis.call('EXISTS', k('user:' .. uid)) == 0 then\n"
    "  redis.call('HSET', k('user:' .. uid), 'id', uid, 'email', email, 'kind', kind, 'name', name, 'link', '',\n"
    "    'created', NOW)\n"
    "  if email ~= '' then redis.call('HSET', k('email'), email, uid) end\n"
    "end\n"
    "redis.call('HSET', k('members'), uid, role)\n"
    "audit('member.add', uid, 'ok', '', '', role)\n"
    "return {'ok', uid}\n";

static int member_add(const struct org_actor *a, const char *org_id, const char *email, const char *kind,
                      const char *name, enum org_role role, char uid[ORG_ID_MAX], struct err *e)
{
    if (role == ORG_ROLE_NONE)
        return err_set(e, "invalid_role", NULL);
    char newid[ORG_ID_MAX];
    org_new_id('u', newid);
    const char *args[] = {email, org_role_name(role), newid, kind, name};
    struct store_reply *r = org_script(lua_member_add, org_id, a, 5, args, e);
    if (!r)
        return -1;
    reply_copy(r, 1, uid, ORG_ID_MAX);
    store_reply_free(r);
    return 0;
}

int org_member_add(const struct org_actor *a, const char *org_id, const char *email, enum org_role role,
                   char uid[ORG_ID_MAX], struct err *e)
{
    char norm[ORG_EMAIL_MAX];
    if (org_email_normalize(email, norm, sizeof norm, e) < 0)
        return -1;
    return member_add(a, org_id, norm, "human", "", role, uid, e);
}

int org_service_account_add(const struct org_actor *a, const char *org_id, const char *name,
                            enum org_role role, char uid[ORG_ID_MAX], struct err *e)
{
    if (!org_slug_valid(name))
        return err_set(e, "invalid_slug", "Service account names follow the slug rules.");
    if (role == ORG_ROLE_OWNER)
        return err_set(e, "invalid_role", "A service account cannot be an owner.");
    return member_add(a, org_id, "", "service", name, role, uid, e);
}

static const char lua_member_role[] =
    "local uid, role = ARGV[6], ARGV[7]\n"
    "local deny = need_org('member.role', uid) if deny then return deny end\n"
    "local cur = redis.call('HGET', k('members'), uid)\n"
    "if not cur then return fail('member.role', uid, 'member_not_found', 'No such member.') end\n"
    "if (cur == 'owner' or role == 'owner') and actor_rank() < 4 then\n"
    "  return fail('member.role', uid, 'owner_required', 'Only an owner may make, demote or remove owners.') end\n"
    "if role == 'owner' and redis.call('HGET', k('user:' .. uid), 'kind') == 'service' then\n"
    "  return fail('member.role', uid, 'invalid_role', 'A service account cannot be an owner.') end\n"
    "if cur == 'owner' and role ~= 'owner' and owners() < 2 then\n"
    "  return fail('member.role', uid, 'last_owner', 'An organization must keep at least one owner.') end\n"
    "redis.call('HSET', k('members'), uid, role)\n"
    "audit('member.role', uid, 'ok', '', cur, role)\n"
    "return {'ok'}\n";

int org_member_set_role(const struct org_actor *a, const char *org_id, const char *uid, enum org_role role,
                        struct err *e)
{
    NEED_ID('u', uid, "member_not_found");
    if (role == ORG_ROLE_NONE)
        return err_set(e, "invalid_role", NULL);
    const char *args[] = {uid, org_role_name(role)};
    return org_script_simple(lua_member_role, org_id, a, 2, args, e);
}

/* Removing a member drops their workspace grants, identity links and keys
 * whose principal they are, in the same step. */
static const char lua_member_remove[] =
    "local uid = ARGV[6]\n"
    "local deny = need_org('member.remove', uid) if deny then return deny end\n"
    "local cur = redis.call('HGET', k('members'), uid)\n"
    "if not cur then return fail('member.remove', uid, 'member_not_found', 'No such member.') end\n"
    "if cur == 'owner' and actor_rank() < 4 then\n"
    "  return fail('member.remove', uid, 'owner_required', 'Only an owner may remove owners.') end\n"
    "if cur == 'owner' and owners() < 2 then\n"
    "  return fail('member.remove', uid, 'last_owner', 'An organization must keep at least one owner.') end\n"
    "for _, ws in ipairs(redis.call('SMEMBERS', k('user:' .. uid .. ':ws'))) do\n"
    "  redis.call('HDEL', k('ws:' .. ws .. ':members'), uid) end\n"
    "local u = redis.call('HMGET', k('user:' .. uid), 'email', 'link')\n"
    "if u[1] and u[1] ~= '' then redis.call('HDEL', k('email'), u[1]) end\n"
    "if u[2] and u[2] ~= '' then redis.call('HDEL', k('idp'), u[2]) end\n"
    "local revoked = {}\n"
    "for _, kp in ipairs(redis.call('SMEMBERS', k('keys'))) do\n"
    "  if redis.call('HGET', k('key:' .. kp), 'principal') == uid then\n"
    "    redis.call('HSET', k('key:' .. kp), 'revoked', NOW) table.insert(revoked, kp) end end\n"
    "redis.call('DEL', k('user:' .. uid), k('user:' .. uid .. ':ws'))\n"
    "redis.call('HDEL', k('members'), uid)\n"
    "redis.call('SREM', k('outsiders'), uid)\n"
    "audit('member.remove', uid, 'ok', '', cur .. ' ' .. (u[1] or ''), '')\n"
    "return {'ok', table.concat(revoked, ' ')}\n";

int org_member_remove(const struct org_actor *a, const char *org_id, const char *uid, struct err *e)
{
    NEED_ID('u', uid, "member_not_found");
    const char *args[] = {uid};
    return org_script_simple(lua_member_remove, org_id, a, 1, args, e);
}

int org_member_get(const char *org_id, const char *uid, struct org_member *out, struct err *e)
{
    NEED_ID('u', uid, "member_not_found");
    char *ukey = util_xasprintf("sg:{o:%s}:user:%s", org_id, uid);
    char *mkey = util_xasprintf("sg:{o:%s}:members", org_id);
    struct store_reply *u = store_cmdl(e, "HGETALL", ukey, NULL);
    struct store_reply *m = u ? store_cmdl(e, "HGET", mkey, uid, NULL) : NULL;
    int rc = -1;
    if (!u || !m)
        goto done;
    if (!org_reply_field(u, "id")) {
        err_set(e, "member_not_found", NULL);
        goto done;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->uid, sizeof out->uid, "%s", uid);
    snprintf(out->email, sizeof out->email, "%s", org_reply_field(u, "email") ? org_reply_field(u, "email") : "");
    snprintf(out->kind, sizeof out->kind, "%s", org_reply_field(u, "kind") ? org_reply_field(u, "kind") : "");
    snprintf(out->name, sizeof out->name, "%s", org_reply_field(u, "name") ? org_reply_field(u, "name") : "");
    out->role = ORG_ROLE_NONE;
    if (store_reply_type(m) == STORE_STRING)
        org_role_parse(store_reply_str(m, NULL), &out->role);
    rc = 0;
done:
    store_reply_free(m);
    store_reply_free(u);
    free(mkey);
    free(ukey);
    return rc;
}

int org_member_by_email(const char *org_id, const char *email, char uid[ORG_ID_MAX], struct err *e)
{
    char norm[ORG_EMAIL_MAX];
    if (org_email_normalize(email, norm, sizeof norm, e) < 0)
        return -1;
    char *key = util_xasprintf("sg:{o:%s}:email", org_id);
    struct store_reply *r = store_cmdl(e, "HGET", key, norm, NULL);
    free(key);
    if (!r)
        return -1;
    int found = store_reply_type(r) == STORE_STRING;
    if (found)
        snprintf(uid, ORG_ID_MAX, "%s", store_reply_str(r, NULL));
    store_reply_free(r);
    return found ? 0 : err_set(e, "member_not_found", NULL);
}

/* ---- workspaces --------------------------------------------------------- */

static const char lua_ws_create[] =
    "local slug, name, id = ARGV[6], ARGV[7], ARGV[8]\n"
    "local deny = need_org('workspace.create', slug) if deny then return deny end\n"
    "if redis.call('HEXISTS', k('ws'), slug) == 1 then\n"
    "  return fail('workspace.create', slug, 'workspace_exists', 'A workspace with this slug exists.') end\n"
    "redis.call('HSET', k('ws'), slug, id)\n"
    "redis.call('HSET', k('ws:' .. id), 'id', id, 'slug', slug, 'name', name, 'default_role', '', 'created', NOW)\n"
    "audit('workspace.create', slug, 'ok', '', '', id)\n"
    "return {'ok', id}\n";

int org_ws_create(const struct org_actor *a, const char *org_id, const char *slug, const char *name,
                  char ws_id[ORG_ID_MAX], struct err *e)
{
    if (!org_slug_valid(slug))
        return err_set(e, "invalid_slug", NULL);
    if (name && strlen(name) >= ORG_NAME_MAX)
        return err_set(e, "bad_request", "The name is too long.");
    char id[ORG_ID_MAX];
    org_new_id('w', id);
    const char *args[] = {slug, name && *name ? name : slug, id};
    struct store_reply *r = org_script(lua_ws_create, org_id, a, 3, args, e);
    if (!r)
        return -1;
    reply_copy(r, 1, ws_id, ORG_ID_MAX);
    store_reply_free(r);
    return 0;
}

int org_ws_lookup(const char *org_id, const char *slug, char ws_id[ORG_ID_MAX], struct err *e)
{
    char *key = util_xasprintf("sg:{o:%s}:ws", org_id);
    struct store_reply *r = store_cmdl(e, "HGET", key, slug, NULL);
    free(key);
    if (!r)
        return -1;
    int found = store_reply_type(r) == STORE_STRING;
    if (found)
        snprintf(ws_id, ORG_ID_MAX, "%s", store_reply_str(r, NULL));
    store_reply_free(r);
    return found ? 0 : err_set(e, "workspace_not_found", NULL);
}

static const char lua_ws_delete[] =
    "local id = ARGV[6]\n"
    "local deny = need_org('workspace.delete', id) if deny then return deny end\n"
    "local slug = redis.call('HGET', k('ws:' .. id), 'slug')\n"
    "if not slug then return fail('workspace.delete', id, 'workspace_not_found', 'No such workspace.') end\n"
    "for _, uid in ipairs(redis.call('HKEYS', k('ws:' .. id .. ':members'))) do\n"
    "  redis.call('SREM', k('user:' .. uid .. ':ws'), id) end\n"
    "redis.call('DEL', k('ws:' .. id), k('ws:' .. id .. ':members'), k('ws:' .. id .. ':ent'))\n"
    "redis.call('HDEL', k('ws'), slug)\n"
    "audit('workspace.delete', slug, 'ok', '', id, '')\n"
    "return {'ok'}\n";

int org_ws_delete(const struct org_actor *a, const char *org_id, const char *ws_id, struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    const char *args[] = {ws_id};
    return org_script_simple(lua_ws_delete, org_id, a, 1, args, e);
}

/* A workspace role is a built-in one or a custom role of this org. */
#define LUA_ROLE_OK                                                                                \
    "local function ws_role_ok(r)\n"                                                               \
    "  return r == 'admin' or r == 'editor' or r == 'viewer' or redis.call('HEXISTS', k('roles'), r) == 1\n" \
    "end\n"

static const char lua_ws_default[] = LUA_ROLE_OK
    "local id, role = ARGV[6], ARGV[7]\n"
    "local deny = need_org('workspace.default_role', id) if deny then return deny end\n"
    "local cur = redis.call('HGET', k('ws:' .. id), 'default_role')\n"
    "if not cur then return fail('workspace.default_role', id, 'workspace_not_found', 'No such workspace.') end\n"
    "if role ~= '' and not ws_role_ok(role) then\n"
    "  return fail('workspace.default_role', id, 'invalid_role', 'Unknown workspace role.') end\n"
    "redis.call('HSET', k('ws:' .. id), 'default_role', role)\n"
    "audit('workspace.default_role', id, 'ok', '', cur, role)\n"
    "return {'ok'}\n";

int org_ws_set_default_role(const struct org_actor *a, const char *org_id, const char *ws_id,
                            const char *role, struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    const char *args[] = {ws_id, role ? role : ""};
    return org_script_simple(lua_ws_default, org_id, a, 2, args, e);
}

static const char lua_ws_member_set[] = LUA_ROLE_OK
    "local id, uid, role = ARGV[6], ARGV[7], ARGV[8]\n"
    "local deny = need_org('workspace.grant', uid) if deny then return deny end\n"
    "if redis.call('EXISTS', k('ws:' .. id)) == 0 then\n"
    "  return fail('workspace.grant', uid, 'workspace_not_found', 'No such workspace.') end\n"
    "if redis.call('EXISTS', k('user:' .. uid)) == 0 then\n"
    "  return fail('workspace.grant', uid, 'member_not_found', 'No such person in this organization.') end\n"
    "if not ws_role_ok(role) then return fail('workspace.grant', uid, 'invalid_role', 'Unknown workspace role.') end\n"
    "local cur = redis.call('HGET', k('ws:' .. id .. ':members'), uid)\n"
    "redis.call('HSET', k('ws:' .. id .. ':members'), uid, role)\n"
    "redis.call('SADD', k('user:' .. uid .. ':ws'), id)\n"
    "if redis.call('HEXISTS', k('members'), uid) == 0 then redis.call('SADD', k('outsiders'), uid) end\n"
    "audit('workspace.grant', uid, 'ok', '', cur or '', id .. '=' .. role)\n"
    "return {'ok'}\n";

int org_ws_member_set(const struct org_actor *a, const char *org_id, const char *ws_id, const char *uid,
                      const char *role, struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    NEED_ID('u', uid, "member_not_found");
    if (!role || !*role)
        return err_set(e, "invalid_role", NULL);
    const char *args[] = {ws_id, uid, role};
    return org_script_simple(lua_ws_member_set, org_id, a, 3, args, e);
}

static const char lua_outsider[] = LUA_ROLE_OK
    "local email, id, role, uid = ARGV[6], ARGV[7], ARGV[8], ARGV[9]\n"
    "local deny = need_org('workspace.grant', email) if deny then return deny end\n"
    "if redis.call('EXISTS', k('ws:' .. id)) == 0 then\n"
    "  return fail('workspace.grant', email, 'workspace_not_found', 'No such workspace.') end\n"
    "if not ws_role_ok(role) then return fail('workspace.grant', email, 'invalid_role', 'Unknown workspace role.') end\n"
    "local cur = redis.call('HGET', k('email'), email)\n"
    "if cur then uid = cur else\n"
    "  redis.call('HSET', k('user:' .. uid), 'id', uid, 'email', email, 'kind', 'human', 'name', '', 'link', '',\n"
    "    'created', NOW)\n"
    "  redis.call('HSET', k('email'), email, uid)\n"
    "end\n"
    "redis.call('HSET', k('ws:' .. id .. ':members'), uid, role)\n"
    "redis.call('SADD', k('user:' .. uid .. ':ws'), id)\n"
    "if redis.call('HEXISTS', k('members'), uid) == 0 then redis.call('SADD', k('outsiders'), uid) end\n"
    "audit('workspace.grant', email, 'ok', '', '', id .. '=' .. role)\n"
    "return {'ok', uid}\n";

int org_outsider_grant(const struct org_actor *a, const char *org_id, const char *email, const char *ws_id,
                       const char *role, char uid[ORG_ID_MAX], struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    char norm[ORG_EMAIL_MAX], newid[ORG_ID_MAX];
    if (org_email_normalize(email, norm, sizeof norm, e) < 0)
        return -1;
    if (!role || !*role)
        return err_set(e, "invalid_role", NULL);
    org_new_id('u', newid);
    const char *args[] = {norm, ws_id, role, newid};
    struct store_reply *r = org_script(lua_outsider, org_id, a, 4, args, e);
    if (!r)
        return -1;
    reply_copy(r, 1, uid, ORG_ID_MAX);
    store_reply_free(r);
    return 0;
}

/* An outsider whose last grant goes is removed from the org entirely. */
static const char lua_ws_member_remove[] =
    "local id, uid = ARGV[6], ARGV[7]\n"
    "local deny = need_org('workspace.revoke', uid) if deny then return deny end\n"
    "local cur = redis.call('HGET', k('ws:' .. id .. ':members'), uid)\n"
    "if not cur then return fail('workspace.revoke', uid, 'member_not_found', 'No such workspace member.') end\n"
    "redis.call('HDEL', k('ws:' .. id .. ':members'), uid)\n"
    "redis.call('SREM', k('user:' .. uid .. ':ws'), id)\n"
    "if redis.call('HEXISTS', k('members'), uid) == 0 and redis.call('SCARD', k('user:' .. uid .. ':ws')) == 0 then\n"
    "  local u = redis.call('HMGET', k('user:' .. uid), 'email', 'link')\n"
    "  if u[1] and u[1] ~= '' then redis.call('HDEL', k('email'), u[1]) end\n"
    "  if u[2] and u[2] ~= '' then redis.call('HDEL', k('idp'), u[2]) end\n"
    "  redis.call('DEL', k('user:' .. uid))\n"
    "  redis.call('SREM', k('outsiders'), uid)\n"
    "end\n"
    "audit('workspace.revoke', uid, 'ok', '', id .. '=' .. cur, '')\n"
    "return {'ok'}\n";

int org_ws_member_remove(const struct org_actor *a, const char *org_id, const char *ws_id,
                         const char *uid, struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    NEED_ID('u', uid, "member_not_found");
    const char *args[] = {ws_id, uid};
    return org_script_simple(lua_ws_member_remove, org_id, a, 2, args, e);
}

static const char lua_ws_ent[] =
    "local id, perm, on = ARGV[6], ARGV[7], ARGV[8]\n"
    "local deny = need_org('workspace.entitlement', id) if deny then return deny end\n"
    "if redis.call('EXISTS', k('ws:' .. id)) == 0 then\n"
    "  return fail('workspace.entitlement', id, 'workspace_not_found', 'No such workspace.') end\n"
    "if on == '1' then redis.call('SADD', k('ws:' .. id .. ':ent'), perm)\n"
    "else redis.call('SREM', k('ws:' .. id .. ':ent'), perm) end\n"
    "audit('workspace.entitlement', id, 'ok', '', '', (on == '1' and '+' or '-') .. perm)\n"
    "return {'ok'}\n";

/* Permission strings: lower-case words of [a-z0-9._-] joined by ':'. */
static int perm_valid(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 128 || p[0] == ':' || p[n - 1] == ':' || strstr(p, "::"))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-:", p[i]))
            return 0;
    return 1;
}

int org_ws_entitlement_set(const struct org_actor *a, const char *org_id, const char *ws_id,
                           const char *perm, int on, struct err *e)
{
    NEED_ID('w', ws_id, "workspace_not_found");
    if (!perm || !perm_valid(perm))
        return err_set(e, "bad_request", "Permissions are words of a-z, 0-9, '.', '_', '-' joined by ':'.");
    const char *args[] = {ws_id, perm, on ? "1" : "0"};
    return org_script_simple(lua_ws_ent, org_id, a, 3, args, e);
}

static const char lua_role_define[] =
    "local name, perms = ARGV[6], ARGV[7]\n"
    "local deny = need_org('role.define', name) if deny then return deny end\n"
    "local cur = redis.call('HGET', k('roles'), name)\n"
    "if perms == '' then\n"
    "  if not cur then return fail('role.define', name, 'not_found', 'No such role.') end\n"
    "  redis.call('HDEL', k('roles'), name)\n"
    "else redis.call('HSET', k('roles'), name, perms) end\n"
    "audit('role.define', name, 'ok', '', cur or '', perms)\n"
    "return {'ok'}\n";

int org_role_define(const struct org_actor *a, const char *org_id, const char *name, const char *perms,
                    struct err *e)
{
    if (!org_slug_valid(name) || !strcmp(name, "admin") || !strcmp(name, "editor") || !strcmp(name, "viewer"))
        return err_set(e, "invalid_role", "Custom role names follow the slug rules and differ from built-in roles.");
    char *copy = util_xstrdup(perms ? perms : "");
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (!perm_valid(t))
            rc = err_set(e, "bad_request", "'%.64s' is not a permission string.", t);
    if (rc == 0 && perms && !*perms)
        rc = err_set(e, "bad_request", "A role needs at least one permission.");
    if (rc == 0) {
        const char *args[] = {name, perms ? perms : ""};
        rc = org_script_simple(lua_role_define, org_id, a, 2, args, e);
    }
    free(copy);
    return rc;
}

/* ---- the access read ---------------------------------------------------- */

static const char lua_access[] =
    "local slug, uid = ARGV[6], ARGV[7]\n"
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local id = redis.call('HGET', k('ws'), slug)\n"
    "if not id then return {'err', 'workspace_not_found', 'No such workspace.'} end\n"
    "local orole = redis.call('HGET', k('members'), uid) or ''\n"
    "local wrole = redis.call('HGET', k('ws:' .. id .. ':members'), uid) or ''\n"
    "local def = redis.call('HGET', k('ws:' .. id), 'default_role') or ''\n"
    "local eff = wrole ~= '' and wrole or (orole ~= '' and def or '')\n"
    "local perms = ''\n"
    "if eff ~= '' then perms = redis.call('HGET', k('roles'), eff) or '' end\n"
    "local ent = table.concat(redis.call('SMEMBERS', k('ws:' .. id .. ':ent')), ' ')\n"
    "return {'ok', id, orole, wrole, def, perms, ent}\n";

/* A space-separated list of at most max - 1 bytes. A longer one is cut at
 * the last whole word (a cut word could read as another permission) and the
 * rest is not granted: fail closed, with a warning for the operator. */
static char *word_list_dup(const struct store_reply *r, size_t i, size_t max, const char *what, const char *org_id)
{
    const char *s = store_reply_len(r) > i ? store_reply_str(store_reply_elem(r, i), NULL) : NULL;
    if (!s || !*s)
        return NULL;
    size_t n = strlen(s);
    if (n >= max) {
        n = max - 1;
        while (n > 0 && s[n] != ' ')
            n--;
        log_msg(LOG_WARN, "org %s: %s longer than %zu bytes; the words past it are not granted", org_id, what,
                max - 1);
    }
    return n ? util_xstrndup(s, n) : NULL;
}

static const struct org_actor access_reader = {.label = "authz", .reads_only = 1};

static void access_from_reply(struct store_reply *r, const char *org_id, struct org_ws_access *out)
{
    char orole[16];
    reply_copy(r, 1, out->ws_id, sizeof out->ws_id);
    reply_copy(r, 2, orole, sizeof orole);
    reply_copy(r, 3, out->ws_role, sizeof out->ws_role);
    reply_copy(r, 4, out->default_role, sizeof out->default_role);
    out->role_perms = word_list_dup(r, 5, ORG_PERMS_MAX, "a custom role's permissions", org_id);
    out->entitlements = word_list_dup(r, 6, ORG_ENTITLEMENTS_MAX, "a workspace's entitlements", org_id);
    store_reply_free(r);
    out->org_role = ORG_ROLE_NONE;
    org_role_parse(orole, &out->org_role);
}

int org_ws_access_load(const char *org_id, const char *ws_slug, const char *uid, struct org_ws_access *out,
                       struct err *e)
{
    memset(out, 0, sizeof *out);
    const char *args[] = {ws_slug, uid};
    struct store_reply *r = org_script(lua_access, org_id, &access_reader, 2, args, e);
    if (!r)
        return -1;
    access_from_reply(r, org_id, out);
    return 0;
}

void org_ws_access_load_many(int n, const char *const *org_ids, const char *const *ws_slugs,
                             const char *const *uids, struct org_ws_access *out, int *rc, struct err *errs)
{
    if (n <= 0)
        return;
    struct script_call *calls = util_xcalloc((size_t)n, sizeof *calls);
    struct store_cmdv *cmds = util_xcalloc((size_t)n, sizeof *cmds);
    struct store_reply **replies = util_xcalloc((size_t)n, sizeof *replies);
    for (int i = 0; i < n; i++) {
        const char *args[] = {ws_slugs[i], uids[i]};
        script_call_begin(&calls[i], lua_access, org_ids[i], &access_reader, 2, args);
        cmds[i] = (struct store_cmdv){
            .script = calls[i].full, .nkeys = 1, .argc = calls[i].argc, .argv = calls[i].argv};
    }
    struct err pe;
    int ok = store_pipeline(&pe, n, cmds, replies) == 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        struct store_reply *r = ok ? script_reply(replies[i], org_ids[i], &access_reader, &errs[i]) : NULL;
        if (!ok)
            errs[i] = pe;
        rc[i] = r ? 0 : -1;
        if (r)
            access_from_reply(r, org_ids[i], &out[i]);
        script_call_end(&calls[i]);
    }
    free(replies);
    free(cmds);
    free(calls);
}

void org_ws_access_clear(struct org_ws_access *x)
{
    if (!x)
        return;
    free(x->role_perms);
    free(x->entitlements);
    x->role_perms = x->entitlements = NULL;
}

/* ---- listings ----------------------------------------------------------- */

static const char lua_members[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local out = {'ok'}\n"
    "local function add(uid, role)\n"
    "  local u = redis.call('HMGET', k('user:' .. uid), 'email', 'kind', 'name', 'link')\n"
    "  table.insert(out, {uid, u[1] or '', u[2] or '', u[3] or '', role, (u[4] and u[4] ~= '') and '1' or '0'})\n"
    "end\n"
    "local m = redis.call('HGETALL', k('members'))\n"
    "for i = 1, #m, 2 do add(m[i], m[i + 1]) end\n"
    "for _, uid in ipairs(redis.call('SMEMBERS', k('outsiders'))) do add(uid, '') end\n"
    "return out\n";

static const char *elem_str(const struct store_reply *r, size_t i)
{
    const char *s = i < store_reply_len(r) ? store_reply_str(store_reply_elem(r, i), NULL) : NULL;
    return s ? s : "";
}

int org_members_json(const char *org_id, json_t **out, struct err *e)
{
    struct org_actor reader = {.label = "admin", .reads_only = 1};
    struct store_reply *r = org_script(lua_members, org_id, &reader, 0, NULL, e);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 1; i < store_reply_len(r); i++) {
        const struct store_reply *m = store_reply_elem(r, i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b}", "id", elem_str(m, 0), "email",
                                             elem_str(m, 1), "kind", elem_str(m, 2), "name", elem_str(m, 3),
                                             "role", *elem_str(m, 4) ? elem_str(m, 4) : NULL, "linked",
                                             strcmp(elem_str(m, 5), "1") == 0));
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}

static const char lua_workspaces[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local out = {'ok'}\n"
    "local ws = redis.call('HGETALL', k('ws'))\n"
    "for i = 1, #ws, 2 do\n"
    "  local id = ws[i + 1]\n"
    "  local h = redis.call('HMGET', k('ws:' .. id), 'slug', 'name', 'default_role')\n"
    "  table.insert(out, {id, h[1] or '', h[2] or '', h[3] or '', redis.call('HGETALL', k('ws:' .. id .. ':members')),\n"
    "    redis.call('SMEMBERS', k('ws:' .. id .. ':ent'))})\n"
    "end\n"
    "return out\n";

int org_workspaces_json(const char *org_id, json_t **out, struct err *e)
{
    struct org_actor reader = {.label = "admin", .reads_only = 1};
    struct store_reply *r = org_script(lua_workspaces, org_id, &reader, 0, NULL, e);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 1; i < store_reply_len(r); i++) {
        const struct store_reply *w = store_reply_elem(r, i);
        json_t *members = json_object(), *ent = json_array();
        const struct store_reply *mr = store_reply_elem(w, 4), *er = store_reply_elem(w, 5);
        for (size_t j = 0; j + 1 < store_reply_len(mr); j += 2)
            json_object_set_new(members, elem_str(mr, j), json_string(elem_str(mr, j + 1)));
        for (size_t j = 0; j < store_reply_len(er); j++)
            json_array_append_new(ent, json_string(elem_str(er, j)));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o}", "id", elem_str(w, 0), "slug",
                                             elem_str(w, 1), "name", elem_str(w, 2), "default_role",
                                             *elem_str(w, 3) ? elem_str(w, 3) : NULL, "members", members,
                                             "entitlements", ent));
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}

static const char lua_roles[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local out = {'ok'}\n"
    "local r = redis.call('HGETALL', k('roles'))\n"
    "for i = 1, #r, 2 do table.insert(out, {r[i], r[i + 1]}) end\n"
    "return out\n";

int org_roles_json(const char *org_id, json_t **out, struct err *e)
{
    struct org_actor reader = {.label = "admin", .reads_only = 1};
    struct store_reply *r = org_script(lua_roles, org_id, &reader, 0, NULL, e);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 1; i < store_reply_len(r); i++) {
        const struct store_reply *x = store_reply_elem(r, i);
        json_t *perms = json_array();
        char *copy = util_xstrdup(elem_str(x, 1));
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
            json_array_append_new(perms, json_string(t));
        free(copy);
        json_array_append_new(arr, json_pack("{s:s, s:o}", "name", elem_str(x, 0), "permissions", perms));
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}
