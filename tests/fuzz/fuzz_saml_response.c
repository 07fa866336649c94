/* libFuzzer target: the SAML response validator on arbitrary bytes.
 * The first byte picks the entry point: 'B' = the rest is the SAMLResponse
 * form value (base64 layer included), anything else = the bytes are the
 * decoded XML. The IdP comes from SSOGATE_FUZZ_METADATA when set (use the
 * generator's metadata so its signed seeds verify and the fuzzer reaches the
 * content checks), else from the committed public test metadata;
 * SSOGATE_FUZZ_SP_KEY (the generator's sp.key) opens the decryption path.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSSOGATE_FUZZ=ON
 *   build-fuzz/fuzz_saml_response -max_total_time=60 CORPUS_DIR */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "saml/idp.h"
#include "saml/response.h"
#include "saml/saml.h"
#include "saml/spkey.h"
#include "util/err.h"

static struct idp *fuzz_idp;
static struct spkey *fuzz_sp_key;   /* SSOGATE_FUZZ_SP_KEY, optional */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct err e;
    if (saml_init(&e) < 0) {
        fprintf(stderr, "saml_init: %s\n", e.msg);
        abort();
    }
    const char *path = getenv("SSOGATE_FUZZ_METADATA");
    fuzz_idp = idp_new_from_file(path ? path : SSOGATE_SOURCE_DIR "/tests/saml/test-idp-metadata.xml", &e);
    if (!fuzz_idp) {
        fprintf(stderr, "metadata: %s\n", e.msg);
        abort();
    }
    const char *key = getenv("SSOGATE_FUZZ_SP_KEY");
    if (key && !(fuzz_sp_key = spkey_new_from_file(key, &e))) {
        fprintf(stderr, "SP key: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const domains[] = {"acme.test"};
    struct response_settings s = {
        .idp = fuzz_idp,
        .sp_entity_id = "https://sp.example.test/saml/acme/metadata",
        .acs_url = "https://sp.example.test/saml/acme/acs",
        .now = 1893499200, /* 2030-01-01T12:00:00Z, the generator's clock */
        .request_id = "_req-4f1c2a",
        .allowed_domains = domains,
        .n_allowed_domains = 1,
        .sp_key = fuzz_sp_key,
    };
    struct response_result r;
    struct err e;
    if (size > 0 && data[0] == 'B')
        response_validate((const char *)data + 1, size - 1, &s, &r, &e);
    else
        response_validate_xml((const char *)data, size, &s, &r, &e);
    json_t *j = response_checks_json(&r);
    json_decref(j);
    response_result_free(&r);
    return 0;
}
