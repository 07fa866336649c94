/* End to end with a real IdP: SimpleSAMLphp (scripts/idp, Debian's
 * package) on a free loopback port trusting our SP metadata, a real ssogate
 * and Redis, and tests/saml/ssp_signin.py in the browser's role. A missing
 * SimpleSAMLphp fails these tests. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness_flow.h"
#include "store/store.h"
#include "util/util.h"

static struct sg srv;
static char org_id[64];
static char *idp_work;
static char idp_base[64];

static void setup(void)
{
    sg_start(&srv, NULL, NULL);
    flow_org_setup(&srv, "acme", "alice@acme.test", "acme.test", org_id);
    idp_work = ts_path(srv.dir, "idp");
    int port = ts_free_port();
    snprintf(idp_base, sizeof idp_base, "http://127.0.0.1:%d", port);
    char *cmd = util_xasprintf("curl -fsS -o %s/sp.xml %s/saml/acme/metadata && "
                               "IDP_WORK=%s IDP_PORT=%d SP_BASE=%s IDP_SP_METADATA_XML=%s/sp.xml "
                               "%s/scripts/idp/start-idp.sh 2>&1",
                               srv.dir, srv.base, idp_work, port, srv.base, srv.dir, SSOGATE_SOURCE_DIR);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "SimpleSAMLphp did not start: %s", out);
    free(out);
    free(cmd);
    cmd = util_xasprintf("connection set acme --idp-metadata %s/idp-metadata.xml", idp_work);
    free(flow_cli(&srv, cmd));
    free(cmd);
    flow_store_open(&srv);
}

static void teardown(void)
{
    char *cmd = util_xasprintf("IDP_WORK=%s %s/scripts/idp/stop-idp.sh >/dev/null 2>&1", idp_work, SSOGATE_SOURCE_DIR);
    free(flow_sh(cmd, NULL));
    free(cmd);
    free(idp_work);
    store_shutdown();
    sg_stop(&srv);
}

TestSuite(flow_ssp, .init = setup, .fini = teardown, .timeout = 180);

/* ssp_signin.py START USER PASSWORD [extra] -> its JSON output. */
static json_t *signin(const char *start_path, const char *user, const char *extra)
{
    char *cmd = util_xasprintf("/usr/bin/python3 %s/tests/saml/ssp_signin.py '%s%s' %s password %s",
                               SSOGATE_SOURCE_DIR, srv.base, start_path, user, extra ? extra : "");
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "%s: %s", cmd, out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    free(out);
    free(cmd);
    return j;
}

static char *cookie_of(json_t *j)
{
    const char *sc = json_string_value(json_object_get(j, "cookie"));
    cr_assert_not_null(sc, "no Set-Cookie");
    return util_xstrndup(sc, strcspn(sc, ";"));
}

Test(flow_ssp, full_sign_in_through_simplesamlphp_gives_a_session)
{
    json_t *j = signin("/login?org=acme&rd=%2Fapp", "alice@acme.test", NULL);
    cr_assert_eq(json_integer_value(json_object_get(j, "acs_status")), 303);
    char *want = util_xasprintf("%s/app", srv.base);
    cr_expect_str_eq(json_string_value(json_object_get(j, "location")), want);
    free(want);
    char *cookie = cookie_of(j);
    char *body;
    cr_expect_eq(flow_session_status(&srv, cookie, &body), 200, "%s", body);
    cr_expect(strstr(body, "\"email\":\"alice@acme.test\"") && strstr(body, "\"org\":\"acme\""), "%s", body);
    free(body);
    free(cookie);
    json_decref(j);
}

Test(flow_ssp, sign_in_from_the_email_form_is_not_a_member_for_bob)
{
    json_t *j = signin("/login?org=acme", "bob@acme.test", NULL);
    cr_expect_eq(json_integer_value(json_object_get(j, "acs_status")), 403);
    json_decref(j);
}

Test(flow_ssp, relay_state_must_match_and_a_response_is_used_once)
{
    char *file = ts_path(srv.dir, "resp.b64");
    char *extra = util_xasprintf("%s", file);
    json_t *j = signin("/login?org=acme", "alice@acme.test", extra);
    const char *relay = json_string_value(json_object_get(j, "relay_state"));
    cr_assert_not_null(relay);
    size_t n;
    char *b64 = util_read_file(file, 1 << 20, &n);
    cr_assert_not_null(b64);
    struct sg_resp r;
    flow_post_acs(&srv, "acme", b64, "not-the-handle", &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    cr_expect(strstr(r.body, "saml_relay_state_mismatch"), "%s", r.body);
    sg_resp_free(&r);
    /* the request was consumed by that attempt */
    flow_post_acs(&srv, "acme", b64, relay, &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    cr_expect(strstr(r.body, "saml_in_response_to_mismatch"), "%s", r.body);
    sg_resp_free(&r);
    free(b64);
    json_decref(j);
    free(extra);
    free(file);
}

Test(flow_ssp, idp_initiated_sign_in_is_refused_by_default)
{
    char *file = ts_path(srv.dir, "idpinit.b64");
    char *cmd = util_xasprintf("SSP_SP_ENTITY_ID=%s/saml/acme/metadata /usr/bin/python3 %s/tests/saml/ssp_login.py "
                               "%s %s - alice@acme.test password %s 2>&1",
                               srv.base, SSOGATE_SOURCE_DIR, idp_base, srv.base, file);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
    size_t n;
    char *b64 = util_read_file(file, 1 << 20, &n);
    struct sg_resp r;
    flow_post_acs(&srv, "acme", b64, NULL, &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    cr_expect(strstr(r.body, "saml_unsolicited"), "%s", r.body);
    sg_resp_free(&r);
    free(b64);
    free(cmd);
    free(file);
}

Test(flow_ssp, idp_initiated_logout_ends_the_session)
{
    json_t *j = signin("/login?org=acme", "alice@acme.test", "--idp-logout");
    cr_assert_eq(json_integer_value(json_object_get(j, "acs_status")), 303);
    char *cookie = cookie_of(j);
    json_t *hops = json_object_get(j, "slo");
    int ours = 0, answered = 0;
    for (size_t i = 0; i < json_array_size(hops); i++) {
        json_t *h = json_array_get(hops, i);
        const char *url = json_string_value(json_object_get(h, "url"));
        const char *kind = json_string_value(json_object_get(h, "kind"));
        if (strstr(url, "/saml/acme/slo") && !strcmp(kind, "request")) {
            ours = 1;
            cr_expect_eq(json_integer_value(json_object_get(h, "status")), 302, "our SLO answered");
        }
        if (ours && strstr(url, idp_base) && !strcmp(kind, "response"))
            answered = 1;
    }
    cr_expect(ours, "the IdP sent a LogoutRequest to ssogate");
    cr_expect(answered, "ssogate answered with a LogoutResponse to the IdP");
    cr_expect_eq(flow_session_status(&srv, cookie, NULL), 401, "the session was ended");
    char *audit = flow_cli(&srv, "audit acme --limit 1");
    cr_expect(strstr(audit, "\"action\": \"slo\"") && strstr(audit, "sessions_ended=1"), "%s", audit);
    free(audit);
    free(cookie);
    json_decref(j);
}

/* SP-initiated SLO: our LogoutRequest's ID is kept, and the IdP's
 * LogoutResponse (Redirect binding) is verified over the raw query string
 * and accepted once, only as the answer to that pending logout. */
Test(flow_ssp, sp_initiated_logout_response_is_matched_once_and_verified_raw)
{
    json_t *j = signin("/login?org=acme", "alice@acme.test", "--sp-logout");
    cr_assert_eq(json_integer_value(json_object_get(j, "acs_status")), 303);
    const char *back = json_string_value(json_object_get(j, "slo_response_url"));
    cr_assert(back && strstr(back, "/saml/acme/slo?SAMLResponse="), "%s", back ? back : "(none)");
    const char *path = back + strlen(srv.base);
    /* The same answer re-encoded (lower-case %xx, a valid encoding) and
     * re-signed with the IdP's key: only a check over the raw query passes. */
    char *cmd = util_xasprintf("/usr/bin/python3 %s/tests/saml/resign_query.py '%s' %s/cert/idp.key",
                               SSOGATE_SOURCE_DIR, back, idp_work);
    int st;
    char *lower = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "%s", lower);
    lower[strcspn(lower, "\n")] = '\0';
    struct sg_resp r;
    sg_get(&srv, lower + strlen(srv.base), &r);
    cr_expect_eq(r.status, 200, "lower-case encoded LogoutResponse: %s", r.body);
    sg_resp_free(&r);
    /* the pending logout was consumed: the IdP's original answer is refused */
    sg_get(&srv, path, &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    cr_expect(strstr(r.body, "saml_in_response_to_mismatch"), "%s", r.body);
    sg_resp_free(&r);
    free(lower);
    free(cmd);
    json_decref(j);
}

Test(flow_ssp, logout_response_without_a_pending_logout_is_refused)
{
    json_t *j = signin("/login?org=acme", "alice@acme.test", "--sp-logout");
    const char *back = json_string_value(json_object_get(j, "slo_response_url"));
    cr_assert_not_null(back);
    /* forget every pending logout of the org, as after the TTL */
    struct store_reply *keys = store_cmdl(NULL, "KEYS", "sg:{o:*}:logout:*", NULL);
    cr_assert_not_null(keys);
    cr_assert_gt(store_reply_len(keys), 0, "our LogoutRequest ID was not kept");
    for (size_t i = 0; i < store_reply_len(keys); i++)
        store_reply_free(store_cmdl(NULL, "DEL", store_reply_str(store_reply_elem(keys, i), NULL), NULL));
    store_reply_free(keys);
    struct sg_resp r;
    sg_get(&srv, back + strlen(srv.base), &r);
    cr_expect_eq(r.status, 401, "%s", r.body);
    cr_expect(strstr(r.body, "saml_in_response_to_mismatch"), "%s", r.body);
    sg_resp_free(&r);
    json_decref(j);
}
