/* Return-URL and path checks. The payloads of mod_auth_mellon's and
 * oauth2-proxy's open-redirect advisories (CVE-2019-3877, CVE-2021-21291 and
 * friends: "//evil", "/\evil", "http:evil", tabs, userinfo) are tests in
 * tests/unit/test_url.c. */
#include "util/url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static int has_bad_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x21 || *p == 0x7f || *p == '\\')
            return 1;
    return 0;
}

int url_base_host(const char *base_url, char *out, size_t n)
{
    const char *h = strstr(base_url, "://");
    if (!h)
        return -1;
    h += 3;
    size_t len = strcspn(h, "/?#");
    if (len == 0 || len >= n)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[len] = '\0';
    return 0;
}

static int host_allowed(const char *host, const char *base_host, const char *allowed)
{
    if (strcasecmp(host, base_host) == 0)
        return 1;
    char *copy = util_xstrdup(allowed ? allowed : "");
    char *save = NULL;
    int ok = 0;
    for (char *t = strtok_r(copy, ", ", &save); t && !ok; t = strtok_r(NULL, ", ", &save))
        ok = strcasecmp(t, host) == 0;
    free(copy);
    return ok;
}

/* host[:port] of a parsed URL, lower case, port only when not the default. */
static int curl_host_port(CURLU *u, char *out, size_t n)
{
    char *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
        goto done;
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (port)
        snprintf(out, n, "%s:%s", host, port);
    else
        snprintf(out, n, "%s", host);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    rc = 0;
done:
    curl_free(host);
    curl_free(port);
    return rc;
}

char *url_safe_redirect(const char *rd, const char *base_url, const char *allowed_hosts, struct err *e)
{
    char base_host[300], host[300];
    char *result = NULL, *full = NULL, *scheme = NULL, *user = NULL;
    CURLU *u = NULL;
    if (!rd || !*rd || strlen(rd) > URL_MAX || has_bad_chars(rd)) {
        err_set(e, "bad_request", "The return address is not allowed.");
        goto done;
    }
    if (url_base_host(base_url, base_host, sizeof base_host) < 0) {
        err_set(e, "internal_error", "base_url has no host");
        goto done;
    }
    int relative = rd[0] == '/' && rd[1] != '/';
    int absolute = strncasecmp(rd, "https://", 8) == 0 || strncasecmp(rd, "http://", 7) == 0;
    if (!relative && !absolute) {
        err_set(e, "bad_request", "The return address must be a path or an http(s) URL.");
        goto done;
    }
    u = curl_url();
    full = relative ? util_xasprintf("%s%s", base_url, rd) : util_xstrdup(rd);
    if (curl_url_set(u, CURLUPART_URL, full, CURLU_DISALLOW_USER) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") && strcmp(scheme, "https")) || curl_host_port(u, host, sizeof host) < 0) {
        err_set(e, "bad_request", "The return address is not a valid URL.");
        goto done;
    }
    if (!host_allowed(host, base_host, allowed_hosts)) {
        err_set(e, "bad_request", "The return address is on a host that is not allowed.");
        goto done;
    }
    /* Never send a browser from https down to http on another host. */
    if (strncmp(base_url, "https://", 8) == 0 && strcmp(scheme, "https") != 0) {
        err_set(e, "bad_request", "The return address must use https.");
        goto done;
    }
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    char lower_host[300];
    snprintf(lower_host, sizeof lower_host, "%s", host);
    char *cut = lower_host[0] == '[' ? strchr(lower_host, ']') : strrchr(lower_host, ':');
    if (cut && lower_host[0] == '[')
        cut[1] = '\0';
    else if (cut)
        *cut = '\0';
    curl_url_set(u, CURLUPART_HOST, lower_host, 0);
    char *out = NULL;
    if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
        err_set(e, "bad_request", "The return address is not a valid URL.");
        goto done;
    }
    result = util_xstrdup(out);
    curl_free(out);
done:
    curl_free(scheme);
    curl_free(user);
    curl_url_cleanup(u);
    free(full);
    return result;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Remove dot segments (RFC 3986 section 5.2.4) from a decoded absolute path,
 * merging empty segments, in place. */
static void resolve_segments(char *path)
{
    char *out = path; /* write position; path[0] == '/' */
    const char *p = path;
    size_t w = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        if (len == 1 && seg[0] == '.')
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--; /* the slash before the removed segment */
            continue;
        }
        out[w++] = '/';
        memmove(out + w, seg, len);
        w += len;
    }
    /* Keep a trailing slash when the input had one after a real segment. */
    if (w == 0)
        out[w++] = '/';
    else if (p > path && p[-1] == '/' && out[w - 1] != '/')
        out[w++] = '/';
    out[w] = '\0';
}

int url_normalize_path(const char *target, char *out, size_t n, struct err *e)
{
    size_t len = strcspn(target, "?#");
    if (len == 0 || target[0] != '/' || len >= n || len > URL_MAX)
        return err_set(e, "bad_request", "The request path is not valid.");
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c == '%') {
            if (i + 2 >= len)
                return err_set(e, "bad_request", "The request path has a bad %%-escape.");
            int hi = hexval(target[i + 1]), lo = hexval(target[i + 2]);
            if (hi < 0 || lo < 0)
                return err_set(e, "bad_request", "The request path has a bad %%-escape.");
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return err_set(e, "bad_request", "The request path has a forbidden character.");
        out[w++] = (char)c;
    }
    out[w] = '\0';
    resolve_segments(out);
    return 0;
}

char *url_encode(const char *s)
{
    char *esc = curl_easy_escape(NULL, s, 0);
    char *out = util_xstrdup(esc ? esc : "");
    curl_free(esc);
    return out;
}
