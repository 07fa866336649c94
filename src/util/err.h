/* Stable error codes and the error value every fallible function fills.
 * A code is a snake_case string from the table in err.c; it names the same
 * failure in the JSON body, the log line, the audit record and the metrics. */
#ifndef SSOGATE_UTIL_ERR_H
#define SSOGATE_UTIL_ERR_H

struct err {
    const char *code;   /* from err.c's table, never NULL once set */
    int status;         /* HTTP status that fits the code */
    char msg[512];      /* human text, no secrets */
};

/* Fill e with code (must be in the table; unknown codes are a bug and abort)
 * and a printf-style message. Always returns -1 so callers can
 * `return err_set(e, ...)`. e may be NULL. */
int err_set(struct err *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void err_clear(struct err *e);
int err_status(const char *code);          /* -1 when not in the table */
const char *err_default_message(const char *code);
/* Iterate the table: returns the i-th code or NULL past the end. */
const char *err_code_at(int i);

#endif
