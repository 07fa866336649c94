/* The signed identity header end to end: real Redis and ssogate, keys made
 * with the openssl command as an operator would, and every token checked by
 * an independent verifier (Debian's PyJWT, tests/integration/jws_verify.py)
 * against the JWKS fetched from the running server. Also: no header on 401
 * and 403, tampering detected, ES256 and a rotation JWKS, the feature off,
 * and bad key configurations refused at start. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_flow.h"
#include "org/org.h"
#include "session/session.h"
#include "store/store.h"
#include "util/util.h"

#define HDR "X-Auth-Identity"
#define PY "/usr/bin/python3" /* Debian's, with python3-jwt; not a pyenv one on PATH */

static struct sg sg;
static char *keys;          /* temp dir of the test's key files */
static char cookie[TOKEN_MAX_LEN + 32];
static char uid[ORG_ID_MAX];

static char *key_path(const char *name)
{
    return ts_path(keys, name);
}

static void make_keys(void)
{
    keys = ts_mkdtemp("ssogate-jwk");
    cr_assert_not_null(keys);
    char *cmd = util_xasprintf("cd %s && openssl genpkey -algorithm ed25519 -out ed.key && "
                               "openssl pkey -in ed.key -pubout -out ed.pub && "
                               "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key && "
                               "openssl pkey -in ec.key -pubout -out ec.pub && "
                               "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key && "
                               "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.key && "
                               "echo 'not a key' > junk.key 2>&1",
                               keys);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "openssl: %s", out);
    free(out);
    free(cmd);
}

static char *feature_conf(const char *key, const char *extra)
{
    char *k = key_path(key);
    char *x = extra ? key_path(extra) : util_xstrdup("");
    char *conf = util_xasprintf("[server]\ntrusted_proxies = 127.0.0.1/32\n"
                                "[route.wsa]\npath_prefix = /a/\nworkspace = acme/ws-a\n"
                                "[route.wsb]\npath_prefix = /b/\nworkspace = acme/ws-b\n"
                                "[gate]\nidentity_jwt_header = " HDR "\nidentity_jwt_key = %s\n"
                                "identity_jwt_ttl_s = 90\nidentity_jwt_extra_keys = %s\n",
                                k, x);
    free(k);
    free(x);
    return conf;
}

/* alice, member of acme, editor of ws-a, nothing in ws-b; a session cookie. */
static void make_alice(void)
{
    flow_store_open(&sg);
    struct err e;
    struct org_actor op = {.operator = 1, .label = "test"};
    struct org_info org;
    char *owner_key = NULL, ws[ORG_ID_MAX], other[ORG_ID_MAX];
    cr_assert_eq(org_create(&op, "acme", "Acme", "owner@acme.test", &org, &owner_key, &e), 0, "%s", e.msg);
    free(owner_key);
    cr_assert_eq(org_member_add(&op, org.id, "alice@acme.test", ORG_ROLE_MEMBER, uid, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_create(&op, org.id, "ws-a", "A", ws, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_create(&op, org.id, "ws-b", "B", other, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_member_set(&op, org.id, ws, uid, "editor", &e), 0, "%s", e.msg);
    char *ring_path = ts_path(sg.dir, "certs/session.keys");
    struct keyring *ring = keyring_load(ring_path, &e);
    cr_assert_not_null(ring, "%s", e.msg);
    struct session s = {0};
    snprintf(s.org, sizeof s.org, "%s", org.id);
    snprintf(s.user_id, sizeof s.user_id, "%s", uid);
    snprintf(s.email, sizeof s.email, "alice@acme.test");
    struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 3600, .idle_refresh_s = 60};
    char token[TOKEN_MAX_LEN + 1];
    cr_assert_eq(session_create(ring, &lim, &s, token, sizeof token, &e), 0, "%s", e.msg);
    snprintf(cookie, sizeof cookie, "Cookie: ssogate=%s", token);
    keyring_free(ring);
    free(ring_path);
}

static void setup(void)
{
    make_keys();
    char *conf = feature_conf("ed.key", NULL);
    sg_start(&sg, conf, NULL);
    free(conf);
    make_alice();
}

static void teardown(void)
{
    store_shutdown();
    sg_stop(&sg);
    if (keys && !ts_keep_files())
        ts_rm_rf(keys);
    free(keys);
    keys = NULL;
}

TestSuite(idtoken, .init = setup, .fini = teardown, .timeout = 120);

/* GET /auth as nginx asks it, for a path under prefix, from host. */
static void auth(const char *path, const char *host, int with_cookie, struct sg_resp *r)
{
    char xuri[256], xhost[256];
    snprintf(xuri, sizeof xuri, "X-Forwarded-Uri: %s", path);
    snprintf(xhost, sizeof xhost, "X-Forwarded-Host: %s", host);
    struct curl_slist *h = curl_slist_append(NULL, xuri);
    h = curl_slist_append(h, xhost);
    if (with_cookie)
        h = curl_slist_append(h, cookie);
    sg_request(&sg, "GET", "/auth", h, NULL, r);
    curl_slist_free_all(h);
}

/* The token of an allowed /auth answer (malloc'd). */
static char *token_for(const char *host)
{
    struct sg_resp r;
    auth("/a/page", host, 1, &r);
    cr_assert_eq(r.status, 200, "status %ld: %s", r.status, r.body);
    char *t = sg_header(&r, HDR);
    cr_assert_not_null(t, "no %s header on an allowed answer", HDR);
    sg_resp_free(&r);
    return t;
}

/* Fetch the JWKS, run the independent verifier; returns its exit status and
 * its output (malloc'd) in *out. */
static int verify(const char *token, const char *aud, char **out)
{
    struct sg_resp r;
    sg_get(&sg, "/.well-known/jwks.json", &r);
    cr_assert_eq(r.status, 200, "JWKS: %ld %s", r.status, r.body);
    char *jwks = key_path("jwks.json"), *tok = key_path("token.txt");
    cr_assert_eq(ts_write_file(jwks, r.body), 0);
    cr_assert_eq(ts_write_file(tok, token), 0);
    sg_resp_free(&r);
    char *cmd = util_xasprintf(PY " %s/tests/integration/jws_verify.py %s %s '%s' '%s' 2>&1", SSOGATE_SOURCE_DIR,
                               jwks, tok, aud, sg.base);
    int st;
    *out = flow_sh(cmd, &st);
    free(cmd);
    free(jwks);
    free(tok);
    return st;
}

static json_t *verified_claims(const char *token, const char *aud, json_t **header)
{
    char *out;
    int st = verify(token, aud, &out);
    cr_assert_eq(st, 0, "the verifier refused a genuine token: %s", out);
    json_t *doc = json_loads(out, 0, NULL);
    cr_assert_not_null(doc, "verifier output: %s", out);
    free(out);
    json_t *claims = json_incref(json_object_get(doc, "claims"));
    if (header)
        *header = json_incref(json_object_get(doc, "header"));
    json_decref(doc);
    return claims;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(missing)";
}

Test(idtoken, allowed_answer_carries_a_token_that_verifies_against_the_published_jwks)
{
    char *t = token_for("App.Example.test:8443");
    json_t *hdr;
    json_t *c = verified_claims(t, "app.example.test:8443", &hdr);
    cr_assert_str_eq(str(hdr, "alg"), "EdDSA");
    cr_assert_str_eq(str(hdr, "typ"), "JWT");
    cr_assert_str_eq(str(c, "iss"), sg.base);
    cr_assert_str_eq(str(c, "sub"), uid);
    cr_assert_str_eq(str(c, "email"), "alice@acme.test");
    cr_assert_str_eq(str(c, "org"), "acme");
    cr_assert_str_eq(str(c, "workspace"), "acme/ws-a");
    cr_assert_str_eq(str(c, "role"), "editor");
    cr_assert_str_eq(str(c, "org_role"), "member");
    cr_assert_str_eq(str(c, "aud"), "app.example.test:8443", "aud is the original host, lower case");
    json_int_t iat = json_integer_value(json_object_get(c, "iat"));
    cr_assert_eq(json_integer_value(json_object_get(c, "exp")) - iat, 90, "exp - iat is identity_jwt_ttl_s");
    cr_assert_eq(json_integer_value(json_object_get(c, "nbf")), iat);
    json_int_t now = util_now_ms() / 1000;
    cr_assert(iat <= now && iat >= now - 10, "iat %lld, now %lld", (long long)iat, (long long)now);
    cr_assert_null(strchr(t, '='), "base64url without padding: %s", t);
    json_decref(hdr);
    json_decref(c);
    free(t);
}

Test(idtoken, jwks_is_public_and_cacheable_for_five_minutes)
{
    struct sg_resp r;
    sg_get(&sg, "/.well-known/jwks.json", &r);
    cr_assert_eq(r.status, 200);
    char *cc = sg_header(&r, "Cache-Control");
    cr_assert_str_eq(cc, "public, max-age=300");
    json_t *doc = json_loads(r.body, 0, NULL);
    json_t *k0 = json_array_get(json_object_get(doc, "keys"), 0);
    cr_assert_eq(json_array_size(json_object_get(doc, "keys")), 1);
    cr_assert_str_eq(str(k0, "kty"), "OKP");
    cr_assert_str_eq(str(k0, "crv"), "Ed25519");
    cr_assert_str_eq(str(k0, "use"), "sig");
    cr_assert_null(json_object_get(k0, "d"), "never the private part");
    json_decref(doc);
    free(cc);
    sg_resp_free(&r);
}

/* The signature covers every claim: a role raised in the payload, or one
 * byte of the signature changed, and the verifier refuses. */
Test(idtoken, tampered_tokens_fail_verification)
{
    char *t = token_for("app.example.test");
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    size_t n;
    unsigned char *raw = util_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    cr_assert_not_null(raw);
    json_t *claims = json_loadb((const char *)raw, n, 0, NULL);
    json_object_set_new(claims, "role", json_string("admin"));
    char *forged_json = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *forged_b64 = util_b64url_encode((const unsigned char *)forged_json, strlen(forged_json));
    char *forged = util_xasprintf("%.*s.%s%s", (int)(dot1 - t), t, forged_b64, dot2);
    char *out;
    cr_assert_neq(verify(forged, "app.example.test", &out), 0, "a raised role verified: %s", out);
    cr_assert(strstr(out, "InvalidSignatureError"), "%s", out);
    free(out);
    char *flipped = util_xstrdup(t);
    char *c = flipped + strlen(flipped) - 10;
    *c = *c == 'A' ? 'B' : 'A';
    cr_assert_neq(verify(flipped, "app.example.test", &out), 0, "a changed signature verified: %s", out);
    free(out);
    /* And the genuine one for another audience is refused too. */
    cr_assert_neq(verify(t, "other.example.test", &out), 0, "wrong audience accepted: %s", out);
    cr_assert(strstr(out, "InvalidAudienceError"), "%s", out);
    free(out);
    free(flipped);
    free(forged);
    free(forged_b64);
    free(forged_json);
    json_decref(claims);
    free(raw);
    free(t);
}

Test(idtoken, refused_answers_carry_no_token)
{
    struct sg_resp r;
    auth("/b/page", "app.example.test", 1, &r); /* signed in, no access to ws-b */
    cr_assert_eq(r.status, 403, "%ld %s", r.status, r.body);
    cr_assert_null(sg_header(&r, HDR), "a 403 carried the signed header");
    cr_assert_null(sg_header(&r, "X-Auth-User"));
    sg_resp_free(&r);
    auth("/a/page", "app.example.test", 0, &r); /* not signed in */
    cr_assert_eq(r.status, 401);
    cr_assert_null(sg_header(&r, HDR), "a 401 carried the signed header");
    sg_resp_free(&r);
}

/* Signing is not on the hot path: the same identity and audience get the same
 * token back while more than half its lifetime remains (a second later iat
 * would differ if it were signed again); another audience a token of its own. */
Test(idtoken, token_is_reused_for_the_same_identity_and_audience)
{
    char *a = token_for("app.example.test");
    usleep(1100 * 1000);
    char *b = token_for("app.example.test");
    char *c = token_for("other.example.test");
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    json_t *cc = verified_claims(c, "other.example.test", NULL);
    cr_assert_str_eq(str(cc, "aud"), "other.example.test");
    json_decref(cc);
    free(a);
    free(b);
    free(c);
}

static void restart_with(const char *conf_text)
{
    sg_stop_server(&sg);
    char *conf = ts_read_file(sg.conf, NULL);
    char *more = util_xasprintf("%s\n%s", conf, conf_text);
    cr_assert_eq(ts_write_file(sg.conf, more), 0);
    free(conf);
    free(more);
    sg_restart_server(&sg);
}

/* EC P-256 signs as ES256; during a rotation the JWKS lists the signing key
 * first and the published-only one after it, and both kinds verify. */
Test(idtoken, es256_key_and_rotation_jwks)
{
    char *old = token_for("app.example.test");
    char *conf = feature_conf("ec.key", "ed.pub");
    restart_with(conf);
    free(conf);
    char *t = token_for("app.example.test");
    json_t *hdr;
    json_t *c = verified_claims(t, "app.example.test", &hdr);
    cr_assert_str_eq(str(hdr, "alg"), "ES256");
    cr_assert_str_eq(str(c, "sub"), uid);
    /* A token of the previous (now published-only) key still verifies. */
    json_decref(verified_claims(old, "app.example.test", NULL));
    struct sg_resp r;
    sg_get(&sg, "/.well-known/jwks.json", &r);
    json_t *doc = json_loads(r.body, 0, NULL);
    json_t *ks = json_object_get(doc, "keys");
    cr_assert_eq(json_array_size(ks), 2, "%s", r.body);
    cr_assert_str_eq(str(json_array_get(ks, 0), "kid"), str(hdr, "kid"));
    cr_assert_str_eq(str(json_array_get(ks, 0), "crv"), "P-256");
    cr_assert_str_eq(str(json_array_get(ks, 1), "alg"), "EdDSA");
    json_decref(doc);
    sg_resp_free(&r);
    json_decref(hdr);
    json_decref(c);
    free(t);
    free(old);
}

Test(idtoken, feature_off_means_no_header_and_jwks_404)
{
    restart_with("[gate]\nidentity_jwt_header =\n");
    struct sg_resp r;
    auth("/a/page", "app.example.test", 1, &r);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_null(sg_header(&r, HDR));
    cr_assert_not_null(sg_header(&r, "X-Auth-User"));
    sg_resp_free(&r);
    sg_get(&sg, "/.well-known/jwks.json", &r);
    cr_assert_eq(r.status, 404);
    json_t *doc = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(str(doc, "error"), "not_found");
    json_decref(doc);
    sg_resp_free(&r);
}

/* `ssogate serve` with conf + extra lines (and env): exit status and stderr. */
static int serve_with(const char *extra, const char *env, char **out)
{
    char *base = ts_read_file(sg.conf, NULL);
    char *path = key_path("bad.conf");
    char *text = util_xasprintf("%s\n%s", base, extra);
    cr_assert_eq(ts_write_file(path, text), 0);
    char *cmd = util_xasprintf("%s timeout 20 %s serve -c %s 2>&1", env ? env : "", sg_bin(), path);
    int st;
    *out = flow_sh(cmd, &st);
    free(cmd);
    free(text);
    free(path);
    free(base);
    return st;
}

Test(idtoken, bad_key_configurations_are_refused_at_start)
{
    sg_stop_server(&sg); /* the port stays free for nothing: each must exit first */
    static const struct {
        const char *key, *extra, *env, *want;
    } cases[] = {
        {"missing.key", NULL, NULL, "missing.key': cannot read: No such file"},
        {"junk.key", NULL, NULL, "junk.key': not an unencrypted PEM private key"},
        {"rsa.key", NULL, NULL, "rsa.key': unsupported key type RSA (use Ed25519 or EC P-256)"},
        {"p384.key", NULL, NULL, "p384.key': unsupported key type EC (use Ed25519 or EC P-256)"},
        {"ed.pub", NULL, NULL, "ed.pub': not an unencrypted PEM private key"},
        {"ed.key", "junk.key", NULL, "identity_jwt_extra_keys '"},
        {"ed.key", NULL, "SSOGATE_GATE_IDENTITY_JWT_TTL_S=9", "SSOGATE_GATE_IDENTITY_JWT_TTL_S: 9 is out of range"},
        {NULL, NULL, NULL, "identity_jwt_header needs identity_jwt_key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *k = cases[i].key ? key_path(cases[i].key) : util_xstrdup("");
        char *x = cases[i].extra ? key_path(cases[i].extra) : util_xstrdup("");
        char *extra = util_xasprintf("[gate]\nidentity_jwt_key = %s\nidentity_jwt_extra_keys = %s\n", k, x);
        char *out;
        int st = serve_with(extra, cases[i].env, &out);
        cr_expect_eq(st, 2, "case %zu: exit %d: %s", i, st, out);
        cr_expect(strstr(out, cases[i].want), "case %zu: stderr lacks \"%s\": %s", i, cases[i].want, out);
        cr_expect_null(strstr(out, "PRIVATE KEY"), "case %zu: key material in the output", i);
        free(out);
        free(extra);
        free(k);
        free(x);
    }
}
