/* API keys of an organization: org admin keys and workspace keys, held by a
 * member (usually a service account). Format "sgk_<prefix>_<secret>": the
 * 12-hex prefix identifies the key in lists and logs, the 256-bit secret is
 * stored only as its SHA-256 and compared in constant time. */
#ifndef SSOGATE_ORG_APIKEY_H
#define SSOGATE_ORG_APIKEY_H

#include "org/org.h"

#define APIKEY_PREFIX_LEN 12

struct apikey_new {
    char prefix[APIKEY_PREFIX_LEN + 1];
    char hash[65];          /* sha256 hex of the secret */
    char *full;             /* the key, shown once (malloc'd) */
};
void apikey_generate(struct apikey_new *k);
void apikey_new_clear(struct apikey_new *k);   /* wipes and frees full */

/* Create a key held by principal_uid (a member or service account).
 * kind "org" (ws_id NULL) or "workspace"; scopes space-separated, e.g.
 * "org:admin" or "workspace:read authz:check"; expires_s 0 = never.
 * *full gets the key (malloc'd, shown once). */
int apikey_create(const struct org_actor *a, const char *org_id, const char *kind, const char *ws_id,
                  const char *principal_uid, const char *scopes, const char *name, long long expires_s,
                  char **full, char prefix[APIKEY_PREFIX_LEN + 1], struct err *e);
int apikey_revoke(const struct org_actor *a, const char *org_id, const char *prefix, struct err *e);

/* [{prefix, kind, workspace, holder, scopes, name, created, expires,
 * last_used, revoked}] (times RFC 3339 or null); never the hash. */
int apikey_list_json(const char *org_id, json_t **out, struct err *e);

/* Who a valid key speaks for. org_role is the principal's role now. */
struct apikey_principal {
    char org_id[ORG_ID_MAX];
    char prefix[APIKEY_PREFIX_LEN + 1];
    char kind[16];              /* "org" or "workspace" */
    char ws_id[ORG_ID_MAX];     /* workspace keys */
    char uid[ORG_ID_MAX];       /* the member or service account holding it */
    enum org_role org_role;
    char scopes[512];
    char label[32];             /* "key:<prefix>" for the audit log */
};
/* Check "Authorization: Bearer" material (the token after "Bearer ").
 * 0 and *out, or apikey_invalid / apikey_expired / apikey_revoked (401) /
 * store_unavailable. The HTTP layer rate-limits failures (RL_APIKEY).
 * Records the last use at most once a minute. */
int apikey_verify(const char *token, struct apikey_principal *out, struct err *e);
int apikey_has_scope(const struct apikey_principal *p, const char *scope);
/* An actor for org changes made with this key. */
void apikey_actor(const struct apikey_principal *p, struct org_actor *a);

#endif
