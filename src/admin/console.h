/* The org owner console under /console: server-rendered HTML pages (layout
 * from templates/console.html, values escaped, strict CSP, no script) whose
 * plain forms post to handlers that call the same org/ and saml/ functions
 * as the admin API. Also the cookie authentication the admin API shares:
 * an owner's or admin's ssogate session of that org, CSRF-checked writes,
 * and the bootstrap sign-in with the owner API key. */
#ifndef SSOGATE_ADMIN_CONSOLE_H
#define SSOGATE_ADMIN_CONSOLE_H

#include "http/http.h"
#include "org/org.h"
#include "session/session.h"
#include "session/token.h"
#include "util/config.h"

/* The issuer recorded on a console session made from an owner API key (not
 * through the org's IdP); such sessions are refused once the org requires
 * SSO for the console. */
#define CONSOLE_KEY_ISSUER "urn:ssogate:console:apikey"

/* Before serving; ring is borrowed for the server's lifetime. */
int console_init(const struct config *cfg, const struct keyring *ring, struct err *e);
void console_shutdown(void);

/* An owner or admin of one org, signed in with a session cookie. */
struct console_principal {
    struct org_info org;
    struct session s;
    enum org_role role;
    int via_key;                 /* the session came from an API key */
    char label[80];              /* "user:<uid>" for the audit log */
    struct org_actor actor;      /* points into this struct */
    char csrf[65];               /* the session's CSRF token */
};

/* The session cookie's principal for org slug_or_id: unauthorized (no or
 * expired session, or a session of another org), admin_required (a member
 * below admin), sso_required (a key session when the org requires SSO),
 * store_unavailable. */
int console_principal_load(struct http_req *r, const char *slug_or_id, struct console_principal *p,
                           struct err *e);
/* A cookie-authenticated write: the browser's Origin (or Referer) must be
 * our base URL, and token must equal the session's CSRF token (compared in
 * constant time). 0 or -1 with csrf_failed. */
int console_csrf_check(struct http_req *r, const struct console_principal *p, const char *token,
                       struct err *e);

/* The CSRF token of the session whose cookie value is cookie (a keyed hash of
 * it: nothing to store, different for every session). */
void console_csrf_token(const char *cookie, char out[65]);

/* Route rows (ends with a NULL name) appended by admin_routes_with. */
extern const struct http_route console_routes[];
int console_route_count(void);

#endif
