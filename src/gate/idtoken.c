/* Signed identity tokens (see idtoken.h). The keys load once at start and
 * are read-only afterwards, so the workers share them without locks (each
 * signature has its own EVP_MD_CTX). A signed token is kept in the process
 * cache (util/tlcache) under "j:" + SHA-256 of the claims that vary, and
 * reused while more than half its lifetime remains. */
#include "gate/idtoken.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/tlcache.h"
#include "util/util.h"

#define KEY_FILE_MAX 65536
#define CLAIM_MAX 512          /* bytes of any one claim string */
#define SIG_MAX 64             /* Ed25519 and ES256 (R || S, RFC 7518 section 3.4) */
#define ES256_COORD 32

struct idkey {
    EVP_PKEY *pkey;
    int ec;                    /* 1: ES256 (P-256); 0: EdDSA (Ed25519) */
    json_t *jwk;               /* public JWK with kid, alg, use */
    char kid[48];              /* RFC 7638 thumbprint: base64url SHA-256, 43 chars */
};

static struct {
    int on;
    char *header;
    char *iss;
    int ttl_s;
    struct idkey sign;
    struct idkey extra[IDTOKEN_EXTRA_KEYS_MAX];
    int nextra;
    char *hdr_b64;             /* the JOSE header, constant per signing key */
    char *jwks;
} st;

/* What the cache keeps for one identity: exp, then the token. */
struct cached {
    int64_t exp_s;
    char token[IDTOKEN_MAX];
};

/* ---- keys ---- */

/* Never prompt on a terminal for a passphrase: encrypted keys are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static EVP_PKEY *pem_parse(const char *pem, size_t len, int private)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = NULL;
    if (bio)
        k = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                    : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error(); /* failed attempts must not leak into other modules' reports */
    return k;
}

/* 0 and *ec for Ed25519 or EC P-256; -1 for anything else. */
static int key_kind(EVP_PKEY *k, int *ec)
{
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
        *ec = 0;
        return 0;
    }
    char group[64];
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) == 1 &&
        OBJ_txt2nid(group) == NID_X9_62_prime256v1) {
        *ec = 1;
        return 0;
    }
    return -1;
}

static json_t *b64url_json(const unsigned char *p, size_t n)
{
    char *s = util_b64url_encode(p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* The public JWK with only its required members (RFC 7638 section 3.2). */
static json_t *jwk_required(const struct idkey *k)
{
    unsigned char x[ES256_COORD], y[ES256_COORD];
    if (!k->ec) {
        size_t n = sizeof x;
        if (EVP_PKEY_get_raw_public_key(k->pkey, x, &n) != 1 || n != sizeof x)
            return NULL;
        return json_pack("{s:s, s:s, s:o}", "crv", "Ed25519", "kty", "OKP", "x", b64url_json(x, n));
    }
    BIGNUM *bx = NULL, *by = NULL;
    int ok = EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
             EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
             BN_bn2binpad(bx, x, sizeof x) == sizeof x && BN_bn2binpad(by, y, sizeof y) == sizeof y;
    BN_free(bx);
    BN_free(by);
    if (!ok)
        return NULL;
    return json_pack("{s:s, s:s, s:o, s:o}", "crv", "P-256", "kty", "EC", "x", b64url_json(x, sizeof x), "y",
                     b64url_json(y, sizeof y));
}

/* kid = base64url(SHA-256(required members, sorted, no white space)), RFC
 * 7638 section 3; jansson's compact, sorted output is exactly that form. */
static int key_describe(struct idkey *k)
{
    k->jwk = jwk_required(k);
    char *canon = k->jwk ? json_dumps(k->jwk, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!canon)
        return -1;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    free(canon);
    char *kid = util_b64url_encode(md, sizeof md);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    free(kid);
    json_object_set_new(k->jwk, "kid", json_string(k->kid));
    json_object_set_new(k->jwk, "alg", json_string(k->ec ? "ES256" : "EdDSA"));
    json_object_set_new(k->jwk, "use", json_string("sig"));
    return 0;
}

/* One key from a PEM file: a private key (private = 1), or for published
 * keys either a public or a private one (only its public half is used). */
static int key_load(const char *cfgpath, const char *opt, const char *path, int private, struct idkey *k,
                    struct err *e)
{
    memset(k, 0, sizeof *k);
    size_t len = 0;
    char *pem = util_read_file(path, KEY_FILE_MAX, &len);
    if (!pem)
        return err_set(e, "config_invalid", "%s: [gate] %s '%s': cannot read: %s", cfgpath, opt, path,
                       errno == EFBIG ? "larger than 64 KiB" : strerror(errno));
    k->pkey = private ? NULL : pem_parse(pem, len, 0);
    if (!k->pkey)
        k->pkey = pem_parse(pem, len, 1);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (!k->pkey)
        return err_set(e, "config_invalid", "%s: [gate] %s '%s': not an unencrypted PEM %s key", cfgpath, opt,
                       path, private ? "private" : "public or private");
    if (key_kind(k->pkey, &k->ec) < 0)
        return err_set(e, "config_invalid", "%s: [gate] %s '%s': unsupported key type %s (use Ed25519 or EC P-256)",
                       cfgpath, opt, path, EVP_PKEY_get0_type_name(k->pkey));
    if (key_describe(k) < 0)
        return err_set(e, "config_invalid", "%s: [gate] %s '%s': cannot read the public key", cfgpath, opt, path);
    return 0;
}

static void key_free(struct idkey *k)
{
    EVP_PKEY_free(k->pkey);
    json_decref(k->jwk);
    memset(k, 0, sizeof *k);
}

/* The comma-separated published-only keys; one equal to the signing key is
 * listed once. */
static int extra_keys_load(const struct config *c, struct err *e)
{
    char *list = util_xstrdup(c->identity_jwt_extra_keys);
    int rc = 0, listed = 0;
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save)) {
        p += strspn(p, " \t");
        if (!*p)
            continue;
        if (listed++ == IDTOKEN_EXTRA_KEYS_MAX) {
            rc = err_set(e, "config_invalid", "%s: [gate] identity_jwt_extra_keys: at most %d keys", c->path,
                         IDTOKEN_EXTRA_KEYS_MAX);
            break;
        }
        struct idkey *k = &st.extra[st.nextra];
        rc = key_load(c->path, "identity_jwt_extra_keys", p, 0, k, e);
        if (rc == 0)
            st.nextra++;
        else
            key_free(k);
        if (rc == 0 && !strcmp(k->kid, st.sign.kid))
            key_free(&st.extra[--st.nextra]);
    }
    free(list);
    return rc;
}

static char *jwks_build(void)
{
    json_t *keys = json_array();
    json_array_append(keys, st.sign.jwk);
    for (int i = 0; i < st.nextra; i++)
        json_array_append(keys, st.extra[i].jwk);
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return s;
}

static char *jose_header_b64(void)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", st.sign.ec ? "ES256" : "EdDSA", "typ", "JWT", "kid",
                          st.sign.kid);
    char *s = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    char *b = util_b64url_encode((const unsigned char *)s, strlen(s));
    free(s);
    return b;
}

int idtoken_init(const struct config *c, struct err *e)
{
    idtoken_shutdown();
    if (!c->identity_jwt_header[0])
        return 0;
    if (key_load(c->path, "identity_jwt_key", c->identity_jwt_key, 1, &st.sign, e) < 0 ||
        extra_keys_load(c, e) < 0) {
        idtoken_shutdown();
        return -1;
    }
    st.header = util_xstrdup(c->identity_jwt_header);
    st.iss = util_xstrdup(c->base_url);
    st.ttl_s = c->identity_jwt_ttl_s;
    st.hdr_b64 = jose_header_b64();
    st.jwks = jwks_build();
    st.on = 1;
    log_msg(LOG_INFO, "signed identity header %s: %s key %s, ttl %d s, %d more key(s) published", st.header,
            st.sign.ec ? "ES256" : "EdDSA", st.sign.kid, st.ttl_s, st.nextra);
    return 0;
}

void idtoken_shutdown(void)
{
    key_free(&st.sign);
    for (int i = 0; i < st.nextra; i++)
        key_free(&st.extra[i]);
    free(st.header);
    free(st.iss);
    free(st.hdr_b64);
    free(st.jwks);
    memset(&st, 0, sizeof st);
}

const char *idtoken_header(void)
{
    return st.on ? st.header : NULL;
}

const char *idtoken_kid(void)
{
    return st.sign.kid;
}

/* ---- tokens ---- */

static int claim_set(json_t *o, const char *name, const char *v)
{
    json_t *s = strlen(v) <= CLAIM_MAX ? json_string(v) : NULL; /* NULL also for invalid UTF-8 */
    return s ? json_object_set_new(o, name, s) : -1;
}

/* The claims as compact JSON; NULL when one is missing, too long or not
 * UTF-8. aud: the original host, lower case (hosts are case-insensitive). */
static char *payload_json(const struct idtoken_claims *c, int64_t iat)
{
    if (!c->sub || !c->sub[0] || !c->org || !c->workspace || !c->role)
        return NULL;
    char aud[CLAIM_MAX + 2];
    const char *a = c->aud && c->aud[0] ? c->aud : st.iss;
    snprintf(aud, sizeof aud, "%s", a);
    for (char *p = aud; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    json_t *o = json_object();
    int bad = claim_set(o, "iss", st.iss) | claim_set(o, "sub", c->sub) | claim_set(o, "aud", aud);
    if (c->email && c->email[0])
        bad |= claim_set(o, "email", c->email);
    bad |= claim_set(o, "org", c->org) | claim_set(o, "workspace", c->workspace) | claim_set(o, "role", c->role);
    if (c->org_role && c->org_role[0])
        bad |= claim_set(o, "org_role", c->org_role);
    bad |= json_object_set_new(o, "iat", json_integer(iat)) | json_object_set_new(o, "nbf", json_integer(iat)) |
           json_object_set_new(o, "exp", json_integer(iat + st.ttl_s));
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* ECDSA comes out of OpenSSL as DER; JWS wants R || S, each 32 bytes. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[SIG_MAX])
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *sv = NULL;
    if (s)
        ECDSA_SIG_get0(s, &r, &sv);
    int ok = s && BN_bn2binpad(r, raw, ES256_COORD) == ES256_COORD &&
             BN_bn2binpad(sv, raw + ES256_COORD, ES256_COORD) == ES256_COORD;
    ECDSA_SIG_free(s);
    return ok ? 0 : -1;
}

static int sign_input(const char *tbs, size_t n, unsigned char sig[SIG_MAX])
{
    unsigned char der[80];
    size_t len = st.sign.ec ? sizeof der : SIG_MAX;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, st.sign.ec ? EVP_sha256() : NULL, NULL, st.sign.pkey) == 1 &&
             EVP_DigestSign(ctx, st.sign.ec ? der : sig, &len, (const unsigned char *)tbs, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok && st.sign.ec)
        ok = ecdsa_der_to_raw(der, len, sig) == 0;
    else if (ok)
        ok = len == SIG_MAX;
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

static void append_b64url(struct buf *b, const void *p, size_t n)
{
    char *s = util_b64url_encode(p, n);
    buf_appends(b, s);
    free(s);
}

int idtoken_sign(const struct idtoken_claims *c, int64_t now_s, char *out, size_t n, struct err *e)
{
    if (!st.on)
        return err_set(e, "internal_error", "No signed identity header is configured.");
    char *payload = payload_json(c, now_s);
    if (!payload)
        return err_set(e, "internal_error", "An identity claim is missing, longer than %d bytes or not UTF-8.",
                       CLAIM_MAX);
    struct buf b;
    buf_init(&b);
    buf_appends(&b, st.hdr_b64);
    buf_append(&b, ".", 1);
    append_b64url(&b, payload, strlen(payload));
    free(payload);
    unsigned char sig[SIG_MAX];
    int rc = -1;
    if (sign_input(b.data, b.len, sig) < 0) {
        err_set(e, "internal_error", "The identity token could not be signed.");
        goto done;
    }
    buf_append(&b, ".", 1);
    append_b64url(&b, sig, sizeof sig);
    if (b.len >= n || b.len >= IDTOKEN_MAX) {
        err_set(e, "internal_error", "The identity token would be longer than %d bytes.", IDTOKEN_MAX - 1);
        goto done;
    }
    memcpy(out, b.data, b.len + 1);
    rc = 0;
done:
    buf_free(&b);
    return rc;
}

/* The claims that vary, length-prefixed (no separator a host could forge). */
static void cache_key(const struct idtoken_claims *c, char key[TLCACHE_KEY_MAX])
{
    const char *f[] = {c->sub, c->email, c->org, c->workspace, c->role, c->org_role, c->aud};
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        buf_appendf(&b, "%zu:%s", f[i] ? strlen(f[i]) : 0, f[i] ? f[i] : "");
    char hex[65];
    util_sha256_hex(b.data, b.len, hex);
    buf_free(&b);
    snprintf(key, TLCACHE_KEY_MAX, "j:%s", hex);
}

int idtoken_get(const struct idtoken_claims *c, char *out, size_t n, struct err *e)
{
    char key[TLCACHE_KEY_MAX];
    cache_key(c, key);
    struct cached v;
    int64_t now_s = util_now_ms() / 1000;
    if (tlcache_get(key, &v, sizeof v) && v.exp_s - now_s > st.ttl_s / 2 && strlen(v.token) < n) {
        memcpy(out, v.token, strlen(v.token) + 1);
        return 0;
    }
    memset(&v, 0, sizeof v);
    if (idtoken_sign(c, now_s, v.token, sizeof v.token, e) < 0)
        return -1;
    v.exp_s = now_s + st.ttl_s;
    tlcache_put(key, &v, sizeof v);
    if (strlen(v.token) >= n)
        return err_set(e, "internal_error", "The identity token does not fit.");
    memcpy(out, v.token, strlen(v.token) + 1);
    return 0;
}

/* ---- JWKS ---- */

void idtoken_handle_jwks(struct http_req *r)
{
    if (!st.on) {
        http_reply_error(r, "not_found", "No signed identity header is configured.");
        return;
    }
    /* Verifiers cache it; a rotation waits longer than this (docs/proxies.md). */
    http_add_header(r, "Cache-Control", "public, max-age=300");
    http_reply(r, 200, "application/json", st.jwks, strlen(st.jwks));
}
