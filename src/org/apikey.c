/* API keys: generation, creation and revocation (Lua on the org's keys, the
 * global prefix -> org claim taken first), and the Bearer check, which
 * compares the secret's hash in constant time before it looks at anything a
 * caller could learn from (revoked, expired). */
#include "org/apikey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/util.h"

#define APIKEY_SECRET_BYTES 32
#define APIKEY_SECRET_LEN 43   /* base64url of 32 bytes, no padding */
#define APIKEY_LAST_USED_EVERY_MS 60000

void apikey_generate(struct apikey_new *k)
{
    unsigned char rnd[APIKEY_PREFIX_LEN / 2];
    util_random(rnd, sizeof rnd);
    util_hex_encode(rnd, sizeof rnd, k->prefix);
    char *secret = util_random_token(APIKEY_SECRET_BYTES);
    util_sha256_hex(secret, strlen(secret), k->hash);
    k->full = util_xasprintf("sgk_%s_%s", k->prefix, secret);
    memset(secret, 0, strlen(secret));
    free(secret);
}

void apikey_new_clear(struct apikey_new *k)
{
    if (k->full) {
        memset(k->full, 0, strlen(k->full));
        free(k->full);
        k->full = NULL;
    }
}

static const char lua_key_create[] =
    "local kp, kh, kind, ws, uid, scopes, name, exp = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11],\n"
    "  ARGV[12], ARGV[13]\n"
    "local deny = need_org('apikey.create', kp) if deny then return deny end\n"
    "local prole = redis.call('HGET', k('members'), uid)\n"
    "if not prole then return fail('apikey.create', kp, 'member_not_found', 'The key holder is not a member.') end\n"
    "if prole == 'owner' and actor_rank() < 4 then\n"
    "  return fail('apikey.create', kp, 'owner_required', 'Only an owner may create keys held by an owner.') end\n"
    "if ws ~= '' and redis.call('EXISTS', k('ws:' .. ws)) == 0 then\n"
    "  return fail('apikey.create', kp, 'workspace_not_found', 'No such workspace.') end\n"
    "redis.call('HSET', k('key:' .. kp), 'prefix', kp, 'hash', kh, 'kind', kind, 'ws', ws, 'principal', uid,\n"
    "  'scopes', scopes, 'name', name, 'created', NOW, 'expires', exp, 'last_used', 0, 'revoked', 0)\n"
    "redis.call('SADD', k('keys'), kp)\n"
    "audit('apikey.create', kp, 'ok', '', '', kind .. ' ' .. scopes)\n"
    "return {'ok'}\n";

static int scopes_valid(const char *s)
{
    if (!s || !*s || strlen(s) >= 500)
        return 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-: ", *p))
            return 0;
    return 1;
}

int apikey_create(const struct org_actor *a, const char *org_id, const char *kind, const char *ws_id,
                  const char *principal_uid, const char *scopes, const char *name, long long expires_s,
                  char **full, char prefix[APIKEY_PREFIX_LEN + 1], struct err *e)
{
    *full = NULL;
    int is_ws = kind && strcmp(kind, "workspace") == 0;
    if (!kind || (!is_ws && strcmp(kind, "org") != 0) || (is_ws && (!ws_id || !*ws_id)))
        return err_set(e, "bad_request", "kind is 'org' or 'workspace' (with a workspace).");
    if ((is_ws && !org_id_valid('w', ws_id)) || !org_id_valid('u', principal_uid))
        return err_set(e, is_ws && !org_id_valid('w', ws_id) ? "workspace_not_found" : "member_not_found", NULL);
    if (!scopes_valid(scopes))
        return err_set(e, "bad_request", "scopes are space-separated permission strings.");
    if (expires_s < 0 || (name && strlen(name) > 128))
        return err_set(e, "bad_request", "expires must be >= 0 and the name at most 128 bytes.");
    struct apikey_new k;
    apikey_generate(&k);
    char *claim = util_xasprintf("sg:apikey:%s", k.prefix);
    char exp[32];
    snprintf(exp, sizeof exp, "%lld", expires_s ? (long long)util_now_ms() + expires_s * 1000 : 0LL);
    int rc = -1;
    int c = org_global_claim(claim, org_id, NULL, e);
    if (c <= 0) {
        if (c == 0)
            err_set(e, "conflict", "API key prefix collision; try again.");
        goto done;
    }
    const char *args[] = {k.prefix, k.hash, kind, is_ws ? ws_id : "", principal_uid, scopes, name ? name : ""};
    const char *argv[8];
    memcpy(argv, args, sizeof args);
    argv[7] = exp;
    struct store_reply *r = org_script(lua_key_create, org_id, a, 8, argv, e);
    if (!r) {
        org_global_release(claim, org_id);
        goto done;
    }
    store_reply_free(r);
    *full = k.full;
    k.full = NULL;
    snprintf(prefix, APIKEY_PREFIX_LEN + 1, "%s", k.prefix);
    rc = 0;
done:
    apikey_new_clear(&k);
    free(claim);
    return rc;
}

/* The global claim stays: a revoked key keeps answering apikey_revoked. */
static const char lua_key_revoke[] =
    "local kp = ARGV[6]\n"
    "local deny = need_org('apikey.revoke', kp) if deny then return deny end\n"
    "local h = redis.call('HMGET', k('key:' .. kp), 'principal', 'revoked')\n"
    "if not h[1] then return fail('apikey.revoke', kp, 'apikey_not_found', 'No such API key.') end\n"
    "if redis.call('HGET', k('members'), h[1]) == 'owner' and actor_rank() < 4 then\n"
    "  return fail('apikey.revoke', kp, 'owner_required', 'Only an owner may revoke keys held by an owner.') end\n"
    "if h[2] == '0' then redis.call('HSET', k('key:' .. kp), 'revoked', NOW) end\n"
    "audit('apikey.revoke', kp, 'ok', '', '', '')\n"
    "return {'ok'}\n";

int apikey_revoke(const struct org_actor *a, const char *org_id, const char *prefix, struct err *e)
{
    if (!prefix || strlen(prefix) != APIKEY_PREFIX_LEN || strspn(prefix, "0123456789abcdef") != APIKEY_PREFIX_LEN)
        return err_set(e, "apikey_not_found", NULL);
    const char *args[] = {prefix};
    struct store_reply *r = org_script(lua_key_revoke, org_id, a, 1, args, e);
    store_reply_free(r);
    return r ? 0 : -1;
}

/* "sgk_" 12 hex "_" 43 base64url. Returns 0 and splits, -1 otherwise. */
static int apikey_parse(const char *t, char prefix[APIKEY_PREFIX_LEN + 1], const char **secret)
{
    if (!t || strlen(t) != 4 + APIKEY_PREFIX_LEN + 1 + APIKEY_SECRET_LEN || strncmp(t, "sgk_", 4) != 0 ||
        t[4 + APIKEY_PREFIX_LEN] != '_')
        return -1;
    for (int i = 0; i < APIKEY_PREFIX_LEN; i++)
        if (!strchr("0123456789abcdef", t[4 + i]))
            return -1;
    *secret = t + 4 + APIKEY_PREFIX_LEN + 1;
    for (const char *p = *secret; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p))
            return -1;
    memcpy(prefix, t + 4, APIKEY_PREFIX_LEN);
    prefix[APIKEY_PREFIX_LEN] = '\0';
    return 0;
}

static const char lua_key_load[] =
    "local kp = ARGV[6]\n"
    "local h = redis.call('HMGET', k('key:' .. kp), 'hash', 'kind', 'ws', 'principal', 'scopes', 'expires',\n"
    "  'revoked', 'last_used')\n"
    "if not h[1] then return {'err', 'apikey_invalid', 'The API key is not valid.'} end\n"
    "local role = redis.call('HGET', k('members'), h[4]) or ''\n"
    "return {'ok', h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], role}\n";

/* Only when the minute has passed, and never on a key that was deleted. */
static const char lua_key_touch[] =
    "local lu = redis.call('HGET', k('key:' .. ARGV[6]), 'last_used')\n"
    "if lu and tonumber(NOW) - tonumber(lu) >= tonumber(ARGV[7]) then\n"
    "  redis.call('HSET', k('key:' .. ARGV[6]), 'last_used', NOW) end\n"
    "return {'ok'}\n";

static int key_org(const char *prefix, char org_id[ORG_ID_MAX], struct err *e)
{
    char *claim = util_xasprintf("sg:apikey:%s", prefix);
    struct store_reply *r = store_cmdl(e, "GET", claim, NULL);
    free(claim);
    if (!r)
        return -1;
    int found = store_reply_type(r) == STORE_STRING;
    if (found)
        snprintf(org_id, ORG_ID_MAX, "%s", store_reply_str(r, NULL));
    store_reply_free(r);
    return found ? 0 : err_set(e, "apikey_invalid", NULL);
}

static void field(const struct store_reply *r, size_t i, char *out, size_t n)
{
    const char *s = store_reply_len(r) > i ? store_reply_str(store_reply_elem(r, i), NULL) : NULL;
    snprintf(out, n, "%s", s ? s : "");
}

int apikey_verify(const char *token, struct apikey_principal *out, struct err *e)
{
    char prefix[APIKEY_PREFIX_LEN + 1], hash[65], stored[65], exp[32], revoked[32], last[32], role[16];
    const char *secret;
    memset(out, 0, sizeof *out);
    if (apikey_parse(token, prefix, &secret) < 0)
        return err_set(e, "apikey_invalid", NULL);
    if (key_org(prefix, out->org_id, e) < 0)
        return -1;
    struct org_actor reader = {.label = "apikey", .reads_only = 1};
    const char *args[] = {prefix};
    struct store_reply *r = org_script(lua_key_load, out->org_id, &reader, 1, args, e);
    if (!r)
        return -1;
    field(r, 1, stored, sizeof stored);
    field(r, 2, out->kind, sizeof out->kind);
    field(r, 3, out->ws_id, sizeof out->ws_id);
    field(r, 4, out->uid, sizeof out->uid);
    field(r, 5, out->scopes, sizeof out->scopes);
    field(r, 6, exp, sizeof exp);
    field(r, 7, revoked, sizeof revoked);
    field(r, 8, last, sizeof last);
    field(r, 9, role, sizeof role);
    store_reply_free(r);
    util_sha256_hex(secret, strlen(secret), hash);
    if (strlen(stored) != 64 || !util_ct_eq(hash, stored, 64))
        return err_set(e, "apikey_invalid", NULL);
    long long now = (long long)util_now_ms();
    if (strcmp(revoked, "0") != 0)
        return err_set(e, "apikey_revoked", NULL);
    if (atoll(exp) > 0 && now >= atoll(exp))
        return err_set(e, "apikey_expired", NULL);
    out->org_role = ORG_ROLE_NONE;
    if (org_role_parse(role, &out->org_role) < 0)
        return err_set(e, "apikey_revoked", "The key's holder is no longer a member.");
    snprintf(out->prefix, sizeof out->prefix, "%s", prefix);
    snprintf(out->label, sizeof out->label, "key:%s", prefix);
    if (now - atoll(last) >= APIKEY_LAST_USED_EVERY_MS) {
        char every[16];
        snprintf(every, sizeof every, "%d", APIKEY_LAST_USED_EVERY_MS);
        const char *targs[] = {prefix, every};
        struct err ignore;
        store_reply_free(org_script(lua_key_touch, out->org_id, &reader, 2, targs, &ignore));
    }
    return 0;
}

int apikey_has_scope(const struct apikey_principal *p, const char *scope)
{
    size_t n = strlen(scope);
    for (const char *s = p->scopes; (s = strstr(s, scope)) != NULL; s += n)
        if ((s == p->scopes || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
            return 1;
    return 0;
}

void apikey_actor(const struct apikey_principal *p, struct org_actor *a)
{
    a->operator = 0;
    a->uid = p->uid;
    a->label = p->label;
}

static const char lua_key_list[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local out = {'ok'}\n"
    "for _, kp in ipairs(redis.call('SMEMBERS', k('keys'))) do\n"
    "  local h = redis.call('HMGET', k('key:' .. kp), 'kind', 'ws', 'principal', 'scopes', 'name', 'created',\n"
    "    'expires', 'last_used', 'revoked')\n"
    "  if h[1] then table.insert(out, {kp, h[1], h[2] or '', h[3] or '', h[4] or '', h[5] or '', h[6] or '0',\n"
    "    h[7] or '0', h[8] or '0', h[9] or '0'}) end\n"
    "end\n"
    "return out\n";

static json_t *time_or_null(const char *ms)
{
    long long v = atoll(ms);
    if (v <= 0)
        return json_null();
    char t[32];
    util_format_time((time_t)(v / 1000), t, sizeof t);
    return json_string(t);
}

int apikey_list_json(const char *org_id, json_t **out, struct err *e)
{
    struct org_actor reader = {.label = "admin", .reads_only = 1};
    struct store_reply *r = org_script(lua_key_list, org_id, &reader, 0, NULL, e);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 1; i < store_reply_len(r); i++) {
        const struct store_reply *x = store_reply_elem(r, i);
        char f[10][600];
        for (size_t j = 0; j < 10; j++)
            field(x, j, f[j], sizeof f[j]);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "prefix", f[0],
                                             "kind", f[1], "workspace", f[2][0] ? f[2] : NULL, "holder", f[3],
                                             "scopes", f[4], "name", f[5], "created", time_or_null(f[6]),
                                             "expires", time_or_null(f[7]), "last_used", time_or_null(f[8]),
                                             "revoked", time_or_null(f[9])));
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}
