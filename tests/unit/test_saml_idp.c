/* Unit tests of IdP metadata parsing (saml/idp.c), the hardened parser
 * (saml/saml.c) and email normalization (saml/email.c). Metadata comes from
 * tests/saml/test-idp-metadata.xml (public certificates only). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "saml/email.h"
#include "saml/idp.h"
#include "saml/saml.h"
#include "util/err.h"
#include "util/util.h"

static char *metadata;
static size_t metadata_len;

static void setup(void)
{
    struct err e;
    cr_assert_eq(saml_init(&e), 0, "%s", e.msg);
    metadata = util_read_file(SSOGATE_SOURCE_DIR "/tests/saml/test-idp-metadata.xml", 1 << 20,
                              &metadata_len);
    cr_assert_not_null(metadata);
}

static void teardown(void)
{
    free(metadata);
    saml_shutdown();
}

TestSuite(saml_idp, .init = setup, .fini = teardown);

/* metadata with `from` replaced by `to` (first occurrence). */
static char *edited(const char *from, const char *to)
{
    const char *at = strstr(metadata, from);
    cr_assert_not_null(at, "fixture lacks %s", from);
    return util_xasprintf("%.*s%s%s", (int)(at - metadata), metadata, to, at + strlen(from));
}

static const char *refusal(const char *xml)
{
    static struct err e;
    struct idp *idp = idp_new(xml, strlen(xml), &e);
    if (idp) {
        idp_free(idp);
        return "accepted";
    }
    return e.code;
}

Test(saml_idp, reads_entity_id_endpoints_and_signing_keys)
{
    struct err e;
    struct idp *idp = idp_new(metadata, metadata_len, &e);
    cr_assert_not_null(idp, "%s", e.msg);
    cr_assert_str_eq(idp_entity_id(idp), "https://idp.example.test/metadata");
    cr_assert_str_eq(idp_sso_url(idp, IDP_BINDING_REDIRECT), "https://idp.example.test/sso/redirect");
    cr_assert_str_eq(idp_sso_url(idp, IDP_BINDING_POST), "https://idp.example.test/sso/post");
    cr_assert_str_eq(idp_slo_url(idp, IDP_BINDING_REDIRECT), "https://idp.example.test/slo");
    cr_assert_str_eq(idp_slo_response_url(idp, IDP_BINDING_REDIRECT),
                     "https://idp.example.test/slo/response");
    cr_assert_null(idp_slo_url(idp, IDP_BINDING_POST));
    cr_assert(idp_want_authn_requests_signed(idp));
    /* use="signing" and no use count; use="encryption" does not */
    cr_assert_eq(idp_key_count(idp), 2);
    idp_free(idp);
}

Test(saml_idp, accepts_entities_descriptor_with_one_idp)
{
    char *body = strstr(metadata, "<md:EntityDescriptor");
    char *xml = util_xasprintf("<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">"
                               "%s</md:EntitiesDescriptor>", body);
    cr_assert_str_eq(refusal(xml), "accepted");
    free(xml);
}

Test(saml_idp, refuses_metadata_without_signing_certificate)
{
    /* Turn both signing descriptors into encryption ones. */
    char *a = edited("<md:KeyDescriptor use=\"signing\">", "<md:KeyDescriptor use=\"encryption\">");
    char *saved = metadata;
    metadata = a;
    char *b = edited("<md:KeyDescriptor>", "<md:KeyDescriptor use=\"encryption\">");
    metadata = saved;
    cr_assert_str_eq(refusal(b), "saml_metadata_invalid");
    free(a);
    free(b);
}

Test(saml_idp, refuses_bad_certificate_and_missing_entity_id)
{
    char *a = edited("<ds:X509Certificate>", "<ds:X509Certificate>!!");
    cr_assert_str_eq(refusal(a), "saml_metadata_invalid");
    char *b = edited("entityID=\"https://idp.example.test/metadata\"", "");
    cr_assert_str_eq(refusal(b), "saml_metadata_invalid");
    free(a);
    free(b);
}

Test(saml_idp, refuses_other_roots_doctype_and_garbage)
{
    cr_assert_str_eq(refusal("<x/>"), "saml_metadata_invalid");
    cr_assert_str_eq(refusal("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
                             "entityID=\"x\"/>"), "saml_metadata_invalid");
    cr_assert_str_eq(refusal("<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"), "saml_doctype_forbidden");
    cr_assert_str_eq(refusal("not xml"), "saml_malformed_xml");
    cr_assert_str_eq(refusal(""), "saml_malformed_xml");
    struct err e;
    cr_assert_null(idp_new_from_file("/nonexistent", &e));
    cr_assert_str_eq(e.code, "saml_metadata_invalid");
}

Test(saml_parser, refuses_doctype_even_without_entities)
{
    struct err e;
    const char *xml = "<!DOCTYPE r SYSTEM \"http://example.test/r.dtd\"><r/>";
    cr_assert_null(saml_xml_parse(xml, strlen(xml), &e));
    cr_assert_str_eq(e.code, "saml_doctype_forbidden");
    xml = "<r/>";
    struct _xmlDoc *doc = saml_xml_parse(xml, strlen(xml), &e);
    cr_assert_not_null(doc);
    saml_xml_free(doc);
}

static void expect_email(const char *raw, const char *want)
{
    const char *why = NULL;
    char *got = email_normalize(raw, &why);
    if (!want) {
        cr_assert_null(got, "%s was accepted as %s", raw, got);
        return;
    }
    cr_assert_not_null(got, "%s refused: %s", raw, why);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(saml_email, trims_lowercases_and_converts_idn)
{
    expect_email("  Alice@ACME.Test\r\n", "alice@acme.test");
    expect_email("bob@bücher.example", "bob@xn--bcher-kva.example");
    expect_email("bob@BÜCHER.example", "bob@xn--bcher-kva.example");
    expect_email("x@xn--bcher-kva.example", "x@xn--bcher-kva.example");
}

Test(saml_email, refuses_malformed_addresses)
{
    expect_email("alice@evil.test@acme.test", NULL);
    expect_email("alice", NULL);
    expect_email("@acme.test", NULL);
    expect_email("alice@", NULL);
    expect_email("alice@acme", NULL);
    expect_email("alice@acme.test.", NULL);
    expect_email("alice@.acme.test", NULL);
    expect_email("alice@acme..test", NULL);
    expect_email("al ice@acme.test", NULL);
    expect_email("alice@acme.test\n.evil.test", NULL);
    /* UTS#46 STD3 mapping would drop these and yield acme.test */
    expect_email("alice@ac_me.test", NULL);
    expect_email("alice@ac\xc2\xadme.test", NULL);
    expect_email("alice@-acme.test", NULL);
    expect_email("alice@acme.test\xef\xbc\x8e", NULL);
    expect_email("", NULL);
}

Test(saml_email, domain_of_normalized_address)
{
    cr_assert_str_eq(email_domain("a@b.test"), "b.test");
    const char *why;
    char *d = email_normalize_domain("ACME.test", &why);
    cr_assert_str_eq(d, "acme.test");
    free(d);
}
