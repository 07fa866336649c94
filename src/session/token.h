/* Session tokens: a random 256-bit session id signed with HMAC-SHA256 by a key
 * of the key ring. Format (docs/sessions.md):
 *   s1.<kid>.<org id>.<base64url(id, 32 bytes)>.<base64url(hmac, 32 bytes)>
 * where the HMAC covers everything before the last dot. The org is named in the
 * token so the record's key carries the org's hash tag without a look-up. The
 * signature is checked before Redis is asked: a forged token costs no round trip. */
#ifndef SSOGATE_SESSION_TOKEN_H
#define SSOGATE_SESSION_TOKEN_H

#include <stddef.h>

#include "util/err.h"

#define TOKEN_MAX_LEN 256
#define TOKEN_KID_MAX 32
#define TOKEN_ORG_MAX 63
#define TOKEN_ID_BYTES 32

struct keyring;

/* Text: one "kid secret [next]" per line (secret base64url, 32 to 64 bytes
 * once decoded); '#' comments and blank lines ignored. The first key not
 * marked "next" signs; every key verifies. "next" stages a key on every
 * instance before it signs anywhere (docs/sessions.md, rotation). */
struct keyring *keyring_parse(const char *text, struct err *e);
struct keyring *keyring_load(const char *path, struct err *e);
void keyring_free(struct keyring *k);
const char *keyring_signing_kid(const struct keyring *k);
size_t keyring_size(const struct keyring *k);
/* The i-th kid (file order) and whether it is staged; NULL past the end. */
const char *keyring_kid_at(const struct keyring *k, size_t i, int *staged);

struct token {
    char kid[TOKEN_KID_MAX + 1];
    char org[TOKEN_ORG_MAX + 1];
    unsigned char id[TOKEN_ID_BYTES];
    char id_hash[65];   /* hex SHA-256 of id: the record's key, never the id itself */
};

/* Make a new token for org; writes the text into out (TOKEN_MAX_LEN + 1). */
int token_issue(const struct keyring *k, const char *org, struct token *t, char *out, size_t n, struct err *e);
/* Parse and verify. Any malformed, oversized, unknown-kid or bad-signature
 * token is refused with "unauthorized"; nothing else is touched. */
int token_verify(const struct keyring *k, const char *text, struct token *t, struct err *e);

#endif
