/* The browser sign-in flow: the sign-in page, sign-in start (AuthnRequest),
 * the Assertion Consumer Service, Single Logout and sign-out. State lives in
 * Redis under the org's tag (pending request, RelayState handle, replay
 * cache), never in a cookie: the ACS arrives as a cross-site POST. */
#ifndef SSOGATE_SAML_FLOW_H
#define SSOGATE_SAML_FLOW_H

#include "http/http.h"
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

#endif
