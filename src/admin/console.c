/* Console authentication and framework: the owner's or admin's session
 * cookie (SSO, or the bootstrap exchange of the owner API key at
 * /console/login), CSRF tokens and Origin checks for every write, and the
 * page layout (templates/console.html). The pages are in console_pages.c. */
#include "admin/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/console_int.h"
#include "gate/gate.h"
#include "org/apikey.h"
#include "org/audit.h"
#include "saml/connection.h"
#include "saml/page.h"
#include "util/util.h"

#ifndef SSOGATE_SOURCE_DIR
#define SSOGATE_SOURCE_DIR "."
#endif

static const struct config *cfg;
static const struct keyring *ring;
static char base_url[512];
static char *stylesheet;     /* templates/console.css, read once */
static size_t stylesheet_len;

int console_init(const struct config *c, const struct keyring *k, struct err *e)
{
    (void)e;
    cfg = c;
    ring = k;
    snprintf(base_url, sizeof base_url, "%s", c->base_url);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        base_url[--n] = '\0';
    const char *dir = getenv("SSOGATE_TEMPLATES_DIR");
    char *path = util_xasprintf("%s/console.css", dir && *dir ? dir : SSOGATE_SOURCE_DIR "/templates");
    free(stylesheet);
    stylesheet = util_read_file(path, 1 << 16, &stylesheet_len);
    free(path);
    return 0;
}

void console_shutdown(void)
{
    free(stylesheet);
    stylesheet = NULL;
}

static void h_console_css(struct http_req *r)
{
    http_add_header(r, "Cache-Control", "public, max-age=300");
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_reply(r, 200, "text/css; charset=utf-8", stylesheet ? stylesheet : "", stylesheet ? stylesheet_len : 0);
}

const char *console_base(void)
{
    return base_url;
}

const struct config *console_config(void)
{
    return cfg;
}

static struct session_limits limits_for(const struct org_info *org)
{
    struct session_limits l = {cfg->session_max_age_s, cfg->session_idle_timeout_s, cfg->session_idle_refresh_s};
    if (org && org->settings.max_session_s > 0 && org->settings.max_session_s < l.max_age_s)
        l.max_age_s = org->settings.max_session_s;
    if (org && org->settings.idle_timeout_s > 0 && org->settings.idle_timeout_s < l.idle_timeout_s)
        l.idle_timeout_s = org->settings.idle_timeout_s;
    return l;
}

const char *console_cookie(struct http_req *r)
{
    return http_cookie_count(r, gate_cookie_name()) == 1 ? http_cookie(r, gate_cookie_name()) : NULL;
}

/* The per-session CSRF token: bound to the session cookie (HttpOnly, never
 * readable by another site), so a page elsewhere cannot know it. */
void console_csrf_token(const char *cookie, char out[65])
{
    char *s = util_xasprintf("ssogate-console-csrf:%s", cookie);
    util_sha256_hex(s, strlen(s), out);
    memset(s, 0, strlen(s));
    free(s);
}

int console_principal_load(struct http_req *r, const char *slug_or_id, struct console_principal *p, struct err *e)
{
    memset(p, 0, sizeof *p);
    const char *cookie = console_cookie(r);
    if (!cookie || !*cookie)
        return err_set(e, "unauthorized", NULL);
    if (!slug_or_id || org_lookup(slug_or_id, &p->org, e) < 0) {
        if (e->code && strcmp(e->code, "store_unavailable") == 0)
            return -1;
        return err_set(e, "unauthorized", NULL); /* no existence leak */
    }
    struct session_limits lim = limits_for(&p->org);
    if (session_load(ring, &lim, cookie, &p->s, e) < 0)
        return -1;
    if (strcmp(p->s.org, p->org.id) != 0)
        return err_set(e, "unauthorized", NULL);
    struct org_member m;
    if (org_member_get(p->org.id, p->s.user_id, &m, e) < 0) {
        if (e->code && strcmp(e->code, "member_not_found") == 0)
            return err_set(e, "admin_required", NULL);
        return -1;
    }
    if (m.role < ORG_ROLE_ADMIN)
        return err_set(e, "admin_required", NULL);
    p->role = m.role;
    p->via_key = strcmp(p->s.issuer, CONSOLE_KEY_ISSUER) == 0;
    if (p->via_key && p->org.settings.require_sso)
        return err_set(e, "sso_required", NULL);
    snprintf(p->label, sizeof p->label, "user:%s", p->s.user_id);
    p->actor.operator = 0;
    p->actor.uid = p->s.user_id;
    p->actor.label = p->label;
    console_csrf_token(cookie, p->csrf);
    http_log_org(r, p->org.slug);
    return 0;
}

/* 1: the browser says the request comes from our pages; 0: from elsewhere
 * or it does not say (a write without Origin or Referer is refused). */
int console_same_origin(struct http_req *r)
{
    const char *origin = http_header(r, "Origin");
    if (origin && strcmp(origin, "null") != 0)
        return strcmp(origin, base_url) == 0;
    const char *ref = http_header(r, "Referer");
    size_t n = strlen(base_url);
    return ref && strncmp(ref, base_url, n) == 0 && (ref[n] == '/' || ref[n] == '\0');
}

int console_csrf_check(struct http_req *r, const struct console_principal *p, const char *token, struct err *e)
{
    if (!console_same_origin(r) || !token || !util_ct_streq(p->csrf, token))
        return err_set(e, "csrf_failed", NULL);
    return 0;
}

/* ---- pages ---------------------------------------------------------------- */

void ch(struct buf *b, const char *s)
{
    page_escape(b, s);
}

void console_form_open(struct buf *b, const struct cctx *c, const char *action)
{
    buf_appends(b, "<form method=\"post\" action=\"");
    ch(b, base_url);
    buf_appends(b, "/console/");
    ch(b, c->p.org.slug);
    if (action && *action) {
        buf_appends(b, "/");
        ch(b, action);
    }
    buf_appends(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
    ch(b, c->p.csrf);
    buf_appends(b, "\">");
}

int console_begin_or_reply(struct http_req *r, struct cctx *c, int write)
{
    memset(c, 0, sizeof *c);
    err_clear(&c->e);
    buf_init(&c->body);
    struct err e;
    err_clear(&e);
    const char *slug = http_param(r, "org");
    if (console_principal_load(r, slug, &c->p, &e) < 0 ||
        (write && console_csrf_check(r, &c->p, http_form(r, "csrf"), &e) < 0)) {
        buf_free(&c->body);
        if (strcmp(e.code, "unauthorized") == 0 && !write) {
            char *loc = util_xasprintf("%s/console/login", base_url);
            http_redirect(r, 303, loc);
            free(loc);
            http_log_code(r, e.code);
        } else {
            page_reply_err(r, &e);
        }
        return -1;
    }
    return 0;
}

static const char *const nav[][2] = {
    {"", "Overview"},          {"sso", "SSO connection"}, {"domains", "Domains"},
    {"members", "Members"},    {"invitations", "Invitations"}, {"workspaces", "Workspaces"},
    {"keys", "API keys"},      {"audit", "Audit log"},     {"diagnostics", "Sign-in diagnostics"},
};

static void nav_html(struct buf *b, const struct cctx *c)
{
    buf_appends(b, "<nav><ul>");
    for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++) {
        buf_appends(b, "<li><a href=\"");
        ch(b, base_url);
        buf_appends(b, "/console/");
        ch(b, c->p.org.slug);
        if (*nav[i][0]) {
            buf_appends(b, "/");
            buf_appends(b, nav[i][0]);
        }
        buf_appends(b, "\">");
        buf_appends(b, nav[i][1]);
        buf_appends(b, "</a></li>");
    }
    buf_appends(b, "</ul></nav>");
}

void console_finish(struct http_req *r, struct cctx *c, int status, const char *title, const char *form_targets)
{
    struct buf page;
    buf_init(&page);
    nav_html(&page, c);
    buf_appends(&page, "<main><h1>");
    ch(&page, title);
    buf_appends(&page, "</h1>");
    if (c->e.code) {
        buf_appends(&page, "<p class=\"error\" role=\"alert\" id=\"error\">");
        ch(&page, c->e.msg[0] ? c->e.msg : err_default_message(c->e.code));
        buf_appends(&page, " <code>");
        ch(&page, c->e.code);
        buf_appends(&page, "</code></p>");
        http_log_code(r, c->e.code);
        if (status < 400)
            status = c->e.status >= 400 ? c->e.status : 400;
    }
    if (c->notice) {
        buf_appends(&page, "<p class=\"notice\" role=\"status\" id=\"notice\">");
        ch(&page, c->notice);
        buf_appends(&page, "</p>");
    }
    buf_append(&page, c->body.data ? c->body.data : "", c->body.len);
    buf_appends(&page, "</main>");
    char *signout = util_xasprintf("%s/console/%s/signout", base_url, c->p.org.slug);
    const char *kv[] = {"title", title, "org", c->p.org.slug, "org_name", c->p.org.name, "email", c->p.s.email,
                        "role", org_role_name(c->p.role), "csrf", c->p.csrf, "signout", signout,
                        "via", c->p.via_key ? "owner API key" : "SSO", NULL};
    page_reply_raw(r, status, "console", kv, page.data, form_targets);
    free(signout);
    buf_free(&page);
    buf_free(&c->body);
}

void console_redirect(struct http_req *r, struct cctx *c, const char *page, const char *notice)
{
    char *loc = util_xasprintf("%s/console/%s%s%s%s%s", base_url, c->p.org.slug, page && *page ? "/" : "",
                               page ? page : "", notice ? "?done=" : "", notice ? notice : "");
    http_redirect(r, 303, loc);
    free(loc);
    buf_free(&c->body);
}

/* Notices after a redirect come from this table, never from the query
 * text itself (no content injection through a crafted link). */
static const char *const notices[][2] = {
    {"saved", "Saved."},
    {"domain_added", "Domain added: publish the TXT record below, then press Verify."},
    {"domain_verified", "Domain verified."},
    {"domain_removed", "Domain removed."},
    {"connection_saved", "SSO connection saved. Press \"Test sign-in\" to check it end to end."},
    {"member_added", "Member added."},
    {"member_updated", "Role changed."},
    {"member_removed", "Member removed."},
    {"workspace_created", "Workspace created."},
    {"workspace_deleted", "Workspace deleted."},
    {"granted", "Access granted."},
    {"revoked", "Access removed."},
    {"invitation_revoked", "Invitation revoked."},
    {"key_revoked", "API key revoked."},
};

void console_notice_from_query(struct http_req *r, struct cctx *c)
{
    const char *d = http_query(r, "done");
    for (size_t i = 0; d && i < sizeof notices / sizeof notices[0]; i++)
        if (strcmp(d, notices[i][0]) == 0)
            c->notice = notices[i][1];
}

/* ---- /console, /console/login, sign-out ------------------------------------ */

static void login_page(struct http_req *r, int status, const char *org, const struct err *e)
{
    char *action = util_xasprintf("%s/console/login", base_url);
    const char *msg = e ? (e->msg[0] ? e->msg : err_default_message(e->code)) : "";
    const char *kv[] = {"action", action, "org", org ? org : "", "error", msg, "code", e ? e->code : "", NULL};
    if (e)
        http_log_code(r, e->code);
    page_reply(r, status, "console_login", kv, NULL);
    free(action);
}

static void h_console_home(struct http_req *r)
{
    const char *cookie = console_cookie(r);
    struct session s;
    struct err e;
    err_clear(&e);
    struct session_limits lim = limits_for(NULL);
    struct org_info org;
    char *loc;
    if (cookie && *cookie && session_load(ring, &lim, cookie, &s, &e) == 0 && org_lookup(s.org, &org, &e) == 0)
        loc = util_xasprintf("%s/console/%s", base_url, org.slug);
    else
        loc = util_xasprintf("%s/console/login", base_url);
    http_redirect(r, 303, loc);
    free(loc);
}

static void h_console_login_get(struct http_req *r)
{
    login_page(r, 200, http_query(r, "org"), NULL);
}

/* A console session for the holder of an org admin key (an owner or admin),
 * marked with CONSOLE_KEY_ISSUER. */
static int key_session(const struct apikey_principal *k, const struct org_info *org, char *token, size_t n,
                       int *max_age, struct err *e)
{
    struct org_member m;
    if (org_member_get(org->id, k->uid, &m, e) < 0)
        return -1;
    if (m.role < ORG_ROLE_ADMIN)
        return err_set(e, "admin_required", NULL);
    struct session s;
    memset(&s, 0, sizeof s);
    snprintf(s.org, sizeof s.org, "%s", org->id);
    snprintf(s.user_id, sizeof s.user_id, "%s", k->uid);
    snprintf(s.email, sizeof s.email, "%s", m.email[0] ? m.email : m.name);
    snprintf(s.issuer, sizeof s.issuer, "%s", CONSOLE_KEY_ISSUER);
    struct session_limits lim = limits_for(org);
    *max_age = lim.max_age_s;
    return session_create(ring, &lim, &s, token, n, e);
}

static void h_console_login_post(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    const char *slug = http_form(r, "org");
    const char *key = http_form(r, "key");
    if (!console_same_origin(r)) {
        err_set(&e, "csrf_failed", NULL);
        login_page(r, 403, slug, &e);
        return;
    }
    int wait = http_ratelimit_blocked(r, RL_APIKEY);
    if (wait > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", wait);
        http_add_header(r, "Retry-After", secs);
        err_set(&e, "rate_limited", "Too many failed API-key checks from this address; try again in %d s.", wait);
        login_page(r, 429, slug, &e);
        return;
    }
    struct apikey_principal k;
    struct org_info org;
    if (!key || apikey_verify(key, &k, &e) < 0) {
        if (!key)
            err_set(&e, "apikey_invalid", NULL);
        if (strcmp(e.code, "store_unavailable") != 0)
            http_ratelimit_spend(r, RL_APIKEY);
        login_page(r, e.status, slug, &e);
        return;
    }
    /* The key must be an org admin key of the org named in the form. */
    if (!slug || org_lookup(slug, &org, &e) < 0 || strcmp(org.id, k.org_id) != 0) {
        http_ratelimit_spend(r, RL_APIKEY);
        err_set(&e, "apikey_invalid", "This key does not belong to that organization.");
        login_page(r, 401, slug, &e);
        return;
    }
    http_log_org(r, org.slug);
    if (strcmp(k.kind, "org") != 0 || !apikey_has_scope(&k, "org:admin")) {
        err_set(&e, "apikey_scope", "The console needs an org key with the org:admin scope.");
        login_page(r, 403, slug, &e);
        return;
    }
    if (org.settings.require_sso) {
        err_set(&e, "sso_required", NULL);
        audit_append(org.id, k.label, "console.signin", k.uid, "refused", e.code, "api key", NULL);
        login_page(r, 403, slug, &e);
        return;
    }
    char token[TOKEN_MAX_LEN + 1];
    int max_age = 0;
    if (key_session(&k, &org, token, sizeof token, &max_age, &e) < 0) {
        login_page(r, e.status > 0 ? e.status : 500, slug, &e);
        return;
    }
    audit_append(org.id, k.label, "console.signin", k.uid, "ok", "", "api key", NULL);
    char *cookie = gate_cookie_set(token, max_age);
    http_add_header(r, "Set-Cookie", cookie);
    free(cookie);
    memset(token, 0, sizeof token);
    char *loc = util_xasprintf("%s/console/%s", base_url, org.slug);
    http_redirect(r, 303, loc);
    free(loc);
}

static void h_console_signout(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    struct err e;
    err_clear(&e);
    session_delete(c.p.s.org, c.p.s.id_hash, &e);
    audit_append(c.p.org.id, c.p.label, "console.signout", c.p.s.user_id, "ok", "", NULL, NULL);
    char *clear = gate_cookie_clear();
    http_add_header(r, "Set-Cookie", clear);
    free(clear);
    char *loc = util_xasprintf("%s/console/login", base_url);
    http_redirect(r, 303, loc);
    free(loc);
    buf_free(&c.body);
}

/* ---- routes ----------------------------------------------------------------- */

#define G(name, path, h) {name, HTTP_GET, path, h, 0, 0, RL_NONE}
#define P(name, path, h) {name, HTTP_POST, path, h, 0, 16384, RL_NONE}
const struct http_route console_routes[] = {
    G("console.home", "/console", h_console_home),
    G("console.login", "/console/login", h_console_login_get),
    G("console.css", "/console/static/console.css", h_console_css),
    {"console.login.post", HTTP_POST, "/console/login", h_console_login_post, 0, 4096, RL_NONE},
    P("console.signout", "/console/{org}/signout", h_console_signout),
    G("console.overview", "/console/{org}", console_overview),
    P("console.settings", "/console/{org}/settings", console_settings_post),
    G("console.sso", "/console/{org}/sso", console_sso),
    {"console.sso.post", HTTP_POST, "/console/{org}/sso", console_sso_post, 0, CONNECTION_MAX_METADATA * 4,
     RL_NONE},
    P("console.sso.test", "/console/{org}/sso/test", console_sso_test_post),
    G("console.sso.test.result", "/console/{org}/sso/test/{id}", console_sso_test_result),
    G("console.domains", "/console/{org}/domains", console_domains),
    P("console.domains.add", "/console/{org}/domains", console_domain_add),
    P("console.domain.verify", "/console/{org}/domains/{domain}/verify", console_domain_verify),
    P("console.domain.remove", "/console/{org}/domains/{domain}/remove", console_domain_remove),
    G("console.members", "/console/{org}/members", console_members),
    P("console.members.add", "/console/{org}/members", console_member_add),
    P("console.member.role", "/console/{org}/members/{uid}/role", console_member_role),
    P("console.member.remove", "/console/{org}/members/{uid}/remove", console_member_remove),
    P("console.service_accounts.add", "/console/{org}/service-accounts", console_service_account_add),
    G("console.invitations", "/console/{org}/invitations", console_invitations),
    P("console.invitations.add", "/console/{org}/invitations", console_invitation_add),
    P("console.invitations.revoke", "/console/{org}/invitations/revoke", console_invitation_revoke),
    G("console.workspaces", "/console/{org}/workspaces", console_workspaces),
    P("console.workspaces.add", "/console/{org}/workspaces", console_workspace_add),
    P("console.workspace.grant", "/console/{org}/workspaces/{ws}/grant", console_workspace_grant),
    P("console.workspace.revoke", "/console/{org}/workspaces/{ws}/revoke", console_workspace_revoke),
    P("console.workspace.default", "/console/{org}/workspaces/{ws}/default", console_workspace_default),
    P("console.workspace.delete", "/console/{org}/workspaces/{ws}/delete", console_workspace_delete),
    P("console.workspace.entitlement", "/console/{org}/workspaces/{ws}/entitlement", console_workspace_entitlement),
    P("console.roles.define", "/console/{org}/roles", console_role_define),
    G("console.keys", "/console/{org}/keys", console_keys),
    P("console.keys.add", "/console/{org}/keys", console_key_add),
    P("console.key.revoke", "/console/{org}/keys/{prefix}/revoke", console_key_revoke),
    G("console.audit", "/console/{org}/audit", console_audit),
    G("console.diagnostics", "/console/{org}/diagnostics", console_diagnostics),
    {NULL, 0, NULL, NULL, 0, 0, RL_NONE},
};

int console_route_count(void)
{
    return (int)(sizeof console_routes / sizeof console_routes[0]) - 1;
}
