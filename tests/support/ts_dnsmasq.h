/* Test support: a dnsmasq on 127.0.0.1 (free port, temp dir) answering TXT
 * records, authoritative for the .test zone (NXDOMAIN for unknown names).
 * dnsmasq does not reload TXT records on SIGHUP: change them with
 * ts_dnsmasq_set, which restarts it on the same port. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_DNSMASQ_H
#define SSOGATE_TESTS_SUPPORT_TS_DNSMASQ_H

#include <sys/types.h>

#define TS_DNSMASQ_MAX_TXT 16

struct ts_dnsmasq {
    pid_t pid;
    int port;
    char *dir;
    char *log;
    char resolvers[64];      /* "127.0.0.1:PORT", for [dns] resolvers */
    int ntxt;
    char *txt[TS_DNSMASQ_MAX_TXT]; /* "name,value" */
};

/* Zeroes d and starts dnsmasq with no records. 0, or -1 with ts_last_error()
 * (e.g. dnsmasq not installed: the test fails, never skips). */
int ts_dnsmasq_start(struct ts_dnsmasq *d);
/* Replace the TXT records (NULL-terminated "name,value" strings) and
 * restart on the same port. */
int ts_dnsmasq_set(struct ts_dnsmasq *d, const char *const txt[]);
void ts_dnsmasq_stop(struct ts_dnsmasq *d);
/* Stop, remove the temp dir, free. */
void ts_dnsmasq_free(struct ts_dnsmasq *d);

#endif
