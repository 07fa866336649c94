/* The sign-in flow over HTTP against a real ssogate and Redis, with SAML
 * responses made by independent code (tests/saml/make_responses.py --http:
 * lxml + the openssl CLI, never ssogate's writer). Pending requests are
 * stored the way /login stores them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_flow.h"
#include "store/store.h"
#include "util/util.h"

static struct sg srv;
static char org_id[64];
static char *dir;

static void start_with(const char *extra)
{
    sg_start(&srv, extra, NULL);
    flow_org_setup(&srv, "acme", "alice@acme.test", "acme.test", org_id);
    dir = ts_path(srv.dir, "responses");
    char *cmd = util_xasprintf("/usr/bin/python3 %s/tests/saml/make_responses.py --http %s %s acme 3",
                               SSOGATE_SOURCE_DIR, dir, srv.base);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "make_responses.py: %s", out);
    free(out);
    free(cmd);
    cmd = util_xasprintf("connection set acme --idp-metadata %s/idp-metadata.xml", dir);
    free(flow_cli(&srv, cmd));
    free(cmd);
    flow_store_open(&srv);
}

static void setup(void)
{
    start_with(NULL);
}

static void teardown(void)
{
    store_shutdown();
    free(dir);
    sg_stop(&srv);
}

TestSuite(flow_http, .init = setup, .fini = teardown, .timeout = 120);

/* Post NAME.b64 to acme's ACS. */
static void post(const char *name, struct sg_resp *r)
{
    char *file = util_xasprintf("%s.b64", name);
    char *b64 = flow_read(dir, file);
    flow_post_acs(&srv, "acme", b64, NULL, r);
    free(b64);
    free(file);
}

static void expect_refused(struct sg_resp *r, long status, const char *code)
{
    cr_expect_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body);
    cr_expect(r->body && strstr(r->body, code), "no %s in the page: %s", code, r->body);
    char *cookie = sg_header(r, "Set-Cookie");
    cr_expect_null(cookie, "a refused sign-in set a cookie");
    free(cookie);
    char *ct = sg_header(r, "Content-Type");
    cr_expect(ct && strstr(ct, "text/html"), "refusals answer an HTML page");
    free(ct);
    char *csp = sg_header(r, "Content-Security-Policy");
    cr_expect(csp && strstr(csp, "default-src 'none'"), "strict CSP on the error page");
    free(csp);
    char *rid = sg_header(r, "X-Request-Id");
    cr_expect(rid && r->body && strstr(r->body, rid), "the correlation id is the request id");
    free(rid);
}

Test(flow_http, valid_response_signs_in_and_redirects_to_the_stored_rd)
{
    char *rd = util_xasprintf("%s/app/x?y=1", srv.base);
    flow_pending_put(org_id, "_req-http-0", rd);
    struct sg_resp r;
    post("valid-0", &r);
    cr_assert_eq(r.status, 303, "%s", r.body);
    char *loc = sg_header(&r, "Location");
    cr_expect_str_eq(loc, rd);
    char *cookie = flow_cookie(&r);
    cr_assert_not_null(cookie);
    char *body;
    cr_expect_eq(flow_session_status(&srv, cookie, &body), 200, "%s", body);
    cr_expect(strstr(body, "\"email\":\"alice@acme.test\""), "%s", body);
    cr_expect_eq(flow_diag_count(org_id), 0);
    free(body);
    free(cookie);
    free(loc);
    free(rd);
    sg_resp_free(&r);
}

Test(flow_http, refuses_unknown_in_response_to_and_records_diagnostics)
{
    struct sg_resp r;
    post("valid-1", &r);
    expect_refused(&r, 401, "saml_in_response_to_mismatch");
    sg_resp_free(&r);
    cr_expect_eq(flow_diag_count(org_id), 1);
    char *key = util_xasprintf("sg:{o:%s}:signin_diag", org_id);
    struct store_reply *d = store_cmdl(NULL, "LINDEX", key, "0", NULL);
    const char *entry = store_reply_str(d, NULL);
    cr_assert_not_null(entry);
    cr_expect(strstr(entry, "\"check\":\"assertion_signature\""), "every check is kept: %s", entry);
    cr_expect(strstr(entry, "\"code\":\"saml_in_response_to_mismatch\""), "%s", entry);
    cr_expect_null(strstr(entry, "SignatureValue"), "never the assertion");
    store_reply_free(d);
    free(key);
    char *audit = flow_cli(&srv, "audit acme --limit 1");
    cr_expect(strstr(audit, "\"action\": \"signin\"") && strstr(audit, "saml_in_response_to_mismatch"), "%s", audit);
    free(audit);
}

Test(flow_http, signins_total_counts_outcomes_by_code)
{
    struct sg_resp r;
    flow_pending_put(org_id, "_req-http-0", "/");
    post("valid-0", &r);
    cr_assert_eq(r.status, 303, "%s", r.body);
    sg_resp_free(&r);
    post("valid-1", &r); /* no pending request */
    sg_resp_free(&r);
    post("valid-1", &r);
    sg_resp_free(&r);
    sg_get(&srv, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    cr_expect(strstr(r.body, "# TYPE ssogate_signins_total counter\n"), "%s", r.body);
    cr_expect(strstr(r.body, "ssogate_signins_total{outcome=\"ok\",code=\"\"} 1\n"), "%s", r.body);
    cr_expect(strstr(r.body, "ssogate_signins_total{outcome=\"refused\",code=\"saml_in_response_to_mismatch\"} 2\n"),
              "%s", r.body);
    sg_resp_free(&r);
}

Test(flow_http, refuses_a_request_used_twice)
{
    flow_pending_put(org_id, "_req-http-1", "/");
    struct sg_resp r;
    post("valid-1", &r);
    cr_assert_eq(r.status, 303, "%s", r.body);
    sg_resp_free(&r);
    post("valid-1", &r);
    expect_refused(&r, 401, "saml_in_response_to_mismatch");
    sg_resp_free(&r);
}

Test(flow_http, refuses_a_replayed_assertion_even_with_a_fresh_request)
{
    flow_pending_put(org_id, "_req-http-2", "/");
    struct sg_resp r;
    post("valid-2", &r);
    cr_assert_eq(r.status, 303, "%s", r.body);
    sg_resp_free(&r);
    /* the request ID pending again: only the replay cache stops it */
    flow_pending_put(org_id, "_req-http-2", "/");
    post("valid-2", &r);
    expect_refused(&r, 401, "saml_replay");
    sg_resp_free(&r);
}

Test(flow_http, refuses_a_request_started_for_another_org)
{
    char beta[64];
    flow_org_setup(&srv, "beta", "owner@beta.test", "beta.test", beta);
    flow_pending_put(beta, "_req-http-0", "/");
    struct sg_resp r;
    post("valid-0", &r);
    expect_refused(&r, 401, "saml_in_response_to_mismatch");
    sg_resp_free(&r);
}

Test(flow_http, refuses_wrong_destination)
{
    flow_pending_put(org_id, "_req-wd", "/");
    struct sg_resp r;
    post("wrong_destination", &r);
    expect_refused(&r, 401, "saml_destination_mismatch");
    sg_resp_free(&r);
}

Test(flow_http, refuses_email_outside_the_verified_domains)
{
    flow_pending_put(org_id, "_req-od", "/");
    flow_pending_put(org_id, "_req-ev", "/");
    struct sg_resp r;
    post("outside_domain", &r);
    expect_refused(&r, 403, "saml_domain_not_allowed");
    sg_resp_free(&r);
    post("evil_suffix", &r);
    expect_refused(&r, 403, "saml_domain_not_allowed");
    sg_resp_free(&r);
}

Test(flow_http, refuses_a_verified_email_that_is_not_a_member)
{
    flow_pending_put(org_id, "_req-bob", "/");
    struct sg_resp r;
    post("bob", &r);
    expect_refused(&r, 403, "not_a_member");
    sg_resp_free(&r);
}

Test(flow_http, refuses_idp_initiated_by_default)
{
    struct sg_resp r;
    post("unsolicited", &r);
    expect_refused(&r, 401, "saml_unsolicited");
    sg_resp_free(&r);
}

Test(flow_http, accepts_idp_initiated_when_the_connection_allows_it)
{
    char *cmd = util_xasprintf("connection set acme --idp-metadata %s/idp-metadata.xml --allow-idp-initiated", dir);
    char *out = flow_cli(&srv, cmd);
    cr_expect(strstr(out, "\"allow_idp_initiated\": true") && strstr(out, "\"version\": 2"), "%s", out);
    free(out);
    free(cmd);
    struct sg_resp r;
    post("unsolicited", &r);
    cr_expect_eq(r.status, 303, "%s", r.body);
    char *loc = sg_header(&r, "Location");
    char *home = util_xasprintf("%s/", srv.base);
    cr_expect_str_eq(loc, home);
    free(home);
    free(loc);
    sg_resp_free(&r);
    /* and still only once */
    post("unsolicited", &r);
    expect_refused(&r, 401, "saml_replay");
    sg_resp_free(&r);
}

Test(flow_http, refuses_invalid_base64_and_a_missing_response)
{
    struct sg_resp r;
    flow_post_acs(&srv, "acme", "PHNhbWxwOlJlc3BvbnNl!!!", NULL, &r);
    expect_refused(&r, 400, "saml_invalid_base64");
    sg_resp_free(&r);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    sg_request(&srv, "POST", "/saml/acme/acs", h, "RelayState=x", &r);
    curl_slist_free_all(h);
    expect_refused(&r, 400, "saml_missing_response");
    sg_resp_free(&r);
}

Test(flow_http, acs_of_an_unknown_org_is_404)
{
    struct sg_resp r;
    flow_post_acs(&srv, "nosuchorg", "AAAA", NULL, &r);
    expect_refused(&r, 404, "org_not_found");
    sg_resp_free(&r);
}

static void body_of(size_t n, struct sg_resp *r)
{
    /* "SAMLResponse=" + filler: exactly n bytes of body */
    char *b = util_xmalloc(n + 1);
    memcpy(b, "SAMLResponse=", 13);
    memset(b + 13, 'A', n - 13);
    b[n] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    sg_request(&srv, "POST", "/saml/acme/acs", h, b, r);
    curl_slist_free_all(h);
    free(b);
}

Test(flow_http, body_limit_is_max_response_bytes, .init = NULL)
{
    start_with("[saml]\nmax_response_bytes = 4096\n");
    struct sg_resp r;
    body_of(4097, &r);
    cr_expect_eq(r.status, 413, "one byte over: %ld", r.status);
    sg_resp_free(&r);
    body_of(4096, &r);
    cr_expect_neq(r.status, 413, "at the limit the validator decides: %ld", r.status);
    sg_resp_free(&r);
}

Test(flow_http, acs_is_rate_limited_per_client, .init = NULL)
{
    start_with("[ratelimit]\nacs_per_minute = 1\nacs_burst = 3\n");
    struct sg_resp r;
    long last = 0;
    for (int i = 0; i < 4; i++) {
        flow_post_acs(&srv, "acme", "AAAA", NULL, &r);
        last = r.status;
        if (i < 3)
            cr_expect_neq(r.status, 429, "request %d within the burst", i);
        sg_resp_free(&r);
    }
    cr_expect_eq(last, 429);
}

Test(flow_http, login_redirects_to_the_idp_with_an_opaque_relay_state)
{
    struct sg_resp r;
    sg_get(&srv, "/login?org=acme&rd=%2Fapp%2Fsecret-path", &r);
    cr_assert_eq(r.status, 302, "%s", r.body);
    char *loc = sg_header(&r, "Location");
    cr_assert_not_null(loc);
    cr_expect(strncmp(loc, "https://idp.example.test/singlesignonservice/http-redirect?", 59) == 0, "%s", loc);
    cr_expect(strstr(loc, "SAMLRequest=") && strstr(loc, "RelayState=") && strstr(loc, "Signature="), "%s", loc);
    cr_expect_null(strstr(loc, "secret-path"), "RelayState never carries the URL");
    /* one pending request and one RelayState handle, under the org's tag, with a TTL */
    char *pat = util_xasprintf("sg:{o:%s}:req:*", org_id);
    struct store_reply *k = store_cmdl(NULL, "KEYS", pat, NULL);
    cr_assert_eq(store_reply_len(k), 1);
    struct store_reply *ttl = store_cmdl(NULL, "TTL", store_reply_str(store_reply_elem(k, 0), NULL), NULL);
    cr_expect(store_reply_int(ttl) > 500 && store_reply_int(ttl) <= 600, "TTL %lld", store_reply_int(ttl));
    store_reply_free(ttl);
    store_reply_free(k);
    free(pat);
    free(loc);
    sg_resp_free(&r);
}

Test(flow_http, login_refuses_open_redirect_payloads)
{
    static const char *const bad[] = {
        "%2F%2Fevil.test", "%2F%5Cevil.test", "http%3Aevil.test", "https%3A%2F%2Fevil.test%2F",
        "%2F%09%2Fevil.test", "https%3A%2F%2F127.0.0.1%40evil.test%2F", "javascript%3Aalert(1)",
        "%5C%5Cevil.test", "https%3A%2F%2Fevil.test%5C%40127.0.0.1%2F", "%2F%2F%2Fevil.test",
        "data%3Atext%2Fhtml%2Cx", "https%3A%2F%2Fuser%3Apass%40127.0.0.1%2F", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        char *path = util_xasprintf("/login?org=acme&rd=%s", bad[i]);
        struct sg_resp r;
        sg_get(&srv, path, &r);
        cr_expect_eq(r.status, 400, "rd=%s: %ld", bad[i], r.status);
        char *loc = sg_header(&r, "Location");
        cr_expect_null(loc, "rd=%s redirected to %s", bad[i], loc);
        free(loc);
        sg_resp_free(&r);
        free(path);
    }
}

Test(flow_http, sign_in_page_and_email_login_find_the_org_by_domain)
{
    struct sg_resp r;
    sg_get(&srv, "/", &r);
    cr_assert_eq(r.status, 200);
    cr_expect(strstr(r.body, "name=\"email\""), "%s", r.body);
    cr_expect_null(strstr(r.body, "<script"), "no script");
    sg_resp_free(&r);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    sg_request(&srv, "POST", "/login", h, "email=Alice%40ACME.test&rd=%2Fapp", &r);
    cr_expect_eq(r.status, 302, "%s", r.body);
    sg_resp_free(&r);
    sg_request(&srv, "POST", "/login", h, "email=alice%40unknown.test", &r);
    cr_expect_eq(r.status, 403, "%s", r.body);
    cr_expect(strstr(r.body, "domain_not_verified"), "%s", r.body);
    sg_resp_free(&r);
    curl_slist_free_all(h);
}

Test(flow_http, metadata_is_valid_sp_metadata_for_the_org)
{
    struct sg_resp r;
    sg_get(&srv, "/saml/acme/metadata", &r);
    cr_assert_eq(r.status, 200);
    char *want = util_xasprintf("entityID=\"%s/saml/acme/metadata\"", srv.base);
    cr_expect(strstr(r.body, want), "%s", r.body);
    char *acs = util_xasprintf("Location=\"%s/saml/acme/acs\"", srv.base);
    cr_expect(strstr(r.body, acs), "%s", r.body);
    cr_expect(strstr(r.body, "AuthnRequestsSigned=\"true\"") && strstr(r.body, "WantAssertionsSigned=\"true\""));
    free(acs);
    free(want);
    sg_resp_free(&r);
    sg_get(&srv, "/saml/nosuchorg/metadata", &r);
    cr_expect_eq(r.status, 404);
    sg_resp_free(&r);
}

Test(flow_http, connection_set_refuses_bad_metadata_and_keeps_the_old_one)
{
    char *bad = ts_path(srv.dir, "bad.xml");
    ts_write_file(bad, "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>");
    char *cmd = util_xasprintf("%s connection set acme --idp-metadata %s -c %s", sg_bin(), bad, srv.conf);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_expect_eq(st, 1, "%s", out);
    cr_expect(strstr(out, "saml_metadata_invalid"), "%s", out);
    free(out);
    free(cmd);
    free(bad);
    out = flow_cli(&srv, "connection show acme");
    cr_expect(strstr(out, "\"version\": 1") && strstr(out, "https://idp.example.test/metadata"), "%s", out);
    free(out);
}

Test(flow_http, logout_needs_same_origin_and_the_form_token)
{
    flow_pending_put(org_id, "_req-http-0", "/");
    struct sg_resp r;
    post("valid-0", &r);
    cr_assert_eq(r.status, 303, "%s", r.body);
    char *cookie = flow_cookie(&r);
    sg_resp_free(&r);
    char *ch = util_xasprintf("Cookie: %s", cookie);
    struct curl_slist *h = curl_slist_append(NULL, ch);
    sg_request(&srv, "GET", "/", h, NULL, &r);
    char *tok = strstr(r.body, "name=\"csrf\" value=\"");
    cr_assert_not_null(tok, "%s", r.body);
    char csrf[65];
    snprintf(csrf, sizeof csrf, "%.64s", tok + 19);
    sg_resp_free(&r);
    char *form = util_xasprintf("csrf=%s", csrf);
    /* no Origin/Referer: refused */
    sg_request(&srv, "POST", "/logout", h, form, &r);
    cr_expect_eq(r.status, 403);
    sg_resp_free(&r);
    char *origin = util_xasprintf("Origin: %s", srv.base);
    h = curl_slist_append(h, origin);
    sg_request(&srv, "POST", "/logout", h, "csrf=0000", &r);
    cr_expect_eq(r.status, 403, "a wrong token is refused");
    sg_resp_free(&r);
    cr_expect_eq(flow_session_status(&srv, cookie, NULL), 200, "still signed in after refusals");
    sg_request(&srv, "POST", "/logout", h, form, &r);
    /* the test IdP has an SLO endpoint: 303 there with a signed LogoutRequest */
    cr_expect_eq(r.status, 303, "%s", r.body);
    char *loc = sg_header(&r, "Location");
    cr_expect(loc && strstr(loc, "SAMLRequest=") && strstr(loc, "Signature="), "%s", loc);
    free(loc);
    sg_resp_free(&r);
    cr_expect_eq(flow_session_status(&srv, cookie, NULL), 401, "the session is gone");
    curl_slist_free_all(h);
    free(origin);
    free(form);
    free(ch);
    free(cookie);
}
