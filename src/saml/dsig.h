/* XML-DSig verification of one enveloped signature over one SAML element,
 * with the IdP's metadata keys only and a strict algorithm allow-list. */
#ifndef SSOGATE_SAML_DSIG_H
#define SSOGATE_SAML_DSIG_H

#include "saml/idp.h"
#include "util/err.h"

struct _xmlNode;

/* Verify sig, a ds:Signature that is a direct child of signed_node, whose
 * ID must already be registered (xmlAddID) in the document. Checks: one
 * Reference whose URI is exactly "#" + signed_node's ID and resolves to
 * signed_node; exclusive c14n without comments; transforms only enveloped
 * and exclusive c14n; RSA/ECDSA with SHA-256/384/512 (RSA-SHA1 and SHA-1
 * digests only with allow_sha1); the value verifies with one of the IdP's
 * keys (KeyInfo is ignored). Returns 0, or -1 with one of
 * saml_signature_reference / _algorithm / _transform / _invalid in e.
 * *alg receives the SignatureMethod URI (static string or NULL). */
int dsig_verify(struct _xmlNode *signed_node, struct _xmlNode *sig,
                const struct idp *idp, int allow_sha1, const char **alg,
                struct err *e);

#endif
