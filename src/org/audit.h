/* The audit log of an organization: a Redis stream per org, capped (XADD
 * MAXLEN ~ [org] audit_max_entries). Directory changes append their record
 * inside their own script; this module adds sign-in attempts and reads. */
#ifndef SSOGATE_ORG_AUDIT_H
#define SSOGATE_ORG_AUDIT_H

#include <jansson.h>

#include "util/err.h"

/* One record: outcome "ok" / "refused" / "failed", code a stable error code
 * ("" on success). Fields may be NULL. */
int audit_append(const char *org_id, const char *actor, const char *action, const char *target,
                 const char *outcome, const char *code, const char *detail, struct err *e);
/* A sign-in attempt (action "signin"), from the ACS, with its reason code. */
int audit_signin(const char *org_id, const char *email, const char *issuer, const char *outcome,
                 const char *code, struct err *e);

/* Newest first. cursor NULL or "" = from the newest; otherwise the "next"
 * of the previous page. *entries: array of objects {"id", "time", "actor",
 * "action", "target", "outcome", "code", "before", "after", "detail"}
 * (present fields only). next gets "" at the end. limit 1..1000. */
int audit_read(const char *org_id, const char *cursor, int limit, json_t **entries, char next[64],
               struct err *e);

#endif
