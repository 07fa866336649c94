/* Test support: free loopback ports (bind to port 0 and read it back) and
 * polling until a server accepts connections on TCP or a unix socket. */
#include "ts_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ts_proc.h"
#include "ts_util.h"

int ts_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ts_fail("socket: %s", strerror(errno));
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        ts_fail("bind 127.0.0.1:0: %s", strerror(errno));
    else
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int try_connect(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, sa, len);
    close(fd);
    return rc;
}

static int wait_accept(const struct sockaddr *sa, socklen_t len, const char *what, pid_t pid,
                       int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        if (try_connect(sa, len) == 0)
            return 0;
        if (pid > 0 && !ts_alive(pid))
            return ts_fail("%s: process %d exited before accepting connections", what, (int)pid);
        if (ts_now_ms() >= deadline)
            return ts_fail("%s: nothing accepted connections within %d ms", what, timeout_ms);
        ts_sleep_ms(20);
    }
}

int ts_wait_tcp(const char *host, int port, pid_t pid, int timeout_ms)
{
    char what[300];
    snprintf(what, sizeof what, "%s:%d", host, port);
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1)
        return wait_accept((struct sockaddr *)&a4, sizeof a4, what, pid, timeout_ms);
    if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1)
        return wait_accept((struct sockaddr *)&a6, sizeof a6, what, pid, timeout_ms);
    return ts_fail("ts_wait_tcp: '%s' is not a numeric address", host);
}

int ts_wait_unix(const char *path, pid_t pid, int timeout_ms)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return ts_fail("unix socket path too long: %s", path);
    strcpy(a.sun_path, path);
    return wait_accept((struct sockaddr *)&a, sizeof a, path, pid, timeout_ms);
}
