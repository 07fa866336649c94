/* An identity provider's metadata (EntityDescriptor with IDPSSODescriptor),
 * parsed once per connection: entityID, every signing key (rollover), the
 * SSO and SLO endpoints. The signing keys are loaded here, once, so that
 * validating a response loads nothing. Immutable after idp_new: one object
 * may be shared by all worker threads. */
#ifndef SSOGATE_SAML_IDP_H
#define SSOGATE_SAML_IDP_H

#include <stddef.h>
#include <time.h>

#include "util/err.h"

#define IDP_BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define IDP_BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

struct idp;
struct _xmlSecKey;

/* Parse metadata: an EntityDescriptor, or an EntitiesDescriptor holding
 * exactly one EntityDescriptor with an IDPSSODescriptor. Requires at least one
 * signing certificate (KeyDescriptor use="signing" or without use).
 * Returns NULL with saml_metadata_invalid (or a parser code) in e. */
struct idp *idp_new(const char *xml, size_t len, struct err *e);
struct idp *idp_new_from_file(const char *path, struct err *e);
void idp_free(struct idp *idp);

const char *idp_entity_id(const struct idp *idp);
/* Location of the first endpoint with this binding, or NULL. */
const char *idp_sso_url(const struct idp *idp, const char *binding);
const char *idp_slo_url(const struct idp *idp, const char *binding);
/* ResponseLocation of that SLO endpoint when given, else its Location. */
const char *idp_slo_response_url(const struct idp *idp, const char *binding);
int idp_want_authn_requests_signed(const struct idp *idp);

/* The signing keys, in metadata order (for saml/ only; owned by idp). */
size_t idp_key_count(const struct idp *idp);
struct _xmlSecKey *idp_key_at(const struct idp *idp, size_t i);
/* notAfter of key i's certificate (Unix time), 0 when unreadable. */
time_t idp_key_not_after(const struct idp *idp, size_t i);
/* Index of the metadata key whose certificate is b64 (whitespace ignored),
 * or -1. Only a hint for which key to try first: a certificate in a
 * response is never trusted by itself. */
int idp_key_index_for_cert(const struct idp *idp, const char *b64);

#endif
