/* Session tokens: issue/verify round trip, key rotation (old kid still
 * verifies), and refusal of every malformed or forged token. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

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
    /* the same signature bytes in another text: the last character's two
     * unused bits set (base64url is decoded leniently by OpenSSL) */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int bits = 1; bits < 4; bits++) {
        snprintf(bad, sizeof bad, "%s", s);
        bad[n - 1] = b64[(strchr(b64, s[n - 1]) - b64) | bits];
        cr_assert_eq(token_verify(k, bad, &t, &e), -1, "non-canonical signature text accepted");
        const char *id = strchr(strchr(strchr(s, '.') + 1, '.') + 1, '.') + 1; /* s1.kid.org.id */
        snprintf(bad, sizeof bad, "%s", s);
        size_t last = (size_t)(id - s) + 42;
        bad[last] = b64[(strchr(b64, s[last]) - b64) | bits];
        cr_assert_eq(token_verify(k, bad, &t, &e), -1, "non-canonical id text accepted");
    }
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

Test(token, staged_key_verifies_but_never_signs)
{
    struct keyring *k = ring(K1 "k2 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB next\n");
    cr_assert_str_eq(keyring_signing_kid(k), "k1");
    struct keyring *k2only = ring("k2 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n");
    struct token t;
    char s[TOKEN_MAX_LEN + 1];
    struct err e;
    /* A token another instance signed with k2 after promotion verifies here. */
    cr_assert_eq(token_issue(k2only, "acme", &t, s, sizeof s, &e), 0);
    cr_assert_eq(token_verify(k, s, &t, &e), 0);
    cr_assert_null(keyring_parse("k2 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB next\n", &e), "no signer accepted");
    cr_assert_null(keyring_parse("k2 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB later\n", &e));
    keyring_free(k);
    keyring_free(k2only);
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    static char out[2048];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s failed: %s", cmd, out);
    return out;
}

Test(token, keys_cli_stage_rotate_retire_logs_nobody_out)
{
    const char *bin = getenv("SSOGATE_BIN");
    cr_assert_not_null(bin);
    char path[] = "/tmp/ssogate-keys-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *first = K1;
    cr_assert_eq(write(fd, first, strlen(first)), (ssize_t)strlen(first));
    close(fd);
    struct err e;
    char *text = util_read_file(path, 65536, NULL);
    struct keyring *before = keyring_parse(text, &e);
    free(text);
    struct token t;
    char old[TOKEN_MAX_LEN + 1];
    cr_assert_eq(token_issue(before, "acme", &t, old, sizeof old, &e), 0);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s keys stage --file %s", bin, path);
    cr_assert(strstr(run(cmd), "\"staged\""));
    snprintf(cmd, sizeof cmd, "%s keys rotate --file %s", bin, path);
    char *out = run(cmd);
    char kid[64];
    cr_assert_eq(sscanf(out, "{\"signing\": \"%63[^\"]\"}", kid), 1, "%s", out);
    text = util_read_file(path, 65536, NULL);
    struct keyring *after = keyring_parse(text, &e);
    free(text);
    cr_assert_not_null(after, "%s", e.msg);
    cr_assert_str_eq(keyring_signing_kid(after), kid);
    cr_assert_eq(token_verify(after, old, &t, &e), 0, "rotation logged a session out");
    snprintf(cmd, sizeof cmd, "%s keys retire k1 --file %s", bin, path);
    run(cmd);
    text = util_read_file(path, 65536, NULL);
    struct keyring *retired = keyring_parse(text, &e);
    free(text);
    cr_assert_eq(token_verify(retired, old, &t, &e), -1);
    snprintf(cmd, sizeof cmd, "%s keys list --file %s", bin, path);
    out = run(cmd);
    cr_assert(strstr(out, "\"role\": \"signing\""), "%s", out);
    cr_assert_null(strstr(out, "AAAA"), "list printed a secret");
    struct stat st;
    stat(path, &st);
    cr_assert_eq(st.st_mode & 0777, 0600);
    keyring_free(before);
    keyring_free(after);
    keyring_free(retired);
    unlink(path);
}
