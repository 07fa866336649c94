/* Token buckets per (class, client address), in memory, per process. Bounded:
 * at most max_clients addresses per class; the least recently seen go first. */
#ifndef SSOGATE_HTTP_RATELIMIT_H
#define SSOGATE_HTTP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(int per_minute, int burst, int max_clients);
void ratelimit_free(struct ratelimit *rl);
/* Take one token for key at now_ms. Returns 0 when allowed, else the seconds
 * until a token is available (for Retry-After, at least 1). */
int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms);
/* Like take, but only looks: 0 when a token is there, else seconds to wait. */
int ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_ms);
size_t ratelimit_size(struct ratelimit *rl);

#endif
