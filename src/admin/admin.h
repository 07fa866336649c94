/* The JSON admin API under /v1/orgs/{org}/...: orgs' settings, members,
 * service accounts, workspaces and their grants, custom roles, domains,
 * invitations, API keys and the audit log. Authenticated by an org API key
 * (Authorization: Bearer sgk_...) or an owner/admin session cookie (CSRF-
 * checked writes); another org's objects answer 404, exactly
 * like absent ones. Described in docs/openapi.yaml. */
#ifndef SSOGATE_ADMIN_ADMIN_H
#define SSOGATE_ADMIN_ADMIN_H

#include "http/http.h"
#include "session/token.h"

/* Callers: an org API key (Authorization: Bearer), or the session cookie of
 * an owner or admin of the org in the path (admin/console.h): writes with a
 * cookie need the session's CSRF token (X-CSRF-Token) and our Origin. */

/* Rows for the main route table (ends with a NULL name): the server copies
 * them into its own table (admin_route_count rows). */
extern const struct http_route admin_routes[];
/* Number of rows before the NULL row. */
int admin_route_count(void);
/* A new table: base's rows, then admin_routes, then the NULL row
 * (malloc'd; free() it after http_server_stop). For `serve`:
 *     struct http_route *all = admin_routes_with(routes);
 *     srv = http_server_start(&cfg, all, &e);
 * and, for the periodic domain re-check, domain_recheck_thread_start(
 * cfg.dns_recheck_interval_s) / domain_recheck_thread_stop() (org/domain.h). */
struct http_route *admin_routes_with(const struct http_route *base);

#endif
