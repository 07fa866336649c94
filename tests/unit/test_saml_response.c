/* Unit tests of the SAML response validator (saml/response.c) on responses
 * made by independent code: tests/saml/make_responses.py (lxml, the openssl
 * CLI and python3-lasso as IdP; keys fresh from openssl) runs once before all tests
 * into a temporary directory named by SSOGATE_SAML_FIXTURES. Each attack is
 * a named test; a few cases go through the real `ssogate verify-response`. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "saml/idp.h"
#include "saml/response.h"
#include "saml/saml.h"
#include "saml/spkey.h"
#include "util/err.h"
#include "util/util.h"

#define SP_ID "https://sp.example.test/saml/acme/metadata"
#define ACS "https://sp.example.test/saml/acme/acs"
#define REQ "_req-4f1c2a"
#define NOW 1893499200 /* 2030-01-01T12:00:00Z, the generator's clock */

static char fixtures[512];

/* ---- fixtures: made once per run, in the runner process ----------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    char tmpl[] = "/tmp/ssogate-saml-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/saml/make_responses.py %s",
             SSOGATE_SOURCE_DIR, tmpl);
    if (system(cmd) != 0) {
        fprintf(stderr, "make_responses.py failed\n");
        abort();
    }
    setenv("SSOGATE_SAML_FIXTURES", tmpl, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *dir = getenv("SSOGATE_SAML_FIXTURES");
    if (dir && strncmp(dir, "/tmp/ssogate-saml-", 18) == 0)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- per-test state ----------------------------------------------------- */

static struct idp *idp;
static struct spkey *sp_key;
static struct response_result res;
static struct err err;

static const char *fx(const char *name)
{
    static char path[3][700];
    static int slot;
    slot = (slot + 1) % 3;
    snprintf(path[slot], sizeof path[slot], "%s/%s", fixtures, name);
    return path[slot];
}

static void setup(void)
{
    const char *dir = getenv("SSOGATE_SAML_FIXTURES");
    cr_assert_not_null(dir, "fixtures were not generated");
    snprintf(fixtures, sizeof fixtures, "%s", dir);
    struct err e;
    cr_assert_eq(saml_init(&e), 0, "%s", e.msg);
    idp = idp_new_from_file(fx("idp-metadata.xml"), &e);
    cr_assert_not_null(idp, "%s", e.msg);
    sp_key = spkey_new_from_file(fx("sp.key"), &e);
    cr_assert_not_null(sp_key, "%s", e.msg);
    memset(&res, 0, sizeof res);
}

static void teardown(void)
{
    response_result_free(&res);
    spkey_free(sp_key);
    idp_free(idp);
    saml_shutdown();
}

TestSuite(saml_response, .init = setup, .fini = teardown);

static struct response_settings settings(void)
{
    struct response_settings s = {
        .idp = idp, .sp_entity_id = SP_ID, .acs_url = ACS, .now = NOW,
        .request_id = REQ, .sp_key = sp_key,
    };
    return s;
}

static char *load(const char *name, size_t *len)
{
    char *data = util_read_file(fx(name), 8u << 20, len);
    cr_assert_not_null(data, "cannot read fixture %s", name);
    return data;
}

/* Validate fixture <name>.b64 with s; returns the rc, result in res/err. */
static int run_with(const char *name, const struct response_settings *s)
{
    char file[256];
    size_t len;
    snprintf(file, sizeof file, "%s.b64", name);
    char *data = load(file, &len);
    response_result_free(&res);
    int rc = response_validate(data, len, s, &res, &err);
    free(data);
    return rc;
}

static int run(const char *name)
{
    struct response_settings s = settings();
    return run_with(name, &s);
}

static void expect_refused(const char *name, const char *code)
{
    cr_assert_eq(run(name), -1, "%s was accepted", name);
    cr_assert_str_eq(err.code, code, "%s: %s (%s)", name, err.code, err.msg);
    cr_assert_null(res.email, "no identity may leak from a refused response");
}

static void expect_accepted(const char *name, const struct response_settings *s)
{
    int rc = run_with(name, s);
    cr_assert_eq(rc, 0, "%s refused: %s: %s", name, rc ? err.code : "", rc ? err.msg : "");
}

static const struct response_check *find_check(const char *name)
{
    for (size_t i = 0; i < res.n_checks; i++)
        if (strcmp(res.checks[i].name, name) == 0)
            return &res.checks[i];
    return NULL;
}

/* ---- accepted ----------------------------------------------------------- */

Test(saml_response, accepts_valid_response_with_identity_fields)
{
    struct response_settings s = settings();
    static const char *const domains[] = {"acme.test"};
    s.allowed_domains = domains;
    s.n_allowed_domains = 1;
    expect_accepted("valid", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
    cr_assert_str_eq(res.name_id, "alice@acme.test");
    cr_assert_str_eq(res.name_id_format, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
    cr_assert_str_eq(res.issuer, "https://idp.example.test/metadata");
    cr_assert_str_eq(res.session_index, "_s-91b3");
    cr_assert_str_eq(res.assertion_id, "_a-7d1e");
    cr_assert_str_eq(res.in_response_to, REQ);
    cr_assert_eq(res.not_on_or_after, NOW + 300);
    json_t *groups = json_object_get(res.attributes, "groups");
    cr_assert_eq(json_array_size(groups), 2);
    cr_assert_str_eq(json_string_value(json_array_get(groups, 0)), "staff");
    cr_assert_str_eq(json_string_value(json_array_get(groups, 1)), "admins");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(res.attributes, "displayName"), 0)),
                     "Alice Example");
    for (size_t i = 0; i < res.n_checks; i++)
        cr_assert(res.checks[i].ok, "check %s failed", res.checks[i].name);
}

Test(saml_response, accepts_response_made_by_lasso_as_idp)
{
    /* python3-lasso's own IdP code: signed Response and Assertion,
     * IdP-initiated (no InResponseTo). */
    struct response_settings s = settings();
    s.request_id = NULL;
    s.allow_idp_initiated = 1;
    expect_accepted("lasso_idp_initiated", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
    cr_assert(find_check("response_signature")->ok);
    cr_assert(find_check("assertion_signature")->ok);
}

Test(saml_response, accepts_unwrapped_base64)
{
    struct response_settings s = settings();
    expect_accepted("valid_unwrapped", &s);
}

Test(saml_response, accepts_assertion_covered_by_response_signature_only)
{
    struct response_settings s = settings();
    expect_accepted("valid_response_signed", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
}

Test(saml_response, accepts_response_and_assertion_both_signed)
{
    struct response_settings s = settings();
    expect_accepted("valid_both_signed", &s);
}

Test(saml_response, accepts_ecdsa_sha256_signature)
{
    struct response_settings s = settings();
    expect_accepted("valid_ecdsa", &s);
}

Test(saml_response, accepts_second_metadata_cert_for_rollover)
{
    /* idp-metadata.xml lists an old certificate first; the signing key is
     * the second one. With only the old one, the same response is refused. */
    struct response_settings s = settings();
    expect_accepted("valid", &s);
    struct err e;
    struct idp *old = idp_new_from_file(fx("idp-metadata-old-only.xml"), &e);
    cr_assert_not_null(old, "%s", e.msg);
    s.idp = old;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_signature_invalid");
    idp_free(old);
}

Test(saml_response, accepts_email_from_mail_attribute_when_nameid_is_persistent)
{
    struct response_settings s = settings();
    expect_accepted("persistent_nameid_mail_attr", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
    cr_assert_str_eq(res.name_id, "u-12345");
}

Test(saml_response, reads_configured_email_attribute_first)
{
    struct response_settings s = settings();
    expect_accepted("custom_email_attr", &s);
    cr_assert_str_eq(res.email, "x@other.test");
    s.email_attribute = "workEmail";
    expect_accepted("custom_email_attr", &s);
    cr_assert_str_eq(res.email, "carol@acme.test");
}

Test(saml_response, normalizes_email_trim_lower_and_idna)
{
    struct response_settings s = settings();
    static const char *const domains[] = {"bücher.example"};
    s.allowed_domains = domains;
    s.n_allowed_domains = 1;
    expect_accepted("idn_email", &s);
    cr_assert_str_eq(res.email, "bob@xn--bcher-kva.example");
}

Test(saml_response, accepts_encrypted_assertion_with_sp_key)
{
    struct response_settings s = settings();
    expect_accepted("encrypted", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
    cr_assert_str_eq(res.assertion_id, "_a-7d1e");
}

Test(saml_response, accepts_encrypted_key_beside_encrypted_data)
{
    struct response_settings s = settings();
    expect_accepted("encrypted_sibling_key", &s);
}

/* ---- signature attacks -------------------------------------------------- */

Test(saml_response, refuses_stripped_signature)
{
    expect_refused("signature_stripped", "saml_signature_missing");
}

Test(saml_response, refuses_other_key_even_with_its_cert_in_keyinfo)
{
    /* The attacker's certificate is in KeyInfo and even listed in the
     * metadata, but for encryption only: neither makes it a signing key. */
    expect_refused("other_key_in_keyinfo", "saml_signature_invalid");
}

Test(saml_response, refuses_other_key_claiming_the_idp_cert_in_keyinfo)
{
    /* KeyInfo names the IdP's real certificate: it only orders the keys
     * tried, the value must still verify with that metadata key. */
    expect_refused("other_key_idp_cert_in_keyinfo", "saml_signature_invalid");
}

Test(saml_response, refuses_xsw1_signed_response_moved_into_signature)
{
    expect_refused("xsw1", "saml_assertion_count");
}

Test(saml_response, refuses_xsw2_signed_response_detached_before_signature)
{
    expect_refused("xsw2", "saml_assertion_count");
}

Test(saml_response, refuses_xsw3_evil_assertion_before_signed_one)
{
    expect_refused("xsw3", "saml_assertion_count");
}

Test(saml_response, refuses_xsw4_evil_assertion_wrapping_signed_one)
{
    expect_refused("xsw4", "saml_assertion_count");
}

Test(saml_response, refuses_xsw5_modified_assertion_with_original_appended)
{
    expect_refused("xsw5", "saml_assertion_count");
}

Test(saml_response, refuses_xsw6_original_inside_evil_signature)
{
    expect_refused("xsw6", "saml_assertion_count");
}

Test(saml_response, refuses_xsw7_signed_assertion_in_extensions)
{
    expect_refused("xsw7", "saml_assertion_count");
}

Test(saml_response, refuses_xsw8_original_in_signature_object)
{
    expect_refused("xsw8", "saml_assertion_count");
}

Test(saml_response, refuses_extra_unsigned_assertion_before_signed_one)
{
    expect_refused("extra_assertion_before", "saml_assertion_count");
}

Test(saml_response, refuses_extra_unsigned_assertion_after_signed_one)
{
    expect_refused("extra_assertion_after", "saml_assertion_count");
}

Test(saml_response, refuses_xslt_transform)
{
    expect_refused("xslt_transform", "saml_signature_transform");
}

Test(saml_response, refuses_c14n_with_comments_transform)
{
    expect_refused("c14n_with_comments_transform", "saml_signature_transform");
}

Test(saml_response, refuses_inclusive_c14n_transform)
{
    expect_refused("inclusive_c14n_transform", "saml_signature_transform");
}

Test(saml_response, refuses_rsa_sha1_by_default)
{
    expect_refused("rsa_sha1", "saml_signature_algorithm");
}

Test(saml_response, accepts_rsa_sha1_when_allowed)
{
    struct response_settings s = settings();
    s.allow_sha1 = 1;
    expect_accepted("rsa_sha1", &s);
}

Test(saml_response, refuses_hmac_signature_method)
{
    expect_refused("hmac", "saml_signature_algorithm");
    struct response_settings s = settings();
    s.allow_sha1 = 1;
    cr_assert_eq(run_with("hmac", &s), -1);
}

Test(saml_response, refuses_digest_mismatch_after_content_change)
{
    expect_refused("digest_mismatch", "saml_signature_invalid");
}

Test(saml_response, refuses_duplicate_ids)
{
    expect_refused("duplicate_ids", "saml_duplicate_id");
}

Test(saml_response, refuses_reference_other_than_signed_element_id)
{
    expect_refused("reference_whole_document", "saml_signature_reference");
}

Test(saml_response, refuses_response_signature_naming_the_assertion)
{
    expect_refused("response_signature_names_assertion", "saml_signature_reference");
}

/* ---- parsing ------------------------------------------------------------ */

Test(saml_response, refuses_doctype_with_billion_laughs)
{
    expect_refused("doctype_billion_laughs", "saml_doctype_forbidden");
}

Test(saml_response, refuses_external_entity)
{
    expect_refused("doctype_external_entity", "saml_doctype_forbidden");
}

static int run_raw(const char *form_value, const struct response_settings *s)
{
    response_result_free(&res);
    return response_validate(form_value, strlen(form_value), s, &res, &err);
}

static int run_xml_text(const char *xml)
{
    struct response_settings s = settings();
    char *b64 = util_b64_encode((const unsigned char *)xml, strlen(xml));
    int rc = run_raw(b64, &s);
    free(b64);
    return rc;
}

Test(saml_response, refuses_invalid_base64)
{
    struct response_settings s = settings();
    cr_assert_eq(run_raw("PHNhbWxwOlJlc3BvbnNl*==", &s), -1);
    cr_assert_str_eq(err.code, "saml_invalid_base64");
    cr_assert_eq(run_raw("", &s), -1);
    cr_assert_str_eq(err.code, "saml_invalid_base64");
}

Test(saml_response, refuses_oversized_input_before_decoding)
{
    struct response_settings s = settings();
    size_t n = 400 * 1024;
    char *big = util_xmalloc(n + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    cr_assert_eq(run_raw(big, &s), -1);
    cr_assert_str_eq(err.code, "saml_too_large");
    free(big);
}

Test(saml_response, size_limit_edge_on_decoded_bytes)
{
    size_t xml_len, len;
    char *xml = load("valid.xml", &xml_len);
    char *b64 = load("valid.b64", &len);
    struct response_settings s = settings();
    s.max_size = xml_len;
    cr_assert_eq(run_raw(b64, &s), 0, "%s", err.msg);
    s.max_size = xml_len - 1;
    cr_assert_eq(run_raw(b64, &s), -1);
    cr_assert_str_eq(err.code, "saml_too_large");
    free(xml);
    free(b64);
}

Test(saml_response, refuses_malformed_and_truncated_xml)
{
    cr_assert_eq(run_xml_text("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\""), -1);
    cr_assert_str_eq(err.code, "saml_malformed_xml");
    size_t len;
    char *xml = load("valid.xml", &len);
    xml[len / 2] = '\0';
    cr_assert_eq(run_xml_text(xml), -1);
    cr_assert_str_eq(err.code, "saml_malformed_xml");
    free(xml);
}

Test(saml_response, refuses_other_root_element)
{
    cr_assert_eq(run_xml_text("<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>"), -1);
    cr_assert_str_eq(err.code, "saml_not_a_response");
    cr_assert_eq(run_xml_text("<Response Version=\"2.0\"/>"), -1);
    cr_assert_str_eq(err.code, "saml_not_a_response");
}

Test(saml_response, refuses_xml_id_attributes)
{
    cr_assert_eq(run_xml_text("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
                              "Version=\"2.0\" ID=\"_r\"><x xml:id=\"_a\"/></samlp:Response>"), -1);
    cr_assert_str_eq(err.code, "saml_duplicate_id");
}

/* ---- content ------------------------------------------------------------ */

Test(saml_response, refuses_non_success_status)
{
    expect_refused("status_failed", "saml_status_not_success");
}

Test(saml_response, refuses_wrong_audience)
{
    expect_refused("wrong_audience", "saml_audience_mismatch");
}

Test(saml_response, refuses_wrong_destination)
{
    expect_refused("wrong_destination", "saml_destination_mismatch");
}

Test(saml_response, requires_destination_on_signed_response)
{
    expect_refused("signed_response_without_destination", "saml_destination_mismatch");
}

Test(saml_response, refuses_wrong_recipient)
{
    expect_refused("wrong_recipient", "saml_recipient_mismatch");
}

Test(saml_response, refuses_wrong_assertion_issuer)
{
    expect_refused("wrong_issuer", "saml_issuer_mismatch");
}

Test(saml_response, refuses_wrong_response_issuer)
{
    expect_refused("wrong_response_issuer", "saml_issuer_mismatch");
}

Test(saml_response, records_every_failed_check_not_only_the_first)
{
    expect_refused("wrong_audience_and_recipient", "saml_audience_mismatch");
    const struct response_check *a = find_check("audience");
    const struct response_check *r = find_check("recipient");
    cr_assert(a && !a->ok && r && !r->ok);
    cr_assert_str_eq(r->got, "https://evil.test/acs");
    cr_assert_str_eq(r->expected, ACS);
    cr_assert(find_check("assertion_signature")->ok);
    json_t *j = response_checks_json(&res);
    char *text = json_dumps(j, 0);
    cr_assert_null(strstr(text, "SignatureValue"), "checks must not carry the assertion");
    free(text);
    json_decref(j);
}

Test(saml_response, refuses_unknown_in_response_to)
{
    struct response_settings s = settings();
    s.request_id = "_some-other-request";
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_in_response_to_mismatch");
}

Test(saml_response, refuses_in_response_to_when_no_request_is_expected)
{
    struct response_settings s = settings();
    s.request_id = NULL;
    s.allow_idp_initiated = 1;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_in_response_to_mismatch");
}

Test(saml_response, refuses_in_response_to_differing_between_response_and_confirmation)
{
    expect_refused("irt_mismatch_between", "saml_in_response_to_mismatch");
}

static int pending_calls;

static int fake_pending(void *ctx, const char *irt)
{
    pending_calls++;
    return strcmp(irt, (const char *)ctx) == 0 ? 1 : 0;
}

static int store_down(void *ctx, const char *irt)
{
    (void)ctx;
    (void)irt;
    pending_calls++;
    return -1;
}

Test(saml_response, looks_in_response_to_up_in_caller_store)
{
    struct response_settings s = settings();
    s.request_id = NULL;
    s.request_pending = fake_pending;
    s.request_ctx = (void *)REQ;
    pending_calls = 0;
    expect_accepted("valid", &s);
    cr_assert_str_eq(res.in_response_to, REQ);
    cr_assert_eq(pending_calls, 1);
    s.request_ctx = (void *)"_another";
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_in_response_to_mismatch");
    s.request_pending = store_down;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "store_unavailable");
}

Test(saml_response, deferred_in_response_to_is_handed_back_but_must_still_agree)
{
    /* The ACS checks the value against Redis after validation, in one
     * script with the replay cache: the validator hands it back... */
    struct response_settings s = settings();
    s.request_id = NULL;
    s.defer_in_response_to = 1;
    s.request_pending = store_down; /* never called when deferred */
    pending_calls = 0;
    expect_accepted("valid", &s);
    cr_assert_str_eq(res.in_response_to, REQ);
    cr_assert_eq(pending_calls, 0);
    /* ...but Response and confirmation must still agree */
    cr_assert_eq(run_with("irt_mismatch_between", &s), -1);
    cr_assert_str_eq(err.code, "saml_in_response_to_mismatch");
    /* and an unsolicited response is still refused by default */
    cr_assert_eq(run_with("unsolicited", &s), -1);
    cr_assert_str_eq(err.code, "saml_unsolicited");
}

Test(saml_response, never_queries_store_for_a_refused_response)
{
    struct response_settings s = settings();
    s.request_id = NULL;
    s.request_pending = fake_pending;
    s.request_ctx = (void *)REQ;
    pending_calls = 0;
    cr_assert_eq(run_with("digest_mismatch", &s), -1);
    cr_assert_eq(run_with("wrong_audience", &s), -1);
    cr_assert_eq(pending_calls, 0);
}

Test(saml_response, refuses_unsolicited_by_default)
{
    expect_refused("unsolicited", "saml_unsolicited");
}

Test(saml_response, accepts_unsolicited_when_allowed)
{
    struct response_settings s = settings();
    s.allow_idp_initiated = 1;
    s.request_id = NULL;
    expect_accepted("unsolicited", &s);
    cr_assert_null(res.in_response_to);
}

Test(saml_response, expiry_edge_with_default_skew)
{
    /* NotOnOrAfter is NOW+300 (Conditions and confirmation); skew 60 s. */
    struct response_settings s = settings();
    s.now = NOW + 300 + 59;
    expect_accepted("valid", &s);
    s.now = NOW + 300 + 60;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_expired");
}

Test(saml_response, not_yet_valid_edge_with_default_skew)
{
    /* NotBefore is NOW-30; skew 60 s. */
    struct response_settings s = settings();
    s.now = NOW - 30 - 60;
    expect_accepted("valid", &s);
    s.now = NOW - 30 - 61;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_not_yet_valid");
}

static void expect_expired_at(const char *name, time_t now, const char *check)
{
    struct response_settings s = settings();
    s.now = now - 1;
    expect_accepted(name, &s);
    s.now = now;
    cr_assert_eq(run_with(name, &s), -1, "%s accepted", name);
    cr_assert_str_eq(err.code, "saml_expired");
    cr_assert_not(find_check(check)->ok, "%s did not fail", check);
}

Test(saml_response, conditions_not_on_or_after_is_checked_alone)
{
    expect_expired_at("conditions_expire_first", NOW + 100 + 60, "conditions_not_on_or_after");
}

Test(saml_response, confirmation_not_on_or_after_is_checked_alone)
{
    expect_expired_at("confirmation_expires_first", NOW + 100 + 60, "confirmation_not_on_or_after");
    cr_assert(find_check("conditions_not_on_or_after")->ok);
}

Test(saml_response, replay_expiry_is_the_earliest_not_on_or_after)
{
    struct response_settings s = settings();
    expect_accepted("conditions_expire_first", &s);
    cr_assert_eq(res.not_on_or_after, NOW + 100);
    expect_accepted("no_conditions_expiry", &s);
    cr_assert_eq(res.not_on_or_after, NOW + 300);
}

Test(saml_response, refuses_without_bearer_confirmation)
{
    expect_refused("holder_of_key_only", "saml_recipient_mismatch");
    cr_assert_not(find_check("subject_confirmation")->ok);
}

Test(saml_response, refuses_attribute_value_holding_elements)
{
    expect_refused("element_in_attribute", "saml_value_not_text");
}

Test(saml_response, custom_clock_skew_moves_the_edges)
{
    struct response_settings s = settings();
    s.clock_skew = -1; /* none */
    s.now = NOW + 299;
    expect_accepted("valid", &s);
    s.now = NOW + 300;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_expired");
    s.clock_skew = 120;
    s.now = NOW + 419;
    expect_accepted("valid", &s);
}

/* ---- email -------------------------------------------------------------- */

static void with_domain(struct response_settings *s)
{
    static const char *const domains[] = {"acme.test"};
    s->allowed_domains = domains;
    s->n_allowed_domains = 1;
}

Test(saml_response, comment_in_nameid_does_not_truncate_email)
{
    struct response_settings s = settings();
    expect_accepted("comment_nameid", &s);
    cr_assert_str_eq(res.email, "alice@acme.test.evil.test");
    with_domain(&s);
    cr_assert_eq(run_with("comment_nameid", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, comment_in_email_attribute_does_not_truncate_email)
{
    struct response_settings s = settings();
    expect_accepted("comment_attribute", &s);
    cr_assert_str_eq(res.email, "alice@acme.test.evil.test");
    with_domain(&s);
    cr_assert_eq(run_with("comment_attribute", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, refuses_email_outside_allowed_domains)
{
    struct response_settings s = settings();
    with_domain(&s);
    cr_assert_eq(run_with("outside_domain", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, refuses_allowed_domain_as_prefix_of_another)
{
    struct response_settings s = settings();
    with_domain(&s);
    cr_assert_eq(run_with("subdomain_suffix", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, subdomains_are_not_implied)
{
    struct response_settings s = settings();
    static const char *const domains[] = {"test"};
    s.allowed_domains = domains;
    s.n_allowed_domains = 1;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, empty_domain_list_refuses_every_email)
{
    struct response_settings s = settings();
    static const char *const domains[] = {"acme.test"};
    s.allowed_domains = domains;
    s.n_allowed_domains = 0;
    cr_assert_eq(run_with("valid", &s), -1);
    cr_assert_str_eq(err.code, "saml_domain_not_allowed");
}

Test(saml_response, refuses_email_with_two_at_signs)
{
    expect_refused("two_at", "invalid_email");
}

Test(saml_response, refuses_assertion_without_email)
{
    expect_refused("no_email", "saml_no_email");
}

Test(saml_response, refuses_nameid_holding_elements)
{
    expect_refused("element_in_nameid", "saml_value_not_text");
}

/* ---- encryption --------------------------------------------------------- */

Test(saml_response, refuses_assertion_encrypted_for_another_key)
{
    expect_refused("encrypted_wrong_key", "saml_decrypt_failed");
}

Test(saml_response, refuses_encrypted_assertion_wrapping_a_signed_one)
{
    expect_refused("encrypted_wrapping", "saml_assertion_count");
}

Test(saml_response, does_not_decrypt_under_a_refused_response_signature)
{
    expect_refused("encrypted_bad_response_signature", "saml_signature_invalid");
    cr_assert_null(find_check("decrypt"), "decryption was attempted");
}

Test(saml_response, refuses_cipher_reference)
{
    expect_refused("encrypted_cipher_reference", "saml_decrypt_failed");
    cr_assert(strstr(err.msg, "CipherReference"), "%s", err.msg);
}

Test(saml_response, ignores_keyinfo_of_the_encrypted_key)
{
    struct response_settings s = settings();
    expect_accepted("encrypted_key_keyinfo", &s);
}

Test(saml_response, refuses_encrypted_assertion_without_sp_key)
{
    struct response_settings s = settings();
    s.sp_key = NULL;
    cr_assert_eq(run_with("encrypted", &s), -1);
    cr_assert_str_eq(err.code, "saml_decrypt_failed");
}

/* SP key rollover: our metadata publishes the next certificate for
 * encryption, so an IdP may encrypt to it before we switch keys. */
static struct spkey *with_next_key(void)
{
    struct err e;
    struct spkey *cur = spkey_new_from_file(fx("sp.key"), &e);
    cr_assert_not_null(cur, "%s", e.msg);
    struct spkey *next = spkey_new_from_file(fx("sp-next.key"), &e);
    cr_assert_not_null(next, "%s", e.msg);
    spkey_chain(cur, next);
    return cur;
}

Test(saml_response, decrypts_assertion_encrypted_to_the_next_sp_key)
{
    struct spkey *k = with_next_key();
    struct response_settings s = settings();
    s.sp_key = k;
    expect_accepted("encrypted_next_key", &s);
    cr_assert_str_eq(res.email, "alice@acme.test");
    /* the current key still decrypts during the rollover */
    expect_accepted("encrypted", &s);
    spkey_free(k);
}

Test(saml_response, refuses_next_key_encryption_without_sp_next_key)
{
    expect_refused("encrypted_next_key", "saml_decrypt_failed");
}

Test(saml_response, refuses_other_key_encryption_with_both_sp_keys)
{
    struct spkey *k = with_next_key();
    struct response_settings s = settings();
    s.sp_key = k;
    cr_assert_eq(run_with("encrypted_wrong_key", &s), -1);
    cr_assert_str_eq(err.code, "saml_decrypt_failed");
    spkey_free(k);
}

/* ---- the CLI ------------------------------------------------------------ */

static int cli(const char *extra, const char *input, char *out, size_t n)
{
    const char *bin = getenv("SSOGATE_BIN");
    cr_assert_not_null(bin, "SSOGATE_BIN is not set");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s verify-response --idp-metadata %s --sp-entity-id %s --acs-url %s "
             "--now 2030-01-01T12:00:00Z %s %s 2>/dev/null",
             bin, fx("idp-metadata.xml"), SP_ID, ACS, extra, input);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(saml_cli, accepts_valid_response_with_json_identity, .init = setup, .fini = teardown)
{
    char out[65536];
    cr_assert_eq(cli("--request-id " REQ " --allowed-domain acme.test", fx("valid.b64"), out,
                     sizeof out), 0, "%s", out);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "stdout is not one JSON object: %s", out);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "email")), "alice@acme.test");
    cr_assert_str_eq(json_string_value(json_object_get(j, "name_id")), "alice@acme.test");
    cr_assert_str_eq(json_string_value(json_object_get(j, "session_index")), "_s-91b3");
    cr_assert_str_eq(json_string_value(json_object_get(j, "issuer")), "https://idp.example.test/metadata");
    cr_assert_not_null(json_object_get(j, "name_id_format"));
    cr_assert(json_is_array(json_object_get(json_object_get(j, "attributes"), "groups")));
    json_decref(j);
}

Test(saml_cli, reads_stdin_and_accepts_sp_key, .init = setup, .fini = teardown)
{
    char out[65536], extra[1024];
    snprintf(extra, sizeof extra, "--request-id " REQ " --sp-key %s - < %s", fx("sp.key"),
             fx("encrypted.b64"));
    cr_assert_eq(cli(extra, "", out, sizeof out), 0, "%s", out);
}

Test(saml_cli, accepts_sp_next_key_during_a_rollover, .init = setup, .fini = teardown)
{
    char out[65536], extra[1024];
    snprintf(extra, sizeof extra, "--request-id " REQ " --sp-key %s", fx("sp.key"));
    cr_assert_eq(cli(extra, fx("encrypted_next_key.b64"), out, sizeof out), 1, "%s", out);
    snprintf(extra, sizeof extra, "--request-id " REQ " --sp-key %s --sp-next-key %s", fx("sp.key"),
             fx("sp-next.key"));
    cr_assert_eq(cli(extra, fx("encrypted_next_key.b64"), out, sizeof out), 0, "%s", out);
}

Test(saml_cli, refuses_with_exit_1_and_stable_code, .init = setup, .fini = teardown)
{
    char out[65536];
    cr_assert_eq(cli("--request-id " REQ, fx("xsw3.b64"), out, sizeof out), 1);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert(json_is_false(json_object_get(j, "ok")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "saml_assertion_count");
    cr_assert(json_is_string(json_object_get(j, "message")));
    json_decref(j);
    cr_assert_eq(cli("--request-id " REQ " --allowed-domain acme.test", fx("subdomain_suffix.b64"),
                     out, sizeof out), 1);
    cr_assert(strstr(out, "\"saml_domain_not_allowed\""), "%s", out);
    cr_assert_eq(cli("", fx("unsolicited.b64"), out, sizeof out), 1);
    cr_assert(strstr(out, "\"saml_unsolicited\""), "%s", out);
    cr_assert_eq(cli("--allow-idp-initiated", fx("unsolicited.b64"), out, sizeof out), 0, "%s", out);
}

Test(saml_cli, usage_errors_exit_2, .init = setup, .fini = teardown)
{
    char out[4096];
    cr_assert_eq(cli("--bogus", fx("valid.b64"), out, sizeof out), 2);
    cr_assert_eq(cli("--now yesterday", fx("valid.b64"), out, sizeof out), 2);
    cr_assert_eq(cli("--clock-skew -5", fx("valid.b64"), out, sizeof out), 2);
    cr_assert_eq(cli("--clock-skew 3601", fx("valid.b64"), out, sizeof out), 2);
    cr_assert_eq(cli("--request-id " REQ " --clock-skew 3600", fx("valid.b64"), out, sizeof out), 0,
                 "%s", out);
    cr_assert_eq(cli("", "", out, sizeof out), 2);
    cr_assert_eq(cli("", "/nonexistent/file", out, sizeof out), 2);
}

Test(saml_cli, without_now_uses_real_clock, .init = setup, .fini = teardown)
{
    /* The fixtures are dated 2030-01-01T12:00Z: with the real clock they
     * are not valid yet (or expired, long after). */
    const char *bin = getenv("SSOGATE_BIN");
    char cmd[4096], out[65536];
    snprintf(cmd, sizeof cmd,
             "%s verify-response --idp-metadata %s --sp-entity-id %s --acs-url %s "
             "--request-id " REQ " %s", bin, fx("idp-metadata.xml"), SP_ID, ACS, fx("valid.b64"));
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    cr_assert_eq(WEXITSTATUS(pclose(p)), 1);
    cr_assert(strstr(out, "saml_not_yet_valid") || strstr(out, "saml_expired"), "%s", out);
}

Test(saml_cli, lasso_flag_refused, .init = setup, .fini = teardown)
{
    setenv("LASSO_FLAG", "no-verify-signature", 1);
    char out[4096];
    int rc = cli("--request-id " REQ, fx("valid.b64"), out, sizeof out);
    unsetenv("LASSO_FLAG");
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "LASSO_FLAG"), "%s", out);
    struct err e;
    setenv("LASSO_FLAG", "x", 1);
    cr_assert_eq(saml_init(&e), -1);
    unsetenv("LASSO_FLAG");
}

/* ---- threads ------------------------------------------------------------ */

struct worker {
    char *ok_msg, *bad_msg;
    size_t ok_len, bad_len;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct response_settings s = settings();
    for (int i = 0; i < 150; i++) {
        struct response_result r;
        struct err e;
        if (response_validate(w->ok_msg, w->ok_len, &s, &r, &e) != 0 ||
            strcmp(r.email, "alice@acme.test") != 0)
            w->failures++;
        response_result_free(&r);
        if (response_validate(w->bad_msg, w->bad_len, &s, &r, &e) != -1 ||
            strcmp(e.code, "saml_signature_invalid") != 0)
            w->failures++;
        response_result_free(&r);
    }
    return NULL;
}

Test(saml_response, validates_concurrently_with_one_shared_idp)
{
    /* The ACS runs one validation per worker thread over one IdP object. */
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].ok_msg = load("valid.b64", &w[i].ok_len);
        w[i].bad_msg = load("digest_mismatch.b64", &w[i].bad_len);
        cr_assert_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].failures, 0, "thread %d: %d wrong results", i, w[i].failures);
        free(w[i].ok_msg);
        free(w[i].bad_msg);
    }
}

Test(saml_cli, clock_skew_option_moves_the_expiry_edge, .init = setup, .fini = teardown)
{
    /* NotOnOrAfter is 12:05:00; with --clock-skew 0 12:04:59 passes, 12:05:00 not. */
    const char *bin = getenv("SSOGATE_BIN");
    char cmd[4096], out[65536];
    const char *nows[] = {"2030-01-01T12:04:59Z", "2030-01-01T12:05:00Z"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s verify-response --idp-metadata %s --sp-entity-id %s --acs-url %s "
                 "--request-id " REQ " --clock-skew 0 --now %s %s", bin, fx("idp-metadata.xml"),
                 SP_ID, ACS, nows[i], fx("valid.b64"));
        FILE *p = popen(cmd, "r");
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = '\0';
        cr_assert_eq(WEXITSTATUS(pclose(p)), i, "%s: %s", nows[i], out);
    }
    cr_assert(strstr(out, "saml_expired"), "%s", out);
}
