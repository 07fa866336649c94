/* Sign-in linking, just-in-time provisioning and invitations. The whole
 * decision for one sign-in is one Lua script on the org's keys, so two
 * concurrent first sign-ins of one person cannot create two members. */
#include "org/provision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "org/audit.h"
#include "org/domain.h"
#include "store/store.h"
#include "util/util.h"

/* Create user uid as a member (role) and apply "slug=role" workspace grants. */
#define LUA_MAKE_MEMBER                                                                                    \
    "local function make_member(uid, email, role, link, wsroles)\n"                                        \
    "  redis.call('HSET', k('user:' .. uid), 'id', uid, 'email', email, 'kind', 'human', 'name', '',\n"    \
    "    'link', link, 'created', NOW)\n"                                                                  \
    "  redis.call('HSET', k('email'), email, uid)\n"                                                       \
    "  if link ~= '' then redis.call('HSET', k('idp'), link, uid) end\n"                                   \
    "  redis.call('HSET', k('members'), uid, role)\n"                                                      \
    "  for slug, wr in string.gmatch(wsroles or '', '([%w-]+)=([%w-]+)') do\n"                             \
    "    local ws = redis.call('HGET', k('ws'), slug)\n"                                                   \
    "    if ws then\n"                                                                                     \
    "      redis.call('HSET', k('ws:' .. ws .. ':members'), uid, wr)\n"                                    \
    "      redis.call('SADD', k('user:' .. uid .. ':ws'), ws)\n"                                           \
    "    end\n"                                                                                            \
    "  end\n"                                                                                              \
    "end\n"

/* ARGV: 6 email, 7 link (sha256 of issuer+NameID, '' when not persistent),
 * 8 new uid, 9 invitation token hash ('' = by email), 10 issuer, 11 org id. */
static const char lua_signin[] = LUA_MAKE_MEMBER
    "local email, link, newuid, tok, issuer = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]\n"
    /* Only a sign-in that changes the directory tells the other instances to
     * drop their cached reads: publishing on every sign-in cost a round trip
     * and emptied every cache at sign-in rate (issue 3 "Speed"). */
    "local function changed() redis.call('PUBLISH', '" STORE_INVALIDATION_CHANNEL "', ARGV[11]) end\n"
    "local function refuse(code, msg)\n"
    "  audit('signin', email, 'refused', code, '', '', 'issuer=' .. issuer) return {'err', code, msg} end\n"
    "local function ok(uid, how)\n"
    "  local role = redis.call('HGET', k('members'), uid) or ''\n"
    "  audit('signin', email, 'ok', '', '', role, 'issuer=' .. issuer .. ' ' .. how)\n"
    "  return {'ok', uid, role, how}\n"
    "end\n"
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "if link ~= '' then\n"
    "  local uid = redis.call('HGET', k('idp'), link)\n"
    "  if uid then return ok(uid, 'linked') end\n"
    "end\n"
    "local uid = redis.call('HGET', k('email'), email)\n"
    "if uid then\n"
    "  local cur = redis.call('HGET', k('user:' .. uid), 'link') or ''\n"
    /* A persistent NameID meets a member bound to another one: a reused
     * email, or a changed IdP. Never hand over the former person's grants. */
    "  if link ~= '' and cur ~= '' and cur ~= link then\n"
    "    return refuse('identity_conflict', 'This email belongs to a member linked to another identity.') end\n"
    "  if link ~= '' and cur == '' then\n"
    "    redis.call('HSET', k('user:' .. uid), 'link', link)\n"
    "    redis.call('HSET', k('idp'), link, uid)\n"
    "    changed()\n"
    "  end\n"
    "  return ok(uid, 'email')\n"
    "end\n"
    "local th = tok ~= '' and tok or redis.call('HGET', k('inv_email'), email)\n"
    "if th then\n"
    "  local inv = redis.call('HMGET', k('inv:' .. th), 'email', 'role', 'ws', 'expires')\n"
    "  if not inv[1] or inv[1] ~= email then\n"
    "    if tok ~= '' then return refuse('invitation_invalid', 'The invitation is unknown or was already used.') end\n"
    "  elseif tonumber(inv[4]) <= tonumber(NOW) then\n"
    "    redis.call('DEL', k('inv:' .. th)) redis.call('HDEL', k('inv_email'), email)\n"
    "    if tok ~= '' or redis.call('HGET', k('org'), 'capture') ~= '1' then\n"
    "      return refuse('invitation_expired', 'The invitation has expired.') end\n"
    "  else\n"
    "    make_member(newuid, email, inv[2], link, inv[3]) changed()\n"
    "    redis.call('DEL', k('inv:' .. th)) redis.call('HDEL', k('inv_email'), email)\n"
    "    audit('invitation.accept', newuid, 'ok', '', '', inv[2] .. ' ' .. inv[3])\n"
    "    return ok(newuid, 'invited')\n"
    "  end\n"
    "end\n"
    "if redis.call('HGET', k('org'), 'capture') == '1' then\n"
    "  local role = redis.call('HGET', k('org'), 'default_role') or 'member'\n"
    "  if role == 'owner' then role = 'member' end\n"
    "  make_member(newuid, email, role, link, '') changed()\n"
    "  audit('member.jit', newuid, 'ok', '', '', role)\n"
    "  return ok(newuid, 'provisioned')\n"
    "end\n"
    "return refuse('not_a_member', 'You are not a member of this organization; ask an admin for an invitation.')\n";

static void link_hash(const char *issuer, const char *name_id, char out[65])
{
    /* issuer and NameID joined by a byte neither can hold unescaped */
    char *s = util_xasprintf("%s\n%s", issuer, name_id);
    util_sha256_hex(s, strlen(s), out);
    free(s);
}

static int signin_inputs_ok(const char *org_id, const char *issuer, const char *name_id, const char *email,
                            char norm[ORG_EMAIL_MAX], struct err *e)
{
    if (!issuer || !*issuer || !name_id || !*name_id || strlen(issuer) > 1024 || strlen(name_id) > 1024 ||
        strchr(issuer, '\n')) {
        audit_signin(org_id, NULL, issuer && strlen(issuer) <= 1024 ? issuer : "", "refused", "saml_no_subject",
                     NULL);
        return err_set(e, "saml_no_subject", NULL);
    }
    if (org_email_normalize(email, norm, ORG_EMAIL_MAX, e) < 0) {
        audit_signin(org_id, NULL, issuer, "refused", "invalid_email", NULL);
        return -1;
    }
    int v = domain_verified_for_org(org_id, norm, e);
    if (v < 0)
        return -1;
    if (v == 0) {
        audit_signin(org_id, norm, issuer, "refused", "saml_domain_not_allowed", NULL);
        return err_set(e, "saml_domain_not_allowed", NULL);
    }
    return 0;
}

int provision_signin(const char *org_id, const char *issuer, const char *name_id, const char *name_id_format,
                     const char *email, const char *invitation_token, struct provision_result *out,
                     struct err *e)
{
    char norm[ORG_EMAIL_MAX], link[65] = "", th[65] = "", uid[ORG_ID_MAX], role[16], how[16];
    memset(out, 0, sizeof *out);
    if (signin_inputs_ok(org_id, issuer, name_id, email, norm, e) < 0)
        return -1;
    if (name_id_format && strcmp(name_id_format, PROVISION_NAMEID_PERSISTENT) == 0)
        link_hash(issuer, name_id, link);
    if (invitation_token && *invitation_token)
        util_sha256_hex(invitation_token, strlen(invitation_token), th);
    org_new_id('u', uid);
    /* reads_only: the script publishes the invalidation itself, only when
     * it changed a member */
    struct org_actor a = {.label = norm, .reads_only = 1};
    const char *args[] = {norm, link, uid, th, issuer, org_id};
    struct store_reply *r = org_script(lua_signin, org_id, &a, 6, args, e);
    if (!r)
        return -1;
    const char *s;
    snprintf(out->uid, sizeof out->uid, "%s", (s = store_reply_str(store_reply_elem(r, 1), NULL)) ? s : "");
    snprintf(role, sizeof role, "%s", (s = store_reply_str(store_reply_elem(r, 2), NULL)) ? s : "");
    snprintf(how, sizeof how, "%s", (s = store_reply_str(store_reply_elem(r, 3), NULL)) ? s : "");
    store_reply_free(r);
    snprintf(out->email, sizeof out->email, "%s", norm);
    out->role = ORG_ROLE_NONE;
    org_role_parse(role, &out->role);
    out->provisioned = strcmp(how, "provisioned") == 0;
    out->invited = strcmp(how, "invited") == 0;
    return 0;
}

/* ---- invitations -------------------------------------------------------- */

static const char lua_invite[] =
    "local email, role, ws, th, exp = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]\n"
    "local deny = need_org('invitation.create', email) if deny then return deny end\n"
    "if role == 'owner' and actor_rank() < 4 then\n"
    "  return fail('invitation.create', email, 'owner_required', 'Only an owner may invite owners.') end\n"
    "local cur = redis.call('HGET', k('email'), email)\n"
    "if cur and redis.call('HEXISTS', k('members'), cur) == 1 then\n"
    "  return fail('invitation.create', email, 'member_exists', 'This person is already a member.') end\n"
    "for slug, wr in string.gmatch(ws, '([%w-]+)=([%w-]+)') do\n"
    "  if not redis.call('HGET', k('ws'), slug) then\n"
    "    return fail('invitation.create', email, 'workspace_not_found', 'No workspace ' .. slug .. '.') end\n"
    "  if not (wr == 'admin' or wr == 'editor' or wr == 'viewer' or redis.call('HEXISTS', k('roles'), wr) == 1) then\n"
    "    return fail('invitation.create', email, 'invalid_role', 'Unknown workspace role ' .. wr .. '.') end\n"
    "end\n"
    "local old = redis.call('HGET', k('inv_email'), email)\n"
    "if old then redis.call('DEL', k('inv:' .. old)) end\n"
    "redis.call('HSET', k('inv:' .. th), 'email', email, 'role', role, 'ws', ws, 'expires', exp, 'created', NOW,\n"
    "  'by', ALABEL)\n"
    "redis.call('PEXPIREAT', k('inv:' .. th), exp)\n"
    "redis.call('HSET', k('inv_email'), email, th)\n"
    "audit('invitation.create', email, 'ok', '', '', role .. ' ' .. ws)\n"
    "return {'ok'}\n";

static int ws_roles_valid(const char *ws)
{
    if (strlen(ws) > 2000)
        return 0;
    for (const char *p = ws; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-= ", *p))
            return 0;
    return 1;
}

int invite_create(const struct org_actor *a, const char *org_id, const char *email, enum org_role role,
                  const char *ws_roles, int ttl_s, char **token, char **link, struct err *e)
{
    char norm[ORG_EMAIL_MAX], th[65], exp[32];
    *token = *link = NULL;
    if (org_email_normalize(email, norm, sizeof norm, e) < 0)
        return -1;
    if (role == ORG_ROLE_NONE)
        return err_set(e, "invalid_role", NULL);
    if (ws_roles && !ws_roles_valid(ws_roles))
        return err_set(e, "bad_request", "Workspace roles are 'slug=role' words.");
    if (ttl_s < 0 || ttl_s > 90 * 86400)
        return err_set(e, "invalid_setting", "ttl_s must be between 0 and 90 days.");
    struct org_info org;
    if (org_lookup(org_id, &org, e) < 0)
        return -1;
    char *tok = util_random_token(32);
    util_sha256_hex(tok, strlen(tok), th);
    snprintf(exp, sizeof exp, "%lld",
             (long long)util_now_ms() + 1000LL * (ttl_s ? ttl_s : org_invitation_ttl_s()));
    const char *args[] = {norm, org_role_name(role), ws_roles ? ws_roles : "", th, exp};
    struct store_reply *r = org_script(lua_invite, org_id, a, 5, args, e);
    if (!r) {
        free(tok);
        return -1;
    }
    store_reply_free(r);
    *link = util_xasprintf("%s/login?org=%s&invitation=%s", org_base_url(), org.slug, tok);
    *token = tok;
    return 0;
}

static const char lua_invite_revoke[] =
    "local email = ARGV[6]\n"
    "local deny = need_org('invitation.revoke', email) if deny then return deny end\n"
    "local th = redis.call('HGET', k('inv_email'), email)\n"
    "if not th then return fail('invitation.revoke', email, 'invitation_invalid', 'No pending invitation.') end\n"
    "redis.call('DEL', k('inv:' .. th)) redis.call('HDEL', k('inv_email'), email)\n"
    "audit('invitation.revoke', email, 'ok', '', '', '')\n"
    "return {'ok'}\n";

int invite_revoke(const struct org_actor *a, const char *org_id, const char *email, struct err *e)
{
    char norm[ORG_EMAIL_MAX];
    if (org_email_normalize(email, norm, sizeof norm, e) < 0)
        return -1;
    const char *args[] = {norm};
    struct store_reply *r = org_script(lua_invite_revoke, org_id, a, 1, args, e);
    store_reply_free(r);
    return r ? 0 : -1;
}

static const char lua_invite_list[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local out = {'ok'}\n"
    "local m = redis.call('HGETALL', k('inv_email'))\n"
    "for i = 1, #m, 2 do\n"
    "  local h = redis.call('HMGET', k('inv:' .. m[i + 1]), 'role', 'ws', 'expires', 'created', 'by')\n"
    "  if h[1] and tonumber(h[3]) > tonumber(NOW) then\n"
    "    table.insert(out, {m[i], h[1], h[2] or '', h[3], h[4] or '0', h[5] or ''}) end\n"
    "end\n"
    "return out\n";

static json_t *ms_time(const char *ms)
{
    char t[32];
    util_format_time((time_t)(atoll(ms) / 1000), t, sizeof t);
    return json_string(t);
}

int invite_list_json(const char *org_id, json_t **out, struct err *e)
{
    struct org_actor reader = {.label = "admin"};
    struct store_reply *r = org_script(lua_invite_list, org_id, &reader, 0, NULL, e);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 1; i < store_reply_len(r); i++) {
        const struct store_reply *x = store_reply_elem(r, i);
        const char *f[6];
        for (size_t j = 0; j < 6; j++) {
            f[j] = store_reply_str(store_reply_elem(x, j), NULL);
            f[j] = f[j] ? f[j] : "";
        }
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "email", f[0], "role", f[1],
                                             "workspaces", f[2], "expires", ms_time(f[3]), "created",
                                             ms_time(f[4]), "by", f[5]));
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}
