/* Periodic job thread: waits on a condition variable with a deadline, so a
 * stop request ends the wait at once instead of after the interval. */
#include "util/ticker.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util/util.h"

struct ticker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int interval_s;
    void (*tick)(void *);
    void (*at_exit)(void);
    void *arg;
};

static void *ticker_main(void *p)
{
    struct ticker *t = p;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += t->interval_s;
        while (!t->stop && pthread_cond_timedwait(&t->wake, &t->lock, &until) == 0)
            ;
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        t->tick(t->arg);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    if (t->at_exit)
        t->at_exit();
    return NULL;
}

struct ticker *ticker_start(int interval_s, void (*tick)(void *), void (*at_exit)(void), void *arg)
{
    struct ticker *t = util_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->interval_s = interval_s;
    t->tick = tick;
    t->at_exit = at_exit;
    t->arg = arg;
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

void ticker_stop(struct ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
