/* Return-URL (rd=) checks against the payloads of published open-redirect
 * advisories, and path normalization against route-rule bypasses. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "util/url.h"

#define BASE "https://sso.example.com"
#define ALLOWED "app.example.com, wiki.example.com:8443"

static void expect_ok(const char *rd, const char *want)
{
    struct err e;
    err_clear(&e);
    char *got = url_safe_redirect(rd, BASE, ALLOWED, &e);
    cr_assert_not_null(got, "refused '%s': %s", rd, e.msg);
    cr_assert_str_eq(got, want, "for '%s'", rd);
    free(got);
}

static void expect_refused(const char *rd)
{
    struct err e;
    err_clear(&e);
    char *got = url_safe_redirect(rd, BASE, ALLOWED, &e);
    cr_assert_null(got, "accepted '%s' as '%s'", rd, got ? got : "");
    cr_assert_str_eq(e.code, "bad_request");
}

Test(url_redirect, accepts_relative_paths_on_base_host)
{
    expect_ok("/", BASE "/");
    expect_ok("/app/page?x=1&y=2", BASE "/app/page?x=1&y=2");
    expect_ok("/a/../b", BASE "/b");
    expect_ok("/p#frag", BASE "/p");
}

Test(url_redirect, accepts_allowed_hosts_exactly)
{
    expect_ok("https://app.example.com/x", "https://app.example.com/x");
    expect_ok("https://APP.example.com/x", "https://app.example.com/x");
    expect_ok("https://wiki.example.com:8443/", "https://wiki.example.com:8443/");
    expect_ok("https://sso.example.com/back", "https://sso.example.com/back");
}

Test(url_redirect, refuses_open_redirect_payloads)
{
    static const char *bad[] = {
        "//evil.com", "//evil.com/", "///evil.com", "/\\evil.com", "\\\\evil.com", "/\\/evil.com",
        "http:evil.com", "https:evil.com", "http:/evil.com", "https:///evil.com",
        "javascript:alert(1)", "data:text/html,x", "ftp://app.example.com/",
        "https://evil.com", "https://app.example.com.evil.com/", "https://evil.com#@app.example.com",
        "https://app.example.com@evil.com/", "https://user:pw@app.example.com/",
        "https://evil.com\\@app.example.com", "https://evil.com%2f@app.example.com",
        "/\tevil.com", "\t//evil.com", "/x\r\nLocation: https://evil.com", " /x", "/x y",
        "https://wiki.example.com/", /* allowed only on port 8443 */
        "http://app.example.com/", /* https base: no downgrade */
        "evil.com", "", "./x", "../x", "?x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(bad[i]);
}

Test(url_redirect, refuses_over_long_url)
{
    char *s = malloc(URL_MAX + 10);
    s[0] = '/';
    memset(s + 1, 'a', URL_MAX + 5);
    s[URL_MAX + 6] = '\0';
    expect_refused(s);
    free(s);
}

static void norm(const char *in, const char *want)
{
    char out[URL_MAX + 1];
    struct err e;
    err_clear(&e);
    cr_assert_eq(url_normalize_path(in, out, sizeof out, &e), 0, "refused '%s': %s", in, e.msg);
    cr_assert_str_eq(out, want, "for '%s'", in);
}

static void norm_refused(const char *in)
{
    char out[URL_MAX + 1];
    struct err e;
    cr_assert_eq(url_normalize_path(in, out, sizeof out, &e), -1, "accepted '%s' as '%s'", in, out);
}

Test(url_path, strips_query_and_fragment_before_decoding)
{
    norm("/public?x=/admin", "/public");
    norm("/public#/admin", "/public");
    norm("/a?x#y", "/a");
    /* %23 and %3F are part of the path, not a fragment or query. */
    norm("/public%23/../admin", "/admin");
    norm("/public%3F/../admin", "/admin");
}

Test(url_path, decodes_once_and_resolves_dot_segments)
{
    norm("/a/./b/../c", "/a/c");
    norm("/public/..%2Fadmin", "/admin");
    norm("/public/%2e%2e/admin", "/admin");
    norm("/%2e%2e/%2e%2e/etc", "/etc");
    norm("/../../x", "/x");
    norm("/a%252e%252e/b", "/a%2e%2e/b"); /* decoded once only */
    norm("/", "/");
    norm("/a/b/", "/a/b/");
    norm("/a/..", "/");
}

Test(url_path, merges_repeated_slashes)
{
    norm("//admin", "/admin");
    norm("/a//b///c", "/a/b/c");
}

Test(url_path, refuses_bad_input)
{
    norm_refused("");
    norm_refused("admin");
    norm_refused("/a%2");
    norm_refused("/a%zz");
    norm_refused("/a%00b");
    norm_refused("/a\\b");
    norm_refused("/a%5cb");
    norm_refused("/a%0d%0ab");
    norm_refused("?x");
}
