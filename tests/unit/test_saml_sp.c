/* SP metadata and the signed AuthnRequest redirect, with keys made by
 * openssl at test time (nothing private is committed). */
#include <criterion/criterion.h>
#include <lasso/lasso.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saml/sp.h"
#include "util/util.h"

static char dir[64];
static char *key_pem, *cert_pem, *next_pem, *idp_cert_b64;

static char *read_all(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = util_read_file(p, 1 << 20, NULL);
    cr_assert_not_null(s, "cannot read %s", p);
    return s;
}

static void setup(void)
{
    strcpy(dir, "/tmp/ssogate-sp-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && for n in sp next idp; do openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 "
             "-subj /CN=$n -keyout $n.key -out $n.crt 2>/dev/null || exit 1; done && "
             "openssl x509 -in idp.crt -outform DER | base64 -w0 > idp.b64",
             dir);
    cr_assert_eq(system(cmd), 0, "openssl failed");
    key_pem = read_all("sp.key");
    cert_pem = read_all("sp.crt");
    next_pem = read_all("next.crt");
    idp_cert_b64 = read_all("idp.b64");
    lasso_init();
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(key_pem);
    free(cert_pem);
    free(next_pem);
    free(idp_cert_b64);
}

TestSuite(saml_sp, .init = setup, .fini = teardown);

static struct sp_identity ident(int rollover)
{
    struct sp_identity id = {
        .entity_id = "https://sso.example.com/saml/acme/metadata",
        .acs_url = "https://sso.example.com/saml/acme/acs",
        .slo_url = "https://sso.example.com/saml/acme/slo",
        .key_pem = key_pem,
        .cert_pem = cert_pem,
        .next_cert_pem = rollover ? next_pem : NULL,
    };
    return id;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

Test(saml_sp, metadata_has_entity_acs_slo_and_flags)
{
    struct sp_identity id = ident(0);
    struct err e;
    char *md = sp_metadata(&id, &e);
    cr_assert_not_null(md, "%s", e.msg);
    cr_assert(strstr(md, "entityID=\"https://sso.example.com/saml/acme/metadata\""), "%s", md);
    cr_assert(strstr(md, "AuthnRequestsSigned=\"true\""));
    cr_assert(strstr(md, "WantAssertionsSigned=\"true\""));
    cr_assert(strstr(md, "Location=\"https://sso.example.com/saml/acme/acs\""));
    cr_assert(strstr(md, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://sso.example.com/saml/acme/acs"));
    cr_assert(strstr(md, "Location=\"https://sso.example.com/saml/acme/slo\""));
    cr_assert_eq(count(md, "use=\"signing\""), 1);
    cr_assert_eq(count(md, "use=\"encryption\""), 1);
    free(md);
}

Test(saml_sp, rollover_publishes_two_signing_and_two_encryption_keys)
{
    struct sp_identity id = ident(1);
    struct err e;
    char *md = sp_metadata(&id, &e);
    cr_assert_not_null(md, "%s", e.msg);
    cr_assert_eq(count(md, "use=\"signing\""), 2);
    cr_assert_eq(count(md, "use=\"encryption\""), 2);
    free(md);
}

Test(saml_sp, refuses_a_certificate_that_is_not_pem)
{
    struct sp_identity id = ident(0);
    id.cert_pem = "not a certificate";
    struct err e;
    cr_assert_null(sp_metadata(&id, &e));
    cr_assert_str_eq(e.code, "config_invalid");
}

static char *idp_metadata(int with_slo)
{
    return util_xasprintf(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"https://idp.example.org/idp\">"
        "<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
        "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>%s"
        "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
        "Location=\"https://idp.example.org/sso\"/>"
        "</md:IDPSSODescriptor></md:EntityDescriptor>",
        idp_cert_b64,
        with_slo ? "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
                   "Location=\"https://idp.example.org/slo\"/>"
                 : "");
}

Test(saml_sp, authn_request_is_a_signed_sha256_redirect_with_relay_state)
{
    struct sp_identity id = ident(0);
    struct err e;
    char *md = idp_metadata(1);
    struct sp *sp = sp_new(&id, md, &e);
    cr_assert_not_null(sp, "%s", e.msg);
    char *url = NULL, *rid = NULL;
    cr_assert_eq(sp_authn_request(sp, "opaque-handle", &url, &rid, &e), 0, "%s", e.msg);
    cr_assert(strncmp(url, "https://idp.example.org/sso?SAMLRequest=", 40) == 0, "%s", url);
    cr_assert(strstr(url, "&RelayState=opaque-handle"), "%s", url);
    cr_assert(strstr(url, "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"), "%s", url);
    cr_assert(strstr(url, "&Signature="), "%s", url);
    cr_assert_geq(strlen(rid), 16);
    char *url2 = NULL, *rid2 = NULL;
    cr_assert_eq(sp_authn_request(sp, "other", &url2, &rid2, &e), 0);
    cr_assert_str_neq(rid, rid2, "request IDs must be unique");
    free(url);
    free(rid);
    free(url2);
    free(rid2);
    sp_free(sp);
    free(md);
}

Test(saml_sp, logout_request_only_when_the_idp_has_slo)
{
    struct sp_identity id = ident(0);
    struct err e;
    char *md = idp_metadata(0);
    struct sp *sp = sp_new(&id, md, &e);
    cr_assert_not_null(sp, "%s", e.msg);
    char *url = NULL, *rid = NULL;
    cr_assert_eq(sp_logout_request(sp, "alice@acme.test", NULL, "s1", "rs", &url, &rid, &e), 1);
    cr_assert_null(rid);
    sp_free(sp);
    free(md);
    md = idp_metadata(1);
    sp = sp_new(&id, md, &e);
    cr_assert_eq(sp_logout_request(sp, "alice@acme.test",
                                   "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "s1", "rs", &url, &rid,
                                   &e),
                 0, "%s", e.msg);
    cr_assert(rid && *rid, "the LogoutRequest ID is returned for the pending-logout store");
    free(rid);
    cr_assert(strncmp(url, "https://idp.example.org/slo?SAMLRequest=", 40) == 0, "%s", url);
    cr_assert(strstr(url, "rsa-sha256"), "%s", url);
    free(url);
    sp_free(sp);
    free(md);
}

Test(saml_sp, refuses_bad_idp_metadata)
{
    struct sp_identity id = ident(0);
    struct err e;
    cr_assert_null(sp_new(&id, "<notmetadata/>", &e));
}
