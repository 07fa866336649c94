/* The server thread that keeps IdP metadata set by URL fresh: every
 * [saml] metadata_refresh_s one instance (SET NX PX lock, as the domain
 * re-check) fetches each such connection's URL again (connection_refresh). */
#ifndef SSOGATE_SAML_MDREFRESH_H
#define SSOGATE_SAML_MDREFRESH_H

#include "util/config.h"
#include "util/err.h"

/* One round, if this instance takes the lock: 1 ran, 0 another instance
 * holds the round, -1 the store failed. *refreshed and *failed count orgs. */
int mdrefresh_round(int interval_s, int timeout_ms, int *refreshed, int *failed, struct err *e);
int mdrefresh_thread_start(const struct config *cfg, struct err *e);
void mdrefresh_thread_stop(void);

#endif
