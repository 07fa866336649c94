/* Token-bucket rate limiter. Sharded by a hash of the key so worker threads
 * rarely contend; each shard is a chained hash table with an LRU list so the
 * memory an attacker can make us spend is bounded by max_clients. */
#include "http/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define RL_SHARDS 16
#define RL_KEY_MAX 64

struct bucket {
    char key[RL_KEY_MAX];
    double tokens;
    int64_t last_ms;
    struct bucket *hnext;           /* hash chain */
    struct bucket *prev, *next;     /* LRU: head = most recent */
};

struct shard {
    pthread_mutex_t lock;
    struct bucket **table;
    size_t nbuckets;
    size_t count, cap;
    struct bucket *head, *tail;
};

struct ratelimit {
    double rate_per_ms;
    double burst;
    struct shard shards[RL_SHARDS];
};

static uint64_t rl_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct ratelimit *ratelimit_new(int per_minute, int burst, int max_clients)
{
    struct ratelimit *rl = util_xcalloc(1, sizeof *rl);
    rl->rate_per_ms = per_minute / 60000.0;
    rl->burst = burst;
    size_t cap = (size_t)max_clients / RL_SHARDS + 1;
    for (int i = 0; i < RL_SHARDS; i++) {
        struct shard *s = &rl->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->cap = cap;
        s->nbuckets = cap < 16 ? 16 : cap;
        s->table = util_xcalloc(s->nbuckets, sizeof *s->table);
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < RL_SHARDS; i++) {
        struct shard *s = &rl->shards[i];
        for (struct bucket *b = s->head, *n; b; b = n) {
            n = b->next;
            free(b);
        }
        free(s->table);
        pthread_mutex_destroy(&s->lock);
    }
    free(rl);
}

static void lru_unlink(struct shard *s, struct bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        s->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        s->tail = b->prev;
    b->prev = b->next = NULL;
}

static void lru_push(struct shard *s, struct bucket *b)
{
    b->next = s->head;
    b->prev = NULL;
    if (s->head)
        s->head->prev = b;
    s->head = b;
    if (!s->tail)
        s->tail = b;
}

static void shard_remove(struct shard *s, struct bucket *victim, uint64_t h)
{
    struct bucket **pp = &s->table[h % s->nbuckets];
    while (*pp && *pp != victim)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = victim->hnext;
    lru_unlink(s, victim);
    s->count--;
    free(victim);
}

static struct bucket *shard_get(struct ratelimit *rl, struct shard *s, const char *key,
                                uint64_t h, int64_t now_ms)
{
    for (struct bucket *b = s->table[h % s->nbuckets]; b; b = b->hnext)
        if (strcmp(b->key, key) == 0) {
            lru_unlink(s, b);
            lru_push(s, b);
            return b;
        }
    if (s->count >= s->cap && s->tail)
        shard_remove(s, s->tail, rl_hash(s->tail->key) / RL_SHARDS);
    struct bucket *b = util_xcalloc(1, sizeof *b);
    snprintf(b->key, sizeof b->key, "%s", key);
    b->tokens = rl->burst;
    b->last_ms = now_ms;
    b->hnext = s->table[h % s->nbuckets];
    s->table[h % s->nbuckets] = b;
    lru_push(s, b);
    s->count++;
    return b;
}

static int bucket_take(struct ratelimit *rl, const char *key, int64_t now_ms, int consume)
{
    char k[RL_KEY_MAX];
    snprintf(k, sizeof k, "%s", key);
    uint64_t full = rl_hash(k);
    struct shard *s = &rl->shards[full % RL_SHARDS];
    uint64_t h = full / RL_SHARDS;
    int wait = 0;
    pthread_mutex_lock(&s->lock);
    struct bucket *b = shard_get(rl, s, k, h, now_ms);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->rate_per_ms;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        if (consume)
            b->tokens -= 1.0;
    } else {
        double ms = (1.0 - b->tokens) / rl->rate_per_ms;
        wait = (int)(ms / 1000.0) + 1;
    }
    pthread_mutex_unlock(&s->lock);
    return wait;
}

int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    return bucket_take(rl, key, now_ms, 1);
}

int ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    return bucket_take(rl, key, now_ms, 0);
}

size_t ratelimit_size(struct ratelimit *rl)
{
    size_t n = 0;
    for (int i = 0; i < RL_SHARDS; i++) {
        pthread_mutex_lock(&rl->shards[i].lock);
        n += rl->shards[i].count;
        pthread_mutex_unlock(&rl->shards[i].lock);
    }
    return n;
}
