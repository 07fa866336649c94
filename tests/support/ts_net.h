/* Test support: free loopback ports and waiting for a server to accept. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_NET_H
#define SSOGATE_TESTS_SUPPORT_TS_NET_H

#include <sys/types.h>

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0). */
int ts_free_port(void);
/* Wait until host:port accepts a TCP connection. pid > 0: give up early
 * when that process exits. 0 when accepted, -1 on timeout or death. */
int ts_wait_tcp(const char *host, int port, pid_t pid, int timeout_ms);
/* Same for a unix stream socket. */
int ts_wait_unix(const char *path, pid_t pid, int timeout_ms);

#endif
