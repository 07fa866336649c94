/* Work taken off the request path: a bounded queue served by one thread.
 * For cache refresh-ahead: a worker that sees a cached entry near the end of
 * its life asks for a reload here and answers from the cache at once, so that
 * hot entries are refilled without a worker ever waiting on Redis.
 *
 * A job is a function and a small copied argument. The queue never grows and
 * never blocks the caller: when it is full, or the thread is not running (CLI
 * commands, unit tests), bgwork_submit says so and the caller goes on without
 * it (for the cache: the entry expires and the next reader refills it). */
#ifndef SSOGATE_UTIL_BGWORK_H
#define SSOGATE_UTIL_BGWORK_H

#include <stddef.h>
#include <stdint.h>

#define BGWORK_ARG_MAX 256
#define BGWORK_QUEUE 4096

typedef void (*bgwork_fn)(void *arg);

/* Start the thread; at_exit (may be NULL) runs on it before it ends, e.g. to
 * close its Redis connection. 0, or -1 when the thread cannot be made. */
int bgwork_start(void (*at_exit)(void));
/* Queue fn(copy of arg); 0 queued, -1 dropped (full, too large, not running). */
int bgwork_submit(bgwork_fn fn, const void *arg, size_t len);
/* Jobs that are better done together (background reloads: one Redis round
 * trip for many): the thread takes up to BGWORK_BATCH queued jobs at a time
 * and calls fn once with the arguments of all of those that name it. Same
 * rules as bgwork_submit otherwise. */
#define BGWORK_BATCH 64
typedef void (*bgwork_batch_fn)(void *const *args, size_t n);
int bgwork_submit_batch(bgwork_batch_fn fn, const void *arg, size_t len);
/* Stop: jobs still queued are dropped, the one running finishes; joins. */
void bgwork_stop(void);

struct bgwork_stats {
    uint64_t queued, dropped, done;
};
void bgwork_stats(struct bgwork_stats *out);

#endif
