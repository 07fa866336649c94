/* Verified domains of an organization: add (normalized, with a TXT challenge
 * "_ssogate-challenge.<domain>" = random token), verify by DNS through c-ares
 * against the configured resolvers, operator override, periodic re-check
 * (warn, then remove after [dns] recheck_grace misses), and the look-ups the
 * sign-in needs. A domain is verified by one org at most. */
#ifndef SSOGATE_ORG_DOMAIN_H
#define SSOGATE_ORG_DOMAIN_H

#include <stddef.h>

#include "org/org.h"

#define DOMAIN_MAX 254
#define DOMAIN_CHALLENGE_PREFIX "_ssogate-challenge."

struct domain_info {
    char name[DOMAIN_MAX];          /* normalized A-label form */
    char txt_name[DOMAIN_MAX + 32]; /* where to publish the token */
    char token[64];                 /* the TXT value to publish */
    int verified;
    int include_subdomains;
    char method[16];                /* "dns" or "operator" once verified */
    long long added_ms, verified_ms;
    int misses;                     /* re-checks in a row without the record */
};

/* Resolvers ("ip:port,..." or "" for the system's), look-up timeout, grace. */
void domain_configure(const char *resolvers, int timeout_ms, int recheck_grace);

/* Lower case, IDNA 2008 A-label (libidn2), no trailing dot, LDH labels of
 * 1..63 bytes, at least two labels, not an IP address. */
int domain_normalize(const char *in, char *out, size_t n, struct err *e);

int domain_add(const struct org_actor *a, const char *org_id, const char *domain, int include_subdomains,
               struct domain_info *out, struct err *e);
/* Look the TXT record up and mark the domain verified: dns_record_missing,
 * dns_record_mismatch, dns_unavailable, domain_taken (another org). */
int domain_verify(const struct org_actor *a, const char *org_id, const char *domain,
                  struct domain_info *out, struct err *e);
/* Operator override (a->operator required): added if needed and verified
 * without DNS, audited with method=operator. */
int domain_add_verified(const struct org_actor *a, const char *org_id, const char *domain,
                        int include_subdomains, struct domain_info *out, struct err *e);
int domain_remove(const struct org_actor *a, const char *org_id, const char *domain, struct err *e);
int domain_get(const char *org_id, const char *domain, struct domain_info *out, struct err *e);
/* *out: malloc'd array sorted by name. */
int domain_list(const char *org_id, struct domain_info **out, size_t *n, struct err *e);

/* Re-check every DNS-verified domain of every org (the server calls this on
 * its [dns] recheck_interval_s timer). A miss is audited and logged as a
 * warning; after recheck_grace misses in a row the domain is removed. A
 * resolver outage counts as no miss. */
int domain_recheck_all(int *checked, int *removed, struct err *e);
int domain_recheck(const char *org_id, const char *domain, int *removed, struct err *e);

/* The server's timer: a thread that runs domain_recheck_all every
 * interval_s (first run after one interval). Among many instances only one
 * runs each round: it takes sg:recheck:lock (SET NX PX interval) first.
 * stop wakes and joins it. */
int domain_recheck_thread_start(int interval_s, struct err *e);
void domain_recheck_thread_stop(void);
/* One round behind the lock: 1 ran, 0 another instance holds the lock. */
int domain_recheck_round(int interval_s, struct err *e);

/* Sign-in look-ups. The org that verified the email's domain (or a parent
 * domain with include_subdomains), most specific first; domain_not_verified
 * when none. */
int domain_org_for_email(const char *email, char org_id[ORG_ID_MAX], struct err *e);
/* 1 when the email's domain is verified for org_id (exactly, or under a
 * parent with include_subdomains), 0 when not, -1 on error. */
int domain_verified_for_org(const char *org_id, const char *email, struct err *e);

/* The TXT look-up itself: values of name (chunks of one record joined).
 * *values NULL-terminated, free with org_strv_free. dns_record_missing
 * (NXDOMAIN / no TXT) or dns_unavailable. */
int domain_dns_txt(const char *name, char ***values, struct err *e);

#endif
