/* Signed identity tokens: the kid against RFC 8037's thumbprint vector, the
 * compact form (three base64url parts, no padding), the claims, signatures
 * that verify (EdDSA and ES256 as raw R || S), size bounds at the edge,
 * refused keys, and reuse through the process cache. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate/idtoken.h"
#include "util/tlcache.h"
#include "util/util.h"

/* RFC 8037 appendix A.1 (private key d) and A.3 (its JWK thumbprint). */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define NOW 1700000000

static char dir[64];
static struct config cfg;

static char *tmp_path(const char *name)
{
    return util_xasprintf("%s/%s", dir, name);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ssogate-idtoken-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct err e;
    cr_assert_eq(config_load(&cfg, NULL, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
    idtoken_shutdown();
    config_free(&cfg);
    char *cmd = util_xasprintf("rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(idtoken, .init = setup, .fini = teardown);

static void set(char **slot, const char *v)
{
    free(*slot);
    *slot = util_xstrdup(v);
}

/* Write k as PEM (encrypted with pass when given) to dir/name; returns the path. */
static char *write_key(EVP_PKEY *k, const char *name, const char *pass)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, k, pass ? EVP_aes_128_cbc() : NULL, (unsigned char *)pass,
                                      pass ? (int)strlen(pass) : 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(k);
    return path;
}

static EVP_PKEY *rfc8037_key(void)
{
    size_t n;
    unsigned char *d = util_b64url_decode(RFC8037_D, strlen(RFC8037_D), &n);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, n);
    free(d);
    cr_assert_not_null(k);
    return k;
}

/* Turn the feature on with this key file; 0 or -1 with e. */
static int init_with(const char *key_path, const char *extra, struct err *e)
{
    set(&cfg.identity_jwt_header, "X-Auth-Identity");
    set(&cfg.identity_jwt_key, key_path);
    set(&cfg.identity_jwt_extra_keys, extra ? extra : "");
    set(&cfg.base_url, "https://sso.example.com");
    cfg.identity_jwt_ttl_s = 60;
    return idtoken_init(&cfg, e);
}

static void init_ok(const char *key_path)
{
    struct err e;
    cr_assert_eq(init_with(key_path, NULL, &e), 0, "%s", e.msg);
}

static const struct idtoken_claims alice = {
    .sub = "u_alice", .email = "alice@acme.test", .org = "acme", .workspace = "acme/ws-a",
    .role = "editor", .org_role = "member", .aud = "App.Example.COM",
};

/* Split a compact JWS; each part decoded (malloc'd, NUL-terminated). */
static void split(const char *t, unsigned char *part[3], size_t len[3])
{
    cr_assert_eq(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), strlen(t),
                 "not base64url (or padded): %s", t);
    const char *d1 = strchr(t, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    cr_assert(d1 && d2 && !strchr(d2 + 1, '.'), "not three parts: %s", t);
    part[0] = util_b64url_decode(t, (size_t)(d1 - t), &len[0]);
    part[1] = util_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &len[1]);
    part[2] = util_b64url_decode(d2 + 1, strlen(d2 + 1), &len[2]);
    cr_assert(part[0] && part[1] && part[2]);
}

static void free_parts(unsigned char *part[3])
{
    for (int i = 0; i < 3; i++)
        free(part[i]);
}

/* Sign claims with key (written to dir/name) at NOW and split the token. */
static void sign_split(EVP_PKEY *key, const char *name, const struct idtoken_claims *c, char t[IDTOKEN_MAX],
                       unsigned char *part[3], size_t len[3])
{
    char *k = write_key(key, name, NULL);
    init_ok(k);
    free(k);
    struct err e;
    cr_assert_eq(idtoken_sign(c, NOW, t, IDTOKEN_MAX, &e), 0, "%s", e.msg);
    split(t, part, len);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(missing)";
}

Test(idtoken, kid_is_the_rfc7638_thumbprint_of_rfc8037s_example_key)
{
    char *k = write_key(rfc8037_key(), "rfc.key", NULL);
    init_ok(k);
    cr_assert_str_eq(idtoken_kid(), RFC8037_KID);
    free(k);
}

Test(idtoken, compact_form_header_and_claims)
{
    char t[IDTOKEN_MAX];
    unsigned char *part[3];
    size_t len[3];
    sign_split(rfc8037_key(), "rfc.key", &alice, t, part, len);
    cr_assert_str_eq((char *)part[0], "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"" RFC8037_KID "\"}");
    json_t *c = json_loads((char *)part[1], 0, NULL);
    cr_assert_str_eq(jstr(c, "iss"), "https://sso.example.com");
    cr_assert_str_eq(jstr(c, "sub"), "u_alice");
    cr_assert_str_eq(jstr(c, "aud"), "app.example.com");
    cr_assert_str_eq(jstr(c, "email"), "alice@acme.test");
    cr_assert_str_eq(jstr(c, "org"), "acme");
    cr_assert_str_eq(jstr(c, "workspace"), "acme/ws-a");
    cr_assert_str_eq(jstr(c, "role"), "editor");
    cr_assert_str_eq(jstr(c, "org_role"), "member");
    cr_assert_eq(json_integer_value(json_object_get(c, "iat")), NOW);
    cr_assert_eq(json_integer_value(json_object_get(c, "nbf")), NOW);
    cr_assert_eq(json_integer_value(json_object_get(c, "exp")), NOW + 60);
    cr_assert_eq(len[2], 64);
    /* The signature covers header.payload (RFC 7515 section 5.1). */
    EVP_PKEY *pub = rfc8037_key();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t signed_len = (size_t)(strrchr(t, '.') - t);
    cr_assert_eq(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub), 1);
    cr_assert_eq(EVP_DigestVerify(ctx, part[2], len[2], (unsigned char *)t, signed_len), 1);
    t[3] ^= 1; /* any change breaks it */
    cr_assert_neq(EVP_DigestVerify(ctx, part[2], len[2], (unsigned char *)t, signed_len), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    json_decref(c);
    free_parts(part);
}

Test(idtoken, aud_defaults_to_base_url_and_optional_claims_are_left_out)
{
    struct idtoken_claims key_holder = alice;
    key_holder.email = "";
    key_holder.org_role = NULL;
    key_holder.aud = NULL;
    char t[IDTOKEN_MAX];
    unsigned char *part[3];
    size_t len[3];
    sign_split(rfc8037_key(), "rfc.key", &key_holder, t, part, len);
    json_t *c = json_loads((char *)part[1], 0, NULL);
    cr_assert_str_eq(jstr(c, "aud"), "https://sso.example.com");
    cr_assert_null(json_object_get(c, "email"));
    cr_assert_null(json_object_get(c, "org_role"));
    json_decref(c);
    free_parts(part);
}

/* The largest claims the gate can pass (email 320, host 255, ORG/WS of two
 * 63-character slugs, a 63-character role) fit; one byte over a claim's
 * bound, bytes that are not UTF-8, a missing sub or a short buffer do not. */
Test(idtoken, size_bounds_at_the_edge)
{
    char *k = write_key(rfc8037_key(), "rfc.key", NULL);
    init_ok(k);
    char email[321], host[256], ws[128], role[64], big[514];
    memset(email, 'e', 320), email[320] = '\0', email[10] = '@';
    memset(host, 'h', 255), host[255] = '\0';
    memset(ws, 'w', 127), ws[127] = '\0', ws[63] = '/';
    memset(role, 'r', 63), role[63] = '\0';
    memset(big, 'b', 513), big[513] = '\0';
    struct idtoken_claims c = {.sub = "u_0123456789abcdef0123456789abcdef", .email = email, .org = ws,
                               .workspace = ws, .role = role, .org_role = "member", .aud = host};
    char t[IDTOKEN_MAX];
    struct err e;
    cr_assert_eq(idtoken_sign(&c, NOW, t, sizeof t, &e), 0, "%s", e.msg);
    cr_assert_lt(strlen(t), IDTOKEN_MAX);
    cr_assert_eq(idtoken_sign(&c, NOW, t, strlen(t), &e), -1, "a buffer one byte short");
    cr_assert_str_eq(e.code, "internal_error");
    cr_assert_eq(idtoken_sign(&c, NOW, t, strlen(t) + 1, &e), 0, "%s", e.msg);
    struct idtoken_claims bad = alice;
    bad.email = big;
    cr_assert_eq(idtoken_sign(&bad, NOW, t, sizeof t, &e), -1, "a 513-byte claim");
    bad = alice;
    bad.aud = "app.\xff.example";
    cr_assert_eq(idtoken_sign(&bad, NOW, t, sizeof t, &e), -1, "not UTF-8");
    bad = alice;
    bad.sub = "";
    cr_assert_eq(idtoken_sign(&bad, NOW, t, sizeof t, &e), -1, "no sub");
    free(k);
}

/* ES256 (RFC 7518 section 3.4): R || S, 64 bytes, not DER. */
Test(idtoken, es256_signature_is_raw_r_and_s_and_verifies)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY_up_ref(ec);
    char t[IDTOKEN_MAX];
    unsigned char *part[3];
    size_t len[3];
    sign_split(ec, "ec.key", &alice, t, part, len);
    cr_assert(strstr((char *)part[0], "\"alg\":\"ES256\""), "%s", part[0]);
    cr_assert_eq(len[2], 64);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(part[2], 32, NULL), BN_bin2bn(part[2] + 32, 32, NULL));
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(sig, &der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, ec), 1);
    cr_assert_eq(EVP_DigestVerify(ctx, der, (size_t)dlen, (unsigned char *)t, (size_t)(strrchr(t, '.') - t)), 1);
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(ec);
    free_parts(part);
}

Test(idtoken, refuses_encrypted_unsupported_and_too_many_keys)
{
    struct err e;
    char *enc = write_key(rfc8037_key(), "enc.key", "secret-pass");
    cr_assert_eq(init_with(enc, NULL, &e), -1);
    cr_assert_str_eq(e.code, "config_invalid");
    cr_assert(strstr(e.msg, "not an unencrypted PEM private key"), "%s", e.msg);
    char *x448 = write_key(EVP_PKEY_Q_keygen(NULL, NULL, "X448"), "x448.key", NULL);
    cr_assert_eq(init_with(x448, NULL, &e), -1);
    cr_assert(strstr(e.msg, "unsupported key type X448"), "%s", e.msg);
    cr_assert_null(idtoken_header(), "a refused start leaves the feature off");
    /* The signing key listed again as an extra key is published once; a
     * fifth extra key is one too many. */
    char *k = write_key(rfc8037_key(), "rfc.key", NULL);
    char *same = util_xasprintf("%s,%s", k, k);
    cr_assert_eq(init_with(k, same, &e), 0, "%s", e.msg);
    char *five = util_xasprintf("%s,%s,%s,%s,%s", k, k, k, k, k);
    cr_assert_eq(init_with(k, five, &e), -1);
    cr_assert(strstr(e.msg, "at most 4"), "%s", e.msg);
    free(five);
    free(same);
    free(k);
    free(x448);
    free(enc);
}

/* ECDSA signatures are randomized: equal tokens prove reuse, not chance. */
Test(idtoken, the_cache_reuses_a_token_and_a_disabled_cache_signs_again)
{
    char *k = write_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "ec.key", NULL);
    init_ok(k);
    char a[IDTOKEN_MAX], b[IDTOKEN_MAX];
    struct err e;
    tlcache_configure(5000);
    cr_assert_eq(idtoken_get(&alice, a, sizeof a, &e), 0, "%s", e.msg);
    cr_assert_eq(idtoken_get(&alice, b, sizeof b, &e), 0, "%s", e.msg);
    cr_assert_str_eq(a, b);
    tlcache_configure(0);
    cr_assert_eq(idtoken_get(&alice, b, sizeof b, &e), 0, "%s", e.msg);
    cr_assert_str_neq(a, b);
    tlcache_free();
    free(k);
}
