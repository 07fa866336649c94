/* The process's cache of session and access reads: fixed-size values with a
 * short TTL, shared by the worker threads (sharded, a mutex per shard).
 * Invalidation by epochs: a pub/sub message naming an org drops that org's
 * tagged entries and every untagged one; a lost subscription drops all.
 * Bounded. */
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
/* tlcache_get, and refresh-ahead: on a hit in the last eighth of the
 * entry's life, *refresh is set to 1 for one caller only (the entry is marked)
 * so that it can have the value reloaded off the request path; 0 otherwise. */
int tlcache_get_ex(const char *key, void *out, size_t len, int *refresh);
/* tlcache_get_ex for values whose length varies: a hit copies the stored
 * value when it is at most cap bytes long and puts its length in *len (when
 * len is not NULL; packed values that say where they end need not ask). */
int tlcache_get_var(const char *key, void *out, size_t cap, size_t *len, int *refresh);
/* Store with the current epoch: only for values not read from Redis. */
void tlcache_put(const char *key, const void *val, size_t len);
/* Store a value read from Redis, with the epoch taken (tlcache_epoch())
 * before the read: when an invalidation came in between, the value may be
 * older than it and is not stored. */
void tlcache_put_at(const char *key, const void *val, size_t len, uint64_t epoch);
void tlcache_del(const char *key);
/* Invalidate every entry. */
void tlcache_bump_epoch(void);
/* Invalidate the entries of one tag (an org id) and every untagged entry;
 * NULL or "" invalidates everything. */
void tlcache_invalidate(const char *tag);
uint64_t tlcache_epoch(void);
/* Tagged entries: a value read from Redis that depends only on the data of
 * one tag (one org's directory or sessions) survives the invalidations of
 * other tags. Take the stamp before the read; the put is dropped when the tag
 * (or everything) was invalidated in between. */
uint64_t tlcache_stamp(const char *tag);
void tlcache_put_tagged(const char *key, const void *val, size_t len, const char *tag, uint64_t stamp);
/* Free everything (at shutdown, after the workers stopped). */
void tlcache_free(void);

#endif
