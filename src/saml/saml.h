/* Process-wide set-up of the SAML libraries (lasso, xmlsec, libxml2) and the
 * one hardened XML parser every SAML document goes through. Only src/saml/
 * includes lasso, libxml2 and xmlsec; callers see opaque types only. */
#ifndef SSOGATE_SAML_SAML_H
#define SSOGATE_SAML_SAML_H

#include <stddef.h>

#include "util/err.h"

struct _xmlDoc;

/* Run once before any thread uses SAML (before MHD starts). Refuses to start
 * when LASSO_FLAG is set in the environment (it can turn signature checks
 * off), initializes lasso (and through it xmlsec and OpenSSL), makes the
 * libxml2 globals safe (no entity substitution, no DTD loading, no external
 * entity loader) and sends library diagnostics to stderr, never stdout.
 * Returns 0 or -1 with e filled. Calling it twice is harmless. */
int saml_init(struct err *e);
/* Run once after the last SAML use (after MHD stops). */
void saml_shutdown(void);

/* Parse untrusted XML: no network, no DTD loading, no entity substitution,
 * and any DOCTYPE refused before it is processed (saml_doctype_forbidden).
 * Other failures give saml_malformed_xml. Free the result with
 * saml_xml_free. */
struct _xmlDoc *saml_xml_parse(const char *data, size_t len, struct err *e);
void saml_xml_free(struct _xmlDoc *doc);

#endif
