/* Session records in Redis, under the hash of the session id (a copy of Redis
 * holds no usable token), tagged by org so that the record and its indexes
 * (per user, per org, per NameID+SessionIndex) change atomically in one slot.
 * Key schema in docs/keys.md. */
#ifndef SSOGATE_SESSION_SESSION_H
#define SSOGATE_SESSION_SESSION_H

#include <stdint.h>

#include "session/token.h"
#include "store/store.h"
#include "util/err.h"

/* Redis pub/sub channel on which revocations and directory changes are
 * announced; every instance flushes its per-worker caches on a message. */
#define SESSION_INVALIDATION_CHANNEL STORE_INVALIDATION_CHANNEL

struct session {
    char id_hash[65];
    char org[TOKEN_ORG_MAX + 1];
    char user_id[65];
    char email[321];
    char name_id[513];
    char name_id_format[257];
    char session_index[257];
    char issuer[513];
    int64_t created_ms;
    int64_t last_seen_ms;
    int64_t abs_expiry_ms;
    int64_t idle_expiry_ms;
};

struct session_limits {
    int max_age_s;
    int idle_timeout_s;
    int idle_refresh_s;
};

/* Create a record and its indexes; writes the token text (TOKEN_MAX_LEN + 1)
 * for the cookie. s: identity fields in, times and id_hash out. */
int session_create(const struct keyring *k, const struct session_limits *lim, struct session *s, char *token,
                   size_t n, struct err *e);
/* Verify the token (no Redis on a bad signature), load the record, check
 * both expiries, slide the idle expiry at most once per idle_refresh_s.
 * unauthorized when unknown/expired; store_unavailable when Redis is down. */
int session_load(const struct keyring *k, const struct session_limits *lim, const char *token, struct session *s,
                 struct err *e);
/* session_load for a token already verified by the caller: by the org and
 * the hash of the id that token_verify gave. */
int session_load_hash(const struct session_limits *lim, const char *org, const char *id_hash, struct session *s,
                      struct err *e);
/* session_load_hash for n sessions in one Redis round trip (background
 * reloads): rc[i] 0 with out[i], or -1 with errs[i]. */
void session_load_hashes(const struct session_limits *lim, int n, const char *const *orgs,
                         const char *const *id_hashes, struct session *out, int *rc, struct err *errs);
/* Delete one session (logout). */
int session_delete(const char *org, const char *id_hash, struct err *e);
/* Revoke every session of a user in an org / of an org / matching an SLO
 * (NameID + SessionIndex; empty SessionIndex = every session of that NameID).
 * Returns the number of sessions ended, or -1. */
long session_revoke_user(const char *org, const char *user_id, struct err *e);
long session_revoke_org(const char *org, struct err *e);
long session_revoke_slo(const char *org, const char *name_id, const char *session_index, struct err *e);

#endif
