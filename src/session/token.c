/* Session token signing and verification (HMAC-SHA256, OpenSSL). Parsing is
 * strict and bounded: fixed field count, fixed decoded lengths, an alphabet per
 * field; every failure is the same "unauthorized" so a caller learns nothing. */
#include "session/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define KEYRING_MAX 16

struct key {
    char kid[TOKEN_KID_MAX + 1];
    unsigned char secret[64];
    size_t len;
    int staged;   /* "next": verifies, never signs (multi-instance rotation) */
};

struct keyring {
    struct key keys[KEYRING_MAX];
    size_t n;
    int signer;   /* index of the first key that is not staged */
    uint64_t gen; /* unique per key ring made: names it in the MAC contexts */
};

static atomic_uint_fast64_t keyring_gen;

static int kid_ok(const char *s, size_t n)
{
    if (n == 0 || n > TOKEN_KID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* 32 bytes are 43 base64url characters, whose last one carries 4 bits and 2
 * that must be zero: with them set, other texts would decode to the same id or
 * signature. One text per token (the cache is keyed by the text). */
static int b64url_32_canonical(const char *s)
{
    static const char last[] = "AEIMQUYcgkosw048";
    return strchr(last, s[42]) != NULL;
}

static int org_ok(const char *s, size_t n)
{
    if (n < 2 || n > TOKEN_ORG_MAX || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int keyring_add_line(struct keyring *k, char *line, int lineno, struct err *e)
{
    char *save = NULL;
    char *kid = strtok_r(line, " \t", &save);
    char *secret = strtok_r(NULL, " \t", &save);
    if (!kid || kid[0] == '#')
        return 0;
    char *flag = secret ? strtok_r(NULL, " \t", &save) : NULL;
    if (!secret || (flag && strcmp(flag, "next") != 0) || strtok_r(NULL, " \t", &save))
        return err_set(e, "config_invalid", "session keys line %d: expected 'kid secret [next]'", lineno);
    if (!kid_ok(kid, strlen(kid)))
        return err_set(e, "config_invalid", "session keys line %d: kid must be 1-32 of [A-Za-z0-9_-]", lineno);
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0)
            return err_set(e, "config_invalid", "session keys line %d: kid '%s' appears twice", lineno, kid);
    if (k->n >= KEYRING_MAX)
        return err_set(e, "config_invalid", "session keys: more than %d keys", KEYRING_MAX);
    size_t len = 0;
    unsigned char *raw = util_b64url_decode(secret, strlen(secret), &len);
    if (!raw || len < 32 || len > 64) {
        free(raw);
        return err_set(e, "config_invalid", "session keys line %d: secret must be base64url of 32 to 64 bytes",
                       lineno);
    }
    struct key *key = &k->keys[k->n++];
    snprintf(key->kid, sizeof key->kid, "%s", kid);
    memcpy(key->secret, raw, len);
    key->len = len;
    key->staged = flag != NULL;
    OPENSSL_cleanse(raw, len);
    free(raw);
    return 0;
}

struct keyring *keyring_parse(const char *text, struct err *e)
{
    struct keyring *k = util_xcalloc(1, sizeof *k);
    k->gen = atomic_fetch_add(&keyring_gen, 1) + 1;
    char *copy = util_xstrdup(text);
    char *save = NULL;
    int lineno = 0, rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        rc = keyring_add_line(k, line, lineno, e);
    }
    OPENSSL_cleanse(copy, strlen(copy));
    free(copy);
    k->signer = -1;
    for (size_t i = 0; i < k->n && k->signer < 0; i++)
        if (!k->keys[i].staged)
            k->signer = (int)i;
    if (rc == 0 && k->signer < 0)
        rc = err_set(e, "config_invalid", "session keys: no signing key (run certs/gen-dev-certs.sh)");
    if (rc < 0) {
        keyring_free(k);
        return NULL;
    }
    return k;
}

struct keyring *keyring_load(const char *path, struct err *e)
{
    size_t len;
    char *text = util_read_file(path, 65536, &len);
    if (!text) {
        err_set(e, "config_invalid", "cannot read session keys file %s", path);
        return NULL;
    }
    struct keyring *k = keyring_parse(text, e);
    OPENSSL_cleanse(text, len);
    free(text);
    return k;
}

void keyring_free(struct keyring *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

const char *keyring_signing_kid(const struct keyring *k)
{
    return k->keys[k->signer].kid;
}

const char *keyring_kid_at(const struct keyring *k, size_t i, int *staged)
{
    if (i >= k->n)
        return NULL;
    if (staged)
        *staged = k->keys[i].staged;
    return k->keys[i].kid;
}

size_t keyring_size(const struct keyring *k)
{
    return k->n;
}

static const struct key *keyring_find(const struct keyring *k, const char *kid, size_t n)
{
    for (size_t i = 0; i < k->n; i++)
        if (strlen(k->keys[i].kid) == n && memcmp(k->keys[i].kid, kid, n) == 0)
            return &k->keys[i];
    return NULL;
}

/* HMAC-SHA256 with a context per thread and key, keyed once: a one-shot
 * HMAC() fetches the digest, allocates and hashes both key pads every time,
 * which was the largest share of a cached /auth answer's CPU. The contexts
 * belong to the thread (freed when it ends) and to one key ring (made anew
 * when another ring is used). */
struct mac_ctxs {
    uint64_t gen;
    EVP_MAC_CTX *ctx[KEYRING_MAX];
};

static EVP_MAC *hmac_alg;
static pthread_key_t mac_tls;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void mac_ctxs_clear(struct mac_ctxs *m)
{
    for (size_t i = 0; i < KEYRING_MAX; i++) {
        EVP_MAC_CTX_free(m->ctx[i]);
        m->ctx[i] = NULL;
    }
}

static void mac_ctxs_free(void *p)
{
    mac_ctxs_clear(p);
    free(p);
}

static void mac_init_once(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    pthread_key_create(&mac_tls, mac_ctxs_free);
}

static EVP_MAC_CTX *mac_ctx(const struct keyring *k, const struct key *key)
{
    pthread_once(&mac_once, mac_init_once);
    struct mac_ctxs *m = pthread_getspecific(mac_tls);
    if (!m) {
        m = util_xcalloc(1, sizeof *m);
        pthread_setspecific(mac_tls, m);
    }
    if (m->gen != k->gen) {
        mac_ctxs_clear(m);
        m->gen = k->gen;
    }
    size_t i = (size_t)(key - k->keys);
    if (m->ctx[i])
        return EVP_MAC_init(m->ctx[i], NULL, 0, NULL) == 1 ? m->ctx[i] : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *c = hmac_alg ? EVP_MAC_CTX_new(hmac_alg) : NULL;
    if (!c || EVP_MAC_init(c, key->secret, key->len, params) != 1) {
        EVP_MAC_CTX_free(c);
        return NULL;
    }
    m->ctx[i] = c;
    return c;
}

/* 0, or -1 when OpenSSL failed (the caller fails closed). */
static int mac(const struct keyring *k, const struct key *key, const char *data, size_t n, unsigned char out[32])
{
    EVP_MAC_CTX *c = mac_ctx(k, key);
    size_t len = 0;
    if (!c || EVP_MAC_update(c, (const unsigned char *)data, n) != 1 || EVP_MAC_final(c, out, &len, 32) != 1 ||
        len != 32)
        return -1;
    return 0;
}

int token_issue(const struct keyring *k, const char *org, struct token *t, char *out, size_t n, struct err *e)
{
    if (!org_ok(org, strlen(org)))
        return err_set(e, "invalid_slug", NULL);
    memset(t, 0, sizeof *t);
    const struct key *key = &k->keys[k->signer];
    snprintf(t->kid, sizeof t->kid, "%s", key->kid);
    snprintf(t->org, sizeof t->org, "%s", org);
    util_random(t->id, sizeof t->id);
    util_sha256_hex(t->id, sizeof t->id, t->id_hash);
    char *id = util_b64url_encode(t->id, sizeof t->id);
    char body[TOKEN_MAX_LEN];
    int len = snprintf(body, sizeof body, "s1.%s.%s.%s", t->kid, t->org, id);
    free(id);
    unsigned char sig[32];
    if (mac(k, key, body, (size_t)len, sig) < 0)
        return err_set(e, "internal_error", "HMAC failed");
    char *s = util_b64url_encode(sig, sizeof sig);
    int total = snprintf(out, n, "%s.%s", body, s);
    free(s);
    if (total < 0 || (size_t)total >= n)
        return err_set(e, "internal_error", "token buffer too small");
    return 0;
}

int token_verify(const struct keyring *k, const char *text, struct token *t, struct err *e)
{
    size_t n = strnlen(text, TOKEN_MAX_LEN + 1);
    if (n > TOKEN_MAX_LEN || strncmp(text, "s1.", 3) != 0)
        return err_set(e, "unauthorized", NULL);
    const char *f[5];
    size_t len[5];
    const char *p = text;
    for (int i = 0; i < 5; i++) {
        const char *dot = i < 4 ? memchr(p, '.', (size_t)(text + n - p)) : text + n;
        if (!dot)
            return err_set(e, "unauthorized", NULL);
        f[i] = p;
        len[i] = (size_t)(dot - p);
        p = dot + 1;
    }
    if (memchr(f[4], '.', len[4]) || !kid_ok(f[1], len[1]) || !org_ok(f[2], len[2]) || len[3] != 43 ||
        len[4] != 43 || !b64url_32_canonical(f[3]) || !b64url_32_canonical(f[4]))
        return err_set(e, "unauthorized", NULL);
    const struct key *key = keyring_find(k, f[1], len[1]);
    if (!key)
        return err_set(e, "unauthorized", NULL);
    size_t siglen = 0, idlen = 0;
    unsigned char *sig = util_b64url_decode(f[4], len[4], &siglen);
    unsigned char expect[32];
    int ok = mac(k, key, text, (size_t)(f[4] - 1 - text), expect) == 0 && sig && siglen == 32 &&
             CRYPTO_memcmp(sig, expect, 32) == 0;
    free(sig);
    if (!ok)
        return err_set(e, "unauthorized", NULL);
    unsigned char *id = util_b64url_decode(f[3], len[3], &idlen);
    if (!id || idlen != TOKEN_ID_BYTES) {
        free(id);
        return err_set(e, "unauthorized", NULL);
    }
    memset(t, 0, sizeof *t);
    memcpy(t->kid, f[1], len[1]);
    memcpy(t->org, f[2], len[2]);
    memcpy(t->id, id, TOKEN_ID_BYTES);
    util_sha256_hex(t->id, TOKEN_ID_BYTES, t->id_hash);
    free(id);
    return 0;
}
