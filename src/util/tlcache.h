/* The process's cache of session and access reads: fixed-size values with a
 * short TTL, shared by the worker threads (sharded, a mutex per shard), and a
 * process-wide epoch that invalidates every entry at once (bumped on pub/sub
 * invalidation messages and whenever the subscription was lost). Bounded. */
#ifndef SSOGATE_UTIL_TLCACHE_H
#define SSOGATE_UTIL_TLCACHE_H

#include <stddef.h>
#include <stdint.h>

#define TLCACHE_KEY_MAX 256

/* ttl_ms for every put; 0 disables the cache. */
void tlcache_configure(int ttl_ms);
/* Copy the value of key into out (len bytes) when present, fresh and of the
 * current epoch. 1 hit, 0 miss. */
int tlcache_get(const char *key, void *out, size_t len);
void tlcache_put(const char *key, const void *val, size_t len);
void tlcache_del(const char *key);
/* Invalidate every thread's entries. */
void tlcache_bump_epoch(void);
uint64_t tlcache_epoch(void);
/* Free everything (at shutdown, after the workers stopped). */
void tlcache_free(void);

#endif
