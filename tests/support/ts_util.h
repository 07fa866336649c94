/* Test support: the shared error slot of the ts_ helpers and time.
 * Every ts_ function returns -1 (or NULL) on failure with the reason in
 * ts_last_error(); tests assert on it, so a missing binary FAILS a test. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_UTIL_H
#define SSOGATE_TESTS_SUPPORT_TS_UTIL_H

/* Why the last ts_ call of this thread failed ("" when none did). */
const char *ts_last_error(void);
/* Record why a ts_ call failed (printf-style); also printed to stderr.
 * Always returns -1. */
int ts_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic milliseconds, for timing in tests. */
long long ts_now_ms(void);
void ts_sleep_ms(int ms);

#endif
