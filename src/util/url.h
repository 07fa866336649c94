/* URL checks that open redirects and path-rule bypasses come from:
 * the sign-in return URL (rd=) and the normalized path that forward-auth
 * route rules are matched on. Absolute URLs are parsed by libcurl's URL API. */
#ifndef SSOGATE_UTIL_URL_H
#define SSOGATE_UTIL_URL_H

#include <stddef.h>

#include "util/err.h"

#define URL_MAX 2048

/* Check a return URL. Accepted: a path relative to base_url ("/x?y"), or an
 * absolute http(s) URL whose host is base_url's host or in allowed_hosts
 * (comma-separated, exact, case-insensitive). Returns a malloc'd absolute URL
 * to redirect to, or NULL with e (bad_request) for anything else: "//host",
 * "/\host", "http:host", userinfo, control characters, tabs, backslashes,
 * other schemes, over URL_MAX. */
char *url_safe_redirect(const char *rd, const char *base_url, const char *allowed_hosts, struct err *e);

/* Normalize a request target for route matching: drop the query and the
 * fragment (at the first raw '?' or '#'), percent-decode once, merge repeated
 * slashes, resolve "." and ".." (never above the root). Refuses NUL, control
 * characters, backslashes and bad escapes. Writes into out (n bytes). */
int url_normalize_path(const char *target, char *out, size_t n, struct err *e);

/* Percent-encode s for a query value (malloc'd), by libcurl. */
char *url_encode(const char *s);

/* Host part of base_url (lower case), e.g. "sso.example.com:8443". */
int url_base_host(const char *base_url, char *out, size_t n);

#endif
