/* IdP metadata from a URL: one bounded download (http/https only, size and
 * time limits, no cookies, no proxies from the environment), used by
 * `ssogate connection set --idp-metadata-url` and the periodic refresh. */
#ifndef SSOGATE_SAML_MDURL_H
#define SSOGATE_SAML_MDURL_H

#include <stddef.h>

#include "util/err.h"

/* Fetch url into *xml (malloc'd, NUL-terminated, *len bytes, at most max
 * bytes). 200 only; up to 3 redirects, http/https only.
 * saml_metadata_fetch_failed with the reason. */
int mdurl_fetch(const char *url, int timeout_ms, size_t max, char **xml, size_t *len, struct err *e);
/* Whether url is an absolute http(s) URL we are willing to fetch. */
int mdurl_valid(const char *url);

#endif
