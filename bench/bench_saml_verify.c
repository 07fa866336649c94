/* Benchmark, run by hand: validate the same SAMLResponse N times in one
 * process with one IdP object, as the ACS would. Compare with
 * bench_lasso_verify.py on the same fixtures.
 *   build/bench_saml_verify FIXTURES_DIR [N] [CASE]
 * FIXTURES_DIR holds idp-metadata.xml and CASE.b64 (tests/saml/make_responses.py
 * output). For another IdP's response: BENCH_SP, BENCH_ACS, BENCH_REAL_CLOCK=1. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "saml/idp.h"
#include "saml/response.h"
#include "saml/saml.h"
#include "util/err.h"
#include "util/util.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR [N] [CASE]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    const char *name = argc > 3 ? argv[3] : "valid";
    struct err e;
    if (saml_init(&e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    char *path = util_xasprintf("%s/idp-metadata.xml", argv[1]);
    struct idp *idp = idp_new_from_file(path, &e);
    free(path);
    if (!idp) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    path = util_xasprintf("%s/%s.b64", argv[1], name);
    size_t len;
    char *msg = util_read_file(path, 1 << 22, &len);
    free(path);
    if (!msg)
        return 1;
    const char *sp = getenv("BENCH_SP"), *acs = getenv("BENCH_ACS");
    struct response_settings s = {
        .idp = idp,
        .sp_entity_id = sp ? sp : "https://sp.example.test/saml/acme/metadata",
        .acs_url = acs ? acs : "https://sp.example.test/saml/acme/acs",
        .now = getenv("BENCH_REAL_CLOCK") ? 0 : 1893499200,
        .request_id = "_req-4f1c2a", .allow_idp_initiated = 1,
    };
    struct response_result r;
    if (response_validate(msg, len, &s, &r, &e) < 0) {
        fprintf(stderr, "refused: %s: %s\n", e.code, e.msg);
        return 1;
    }
    response_result_free(&r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (response_validate(msg, len, &s, &r, &e) < 0)
            return 1;
        response_result_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ssogate: %d responses in %.3f s: %.0f/s (%.1f us each)\n", n, dt, n / dt, dt / n * 1e6);
    free(msg);
    idp_free(idp);
    saml_shutdown();
    return 0;
}
