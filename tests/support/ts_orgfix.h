/* Test support for the org/ tests: a real redis-server on a unix socket with
 * the store initialised on it, org/ configured with test limits, and a
 * snapshot of every key (DUMP) to prove a refused change wrote nothing. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_ORGFIX_H
#define SSOGATE_TESTS_SUPPORT_TS_ORGFIX_H

#include "org/org.h"
#include "ts.h"

extern struct ts_redis ts_org_redis;
extern const struct org_actor ts_org_operator;

/* Start Redis, store_init, org_configure with defaults. Asserts (fails the
 * test) when redis-server is missing. */
void ts_org_setup(void);
void ts_org_teardown(void);
/* Create an org with an owner through the operator; fills info and (when
 * owner_uid != NULL) the owner's uid. */
void ts_org_make(const char *slug, const char *owner_email, struct org_info *info, char owner_uid[ORG_ID_MAX]);
/* All keys but the audit streams with their DUMP, sorted, as one string
 * (malloc'd). */
char *ts_org_snapshot(void);
/* XLEN of the org's audit stream. */
long long ts_org_audit_len(const char *org_id);

/* In a criterion test: call (which may use `e`, a struct err *) succeeds, or
 * is refused with the stable code want. */
#define OK(call)                                                                                           \
    do {                                                                                                   \
        struct err e_;                                                                                     \
        err_clear(&e_);                                                                                    \
        struct err *e = &e_;                                                                               \
        cr_assert_eq((call), 0, "%s: %s %s", #call, e_.code ? e_.code : "", e_.msg);                       \
    } while (0)

#define REFUSED(call, want)                                                                                \
    do {                                                                                                   \
        struct err e_;                                                                                     \
        err_clear(&e_);                                                                                    \
        struct err *e = &e_;                                                                               \
        cr_assert_lt((call), 0, "%s succeeded, expected %s", #call, want);                                 \
        cr_assert_str_eq(e_.code, want, "%s: %s", #call, e_.msg);                                          \
    } while (0)

#endif
