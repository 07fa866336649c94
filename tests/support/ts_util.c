/* Test support: the per-thread error slot every ts_ helper fills, and
 * monotonic time for measuring how long things took. */
#include "ts_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static __thread char ts_err[512];

const char *ts_last_error(void)
{
    return ts_err;
}

int ts_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ts_err, sizeof ts_err, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test support: %s\n", ts_err);
    return -1;
}

long long ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ts_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
