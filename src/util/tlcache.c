/* The decision cache: one per process, shared by the worker threads, sharded
 * by key hash with a mutex per shard (a per-thread cache multiplies the
 * misses by the number of workers: measured in bench/authz). Four-way set
 * associative, bounded, entries die by TTL (at most 5 s, [session]
 * cache_ttl_ms) or all at once by the global epoch. Refresh-ahead: in the
 * last eighth of an entry's life one reader is told to have it reloaded
 * (util/bgwork), so a hot entry is replaced before it expires and no request
 * waits on Redis for it; the entry's age never exceeds the TTL either way. */
#include "util/tlcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define SHARDS 64
#define SLOTS_PER_SHARD 2048 /* 131072 entries in all, 40 bytes each + values */

#define TAGS 4096 /* per-tag epochs; two tags sharing one only invalidate more */

struct slot {
    uint64_t hash;
    uint64_t epoch;       /* untagged: the epoch; tagged: the tag's stamp */
    int tag;              /* -1 untagged, else the tag's index */
    int64_t expires_ms;
    int64_t refresh_ms;   /* from here on, a reader is asked to refresh */
    int refreshing;       /* a reader was asked already */
    size_t len;       /* value length; 0 = empty */
    size_t klen;      /* key length */
    char *data;       /* key, NUL, value */
};

struct shard {
    pthread_mutex_t lock;
    struct slot slots[SLOTS_PER_SHARD];
};

static atomic_int ttl = 0;
/* epoch: bumped by every invalidation, the validity of untagged entries.
 * hard: bumped only by an invalidation of everything. tags: per tag. A tagged
 * entry holds while hard and its tag's epoch are what they were at the read. */
static atomic_uint_fast64_t epoch = 1;
static atomic_uint_fast64_t hard = 1;
static atomic_uint_fast64_t tags[TAGS];
static struct shard *shards;
static uint64_t seed; /* of the key hash; set with the shards */
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static void shards_make(void)
{
    util_random(&seed, sizeof seed);
    shards = util_xcalloc(SHARDS, sizeof *shards);
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
}

void tlcache_configure(int ttl_ms)
{
    pthread_once(&shards_once, shards_make);
    atomic_store(&ttl, ttl_ms < 0 ? 0 : ttl_ms);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

/* Keys are ~100-byte tokens: hashed a word at a time (a byte-wise FNV-1a
 * was ~1 % of a request's CPU), from a random seed chosen at start, so that
 * nobody can pick keys that collide on purpose to evict others' entries. */
static uint64_t key_hash_n(const char *key, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, key + i, n - i);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    return mix(h);
}

static uint64_t key_hash(const char *key)
{
    return key_hash_n(key, strlen(key));
}

static int tag_index(const char *tag)
{
    return (int)(key_hash(tag) % TAGS);
}

static uint64_t stamp_at(int idx)
{
    return atomic_load(&hard) << 32 | (atomic_load(&tags[idx]) & 0xffffffffu);
}

void tlcache_bump_epoch(void)
{
    atomic_fetch_add(&hard, 1);
    atomic_fetch_add(&epoch, 1);
}

void tlcache_invalidate(const char *tag)
{
    if (!tag || !*tag) {
        tlcache_bump_epoch();
        return;
    }
    atomic_fetch_add(&tags[tag_index(tag)], 1);
    atomic_fetch_add(&epoch, 1);
}

uint64_t tlcache_epoch(void)
{
    return atomic_load(&epoch);
}

uint64_t tlcache_stamp(const char *tag)
{
    return stamp_at(tag_index(tag));
}

static int slot_valid(const struct slot *s)
{
    return s->tag < 0 ? s->epoch == atomic_load(&epoch) : s->epoch == stamp_at(s->tag);
}

static struct shard *shard_of(uint64_t h)
{
    return &shards[(h >> 48) % SHARDS];
}

/* The WAYS slots a key may live in: its own and the next ones. With two,
 * 2000 sessions and their 2000 grants (3 % of the slots) still made a few
 * pairs of keys evict each other over and over: some 25 reads a second went
 * to Redis on the request path, each one holding up the worker's other
 * connections (measured with bench/authz's set-up; none with four). */
#define WAYS 4

static struct slot *slot_find(struct shard *sh, const char *key, size_t kl, uint64_t h)
{
    for (unsigned i = 0; i < WAYS; i++) {
        struct slot *s = &sh->slots[(h + i) % SLOTS_PER_SHARD];
        if (s->len && s->hash == h && s->klen == kl && memcmp(s->data, key, kl) == 0)
            return s;
    }
    return NULL;
}

/* An empty slot of the key's, else the one that expires first. */
static struct slot *slot_victim(struct shard *sh, uint64_t h)
{
    struct slot *v = NULL;
    for (unsigned i = 0; i < WAYS; i++) {
        struct slot *s = &sh->slots[(h + i) % SLOTS_PER_SHARD];
        if (!s->len)
            return s;
        if (!v || s->expires_ms < v->expires_ms)
            v = s;
    }
    return v;
}

/* The read of every get: a value of exactly cap bytes (exact), or of at most
 * cap bytes (its length into *got). */
static int get(const char *key, void *out, size_t cap, size_t *got, int exact, int *refresh)
{
    if (refresh)
        *refresh = 0;
    size_t kl = strlen(key);
    if (atomic_load(&ttl) == 0 || !shards || kl >= TLCACHE_KEY_MAX)
        return 0;
    uint64_t h = key_hash_n(key, kl);
    struct shard *sh = shard_of(h);
    int hit = 0;
    int64_t now = util_mono_ms();
    pthread_mutex_lock(&sh->lock);
    struct slot *s = slot_find(sh, key, kl, h);
    if (s && (exact ? s->len == cap : s->len <= cap) && slot_valid(s) && now < s->expires_ms) {
        memcpy(out, s->data + kl + 1, s->len);
        if (got)
            *got = s->len;
        hit = 1;
        if (refresh && now >= s->refresh_ms && !s->refreshing) {
            s->refreshing = 1;
            *refresh = 1;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return hit;
}

int tlcache_get(const char *key, void *out, size_t len)
{
    return get(key, out, len, NULL, 1, NULL);
}

int tlcache_get_ex(const char *key, void *out, size_t len, int *refresh)
{
    return get(key, out, len, NULL, 1, refresh);
}

int tlcache_get_var(const char *key, void *out, size_t cap, size_t *len, int *refresh)
{
    return get(key, out, cap, len, 0, refresh);
}

/* Entries filled together (a burst of new users, a flush) would all expire
 * together and refill in one storm of Redis reads: each lives between seven
 * eighths and all of the TTL instead. (A wider spread, and a refresh from
 * three quarters of the life, reloaded hot entries every 3.3 s on average
 * with the 5 s TTL; now every 4.1 s: a fifth fewer Redis reads for the same
 * bound, computed from the lifetimes.) */
static int64_t ttl_jittered(int t)
{
    static __thread uint64_t x;
    if (!x)
        x = (uint64_t)util_mono_us() * 2654435761u | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return t - (int64_t)(x % (uint64_t)(t / 8 + 1));
}

static void put(const char *key, const void *val, size_t len, int tag, uint64_t stamp)
{
    int t = atomic_load(&ttl);
    size_t kl = strlen(key);
    if (t == 0 || !shards || kl >= TLCACHE_KEY_MAX || len == 0)
        return;
    uint64_t h = key_hash_n(key, kl);
    struct shard *sh = shard_of(h);
    char *data = util_xmalloc(kl + 1 + len);
    memcpy(data, key, kl + 1);
    memcpy(data + kl + 1, val, len);
    pthread_mutex_lock(&sh->lock);
    struct slot *s = slot_find(sh, key, kl, h);
    if (!s)
        s = slot_victim(sh, h);
    char *old = s->data;
    s->data = data;
    s->hash = h;
    s->len = len;
    s->klen = kl;
    s->tag = tag;
    s->epoch = stamp;
    int64_t now = util_mono_ms(), life = ttl_jittered(t);
    s->expires_ms = now + life;
    s->refresh_ms = now + life - life / 8;
    s->refreshing = 0;
    pthread_mutex_unlock(&sh->lock);
    free(old);
}

void tlcache_put(const char *key, const void *val, size_t len)
{
    put(key, val, len, -1, atomic_load(&epoch));
}

void tlcache_put_at(const char *key, const void *val, size_t len, uint64_t ep)
{
    if (ep == atomic_load(&epoch))
        put(key, val, len, -1, ep);
}

void tlcache_put_tagged(const char *key, const void *val, size_t len, const char *tag, uint64_t stamp)
{
    int idx = tag_index(tag);
    if (stamp == stamp_at(idx))
        put(key, val, len, idx, stamp);
}

void tlcache_del(const char *key)
{
    size_t kl = strlen(key);
    if (!shards || kl >= TLCACHE_KEY_MAX)
        return;
    uint64_t h = key_hash_n(key, kl);
    struct shard *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    struct slot *s = slot_find(sh, key, kl, h);
    if (s)
        s->expires_ms = 0;
    pthread_mutex_unlock(&sh->lock);
}

void tlcache_free(void)
{
    if (!shards)
        return;
    for (int i = 0; i < SHARDS; i++)
        for (int j = 0; j < SLOTS_PER_SHARD; j++)
            free(shards[i].slots[j].data);
    free(shards);
    shards = NULL;
    shards_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}
