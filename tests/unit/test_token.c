/* Session tokens: issue/verify round trip, key rotation (old kid still
 * verifies), and refusal of every malformed or forged token. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/token.h"
#include "util/util.h"

#define K1 "k1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
#define K2 "k2 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n"

static struct keyring *ring(const char *text)
{
    struct err e;
    struct keyring *k = keyring_parse(text, &e);
    cr_assert_not_null(k, "%s", e.msg);
    return k;
}

Test(token, round_trip_names_kid_and_org)
{
    struct keyring *k = ring(K1);
    struct token t, v;
    char s[TOKEN_MAX_LEN + 1];
    struct err e;
    cr_assert_eq(token_issue(k, "acme", &t, s, sizeof s, &e), 0);
    cr_assert(strncmp(s, "s1.k1.acme.", 11) == 0, "%s", s);
    cr_assert_eq(token_verify(k, s, &v, &e), 0, "%s", e.msg);
    cr_assert_str_eq(v.org, "acme");
    cr_assert_str_eq(v.kid, "k1");
    cr_assert_eq(memcmp(v.id, t.id, sizeof t.id), 0);
    cr_assert_str_eq(v.id_hash, t.id_hash);
    keyring_free(k);
}

Test(token, rotation_keeps_old_tokens_valid_and_signs_with_new)
{
    struct keyring *old = ring(K1);
    struct token t;
    char s[TOKEN_MAX_LEN + 1];
    struct err e;
    cr_assert_eq(token_issue(old, "acme", &t, s, sizeof s, &e), 0);
    struct keyring *rotated = ring(K2 K1);
    cr_assert_str_eq(keyring_signing_kid(rotated), "k2");
    cr_assert_eq(token_verify(rotated, s, &t, &e), 0);
    struct keyring *removed = ring(K2);
    cr_assert_eq(token_verify(removed, s, &t, &e), -1);
    cr_assert_str_eq(e.code, "unauthorized");
    keyring_free(old);
    keyring_free(rotated);
    keyring_free(removed);
}

Test(token, refuses_malformed_and_forged_tokens)
{
    struct keyring *k = ring(K1);
    struct token t;
    char s[TOKEN_MAX_LEN + 1];
    struct err e;
    cr_assert_eq(token_issue(k, "acme", &t, s, sizeof s, &e), 0);
    char bad[1024];
    size_t n = strlen(s);
    /* truncated */
    snprintf(bad, sizeof bad, "%.*s", (int)n - 1, s);
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    /* flipped signature character */
    snprintf(bad, sizeof bad, "%s", s);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    /* org swapped (signature covers it) */
    snprintf(bad, sizeof bad, "s1.k1.evil%s", s + 10);
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    /* unknown kid */
    snprintf(bad, sizeof bad, "s1.k9%s", s + 5);
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    /* extra field, empty, wrong version, oversized */
    snprintf(bad, sizeof bad, "%s.x", s);
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    cr_assert_eq(token_verify(k, "", &t, &e), -1);
    snprintf(bad, sizeof bad, "s2%s", s + 2);
    cr_assert_eq(token_verify(k, bad, &t, &e), -1);
    char *huge = util_xmalloc(10241);
    memset(huge, 'a', 10240);
    huge[10240] = '\0';
    memcpy(huge, s, n);
    cr_assert_eq(token_verify(k, huge, &t, &e), -1);
    free(huge);
    cr_assert_str_eq(e.code, "unauthorized");
    keyring_free(k);
}

Test(token, keyring_refuses_short_secret_duplicate_kid_and_empty)
{
    struct err e;
    cr_assert_null(keyring_parse("k1 AAAA\n", &e));
    cr_assert_null(keyring_parse(K1 K1, &e));
    cr_assert(strstr(e.msg, "twice"), "%s", e.msg);
    cr_assert_null(keyring_parse("# only a comment\n", &e));
    cr_assert_null(keyring_parse("bad/kid AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", &e));
}
