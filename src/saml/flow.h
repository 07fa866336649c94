/* The browser sign-in flow: the sign-in page, sign-in start (AuthnRequest),
 * the Assertion Consumer Service, Single Logout and sign-out. State lives in
 * Redis under the org's tag (pending request, RelayState handle, replay
 * cache), never in a cookie: the ACS arrives as a cross-site POST. */
#ifndef SSOGATE_SAML_FLOW_H
#define SSOGATE_SAML_FLOW_H

#include <jansson.h>

#include "http/http.h"
#include "org/org.h"
#include "session/token.h"
#include "util/config.h"

/* After connection_configure; ring is borrowed for the server's lifetime. */
int flow_init(const struct config *cfg, const struct keyring *ring, struct err *e);
void flow_shutdown(void);

void flow_home(struct http_req *r);         /* GET / */
void flow_login_get(struct http_req *r);    /* GET /login?org=SLUG&rd=URL[&invitation=T] */
void flow_login_post(struct http_req *r);   /* POST /login (email, rd) */
void flow_metadata(struct http_req *r);     /* GET /saml/{org}/metadata */
void flow_acs(struct http_req *r);          /* POST /saml/{org}/acs */
void flow_slo(struct http_req *r);          /* GET,POST /saml/{org}/slo */
void flow_logout(struct http_req *r);       /* POST /logout */

/* The console's "test sign-in": a sign-in of the org whose ACS runs every
 * check but creates no session and provisions nobody; the checks are kept
 * for [saml] request_ttl_s under test_id (flow_test_result_json) and the
 * browser goes back to rd (checked by the caller). Replies in every case. */
void flow_test_signin_or_reply(struct http_req *r, const struct org_info *org, const char *test_id,
                               const char *rd);
/* {"ok", "code"?, "email"?, "issuer"?, "time", "checks": [...]} of a test
 * sign-in; *out NULL (and 0) while no answer arrived. */
int flow_test_result_json(const char *org_id, const char *test_id, json_t **out, struct err *e);
/* The org's failed sign-ins, newest first (at most 100): [{"time",
 * "request_id", "code", "email"?, "checks": [...]}]. */
int flow_signin_diag_json(const char *org_id, json_t **out, struct err *e);

#endif
