/* The service-provider side of one organization's SAML connection: our SP
 * metadata (with the next SP key during a rollover), and the signed
 * AuthnRequest (HTTP-Redirect, RSA-SHA256) sent to the org's IdP. One
 * read-only LassoServer per connection, one LassoLogin per request. */
#ifndef SSOGATE_SAML_SP_H
#define SSOGATE_SAML_SP_H

#include <stddef.h>

#include "util/err.h"

struct sp;
struct idp;

struct sp_identity {
    const char *entity_id;     /* <base_url>/saml/<org>/metadata */
    const char *acs_url;       /* <base_url>/saml/<org>/acs */
    const char *slo_url;       /* <base_url>/saml/<org>/slo */
    const char *key_pem;       /* current SP key (signs, decrypts) */
    const char *cert_pem;      /* current SP certificate */
    const char *next_cert_pem; /* next certificate during a rollover, or NULL */
};

/* SP metadata XML (malloc'd): entityID, ACS (HTTP-POST), SLO (Redirect, POST),
 * signing and encryption keys (two of each during a rollover),
 * AuthnRequestsSigned="true", WantAssertionsSigned="true". */
char *sp_metadata(const struct sp_identity *id, struct err *e);

/* Build the per-connection SP from our identity and the IdP's metadata XML. */
struct sp *sp_new(const struct sp_identity *id, const char *idp_metadata, struct err *e);
void sp_free(struct sp *sp);

/* A signed AuthnRequest as a redirect URL to the IdP's SSO endpoint carrying
 * relay_state; *request_id gets the request's ID. Both malloc'd. */
int sp_authn_request(const struct sp *sp, const char *relay_state, char **url, char **request_id, struct err *e);

/* A signed LogoutRequest (HTTP-Redirect) for name_id / session_index, or 1
 * when the IdP has no SLO endpoint (nothing to send). *request_id gets its
 * ID (malloc'd), to match the IdP's LogoutResponse with. */
int sp_logout_request(const struct sp *sp, const char *name_id, const char *name_id_format,
                      const char *session_index, const char *relay_state, char **url, char **request_id,
                      struct err *e);

/* An IdP-initiated LogoutRequest: msg is the query string (Redirect
 * binding: SAMLRequest, RelayState, SigAlg, Signature, in that order) or the
 * SAMLRequest form value (POST). The signature is required and checked with
 * the IdP metadata's keys; the issuer must be the connection's IdP. Then
 * end(ctx, NameID, SessionIndex) is called for each SessionIndex (once with
 * "" when none; return <0 when the store failed), and *url gets the signed
 * LogoutResponse (HTTP-Redirect, malloc'd). saml_logout_invalid,
 * saml_issuer_mismatch, saml_no_subject, store_unavailable. */
typedef int (*sp_slo_end_fn)(void *ctx, const char *name_id, const char *session_index);
int sp_logout_handle_request(const struct sp *sp, const char *msg, sp_slo_end_fn end, void *ctx, char **url,
                             struct err *e);
/* The IdP's LogoutResponse to our LogoutRequest: signature required (over
 * the raw query string for the Redirect binding); *in_response_to gets its
 * InResponseTo (malloc'd) for the caller to match against its pending
 * logouts; a response without one is refused. */
int sp_logout_handle_response(const struct sp *sp, const char *msg, char **in_response_to, struct err *e);
/* Whether the IdP has a Redirect SLO endpoint. */
int sp_has_slo(const struct sp *sp);

#endif
