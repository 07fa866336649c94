/* Per-thread direct-mapped cache. A slot holds one key and a copy of its
 * value; a colliding put replaces it. Entries die by TTL (at most 5 s, from
 * [session] cache_ttl_ms) or by the global epoch. */
#include "util/tlcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define SLOTS 4096

struct slot {
    char key[TLCACHE_KEY_MAX];
    uint64_t epoch;
    int64_t expires_ms;
    size_t len;
    void *val;
};

static atomic_int ttl = 0;
static atomic_uint_fast64_t epoch = 1;
static __thread struct slot *slots;
static pthread_key_t slots_key;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_destroy(void *p)
{
    struct slot *sl = p;
    for (int i = 0; i < SLOTS; i++)
        free(sl[i].val);
    free(sl);
}

/* Worker threads belong to libmicrohttpd and end without telling us: a key
 * destructor frees their cache when they exit. */
static void slots_key_make(void)
{
    pthread_key_create(&slots_key, slots_destroy);
}

void tlcache_configure(int ttl_ms)
{
    atomic_store(&ttl, ttl_ms < 0 ? 0 : ttl_ms);
}

void tlcache_bump_epoch(void)
{
    atomic_fetch_add(&epoch, 1);
}

uint64_t tlcache_epoch(void)
{
    return atomic_load(&epoch);
}

static struct slot *slot_for(const char *key)
{
    if (!slots) {
        slots = util_xcalloc(SLOTS, sizeof *slots);
        pthread_once(&slots_once, slots_key_make);
        pthread_setspecific(slots_key, slots);
    }
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    return &slots[h % SLOTS];
}

int tlcache_get(const char *key, void *out, size_t len)
{
    if (atomic_load(&ttl) == 0 || strlen(key) >= TLCACHE_KEY_MAX)
        return 0;
    struct slot *s = slot_for(key);
    if (!s->val || s->len != len || strcmp(s->key, key) != 0 || s->epoch != atomic_load(&epoch) ||
        util_mono_ms() >= s->expires_ms)
        return 0;
    memcpy(out, s->val, len);
    return 1;
}

void tlcache_put(const char *key, const void *val, size_t len)
{
    int t = atomic_load(&ttl);
    if (t == 0 || strlen(key) >= TLCACHE_KEY_MAX)
        return;
    struct slot *s = slot_for(key);
    if (s->len != len) {
        free(s->val);
        s->val = util_xmalloc(len);
        s->len = len;
    }
    memcpy(s->val, val, len);
    strcpy(s->key, key);
    s->epoch = atomic_load(&epoch);
    s->expires_ms = util_mono_ms() + t;
}

void tlcache_del(const char *key)
{
    if (!slots || strlen(key) >= TLCACHE_KEY_MAX)
        return;
    struct slot *s = slot_for(key);
    if (strcmp(s->key, key) == 0)
        s->expires_ms = 0;
}

void tlcache_thread_free(void)
{
    if (!slots)
        return;
    pthread_setspecific(slots_key, NULL);
    slots_destroy(slots);
    slots = NULL;
}
