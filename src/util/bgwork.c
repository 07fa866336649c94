/* One background thread and a ring of fixed-size jobs under one mutex. The
 * critical section is a copy of at most BGWORK_ARG_MAX bytes, so submitting
 * from a request costs a lock and a memcpy, never a wait. */
#include "util/bgwork.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct job {
    bgwork_fn fn;           /* or, for a batched job: */
    bgwork_batch_fn bfn;
    size_t len;
    unsigned char arg[BGWORK_ARG_MAX];
};

#define BGWORK_TICK_MS 20
#define BGWORK_NICE 5

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running;          /* accepting jobs */
    int stop;
    int idle;             /* the thread sleeps until a job comes */
    size_t head, count;
    void (*at_exit)(void);
    struct job ring[BGWORK_QUEUE];
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static atomic_uint_fast64_t n_queued, n_dropped, n_done;

/* Wait on the condition until woken or for ms milliseconds (0: no limit). */
static void wait_locked(int ms)
{
    if (ms == 0) {
        pthread_cond_wait(&q.wake, &q.lock);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&q.wake, &q.lock, &until);
}

/* Plain jobs one by one; batched jobs once per function, with the
 * arguments of all the taken jobs that name it, in queue order. */
static void run_taken(struct job *taken, size_t n)
{
    void *args[BGWORK_BATCH];
    for (size_t i = 0; i < n; i++) {
        if (taken[i].fn) {
            taken[i].fn(taken[i].arg);
            continue;
        }
        bgwork_batch_fn bfn = taken[i].bfn;
        if (!bfn)
            continue; /* already run with an earlier job's batch */
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!taken[j].fn && taken[j].bfn == bfn) {
                args[k++] = taken[j].arg;
                taken[j].bfn = NULL;
            }
        bfn(args, k);
    }
}

/* Busy: after each drain the thread waits one tick, so jobs that come in the
 * meantime are taken in one go and nobody has to wake it. Idle (a whole tick
 * without a job): it sleeps until a job comes, and that job wakes it. */
static void *bgwork_main(void *unused)
{
    (void)unused;
    /* Behind the request workers: batch scheduling (a wake-up does not
     * preempt a running worker) and a lower priority. Best effort: a thread
     * may always lower its own priority, and nothing depends on it. */
    struct sched_param sp = {.sched_priority = 0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), BGWORK_NICE);
    static struct job taken[BGWORK_BATCH]; /* this thread's only */
    pthread_mutex_lock(&q.lock);
    while (!q.stop) {
        if (q.count == 0) {
            wait_locked(BGWORK_TICK_MS);
            if (q.count == 0 && !q.stop) {
                q.idle = 1;
                while (q.count == 0 && !q.stop)
                    wait_locked(0);
                q.idle = 0;
            }
            continue;
        }
        while (q.count > 0 && !q.stop) {
            size_t n = 0;
            while (q.count > 0 && n < BGWORK_BATCH) {
                struct job *src = &q.ring[q.head];
                taken[n].fn = src->fn;
                taken[n].bfn = src->bfn;
                taken[n].len = src->len;
                memcpy(taken[n].arg, src->arg, src->len);
                n++;
                q.head = (q.head + 1) % BGWORK_QUEUE;
                q.count--;
            }
            pthread_mutex_unlock(&q.lock);
            run_taken(taken, n);
            atomic_fetch_add(&n_done, n);
            pthread_mutex_lock(&q.lock);
        }
    }
    pthread_mutex_unlock(&q.lock);
    if (q.at_exit)
        q.at_exit();
    return NULL;
}

int bgwork_start(void (*at_exit)(void))
{
    pthread_mutex_lock(&q.lock);
    if (q.running) {
        pthread_mutex_unlock(&q.lock);
        return 0;
    }
    q.stop = 0;
    q.head = q.count = 0;
    q.at_exit = at_exit;
    int rc = pthread_create(&q.thread, NULL, bgwork_main, NULL);
    q.running = rc == 0;
    pthread_mutex_unlock(&q.lock);
    return rc == 0 ? 0 : -1;
}

static int submit(bgwork_fn fn, bgwork_batch_fn bfn, const void *arg, size_t len)
{
    if (len > BGWORK_ARG_MAX) {
        atomic_fetch_add(&n_dropped, 1);
        return -1;
    }
    pthread_mutex_lock(&q.lock);
    if (!q.running || q.count == BGWORK_QUEUE) {
        pthread_mutex_unlock(&q.lock);
        atomic_fetch_add(&n_dropped, 1);
        return -1;
    }
    struct job *j = &q.ring[(q.head + q.count) % BGWORK_QUEUE];
    j->fn = fn;
    j->bfn = bfn;
    j->len = len;
    memcpy(j->arg, arg, len);
    q.count++;
    /* No wake-up per job: on a busy machine it would put this thread on the
     * CPU in the middle of a worker's burst of requests. While busy the
     * thread looks every BGWORK_TICK_MS by itself; it is woken when idle, or
     * when the queue is filling up. */
    if (q.idle || q.count == BGWORK_QUEUE / 4)
        pthread_cond_signal(&q.wake);
    pthread_mutex_unlock(&q.lock);
    atomic_fetch_add(&n_queued, 1);
    return 0;
}

int bgwork_submit(bgwork_fn fn, const void *arg, size_t len)
{
    return submit(fn, NULL, arg, len);
}

int bgwork_submit_batch(bgwork_batch_fn fn, const void *arg, size_t len)
{
    return submit(NULL, fn, arg, len);
}

void bgwork_stop(void)
{
    pthread_mutex_lock(&q.lock);
    if (!q.running) {
        pthread_mutex_unlock(&q.lock);
        return;
    }
    q.running = 0;
    q.stop = 1;
    q.count = 0;
    pthread_cond_signal(&q.wake);
    pthread_mutex_unlock(&q.lock);
    pthread_join(q.thread, NULL);
}

void bgwork_stats(struct bgwork_stats *out)
{
    out->queued = atomic_load(&n_queued);
    out->dropped = atomic_load(&n_dropped);
    out->done = atomic_load(&n_done);
}
