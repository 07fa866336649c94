/* Unit tests of the decision cache (util/tlcache) and of the background work
 * queue behind its refresh-ahead (util/bgwork). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/bgwork.h"
#include "util/tlcache.h"

static void cache_reset(void)
{
    tlcache_free();
    tlcache_configure(400);
}

Test(tlcache, hit_miss_ttl_and_epoch)
{
    cache_reset();
    int v = 7, out = 0;
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 0);
    tlcache_put("k", &v, sizeof v);
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 1);
    cr_assert_eq(out, 7);
    cr_assert_eq(tlcache_get("k", &out, 2), 0, "a value of another size is a miss");
    tlcache_bump_epoch();
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 0, "an epoch bump drops every entry");
    tlcache_put("k", &v, sizeof v);
    usleep(420 * 1000);
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 0, "no entry outlives the TTL");
    tlcache_free();
}

Test(tlcache, a_value_read_before_an_invalidation_is_not_stored)
{
    cache_reset();
    int v = 1, out = 0;
    uint64_t before = tlcache_epoch();
    tlcache_bump_epoch(); /* an invalidation arrives while the value is read */
    tlcache_put_at("k", &v, sizeof v, before);
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 0);
    tlcache_put_at("k", &v, sizeof v, tlcache_epoch());
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 1);
    tlcache_free();
}

Test(tlcache, refresh_is_asked_once_in_the_last_eighth_of_life)
{
    cache_reset(); /* TTL 400 ms: lifetimes within [350, 400], refresh from 7/8 of it */
    int v = 1, out = 0, refresh = -1;
    tlcache_put("k", &v, sizeof v);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int asked = 0;
    long asked_at = -1, gone_at = -1;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (!tlcache_get_ex("k", &out, sizeof out, &refresh)) {
            gone_at = ms;
            break;
        }
        if (refresh && asked++ == 0)
            asked_at = ms;
        usleep(5000);
    }
    cr_assert_eq(asked, 1, "exactly one reader is asked to refresh, asked %d", asked);
    cr_assert_geq(asked_at, 300, "asked at %ld ms: too young", asked_at);
    cr_assert_lt(asked_at, gone_at, "asked before the entry expired");
    cr_assert_leq(gone_at, 420, "gone at %ld ms", gone_at);
    tlcache_put("k", &v, sizeof v); /* a refresh lands: the entry is young again */
    cr_assert_eq(tlcache_get_ex("k", &out, sizeof out, &refresh), 1);
    cr_assert_eq(refresh, 0);
    tlcache_free();
}

Test(tlcache, an_org_invalidation_drops_that_org_and_untagged_entries_only)
{
    cache_reset();
    int v = 1, out = 0;
    const char *a = "o_aaaaaaaaaaaaaaaaaaaa", *b = "o_bbbbbbbbbbbbbbbbbbbb";
    tlcache_put_tagged("s:a", &v, sizeof v, a, tlcache_stamp(a));
    tlcache_put_tagged("s:b", &v, sizeof v, b, tlcache_stamp(b));
    tlcache_put("o:acme", &v, sizeof v);
    tlcache_invalidate(a);
    cr_assert_eq(tlcache_get("s:a", &out, sizeof out), 0, "org a's entry is dropped");
    cr_assert_eq(tlcache_get("s:b", &out, sizeof out), 1, "org b's entry stays");
    cr_assert_eq(tlcache_get("o:acme", &out, sizeof out), 0, "untagged entries go with any invalidation");
    tlcache_invalidate(NULL);
    cr_assert_eq(tlcache_get("s:b", &out, sizeof out), 0, "a full invalidation drops every entry");
    /* A read that began before its org's invalidation is not stored. */
    uint64_t before = tlcache_stamp(b);
    tlcache_invalidate(b);
    tlcache_put_tagged("s:b", &v, sizeof v, b, before);
    cr_assert_eq(tlcache_get("s:b", &out, sizeof out), 0);
    /* ... nor one that began before a full invalidation. */
    before = tlcache_stamp(b);
    tlcache_bump_epoch();
    tlcache_put_tagged("s:b", &v, sizeof v, b, before);
    cr_assert_eq(tlcache_get("s:b", &out, sizeof out), 0);
    tlcache_put_tagged("s:b", &v, sizeof v, b, tlcache_stamp(b));
    cr_assert_eq(tlcache_get("s:b", &out, sizeof out), 1);
    tlcache_free();
}

Test(tlcache, disabled_with_ttl_zero)
{
    tlcache_free();
    tlcache_configure(0);
    int v = 1, out = 0;
    tlcache_put("k", &v, sizeof v);
    cr_assert_eq(tlcache_get("k", &out, sizeof out), 0);
    tlcache_free();
}

/* Values of varying length: a hit copies the stored bytes and says how many;
 * a value longer than the reader's room is a miss, never a cut copy; fixed
 * reads still want the exact length; keys that share a prefix or a length
 * stay apart. */
Test(tlcache, variable_length_values)
{
    cache_reset();
    char big[300], out[300];
    memset(big, 'x', sizeof big);
    size_t len = 0;
    tlcache_put("v:a", "hello", 6);
    tlcache_put("v:b", big, sizeof big);
    tlcache_put("v:ab", "other", 6);
    cr_assert_eq(tlcache_get_var("v:a", out, sizeof out, &len, NULL), 1);
    cr_assert_eq(len, 6);
    cr_assert_str_eq(out, "hello");
    cr_assert_eq(tlcache_get_var("v:ab", out, sizeof out, &len, NULL), 1);
    cr_assert_str_eq(out, "other");
    cr_assert_eq(tlcache_get_var("v:b", out, 100, &len, NULL), 0, "a value longer than the room is a miss");
    cr_assert_eq(tlcache_get_var("v:b", out, sizeof out, &len, NULL), 1);
    cr_assert_eq(len, sizeof big);
    cr_assert_eq(memcmp(out, big, sizeof big), 0);
    cr_assert_eq(tlcache_get("v:a", out, 8), 0, "a fixed read wants the exact length");
    cr_assert_eq(tlcache_get_var("v:", out, sizeof out, &len, NULL), 0, "a prefix of a key is another key");
    tlcache_free();
}

/* bench/authz's load: 2000 sessions and their 2000 grants, 3 % of the
 * cache's slots. Two ways a key made a few pairs of keys evict each other
 * (in a simulation of the slot choice, 2.1 losses per 4000 keys on
 * average, at least two in 60 % of the fills), and each such key went to
 * Redis on the request path again and again; with four, at least one loss
 * is a 1-in-500 event, two about never. */
Test(tlcache, four_thousand_entries_all_stay)
{
    tlcache_free();
    tlcache_configure(5000);
    char key[64];
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "%s:%d:%08x", i % 2 ? "a" : "t", i, (unsigned)i * 2654435761u);
        tlcache_put(key, &i, sizeof i);
    }
    int lost = 0;
    for (int i = 0; i < 4000; i++) {
        int out = -1;
        snprintf(key, sizeof key, "%s:%d:%08x", i % 2 ? "a" : "t", i, (unsigned)i * 2654435761u);
        if (!tlcache_get(key, &out, sizeof out))
            lost++;
        else
            cr_assert_eq(out, i, "%s holds another key's value", key);
    }
    cr_assert_leq(lost, 1, "%d of 4000 entries evicted at 3 %% of the cache's room", lost);
    tlcache_free();
}

static atomic_int ran;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_job(void *arg)
{
    atomic_fetch_add(&ran, *(int *)arg);
}

static void blocked_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock); /* held by the test: the thread waits here */
    pthread_mutex_unlock(&gate_lock);
}

Test(bgwork, runs_jobs_with_a_copy_of_their_argument)
{
    int one = 1;
    cr_assert_eq(bgwork_submit(count_job, &one, sizeof one), -1, "nothing runs before start");
    cr_assert_eq(bgwork_start(NULL), 0);
    atomic_store(&ran, 0);
    for (int i = 0; i < 100; i++) {
        int v = 1;
        cr_assert_eq(bgwork_submit(count_job, &v, sizeof v), 0);
        v = 1000; /* the job saw a copy */
    }
    for (int i = 0; i < 200 && atomic_load(&ran) < 100; i++)
        usleep(5000);
    cr_assert_eq(atomic_load(&ran), 100);
    char big[BGWORK_ARG_MAX + 1] = {0};
    cr_assert_eq(bgwork_submit(count_job, big, sizeof big), -1, "an oversized argument is refused");
    bgwork_stop();
    cr_assert_eq(bgwork_submit(count_job, &one, sizeof one), -1, "nothing runs after stop");
}

Test(bgwork, a_full_queue_drops_instead_of_blocking)
{
    cr_assert_eq(bgwork_start(NULL), 0);
    pthread_mutex_lock(&gate_lock);
    cr_assert_eq(bgwork_submit(blocked_job, "", 1), 0);
    usleep(150 * 1000); /* the thread took it (it looks every 20 ms) and waits */
    int one = 1, queued = 0, dropped = 0;
    for (int i = 0; i < BGWORK_QUEUE + 10; i++) {
        if (bgwork_submit(count_job, &one, sizeof one) == 0)
            queued++;
        else
            dropped++;
    }
    cr_assert_eq(queued, BGWORK_QUEUE);
    cr_assert_eq(dropped, 10);
    struct bgwork_stats st;
    bgwork_stats(&st);
    cr_assert_geq(st.dropped, 10);
    pthread_mutex_unlock(&gate_lock);
    bgwork_stop();
}

static atomic_int batch_calls, batch_args, batch_order_ok = 1;

static void batch_job(void *const *args, size_t n)
{
    atomic_fetch_add(&batch_calls, 1);
    atomic_fetch_add(&batch_args, (int)n);
    for (size_t i = 1; i < n; i++)
        if (*(int *)args[i] <= *(int *)args[i - 1])
            atomic_store(&batch_order_ok, 0);
    if (n > BGWORK_BATCH)
        atomic_store(&batch_order_ok, 0);
}

/* Batched jobs queued while the thread is busy are handed over together, at
 * most BGWORK_BATCH at a time, in queue order and with copies of their
 * arguments; plain jobs in between still run one by one. */
Test(bgwork, batched_jobs_run_together_in_order)
{
    cr_assert_eq(bgwork_start(NULL), 0);
    atomic_store(&ran, 0);
    pthread_mutex_lock(&gate_lock);
    cr_assert_eq(bgwork_submit(blocked_job, "", 1), 0);
    usleep(150 * 1000); /* the thread is held: what follows queues up */
    int one = 1;
    for (int i = 0; i < 3 * BGWORK_BATCH; i++) {
        int v = i;
        cr_assert_eq(bgwork_submit_batch(batch_job, &v, sizeof v), 0);
        if (i % 10 == 0)
            cr_assert_eq(bgwork_submit(count_job, &one, sizeof one), 0);
    }
    pthread_mutex_unlock(&gate_lock);
    for (int i = 0; i < 200 && atomic_load(&batch_args) < 3 * BGWORK_BATCH; i++)
        usleep(5000);
    cr_assert_eq(atomic_load(&batch_args), 3 * BGWORK_BATCH);
    cr_assert_eq(atomic_load(&ran), (3 * BGWORK_BATCH + 9) / 10);
    cr_assert_leq(atomic_load(&batch_calls), 6, "%d calls for %d jobs: not batched", atomic_load(&batch_calls),
                  3 * BGWORK_BATCH);
    cr_assert_eq(atomic_load(&batch_order_ok), 1, "a batch was out of order or too large");
    bgwork_stop();
}
