/* The console inside `ssogate serve`: the owner-key bootstrap at
 * /console/login, cookie sessions on pages and on the admin API, CSRF token
 * and Origin on every cookie-authenticated write, require_sso, the
 * rate limit on failed keys, escaping and the Content-Security-Policy. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "org/org.h"
#include "session/session.h"
#include "session/token.h"
#include "store/store.h"
#include "util/util.h"

static struct sg sg;

static void start(void) { sg_start(&sg, NULL, NULL); }
static void stop(void) { sg_stop(&sg); }

TestSuite(console, .init = start, .fini = stop, .timeout = 120);


/* A request with optional cookie, Origin, extra header and form/JSON body. */
static void req(const char *method, const char *path, const char *cookie, const char *origin, const char *extra,
                const char *ctype, const char *body, struct sg_resp *out)
{
    struct curl_slist *h = NULL;
    char *c = cookie ? util_xasprintf("Cookie: %s", cookie) : NULL;
    char *o = origin ? util_xasprintf("Origin: %s", origin) : NULL;
    char *t = ctype ? util_xasprintf("Content-Type: %s", ctype) : NULL;
    if (c)
        h = curl_slist_append(h, c);
    if (o)
        h = curl_slist_append(h, o);
    if (t)
        h = curl_slist_append(h, t);
    if (extra)
        h = curl_slist_append(h, extra);
    sg_request(&sg, method, path, h, body, out);
    curl_slist_free_all(h);
    free(c);
    free(o);
    free(t);
}

static void form(const char *path, const char *cookie, const char *origin, const char *body, struct sg_resp *out)
{
    req("POST", path, cookie, origin, NULL, "application/x-www-form-urlencoded", body, out);
}

/* Sign in with the key; the "name=value" of the session cookie. */
static char *key_signin(const char *org, const char *key)
{
    struct sg_resp r;
    char *body = util_xasprintf("org=%s&key=%s", org, key);
    form("/console/login", NULL, sg.base, body, &r);
    free(body);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    char *sc = sg_header(&r, "Set-Cookie");
    cr_assert_not_null(sc);
    char *semi = strchr(sc, ';');
    if (semi)
        *semi = '\0';
    sg_resp_free(&r);
    return sc;
}

/* The CSRF token from a console page's hidden field. */
static char *page_csrf(const char *cookie)
{
    struct sg_resp r;
    req("GET", "/console/acme", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    const char *p = strstr(r.body, "name=\"csrf\" value=\"");
    cr_assert_not_null(p);
    p += strlen("name=\"csrf\" value=\"");
    char *tok = util_xstrndup(p, 64);
    sg_resp_free(&r);
    return tok;
}

Test(console, without_a_session_pages_redirect_to_the_key_sign_in)
{
    struct sg_resp r;
    req("GET", "/console/acme", NULL, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 303);
    char *loc = sg_header(&r, "Location");
    cr_assert(loc && strstr(loc, "/console/login"), "%s", loc);
    free(loc);
    sg_resp_free(&r);
    req("GET", "/console/login", NULL, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    char *csp = sg_header(&r, "Content-Security-Policy");
    cr_assert(csp && strstr(csp, "default-src 'none'") && strstr(csp, "frame-ancestors 'none'") &&
                  strstr(csp, "style-src 'self'") && !strstr(csp, "unsafe-inline") && !strstr(csp, "script-src"),
              "%s", csp);
    free(csp);
    sg_resp_free(&r);
    req("GET", "/console/static/console.css", NULL, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    char *ct = sg_header(&r, "Content-Type");
    cr_assert(ct && strstr(ct, "text/css"), "%s", ct);
    free(ct);
    sg_resp_free(&r);
}

Test(console, the_owner_key_opens_a_console_session_and_bad_keys_are_refused)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    struct sg_resp r;
    form("/console/login", NULL, sg.base, "org=acme&key=sgk_000000000000_nope", &r);
    cr_assert_eq(r.status, 401, "%ld", r.status);
    sg_resp_free(&r);
    /* A cross-site post of the key form is refused (login CSRF). */
    char *body = util_xasprintf("org=acme&key=%s", key);
    form("/console/login", NULL, "http://evil.example", body, &r);
    cr_assert_eq(r.status, 403);
    sg_resp_free(&r);
    free(body);
    char *cookie = key_signin("acme", key);
    req("GET", "/console/acme", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "owner@acme.test"));
    char *rp = sg_header(&r, "Referrer-Policy");
    cr_assert_str_eq(rp, "same-origin");
    free(rp);
    sg_resp_free(&r);
    free(cookie);
    free(key);
}

Test(console, writes_need_the_csrf_token_and_our_origin)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *cookie = key_signin("acme", key);
    char *tok = page_csrf(cookie);
    struct sg_resp r;
    form("/console/acme/workspaces", cookie, sg.base, "slug=ws-x&name=X", &r);
    cr_assert_eq(r.status, 403, "no token: %ld", r.status);
    cr_assert(strstr(r.body, "csrf_failed"));
    sg_resp_free(&r);
    char *body = util_xasprintf("csrf=%s&slug=ws-x&name=X", tok);
    form("/console/acme/workspaces", cookie, "http://evil.example", body, &r);
    cr_assert_eq(r.status, 403, "foreign origin: %ld", r.status);
    sg_resp_free(&r);
    form("/console/acme/workspaces", cookie, NULL, body, &r);
    cr_assert_eq(r.status, 403, "no origin: %ld", r.status);
    sg_resp_free(&r);
    char *bad = util_xasprintf("csrf=%s&slug=ws-x&name=X", tok);
    char *last = strchr(bad, '&') - 1;
    *last = *last == '0' ? '1' : '0';
    form("/console/acme/workspaces", cookie, sg.base, bad, &r);
    cr_assert_eq(r.status, 403, "wrong token: %ld", r.status);
    sg_resp_free(&r);
    form("/console/acme/workspaces", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    free(bad);
    free(body);
    free(tok);
    free(cookie);
    free(key);
}

Test(console, the_admin_api_takes_the_cookie_with_the_csrf_header_for_writes)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *cookie = key_signin("acme", key);
    struct sg_resp r;
    req("GET", "/v1/orgs/acme/members", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    char *tok = sg_header(&r, "X-CSRF-Token");
    cr_assert_not_null(tok);
    sg_resp_free(&r);
    req("POST", "/v1/orgs/acme/workspaces", cookie, sg.base, NULL, "application/json",
        "{\"slug\":\"ws-y\",\"name\":\"Y\"}", &r);
    cr_assert_eq(r.status, 403, "%ld", r.status);
    cr_assert(strstr(r.body, "csrf_failed"));
    sg_resp_free(&r);
    char *hdr = util_xasprintf("X-CSRF-Token: %s", tok);
    req("POST", "/v1/orgs/acme/workspaces", cookie, sg.base, hdr, "application/json",
        "{\"slug\":\"ws-y\",\"name\":\"Y\"}", &r);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    /* Another org's path: refused like an unknown one. */
    char *beta = sg_org_create(&sg, "beta", "owner@beta.test");
    req("GET", "/v1/orgs/beta/members", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 401, "%ld", r.status);
    sg_resp_free(&r);
    free(beta);
    free(hdr);
    free(tok);
    free(cookie);
    free(key);
}

Test(console, values_are_escaped_in_pages)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *cookie = key_signin("acme", key);
    char *tok = page_csrf(cookie);
    struct sg_resp r;
    char *body = util_xasprintf("csrf=%s&slug=ws-z&name=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E", tok);
    form("/console/acme/workspaces", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    req("GET", "/console/acme/workspaces", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.body, "<script>"));
    cr_assert(strstr(r.body, "&lt;script&gt;alert(1)"));
    sg_resp_free(&r);
    free(body);
    free(tok);
    free(cookie);
    free(key);
}

Test(console, require_sso_ends_key_sessions_and_key_sign_in)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *cookie = key_signin("acme", key);
    char *tok = page_csrf(cookie);
    struct sg_resp r;
    char *body = util_xasprintf("csrf=%s&require_sso=1&default_role=member", tok);
    form("/console/acme/settings", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    req("GET", "/console/acme", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 403);
    cr_assert(strstr(r.body, "sso_required"));
    sg_resp_free(&r);
    char *login = util_xasprintf("org=acme&key=%s", key);
    form("/console/login", NULL, sg.base, login, &r);
    cr_assert_eq(r.status, 403);
    cr_assert(strstr(r.body, "sso_required"));
    sg_resp_free(&r);
    free(login);
    free(body);
    free(tok);
    free(cookie);
    free(key);
}

Test(console, failed_key_sign_ins_are_rate_limited)
{
    struct sg_resp r;
    long last = 0;
    for (int i = 0; i < 40 && last != 429; i++) {
        form("/console/login", NULL, sg.base, "org=acme&key=sgk_000000000000_nope", &r);
        last = r.status;
        sg_resp_free(&r);
    }
    cr_assert_eq(last, 429);
}

/* A session as the ACS makes it (issuer = the IdP) for a new member of
 * org slug with this role; the "ssogate=TOKEN" cookie (malloc'd). */
static char *sso_session(const char *slug, const char *email, enum org_role role)
{
    struct store_config sc = {.url = sg.redis.url, .connect_timeout_ms = 500, .command_timeout_ms = 500,
                              .reconnect_max_backoff_ms = 200};
    struct err e;
    cr_assert_eq(store_init(&sc, &e), 0, "%s", e.msg);
    struct org_actor op = {.operator = 1, .uid = NULL, .label = "test"};
    struct org_info org;
    char uid[ORG_ID_MAX];
    cr_assert_eq(org_lookup(slug, &org, &e), 0, "%s", e.msg);
    cr_assert_eq(org_member_add(&op, org.id, email, role, uid, &e), 0, "%s", e.msg);
    char *keys = ts_path(sg.dir, "certs/session.keys");
    struct keyring *ring = keyring_load(keys, &e);
    cr_assert_not_null(ring, "%s", e.msg);
    free(keys);
    struct session s = {0};
    snprintf(s.org, sizeof s.org, "%s", org.id);
    snprintf(s.user_id, sizeof s.user_id, "%s", uid);
    snprintf(s.email, sizeof s.email, "%s", email);
    snprintf(s.name_id, sizeof s.name_id, "%s", email);
    snprintf(s.issuer, sizeof s.issuer, "http://idp.example/metadata");
    struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 3600, .idle_refresh_s = 60};
    char token[TOKEN_MAX_LEN + 1];
    cr_assert_eq(session_create(ring, &lim, &s, token, sizeof token, &e), 0, "%s", e.msg);
    keyring_free(ring);
    store_shutdown();
    return util_xasprintf("ssogate=%s", token);
}

Test(console, an_sso_admin_uses_the_console_and_a_member_does_not)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *admin = sso_session("acme", "admin@acme.test", ORG_ROLE_ADMIN);
    char *member = sso_session("acme", "member@acme.test", ORG_ROLE_MEMBER);
    struct sg_resp r;
    req("GET", "/console/acme/members", admin, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    cr_assert(strstr(r.body, "via SSO"), "%s", r.body);
    sg_resp_free(&r);
    req("GET", "/console/acme", member, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 403, "%ld", r.status);
    cr_assert(strstr(r.body, "admin_required"));
    sg_resp_free(&r);
    req("GET", "/v1/orgs/acme/members", member, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 403, "%ld", r.status);
    sg_resp_free(&r);
    /* require_sso leaves SSO sessions working. */
    char *tok = NULL;
    req("GET", "/v1/orgs/acme", admin, NULL, NULL, NULL, NULL, &r);
    tok = sg_header(&r, "X-CSRF-Token");
    sg_resp_free(&r);
    char *hdr = util_xasprintf("X-CSRF-Token: %s", tok);
    req("PATCH", "/v1/orgs/acme", admin, sg.base, hdr, "application/json", "{\"require_sso\":true}", &r);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    req("GET", "/console/acme", admin, NULL, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    sg_resp_free(&r);
    free(hdr);
    free(tok);
    free(admin);
    free(member);
    free(key);
}

Test(console, custom_roles_and_entitlements_from_the_workspaces_page)
{
    char *key = sg_org_create(&sg, "acme", "owner@acme.test");
    char *cookie = key_signin("acme", key);
    char *tok = page_csrf(cookie);
    struct sg_resp r;
    char *body = util_xasprintf("csrf=%s&slug=ws-m&name=Models", tok);
    form("/console/acme/workspaces", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    free(body);
    body = util_xasprintf("csrf=%s&name=model-user&permissions=workspace%%3Aread+model%%3Agpt%%3Ause", tok);
    form("/console/acme/roles", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    free(body);
    body = util_xasprintf("csrf=%s&perm=model%%3Agpt%%3Ause&on=1", tok);
    form("/console/acme/workspaces/ws-m/entitlement", cookie, sg.base, body, &r);
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.body);
    sg_resp_free(&r);
    free(body);
    req("GET", "/console/acme/workspaces", cookie, NULL, NULL, NULL, NULL, &r);
    cr_assert(strstr(r.body, "model-user") && strstr(r.body, "<code>model:gpt:use</code>"), "%s", r.body);
    sg_resp_free(&r);
    free(tok);
    free(cookie);
    free(key);
}
