/* The cost of the signed identity header, one thread: microseconds per fresh
 * token (JSON, base64url, signature) for Ed25519 and EC P-256, and per token
 * taken from the process cache (what /auth pays while a token is reused).
 * Usage: bench_idtoken [ITERATIONS]   (keys are made with the openssl command) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate/idtoken.h"
#include "util/tlcache.h"
#include "util/util.h"

static const struct idtoken_claims claims = {
    .sub = "u_7d3f0a9c2b4e4f1a", .email = "alice@acme.test", .org = "acme", .workspace = "acme/ws-a",
    .role = "editor", .org_role = "member", .aud = "app.example.com",
};

static double per_token_us(int n, int cached)
{
    char t[IDTOKEN_MAX];
    struct err e;
    int64_t t0 = util_mono_us();
    for (int i = 0; i < n; i++) {
        int rc = cached ? idtoken_get(&claims, t, sizeof t, &e) : idtoken_sign(&claims, 1700000000 + i, t, sizeof t, &e);
        if (rc < 0) {
            fprintf(stderr, "%s\n", e.msg);
            exit(1);
        }
    }
    return (double)(util_mono_us() - t0) / n;
}

static int run(const char *dir, const char *alg, const char *genpkey_args, int n)
{
    char *key = util_xasprintf("%s/%s.key", dir, alg);
    char *cmd = util_xasprintf("openssl genpkey %s -out %s", genpkey_args, key);
    struct config c;
    struct err e;
    if (system(cmd) != 0 || config_load(&c, NULL, &e) < 0)
        return 1;
    free(c.identity_jwt_header);
    free(c.identity_jwt_key);
    c.identity_jwt_header = util_xstrdup("X-Auth-Identity");
    c.identity_jwt_key = util_xstrdup(key);
    if (idtoken_init(&c, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    char t[IDTOKEN_MAX];
    idtoken_sign(&claims, 1700000000, t, sizeof t, &e);
    printf("%-6s sign (JSON + base64url + signature): %7.2f us/token   token %zu bytes\n", alg,
           per_token_us(n, 0), strlen(t));
    tlcache_configure(5000);
    printf("%-6s reused from the process cache:      %7.2f us/token\n", alg, per_token_us(n * 10, 1));
    tlcache_configure(0);
    idtoken_shutdown();
    config_free(&c);
    free(cmd);
    free(key);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    char dir[] = "/tmp/ssogate-bench-idtoken-XXXXXX";
    if (n <= 0 || !mkdtemp(dir))
        return 2;
    int rc = run(dir, "EdDSA", "-algorithm ed25519", n) || run(dir, "ES256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", n);
    char *rm = util_xasprintf("rm -rf %s", dir);
    if (system(rm) != 0)
        rc = 1;
    free(rm);
    tlcache_free();
    return rc;
}
