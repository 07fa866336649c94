/* IdP metadata download with libcurl. Bounded: a size cap checked while the
 * body arrives (the Content-Length may lie or be absent), a total time limit,
 * http/https only (also after redirects: no file://, gopher:// and friends,
 * the classic SSRF escalations), and no environment proxies. */
#include "saml/mdurl.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct mdurl_buf {
    char *data;
    size_t len, cap, max;
    int too_large;
};

static size_t mdurl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct mdurl_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        if (b->cap > b->max + 1)
            b->cap = b->max + 1;
        b->data = util_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int mdurl_valid(const char *url)
{
    if (!url || strlen(url) > 2048)
        return 0;
    if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
        return 0;
    CURLU *u = curl_url();
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    curl_url_cleanup(u);
    return ok;
}

static int mdurl_setup(CURL *c, const char *url, int timeout_ms, struct mdurl_buf *b)
{
    int bad = 0;
    bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK; /* threads */
    bad |= curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK;    /* ignore http_proxy */
    bad |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "ssogate-metadata/1") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mdurl_write) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, b) != CURLE_OK;
    return bad ? -1 : 0;
}

int mdurl_fetch(const char *url, int timeout_ms, size_t max, char **xml, size_t *len, struct err *e)
{
    *xml = NULL;
    *len = 0;
    if (!mdurl_valid(url))
        return err_set(e, "saml_metadata_fetch_failed", "the metadata URL must be an absolute http(s) URL");
    struct mdurl_buf b = {.max = max};
    int rc = -1;
    CURL *c = curl_easy_init();
    if (!c || mdurl_setup(c, url, timeout_ms, &b) < 0) {
        err_set(e, "internal_error", "cannot set up the metadata download");
        goto done;
    }
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (b.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        err_set(e, "saml_metadata_fetch_failed", "the metadata at %s is larger than %zu bytes", url, max);
        goto done;
    }
    if (cc != CURLE_OK) {
        err_set(e, "saml_metadata_fetch_failed", "cannot download %s: %s", url, curl_easy_strerror(cc));
        goto done;
    }
    if (status != 200 || b.len == 0) {
        err_set(e, "saml_metadata_fetch_failed", "%s answered HTTP %ld%s", url, status,
                b.len == 0 ? " with no body" : "");
        goto done;
    }
    *xml = b.data;
    *len = b.len;
    b.data = NULL;
    rc = 0;
done:
    free(b.data);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}
