/* The endpoints proxies and applications call on every request: forward auth
 * in the nginx, Traefik/Caddy and Envoy dialects, /v1/authz and /v1/session.
 * Credentials first (session cookie, Bearer session token or API key), then
 * the workspace and permission (route table or query), then the decision. */
#ifndef SSOGATE_GATE_GATE_H
#define SSOGATE_GATE_GATE_H

#include "http/http.h"
#include "session/token.h"
#include "util/config.h"

/* Call once before serving; ring is borrowed for the server's lifetime. */
int gate_init(const struct config *cfg, const struct keyring *ring, struct err *e);
void gate_shutdown(void);

void gate_auth_nginx(struct http_req *r);    /* GET /auth */
void gate_auth_forward(struct http_req *r);  /* GET /auth/forward */
void gate_auth_envoy(struct http_req *r);    /* ANY /auth/envoy/... */
void gate_v1_authz(struct http_req *r);      /* GET /v1/authz */
void gate_v1_session(struct http_req *r);    /* GET /v1/session */

/* The session cookie's name as set (the __Host- prefix is dropped in plain
 * http development mode, where browsers refuse it). */
const char *gate_cookie_name(void);
/* Set-Cookie value for a new session token / for clearing it. malloc'd. */
char *gate_cookie_set(const char *token, int max_age_s);
char *gate_cookie_clear(void);

#endif
