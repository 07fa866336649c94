/* Helpers for the sign-in flow tests: the CLI against the test server's
 * config, org + verified domain set-up, pending requests stored the way the
 * server stores them, ACS posts, session checks. */
#ifndef SSOGATE_TESTS_HARNESS_FLOW_H
#define SSOGATE_TESTS_HARNESS_FLOW_H

#include "harness.h"

/* Run a shell command, return its stdout (malloc'd) and exit status. */
char *flow_sh(const char *cmd, int *status);
/* `ssogate ARGS -c conf`, asserting exit 0; stdout malloc'd. */
char *flow_cli(const struct sg *s, const char *args);
/* org create SLUG --owner OWNER; domain add SLUG DOMAIN --verified. */
void flow_org_setup(const struct sg *s, const char *slug, const char *owner, const char *domain,
                    char org_id[64]);
/* store_init on the test's Redis, for direct reads and writes. */
void flow_store_open(const struct sg *s);
/* A pending AuthnRequest as /login stores it (without a RelayState handle). */
void flow_pending_put(const char *org_id, const char *request_id, const char *rd);
char *flow_read(const char *dir, const char *name);
void flow_post_acs(const struct sg *s, const char *org, const char *saml_b64, const char *relay,
                   struct sg_resp *out);
/* "name=value" of the response's Set-Cookie, malloc'd, or NULL. */
char *flow_cookie(const struct sg_resp *r);
/* GET /v1/session with this cookie: the status (body malloc'd if asked). */
long flow_session_status(const struct sg *s, const char *cookie, char **body);
long flow_diag_count(const char *org_id);

#endif
