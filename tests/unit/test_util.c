/* Unit tests of util/: base64, time parsing, constant-time comparison, the
 * error table. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/util.h"

Test(util_b64, decodes_wrapped_input_with_crlf)
{
    size_t n = 0;
    unsigned char *out = util_b64_decode("aGVs\r\nbG8=\n", 11, &n);
    cr_assert_not_null(out);
    cr_assert_eq(n, 5);
    cr_assert_str_eq((char *)out, "hello");
    free(out);
}

Test(util_b64, refuses_invalid_alphabet_and_padding)
{
    size_t n;
    cr_assert_null(util_b64_decode("aGVs*G8=", 8, &n));
    cr_assert_null(util_b64_decode("aGVsbG8", 7, &n));
    cr_assert_null(util_b64_decode("aG=sbG8=", 8, &n));
    cr_assert_null(util_b64_decode("", 0, &n));
}

Test(util_b64, url_round_trip_without_padding)
{
    const unsigned char in[] = {0xfb, 0xff, 0x01, 0x02};
    char *s = util_b64url_encode(in, 4);
    cr_assert_str_eq(s, "-_8BAg");
    size_t n;
    unsigned char *out = util_b64url_decode(s, strlen(s), &n);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(in, out, 4), 0);
    free(s);
    free(out);
}

Test(util_time, parses_utc_fraction_and_offset)
{
    time_t t;
    cr_assert_eq(util_parse_time("2024-01-02T03:04:05Z", &t), 0);
    cr_assert_eq(t, 1704164645);
    cr_assert_eq(util_parse_time("2024-01-02T03:04:05.123Z", &t), 0);
    cr_assert_eq(t, 1704164645);
    cr_assert_eq(util_parse_time("2024-01-02T05:04:05+02:00", &t), 0);
    cr_assert_eq(t, 1704164645);
}

Test(util_time, refuses_missing_zone_and_bad_dates)
{
    time_t t;
    cr_assert_eq(util_parse_time("2024-01-02T03:04:05", &t), -1);
    cr_assert_eq(util_parse_time("2023-02-29T00:00:00Z", &t), -1);
    cr_assert_eq(util_parse_time("2024-13-01T00:00:00Z", &t), -1);
    cr_assert_eq(util_parse_time("2024-01-01T00:00:00Zjunk", &t), -1);
    cr_assert_eq(util_parse_time("", &t), -1);
}

Test(util_ct, compares_strings_by_content)
{
    cr_assert(util_ct_streq("abc", "abc"));
    cr_assert_not(util_ct_streq("abc", "abd"));
    cr_assert_not(util_ct_streq("abc", "abcd"));
}

Test(util_err, every_code_has_a_status_and_message)
{
    for (int i = 0; err_code_at(i); i++) {
        const char *c = err_code_at(i);
        cr_assert_geq(err_status(c), 400, "%s", c);
        cr_assert_not_null(err_default_message(c));
    }
    struct err e;
    cr_assert_eq(err_set(&e, "rate_limited", "slow down %d", 3), -1);
    cr_assert_eq(e.status, 429);
    cr_assert_str_eq(e.msg, "slow down 3");
}

Test(util_strlcpy, copies_cuts_and_terminates)
{
    char b[4];
    cr_assert_eq(util_strlcpy(b, "ab", sizeof b), 2);
    cr_assert_str_eq(b, "ab");
    cr_assert_eq(util_strlcpy(b, "abcdef", sizeof b), 6, "returns the length of the source");
    cr_assert_str_eq(b, "abc");
    cr_assert_eq(util_strlcpy(b, "abc", sizeof b), 3);
    cr_assert_str_eq(b, "abc");
    cr_assert_eq(util_strlcpy(b, NULL, sizeof b), 0);
    cr_assert_str_eq(b, "");
}
