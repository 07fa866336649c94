/* The signed identity header: a short-lived compact JWS (RFC 7515, claims of
 * RFC 7519) that forward auth adds to an allowed answer so that upstreams can
 * check who the gateway let through, and the JWKS (RFC 7517) that publishes
 * the public keys. Ed25519 signs as "EdDSA" (RFC 8037), EC P-256 as "ES256". */
#ifndef SSOGATE_GATE_IDTOKEN_H
#define SSOGATE_GATE_IDTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "util/config.h"
#include "util/err.h"

#define IDTOKEN_MAX 2560        /* whole token with its NUL; larger is refused */
#define IDTOKEN_EXTRA_KEYS_MAX 4

/* What the token says. email, org_role and aud may be NULL or "" (no email
 * claim, no org_role claim, aud = base_url). */
struct idtoken_claims {
    const char *sub;            /* stable user id */
    const char *email;
    const char *org;            /* org slug */
    const char *workspace;      /* ORG/WS */
    const char *role;           /* effective workspace role */
    const char *org_role;
    const char *aud;            /* the original request's host */
};

/* Loads the keys when [gate] identity_jwt_header is set (a no-op otherwise).
 * -1 with config_invalid when a key is missing, unreadable or of a type other
 * than Ed25519 or EC P-256. Call before the workers start. */
int idtoken_init(const struct config *cfg, struct err *e);
void idtoken_shutdown(void);
/* The header name, or NULL when the feature is off. */
const char *idtoken_header(void);
/* The token for these claims: reused from the process cache while more than
 * half its lifetime remains, else signed now. 0 with out filled (n bytes at
 * most), -1 with e (internal_error) when it cannot be made within bounds. */
int idtoken_get(const struct idtoken_claims *c, char *out, size_t n, struct err *e);
/* Sign a fresh token with iat = now_s, bypassing the cache (tests, bench). */
int idtoken_sign(const struct idtoken_claims *c, int64_t now_s, char *out, size_t n, struct err *e);
/* The kid (RFC 7638 JWK thumbprint) of the signing key; "" when off. */
const char *idtoken_kid(void);
/* GET /.well-known/jwks.json: the public keys, cacheable for 5 minutes; 404
 * not_found when the feature is off. */
void idtoken_handle_jwks(struct http_req *r);

#endif
