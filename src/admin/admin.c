/* Admin API handlers. Each one: authenticate the key and resolve the org
 * (admin_begin_or_reply), read the JSON body, call the same org/ function
 * the CLI calls (as the key's holder, whose role the scripts check again),
 * reply. Reads need scope org:read or org:admin, writes org:admin. */
#include "admin/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/console.h"
#include "gate/gate.h"

#include "org/apikey.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "org/provision.h"
#include "saml/connection.h"
#include "saml/flow.h"
#include "session/session.h"
#include "store/store.h"
#include "util/util.h"

struct actx {
    struct org_info org;
    struct apikey_principal key;
    struct console_principal cp;   /* cookie-authenticated callers */
    struct org_actor actor;
    json_t *body;        /* parsed JSON body of writes, or NULL */
    int write;
    struct err e;
};

static void reply_err(struct http_req *r, const struct err *e)
{
    http_log_code(r, e->code);
    http_reply_err(r, e);
}

static int fail_or_reply(struct http_req *r, struct actx *c, const char *code, const char *msg)
{
    err_set(&c->e, code, msg ? "%s" : NULL, msg);
    reply_err(r, &c->e);
    return -1;
}

static int read_body_or_reply(struct http_req *r, struct actx *c)
{
    size_t len;
    const char *b = http_body(r, &len);
    json_error_t je;
    c->body = len ? json_loadb(b, len, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (!json_is_object(c->body)) {
        json_decref(c->body);
        c->body = NULL;
        return fail_or_reply(r, c, "bad_request", "The body must be a JSON object.");
    }
    return 0;
}

/* An owner's or admin's console session (cookie) of this org: reads as
 * they are; writes need the session's CSRF token in X-CSRF-Token and our
 * Origin (console.h). The scripts check the member's role again. */
static int cookie_begin_or_reply(struct http_req *r, struct actx *c, int write)
{
    if (console_principal_load(r, http_param(r, "org"), &c->cp, &c->e) < 0 ||
        (write && console_csrf_check(r, &c->cp, http_header(r, "X-CSRF-Token"), &c->e) < 0)) {
        reply_err(r, &c->e);
        return -1;
    }
    c->org = c->cp.org;
    c->actor = c->cp.actor;
    snprintf(c->key.uid, sizeof c->key.uid, "%.*s", (int)sizeof c->key.uid - 1, c->cp.s.user_id);
    /* Scripts on the page's origin learn the token for their writes here. */
    http_add_header(r, "X-CSRF-Token", c->cp.csrf);
    return write ? read_body_or_reply(r, c) : 0;
}

/* The key's org and holder, after the failed-check rate limit. */
static int auth_key_or_reply(struct http_req *r, struct actx *c, const char *token)
{
    int wait = http_ratelimit_blocked(r, RL_APIKEY);
    if (wait > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", wait);
        http_add_header(r, "Retry-After", secs);
        return fail_or_reply(r, c, "rate_limited", "Too many failed API-key checks from this address.");
    }
    if (apikey_verify(token, &c->key, &c->e) < 0) {
        if (strcmp(c->e.code, "store_unavailable") != 0)
            http_ratelimit_spend(r, RL_APIKEY); /* only failures count (DESIGN: rate limits) */
        reply_err(r, &c->e);
        return -1;
    }
    return 0;
}

static int credentials_or_reply(struct http_req *r, struct actx *c)
{
    const char *auth = http_header(r, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        return auth_key_or_reply(r, c, auth + 7);
    return fail_or_reply(r, c, "unauthorized", "An org API key (Authorization: Bearer sgk_...) or an owner's or "
                                               "admin's session is required.");
}

/* Credentials, scope, org in the path; another org's path is a 404 exactly
 * like a missing org (no existence leak). */
static int admin_begin_or_reply(struct http_req *r, struct actx *c, int write)
{
    memset(c, 0, sizeof *c);
    err_clear(&c->e);
    /* No key: an owner's or admin's session cookie (console.h checks the
     * session's org and role, and for writes the CSRF token and Origin). */
    if (!http_header(r, "Authorization") && http_cookie_count(r, gate_cookie_name()) > 0) {
        c->write = write;
        if (cookie_begin_or_reply(r, c, write) < 0)
            return -1;
        http_log_org(r, c->org.slug);
        return 0;
    }
    if (credentials_or_reply(r, c) < 0)
        return -1;
    const char *slug = http_param(r, "org");
    struct err le;
    err_clear(&le);
    if (!slug || org_lookup(slug, &c->org, &le) < 0 || strcmp(c->org.id, c->key.org_id) != 0) {
        if (slug && le.code && strcmp(le.code, "store_unavailable") == 0)
            return reply_err(r, &le), -1;
        return fail_or_reply(r, c, "org_not_found", NULL);
    }
    http_log_org(r, c->org.slug);
    if (strcmp(c->key.kind, "org") != 0 ||
        !(apikey_has_scope(&c->key, "org:admin") || (!write && apikey_has_scope(&c->key, "org:read"))))
        return fail_or_reply(r, c, "apikey_scope", NULL);
    apikey_actor(&c->key, &c->actor);
    c->write = write;
    return write ? read_body_or_reply(r, c) : 0;
}

static void actx_done(struct actx *c)
{
    json_decref(c->body);
    c->body = NULL;
}

static const char *jstr(const struct actx *c, const char *name)
{
    return json_string_value(json_object_get(c->body, name));
}

/* After a change, every instance's per-worker session and access caches are
 * flushed (gate/ listens on the invalidation channel), so a role change or a
 * revoked grant takes effect at once, not after the cache TTL. */
static void announce_change(const char *org_id)
{
    struct err e;
    store_publish(SESSION_INVALIDATION_CHANNEL, org_id, strlen(org_id), &e);
}

/* Finish a handler: reply the error in c->e when rc < 0, else status + out. */
static void finish(struct http_req *r, struct actx *c, int rc, int status, json_t *out)
{
    if (rc == 0 && c->write)
        announce_change(c->org.id);
    if (rc < 0) {
        json_decref(out);
        reply_err(r, &c->e);
    } else if (status == 204) {
        json_decref(out);
        http_reply(r, 204, "application/json", "", 0);
    } else {
        http_reply_json(r, status, out ? out : json_object());
    }
    actx_done(c);
}

static int role_from_body(struct actx *c, enum org_role *role)
{
    const char *s = jstr(c, "role");
    if (!s || org_role_parse(s, role) < 0)
        return err_set(&c->e, "invalid_role", NULL);
    return 0;
}

static int ws_from_path(struct http_req *r, struct actx *c, char ws[ORG_ID_MAX])
{
    const char *slug = http_param(r, "ws");
    if (!slug || !org_slug_valid(slug))
        return err_set(&c->e, "workspace_not_found", NULL);
    return org_ws_lookup(c->org.id, slug, ws, &c->e);
}

/* ---- org ---------------------------------------------------------------- */

static json_t *org_json(const struct org_info *i)
{
    char t[32];
    util_format_time((time_t)(i->created_ms / 1000), t, sizeof t);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:b, s:s, s:b}}", "id", i->id, "slug", i->slug, "name",
                     i->name, "created", t, "settings", "max_session_s", i->settings.max_session_s,
                     "idle_timeout_s", i->settings.idle_timeout_s, "domain_capture", i->settings.domain_capture,
                     "default_role", org_role_name(i->settings.default_role), "require_sso",
                     i->settings.require_sso);
}

static void h_org_get(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 0) == 0)
        finish(r, &c, 0, 200, org_json(&c.org));
}

/* PATCH: fields absent keep their value; present ones must have the right type. */
static int settings_from_body(struct actx *c, struct org_settings *s)
{
    static const char *const ints[] = {"max_session_s", "idle_timeout_s"};
    int *slots[] = {&s->max_session_s, &s->idle_timeout_s};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(c->body, ints[i]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000))
            return err_set(&c->e, "invalid_setting", "%s must be a non-negative integer.", ints[i]);
        if (v)
            *slots[i] = (int)json_integer_value(v);
    }
    static const char *const bools[] = {"domain_capture", "require_sso"};
    int *bslots[] = {&s->domain_capture, &s->require_sso};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(c->body, bools[i]);
        if (v && !json_is_boolean(v))
            return err_set(&c->e, "invalid_setting", "%s must be true or false.", bools[i]);
        if (v)
            *bslots[i] = json_is_true(v);
    }
    if (json_object_get(c->body, "default_role") &&
        (!jstr(c, "default_role") || org_role_parse(jstr(c, "default_role"), &s->default_role) < 0))
        return err_set(&c->e, "invalid_setting", "default_role must be viewer, member or admin.");
    return 0;
}

static void h_org_patch(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    struct org_settings s = c.org.settings;
    int rc = settings_from_body(&c, &s);
    if (rc == 0)
        rc = org_settings_update(&c.actor, c.org.id, &s, &c.e);
    if (rc == 0)
        rc = org_lookup(c.org.id, &c.org, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? org_json(&c.org) : NULL);
}

static void h_org_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = org_delete(&c.actor, c.org.id, &c.e);
    struct err se;
    if (rc == 0 && session_revoke_org(c.org.id, &se) < 0)
        http_log_code(r, se.code);
    finish(r, &c, rc, 204, NULL);
}

/* ---- members ------------------------------------------------------------ */

/* GET of a listing: {"<name>": [...]} from an org/ *_json function. */
static void list_reply(struct http_req *r, int (*list)(const char *, json_t **, struct err *), const char *name)
{
    struct actx c;
    json_t *out = NULL;
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    int rc = list(c.org.id, &out, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:o}", name, out) : NULL);
}

static void h_members_list(struct http_req *r)
{
    list_reply(r, org_members_json, "members");
}

static void h_member_add(struct http_req *r)
{
    struct actx c;
    char uid[ORG_ID_MAX];
    enum org_role role;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_from_body(&c, &role);
    if (rc == 0)
        rc = org_member_add(&c.actor, c.org.id, jstr(&c, "email"), role, uid, &c.e);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s}", "id", uid, "role", org_role_name(role)) : NULL);
}

static json_t *member_json(const struct org_member *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", m->uid, "email", m->email, "kind", m->kind, "name",
                     m->name, "role", m->role ? org_role_name(m->role) : NULL);
}

static void h_member_get(struct http_req *r)
{
    struct actx c;
    struct org_member m;
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    int rc = org_member_get(c.org.id, http_param(r, "uid"), &m, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? member_json(&m) : NULL);
}

static void h_member_patch(struct http_req *r)
{
    struct actx c;
    enum org_role role;
    struct org_member m;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_from_body(&c, &role);
    if (rc == 0)
        rc = org_member_set_role(&c.actor, c.org.id, http_param(r, "uid"), role, &c.e);
    if (rc == 0)
        rc = org_member_get(c.org.id, http_param(r, "uid"), &m, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? member_json(&m) : NULL);
}

static void h_member_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = org_member_remove(&c.actor, c.org.id, http_param(r, "uid"), &c.e);
    struct err se;
    if (rc == 0 && session_revoke_user(c.org.id, http_param(r, "uid"), &se) < 0)
        http_log_code(r, se.code); /* the member is gone: access is denied anyway */
    finish(r, &c, rc, 204, NULL);
}

static void h_service_account_add(struct http_req *r)
{
    struct actx c;
    char uid[ORG_ID_MAX];
    enum org_role role;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_from_body(&c, &role);
    if (rc == 0)
        rc = org_service_account_add(&c.actor, c.org.id, jstr(&c, "name"), role, uid, &c.e);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s, s:s}", "id", uid, "name", jstr(&c, "name"), "role",
                                               org_role_name(role)) : NULL);
}

/* ---- workspaces --------------------------------------------------------- */

static void h_ws_list(struct http_req *r)
{
    list_reply(r, org_workspaces_json, "workspaces");
}

static void h_ws_create(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *slug = jstr(&c, "slug");
    int rc = org_ws_create(&c.actor, c.org.id, slug ? slug : "", jstr(&c, "name"), ws, &c.e);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s}", "id", ws, "slug", slug) : NULL);
}

static void h_ws_patch(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    json_t *dr = json_object_get(c.body, "default_role");
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0 && !(json_is_string(dr) || json_is_null(dr)))
        rc = err_set(&c.e, "invalid_role", "default_role must be a workspace role or null.");
    if (rc == 0)
        rc = org_ws_set_default_role(&c.actor, c.org.id, ws, json_is_null(dr) ? "" : json_string_value(dr), &c.e);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:s, s:O}", "id", ws, "default_role", dr) : NULL);
}

static void h_ws_delete(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0)
        rc = org_ws_delete(&c.actor, c.org.id, ws, &c.e);
    finish(r, &c, rc, 204, NULL);
}

static void h_ws_member_put(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0)
        rc = org_ws_member_set(&c.actor, c.org.id, ws, http_param(r, "uid"), jstr(&c, "role"), &c.e);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:s, s:s}", "id", http_param(r, "uid"), "role",
                                               jstr(&c, "role")) : NULL);
}

static void h_ws_member_delete(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0)
        rc = org_ws_member_remove(&c.actor, c.org.id, ws, http_param(r, "uid"), &c.e);
    finish(r, &c, rc, 204, NULL);
}

static void h_ws_outsider_add(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX], uid[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0)
        rc = org_outsider_grant(&c.actor, c.org.id, jstr(&c, "email"), ws, jstr(&c, "role"), uid, &c.e);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s}", "id", uid, "role", jstr(&c, "role")) : NULL);
}

static void ws_entitlement(struct http_req *r, int on)
{
    struct actx c;
    char ws[ORG_ID_MAX];
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_from_path(r, &c, ws);
    if (rc == 0)
        rc = org_ws_entitlement_set(&c.actor, c.org.id, ws, http_param(r, "perm"), on, &c.e);
    finish(r, &c, rc, 204, NULL);
}

static void h_ws_ent_put(struct http_req *r) { ws_entitlement(r, 1); }
static void h_ws_ent_delete(struct http_req *r) { ws_entitlement(r, 0); }

/* ---- custom roles ------------------------------------------------------- */

static void h_roles_list(struct http_req *r)
{
    list_reply(r, org_roles_json, "roles");
}

static int perms_from_body(struct actx *c, struct buf *b)
{
    json_t *arr = json_object_get(c->body, "permissions"), *v;
    size_t i;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 100)
        return err_set(&c->e, "bad_request", "permissions must be an array of 1 to 100 strings.");
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || strchr(json_string_value(v), ' '))
            return err_set(&c->e, "bad_request", "permissions must be strings without spaces.");
        buf_appendf(b, "%s%s", i ? " " : "", json_string_value(v));
    }
    return 0;
}

static void h_role_put(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    struct buf b;
    buf_init(&b);
    int rc = perms_from_body(&c, &b);
    if (rc == 0)
        rc = org_role_define(&c.actor, c.org.id, http_param(r, "name"), b.data, &c.e);
    buf_free(&b);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:s, s:O}", "name", http_param(r, "name"), "permissions",
                                               json_object_get(c.body, "permissions")) : NULL);
}

static void h_role_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    finish(r, &c, org_role_define(&c.actor, c.org.id, http_param(r, "name"), NULL, &c.e), 204, NULL);
}

/* ---- domains ------------------------------------------------------------ */

static json_t *domain_json(const struct domain_info *d)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s}", "domain", d->name, "status",
                          d->verified ? "verified" : "pending", "include_subdomains", d->include_subdomains,
                          "txt_name", d->txt_name, "txt_value", d->token);
    if (d->verified) {
        char t[32];
        util_format_time((time_t)(d->verified_ms / 1000), t, sizeof t);
        json_object_set_new(o, "method", json_string(d->method));
        json_object_set_new(o, "verified_at", json_string(t));
        json_object_set_new(o, "recheck_misses", json_integer(d->misses));
    }
    return o;
}

static void h_domains_list(struct http_req *r)
{
    struct actx c;
    struct domain_info *v = NULL;
    size_t n = 0;
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    int rc = domain_list(c.org.id, &v, &n, &c.e);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, domain_json(&v[i]));
    free(v);
    finish(r, &c, rc, 200, json_pack("{s:o}", "domains", arr));
}

static void h_domain_add(struct http_req *r)
{
    struct actx c;
    struct domain_info d;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    json_t *sub = json_object_get(c.body, "include_subdomains");
    int rc = 0;
    if (sub && !json_is_boolean(sub))
        rc = err_set(&c.e, "bad_request", "include_subdomains must be true or false.");
    if (rc == 0)
        rc = domain_add(&c.actor, c.org.id, jstr(&c, "domain"), json_is_true(sub), &d, &c.e);
    finish(r, &c, rc, 201, rc == 0 ? domain_json(&d) : NULL);
}

static void h_domain_verify(struct http_req *r)
{
    struct actx c;
    struct domain_info d;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = domain_verify(&c.actor, c.org.id, http_param(r, "domain"), &d, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? domain_json(&d) : NULL);
}

static void h_domain_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    finish(r, &c, domain_remove(&c.actor, c.org.id, http_param(r, "domain"), &c.e), 204, NULL);
}

/* ---- invitations -------------------------------------------------------- */

/* {"workspaces": {"slug": "role", ...}} -> "slug=role ..." */
static int ws_roles_from_body(struct actx *c, struct buf *b)
{
    json_t *ws = json_object_get(c->body, "workspaces"), *v;
    const char *slug;
    if (!ws)
        return 0;
    if (!json_is_object(ws) || json_object_size(ws) > 100)
        return err_set(&c->e, "bad_request", "workspaces must be an object of slug: role.");
    json_object_foreach(ws, slug, v) {
        if (!json_is_string(v) || !org_slug_valid(slug) || !org_slug_valid(json_string_value(v)))
            return err_set(&c->e, "bad_request", "workspaces must map workspace slugs to role names.");
        buf_appendf(b, "%s%s=%s", b->len ? " " : "", slug, json_string_value(v));
    }
    return 0;
}

static void h_invite_create(struct http_req *r)
{
    struct actx c;
    enum org_role role;
    char *token = NULL, *link = NULL;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    struct buf b;
    buf_init(&b);
    json_t *ttl = json_object_get(c.body, "ttl_s");
    int rc = role_from_body(&c, &role);
    if (rc == 0 && ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1))
        rc = err_set(&c.e, "invalid_setting", "ttl_s must be a positive integer.");
    if (rc == 0)
        rc = ws_roles_from_body(&c, &b);
    if (rc == 0)
        rc = invite_create(&c.actor, c.org.id, jstr(&c, "email"), role, b.data,
                           ttl ? (int)json_integer_value(ttl) : 0, &token, &link, &c.e);
    buf_free(&b);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s}", "email", jstr(&c, "email"), "link", link) : NULL);
    free(token);
    free(link);
}

static void h_invites_list(struct http_req *r)
{
    list_reply(r, invite_list_json, "invitations");
}

static void h_invite_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    finish(r, &c, invite_revoke(&c.actor, c.org.id, http_param(r, "email"), &c.e), 204, NULL);
}

/* ---- API keys ----------------------------------------------------------- */

static void h_keys_list(struct http_req *r)
{
    list_reply(r, apikey_list_json, "api_keys");
}

static int key_params(struct actx *c, char ws[ORG_ID_MAX], struct buf *scopes, long long *expires)
{
    const char *wslug = jstr(c, "workspace");
    json_t *sc = json_object_get(c->body, "scopes"), *v, *ex = json_object_get(c->body, "expires_s");
    size_t i;
    ws[0] = '\0';
    if (wslug && org_ws_lookup(c->org.id, wslug, ws, &c->e) < 0)
        return -1;
    if (!json_is_array(sc) || json_array_size(sc) == 0)
        return err_set(&c->e, "bad_request", "scopes must be a non-empty array of strings.");
    json_array_foreach(sc, i, v) {
        if (!json_is_string(v))
            return err_set(&c->e, "bad_request", "scopes must be strings.");
        buf_appendf(scopes, "%s%s", i ? " " : "", json_string_value(v));
    }
    if (ex && (!json_is_integer(ex) || json_integer_value(ex) < 0))
        return err_set(&c->e, "bad_request", "expires_s must be a non-negative integer.");
    *expires = ex ? json_integer_value(ex) : 0;
    return 0;
}

static void h_key_create(struct http_req *r)
{
    struct actx c;
    char ws[ORG_ID_MAX], prefix[APIKEY_PREFIX_LEN + 1];
    char *key = NULL;
    long long expires = 0;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    struct buf scopes;
    buf_init(&scopes);
    const char *holder = jstr(&c, "holder");
    int rc = key_params(&c, ws, &scopes, &expires);
    if (rc == 0)
        rc = apikey_create(&c.actor, c.org.id, ws[0] ? "workspace" : "org", ws[0] ? ws : NULL,
                           holder ? holder : c.key.uid, scopes.data, jstr(&c, "name"), expires, &key, prefix, &c.e);
    buf_free(&scopes);
    finish(r, &c, rc, 201, rc == 0 ? json_pack("{s:s, s:s}", "prefix", prefix, "key", key) : NULL);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
}

static void h_key_delete(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    finish(r, &c, apikey_revoke(&c.actor, c.org.id, http_param(r, "prefix"), &c.e), 204, NULL);
}

/* ---- audit -------------------------------------------------------------- */

static void h_audit(struct http_req *r)
{
    struct actx c;
    json_t *entries = NULL;
    char next[64];
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    const char *l = http_query(r, "limit");
    char *end = NULL;
    long limit = l ? strtol(l, &end, 10) : 50;
    int rc = 0;
    if (l && (!*l || *end))
        rc = err_set(&c.e, "bad_request", "limit must be a number between 1 and 1000.");
    if (rc == 0)
        rc = audit_read(c.org.id, http_query(r, "cursor"), (int)(limit > 100000 ? 0 : limit), &entries, next, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:o, s:s?}", "entries", entries, "next", next[0] ? next : NULL)
                                   : NULL);
}

/* ---- routes ------------------------------------------------------------- */

#define R(name, m, path, h) {name, m, path, h, 0, 65536, RL_NONE}
/* ---- the SSO connection and sign-in diagnostics ---- */

static void h_connection_get(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    json_t *out = connection_show(&c.org, &c.e);
    finish(r, &c, out ? 0 : -1, 200, out);
}

/* PUT: {"idp_metadata": XML, "email_attribute"?, "allow_idp_initiated"?,
 * "allow_sha1"?, "clock_skew_s"?}; validated before anything is stored. */
static void h_connection_put(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *md = jstr(&c, "idp_metadata");
    json_t *skew = json_object_get(c.body, "clock_skew_s");
    json_t *idp_init = json_object_get(c.body, "allow_idp_initiated");
    json_t *sha1 = json_object_get(c.body, "allow_sha1");
    json_t *attr = json_object_get(c.body, "email_attribute");
    struct connection_input in = {
        .idp_metadata = md,
        .idp_metadata_len = md ? strlen(md) : 0,
        .email_attribute = json_string_value(attr),
        .allow_idp_initiated = json_is_true(idp_init),
        .allow_sha1 = json_is_true(sha1),
        .clock_skew_s = skew ? (int)json_integer_value(skew) : -1,
    };
    int rc = 0;
    if (!md || !*md)
        rc = err_set(&c.e, "saml_metadata_invalid", "idp_metadata (the IdP's EntityDescriptor XML) is required.");
    else if ((skew && (!json_is_integer(skew) || json_integer_value(skew) < 0 || json_integer_value(skew) > 600)) ||
             (idp_init && !json_is_boolean(idp_init)) || (sha1 && !json_is_boolean(sha1)) ||
             (attr && !json_is_string(attr)))
        rc = err_set(&c.e, "invalid_setting",
                     "clock_skew_s is 0..600; allow_idp_initiated and allow_sha1 are booleans; email_attribute a string.");
    json_t *out = NULL;
    if (rc == 0)
        rc = connection_set(&c.actor, &c.org, &in, &out, &c.e);
    finish(r, &c, rc, 200, out);
}

static void h_signin_diag(struct http_req *r)
{
    struct actx c;
    if (admin_begin_or_reply(r, &c, 0) < 0)
        return;
    json_t *list = NULL;
    int rc = flow_signin_diag_json(c.org.id, &list, &c.e);
    finish(r, &c, rc, 200, rc == 0 ? json_pack("{s:o}", "failures", list) : NULL);
}

const struct http_route admin_routes[] = {
    R("admin.org.get", HTTP_GET, "/v1/orgs/{org}", h_org_get),
    R("admin.org.patch", HTTP_PATCH, "/v1/orgs/{org}", h_org_patch),
    R("admin.org.delete", HTTP_DELETE, "/v1/orgs/{org}", h_org_delete),
    R("admin.members.list", HTTP_GET, "/v1/orgs/{org}/members", h_members_list),
    R("admin.members.add", HTTP_POST, "/v1/orgs/{org}/members", h_member_add),
    R("admin.member.get", HTTP_GET, "/v1/orgs/{org}/members/{uid}", h_member_get),
    R("admin.member.patch", HTTP_PATCH, "/v1/orgs/{org}/members/{uid}", h_member_patch),
    R("admin.member.delete", HTTP_DELETE, "/v1/orgs/{org}/members/{uid}", h_member_delete),
    R("admin.service_accounts.add", HTTP_POST, "/v1/orgs/{org}/service-accounts", h_service_account_add),
    R("admin.workspaces.list", HTTP_GET, "/v1/orgs/{org}/workspaces", h_ws_list),
    R("admin.workspaces.create", HTTP_POST, "/v1/orgs/{org}/workspaces", h_ws_create),
    R("admin.workspace.patch", HTTP_PATCH, "/v1/orgs/{org}/workspaces/{ws}", h_ws_patch),
    R("admin.workspace.delete", HTTP_DELETE, "/v1/orgs/{org}/workspaces/{ws}", h_ws_delete),
    R("admin.workspace.member.put", HTTP_PUT, "/v1/orgs/{org}/workspaces/{ws}/members/{uid}", h_ws_member_put),
    R("admin.workspace.member.delete", HTTP_DELETE, "/v1/orgs/{org}/workspaces/{ws}/members/{uid}",
      h_ws_member_delete),
    R("admin.workspace.outsiders.add", HTTP_POST, "/v1/orgs/{org}/workspaces/{ws}/outsiders", h_ws_outsider_add),
    R("admin.workspace.entitlement.put", HTTP_PUT, "/v1/orgs/{org}/workspaces/{ws}/entitlements/{perm}",
      h_ws_ent_put),
    R("admin.workspace.entitlement.delete", HTTP_DELETE, "/v1/orgs/{org}/workspaces/{ws}/entitlements/{perm}",
      h_ws_ent_delete),
    R("admin.roles.list", HTTP_GET, "/v1/orgs/{org}/roles", h_roles_list),
    R("admin.role.put", HTTP_PUT, "/v1/orgs/{org}/roles/{name}", h_role_put),
    R("admin.role.delete", HTTP_DELETE, "/v1/orgs/{org}/roles/{name}", h_role_delete),
    R("admin.domains.list", HTTP_GET, "/v1/orgs/{org}/domains", h_domains_list),
    R("admin.domains.add", HTTP_POST, "/v1/orgs/{org}/domains", h_domain_add),
    R("admin.domain.verify", HTTP_POST, "/v1/orgs/{org}/domains/{domain}/verify", h_domain_verify),
    R("admin.domain.delete", HTTP_DELETE, "/v1/orgs/{org}/domains/{domain}", h_domain_delete),
    R("admin.invitations.list", HTTP_GET, "/v1/orgs/{org}/invitations", h_invites_list),
    R("admin.invitations.create", HTTP_POST, "/v1/orgs/{org}/invitations", h_invite_create),
    R("admin.invitation.delete", HTTP_DELETE, "/v1/orgs/{org}/invitations/{email}", h_invite_delete),
    R("admin.apikeys.list", HTTP_GET, "/v1/orgs/{org}/api-keys", h_keys_list),
    R("admin.apikeys.create", HTTP_POST, "/v1/orgs/{org}/api-keys", h_key_create),
    R("admin.apikey.delete", HTTP_DELETE, "/v1/orgs/{org}/api-keys/{prefix}", h_key_delete),
    R("admin.audit", HTTP_GET, "/v1/orgs/{org}/audit", h_audit),
    R("admin.connection.get", HTTP_GET, "/v1/orgs/{org}/connection", h_connection_get),
    /* IdP metadata of large IdPs (many certificates, endpoints) exceeds 64 KiB. */
    {"admin.connection.put", HTTP_PUT, "/v1/orgs/{org}/connection", h_connection_put, 0, 1048576, RL_NONE},
    R("admin.signin_diagnostics", HTTP_GET, "/v1/orgs/{org}/signin-diagnostics", h_signin_diag),
    {NULL, 0, NULL, NULL, 0, 0, RL_NONE},
};

int admin_route_count(void)
{
    return (int)(sizeof admin_routes / sizeof admin_routes[0]) - 1;
}

struct http_route *admin_routes_with(const struct http_route *base)
{
    size_t nb = 0;
    while (base && base[nb].name)
        nb++;
    size_t na = (size_t)admin_route_count(), nc = (size_t)console_route_count();
    struct http_route *all = util_xcalloc(nb + na + nc + 1, sizeof *all);
    if (nb)
        memcpy(all, base, nb * sizeof *all);
    memcpy(all + nb, admin_routes, na * sizeof *all);
    memcpy(all + nb + na, console_routes, (nc + 1) * sizeof *all);
    return all;
}
