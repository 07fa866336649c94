/* A background thread that calls a function every interval_s seconds until
 * stopped; stop wakes it at once and joins it. For the periodic server jobs
 * (domain re-check, IdP metadata refresh). */
#ifndef SSOGATE_UTIL_TICKER_H
#define SSOGATE_UTIL_TICKER_H

struct ticker;

/* tick runs on the thread after each interval (never at start); at_exit (may
 * be NULL) runs on the thread before it ends, e.g. to close its Redis
 * connection. NULL when the thread cannot be made. */
struct ticker *ticker_start(int interval_s, void (*tick)(void *), void (*at_exit)(void), void *arg);
void ticker_stop(struct ticker *t); /* NULL ok */

#endif
