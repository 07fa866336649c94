/* Sign-in start, ACS, SLO and sign-out. Every refusal answers a page from
 * templates/ with the stable code and the request id as correlation id, a
 * log line with the code, an audit record and, at the ACS, the validator's
 * full list of checks for the org's sign-in diagnostics. The raw assertion
 * is never logged or stored. */
#include "saml/flow.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gate/gate.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "org/provision.h"
#include "saml/connection.h"
#include "saml/page.h"
#include "saml/response.h"
#include "saml/sp.h"
#include "session/session.h"
#include "store/store.h"
#include "util/log.h"
#include "util/url.h"
#include "util/util.h"

#define DIAG_MAX 100
#define INVITATION_MAX 256

void flow_acs_set_ring(const struct keyring *k);   /* acs.c */

static const struct config *cfg;
static const struct keyring *ring;
static char base_url[URL_MAX];

int flow_init(const struct config *c, const struct keyring *k, struct err *e)
{
    cfg = c;
    ring = k;
    snprintf(base_url, sizeof base_url, "%s", c->base_url);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        base_url[--n] = '\0';
    page_init();
    flow_acs_set_ring(k);
    (void)e;
    return 0;
}

void flow_shutdown(void)
{
    page_shutdown();
}

static char *org_key(const char *org_id, const char *kind, const char *raw)
{
    char h[65];
    util_sha256_hex(raw, strlen(raw), h);
    return util_xasprintf("sg:{o:%s}:%s:%s", org_id, kind, h);
}

static void reply_fail(struct http_req *r, const char *code, const char *msg)
{
    struct err e;
    err_set(&e, code, "%s", msg ? msg : "");
    page_reply_err(r, &e);
}

/* Form targets for the CSP of pages whose form ends in a redirect to an
 * IdP (any host: which IdP depends on the email). */
static const char *redirect_form_targets(void)
{
    return cfg->dev_plain_http ? "https: http:" : "https:";
}

/* ---- sign-in start ---- */

static int invitation_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 8 || n > INVITATION_MAX)
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return 0;
    return 1;
}

static const char lua_pending_put[] =
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])\n"
    "return 1\n";

/* Keep the request (ID -> rd, time, invitation, RelayState hash) and the
 * RelayState handle under the org's tag, with the request TTL. */
static int pending_put(const char *org_id, const char *rid, const char *handle, const char *rd,
                       const char *invitation, const char *test_id, struct err *e)
{
    char rs_hash[65], rid_hash[65];
    util_sha256_hex(handle, strlen(handle), rs_hash);
    util_sha256_hex(rid, strlen(rid), rid_hash);
    json_t *rec = json_pack("{s:s, s:s, s:I, s:s}", "org", org_id, "rd", rd, "t", (json_int_t)util_now_ms(), "rs",
                            rs_hash);
    if (invitation)
        json_object_set_new(rec, "inv", json_string(invitation));
    if (test_id)
        json_object_set_new(rec, "test", json_string(test_id));
    char *val = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    char *kreq = org_key(org_id, "req", rid);
    char *krs = org_key(org_id, "rs", handle);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", cfg->saml_request_ttl_s);
    const char *args[] = {kreq, krs, val, ttl, rid_hash};
    struct store_reply *r = store_eval(e, lua_pending_put, 2, 3, args, NULL);
    int rc = r && store_reply_type(r) == STORE_INTEGER ? 0 : -1;
    if (r && rc < 0)
        err_set(e, "store_error", "Redis refused the pending request");
    store_reply_free(r);
    free(kreq);
    free(krs);
    free(val);
    return rc;
}

/* rd checked by the caller (absolute, safe). Replies in every case. */
static void start_signin_or_reply(struct http_req *r, const struct org_info *org, const char *rd,
                                  const char *invitation, const char *test_id)
{
    struct err e;
    err_clear(&e);
    http_log_org(r, org->slug);
    char *url = NULL, *rid = NULL, *handle = NULL;
    struct connection *c = connection_get(org, &e);
    if (!c)
        goto fail;
    handle = util_random_token(24);
    if (sp_authn_request(connection_sp(c), handle, &url, &rid, &e) < 0 ||
        pending_put(org->id, rid, handle, rd, invitation, test_id, &e) < 0)
        goto fail;
    http_redirect(r, 302, url);
    goto done;
fail:
    page_reply_err(r, &e);
done:
    free(url);
    free(rid);
    free(handle);
    connection_release(c);
}

/* The return URL: rd checked by url_safe_redirect, else base_url/.
 * NULL after replying 400. */
static char *return_url_or_reply(struct http_req *r, const char *rd)
{
    if (!rd || !*rd)
        return util_xasprintf("%s/", base_url);
    struct err e;
    err_clear(&e);
    char *safe = url_safe_redirect(rd, base_url, cfg->allowed_redirect_hosts, &e);
    if (!safe)
        reply_fail(r, "bad_request", "the return address is not allowed");
    return safe;
}

static void signin_page(struct http_req *r, const char *rd)
{
    char *login = util_xasprintf("%s/login", base_url);
    const char *kv[] = {"login", login, "rd", rd ? rd : "", NULL};
    page_reply(r, 200, "signin", kv, redirect_form_targets());
    free(login);
}

void flow_login_get(struct http_req *r)
{
    const char *slug = http_query(r, "org");
    const char *inv = http_query(r, "invitation");
    char *rd = return_url_or_reply(r, http_query(r, "rd"));
    if (!rd)
        return;
    struct err e;
    err_clear(&e);
    struct org_info org;
    if (!slug || !*slug)
        signin_page(r, http_query(r, "rd"));
    else if (inv && !invitation_ok(inv))
        reply_fail(r, "invitation_invalid", NULL);
    else if (org_lookup(slug, &org, &e) < 0)
        page_reply_err(r, &e);
    else
        start_signin_or_reply(r, &org, rd, inv, NULL);
    free(rd);
}

/* A form post from another site is refused when the browser says so. */
static int same_origin(struct http_req *r)
{
    const char *origin = http_header(r, "Origin");
    if (origin && strcmp(origin, "null") != 0)
        return strcmp(origin, base_url) == 0;
    const char *ref = http_header(r, "Referer");
    if (ref) {
        size_t n = strlen(base_url);
        return strncmp(ref, base_url, n) == 0 && (ref[n] == '/' || ref[n] == '\0');
    }
    return -1; /* unknown */
}

void flow_login_post(struct http_req *r)
{
    if (same_origin(r) == 0) {
        reply_fail(r, "csrf_failed", NULL);
        return;
    }
    const char *email = http_form(r, "email");
    char *rd = return_url_or_reply(r, http_form(r, "rd"));
    if (!rd)
        return;
    struct err e;
    err_clear(&e);
    char norm[ORG_EMAIL_MAX], org_id[ORG_ID_MAX];
    struct org_info org;
    if (!email || org_email_normalize(email, norm, sizeof norm, &e) < 0) {
        if (!email)
            err_set(&e, "invalid_email", NULL);
        page_reply_err(r, &e);
    } else if (domain_org_for_email(norm, org_id, &e) < 0 || org_lookup(org_id, &org, &e) < 0) {
        page_reply_err(r, &e);
    } else {
        start_signin_or_reply(r, &org, rd, NULL, NULL);
    }
    free(rd);
}

void flow_test_signin_or_reply(struct http_req *r, const struct org_info *org, const char *test_id, const char *rd)
{
    start_signin_or_reply(r, org, rd, NULL, test_id);
}

/* ---- SP metadata ---- */

void flow_metadata(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    struct org_info org;
    if (org_lookup(http_param(r, "org"), &org, &e) < 0) {
        http_reply_err(r, &e);
        return;
    }
    http_log_org(r, org.slug);
    char *md = connection_sp_metadata(org.slug, &e);
    if (!md) {
        http_reply_err(r, &e);
        return;
    }
    http_add_header(r, "Cache-Control", "public, max-age=300");
    http_reply(r, 200, "application/samlmetadata+xml", md, strlen(md));
    free(md);
}

/* ---- the home page and sign-out ---- */

/* The form token of POST /logout: bound to the session cookie, which a
 * cross-site page can neither read nor choose. */
static void csrf_token(const char *cookie, char out[65])
{
    char *s = util_xasprintf("ssogate-logout-csrf:%s", cookie);
    util_sha256_hex(s, strlen(s), out);
    free(s);
}

static struct session_limits instance_limits(void)
{
    struct session_limits l = {cfg->session_max_age_s, cfg->session_idle_timeout_s, cfg->session_idle_refresh_s};
    return l;
}

void flow_home(struct http_req *r)
{
    const char *cookie = http_cookie_count(r, gate_cookie_name()) == 1 ? http_cookie(r, gate_cookie_name()) : NULL;
    struct session s;
    struct err e;
    err_clear(&e);
    struct session_limits lim = instance_limits();
    if (cookie && *cookie && session_load(ring, &lim, cookie, &s, &e) == 0) {
        struct org_info org;
        char tok[65];
        csrf_token(cookie, tok);
        char *logout = util_xasprintf("%s/logout", base_url);
        const char *slug = org_lookup(s.org, &org, &e) == 0 ? org.slug : s.org;
        const char *kv[] = {"email", s.email, "org", slug, "logout", logout, "csrf", tok, NULL};
        page_reply(r, 200, "signed_in", kv, redirect_form_targets());
        free(logout);
        return;
    }
    signin_page(r, http_query(r, "rd"));
}

static void signed_out_page(struct http_req *r)
{
    char *home = util_xasprintf("%s/", base_url);
    const char *kv[] = {"home", home, NULL};
    page_reply(r, 200, "signed_out", kv, NULL);
    free(home);
}

/* Keep our LogoutRequest's ID under the org's tag for the request TTL: the
 * IdP's LogoutResponse is accepted only with InResponseTo = a pending logout
 * of this org, once (acs.c flow_slo). */
static int logout_pending_put(const char *org_id, const char *rid, struct err *e)
{
    char *key = org_key(org_id, "logout", rid);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", cfg->saml_request_ttl_s);
    struct store_reply *r = store_cmdl(e, "SET", key, "1", "EX", ttl, NULL);
    free(key);
    int rc = r && store_reply_type(r) == STORE_STATUS ? 0 : -1;
    store_reply_free(r);
    return rc;
}

/* After the local session is gone: the IdP's SLO when it has one. */
static void logout_at_idp_or_reply(struct http_req *r, const struct session *s)
{
    struct err e;
    err_clear(&e);
    struct org_info org;
    struct connection *c = NULL;
    char *url = NULL, *rid = NULL;
    if (org_lookup(s->org, &org, &e) == 0 && (c = connection_get(&org, &e)) != NULL &&
        sp_logout_request(connection_sp(c), s->name_id, s->name_id_format, s->session_index, NULL, &url, &rid,
                          &e) == 0 &&
        logout_pending_put(org.id, rid, &e) == 0)
        http_redirect(r, 303, url);
    else
        signed_out_page(r);
    free(rid);
    free(url);
    connection_release(c);
}

void flow_logout(struct http_req *r)
{
    const char *cookie = http_cookie_count(r, gate_cookie_name()) == 1 ? http_cookie(r, gate_cookie_name()) : NULL;
    const char *form = http_form(r, "csrf");
    char tok[65];
    /* Both: the browser's Origin/Referer names us, and the form carries
     * the token only our page could know. */
    if (same_origin(r) != 1 || !cookie || !form || (csrf_token(cookie, tok), !util_ct_streq(tok, form))) {
        reply_fail(r, "csrf_failed", NULL);
        return;
    }
    char *clear = gate_cookie_clear();
    http_add_header(r, "Set-Cookie", clear);
    free(clear);
    struct session s;
    struct err e;
    err_clear(&e);
    struct session_limits lim = instance_limits();
    if (session_load(ring, &lim, cookie, &s, &e) < 0) {
        signed_out_page(r);
        return;
    }
    if (session_delete(s.org, s.id_hash, &e) < 0) {
        page_reply_err(r, &e);
        return;
    }
    audit_append(s.org, s.email, "logout", s.email, "ok", "", NULL, NULL);
    logout_at_idp_or_reply(r, &s);
}

/* ---- ACS: see acs.c ---- */
