/* ssogate serve against a real redis-server: health, readiness across a
 * Redis outage, metrics, request ids, config refusal at start, graceful stop. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "util/util.h"

static struct sg sg;

static void start(void) { sg_start(&sg, NULL, NULL); }
static void stop(void) { sg_stop(&sg); }

TestSuite(serve, .init = start, .fini = stop, .timeout = 120);

Test(serve, healthz_and_readyz_answer_200)
{
    struct sg_resp r;
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"ok\""));
    sg_resp_free(&r);
    sg_get(&sg, "/readyz", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    sg_resp_free(&r);
}

Test(serve, readyz_follows_redis_down_and_back_without_restart)
{
    cr_assert_geq(sg_wait_status(&sg, "/readyz", 200, 5000), 0);
    ts_redis_kill(&sg.redis);
    long down = sg_wait_status(&sg, "/readyz", 503, 5000);
    cr_assert_geq(down, 0, "readyz never went to 503 with Redis dead");
    struct sg_resp r;
    sg_get(&sg, "/readyz", &r);
    cr_assert(strstr(r.body, "\"error\":\"not_ready\""), "%s", r.body);
    sg_resp_free(&r);
    /* Liveness does not depend on Redis. */
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
    cr_assert_eq(ts_redis_restart(&sg.redis), 0, "%s", ts_last_error());
    long back = sg_wait_status(&sg, "/readyz", 200, 5000);
    cr_assert_geq(back, 0, "readyz did not come back after Redis returned");
    cr_assert_leq(back, 1000, "readyz took %ld ms to come back (bound: 1 s)", back);
    sg_get(&sg, "/metrics", &r);
    cr_assert(strstr(r.body, "ssogate_redis_reconnects_total "), "%s", r.body);
    cr_assert_null(strstr(r.body, "ssogate_redis_errors_total 0\n"), "errors not counted");
    sg_resp_free(&r);
}

Test(serve, metrics_count_requests_by_route_and_status)
{
    struct sg_resp r;
    sg_get(&sg, "/healthz", &r);
    sg_resp_free(&r);
    sg_get(&sg, "/nope", &r);
    cr_assert_eq(r.status, 404);
    sg_resp_free(&r);
    sg_get(&sg, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    char *ct = sg_header(&r, "Content-Type");
    cr_assert(ct && strstr(ct, "text/plain"), "%s", ct);
    free(ct);
    cr_assert(strstr(r.body, "ssogate_http_requests_total{route=\"healthz\",status=\"200\"} 1"), "%s", r.body);
    cr_assert(strstr(r.body, "ssogate_http_requests_total{route=\"unmatched\",status=\"404\"} 1"), "%s", r.body);
    cr_assert(strstr(r.body, "ssogate_http_request_duration_seconds_bucket{route=\"healthz\",le=\"+Inf\"} 1"));
    cr_assert(strstr(r.body, "ssogate_errors_total{code=\"not_found\"} 1"), "%s", r.body);
    sg_resp_free(&r);
}

Test(serve, one_json_log_line_per_request_with_request_id)
{
    struct curl_slist *h = curl_slist_append(NULL, "X-Request-Id: it-req-42");
    struct sg_resp r;
    sg_request(&sg, "GET", "/healthz", h, NULL, &r);
    char *rid = sg_header(&r, "X-Request-Id");
    cr_assert_str_eq(rid, "it-req-42");
    free(rid);
    sg_resp_free(&r);
    curl_slist_free_all(h);
    usleep(100 * 1000);
    char *log = ts_read_file(sg.log, NULL);
    cr_assert_not_null(log);
    const char *line = strstr(log, "\"request_id\":\"it-req-42\"");
    cr_assert_not_null(line, "%s", log);
    while (line > log && line[-1] != '\n')
        line--;
    json_error_t je;
    const char *end = strchr(line, '\n');
    json_t *o = json_loadb(line, (size_t)(end - line), 0, &je);
    cr_assert_not_null(o, "log line is not JSON: %s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(o, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(o, "path")), "/healthz");
    cr_assert_str_eq(json_string_value(json_object_get(o, "route")), "healthz");
    cr_assert_eq(json_integer_value(json_object_get(o, "status")), 200);
    cr_assert(json_is_number(json_object_get(o, "duration_ms")));
    cr_assert(json_is_string(json_object_get(o, "time")));
    json_decref(o);
    free(log);
}

Test(serve, sigterm_stops_cleanly)
{
    sg_stop_server(&sg); /* asserts exit status 0 */
    struct sg_resp r;
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, -1);
    sg_resp_free(&r);
    sg_restart_server(&sg);
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
}

Test(serve, bad_config_refused_at_start_with_file_line_and_status_2)
{
    char *bad = ts_path(sg.dir, "bad.conf");
    ts_write_file(bad, "[server]\nlisten = 127.0.0.1:1\nworkers = lots\n");
    char *cmd = util_xasprintf("%s serve -c %s 2>&1", sg_bin(), bad);
    FILE *p = popen(cmd, "r");
    char out[512] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert_eq(WEXITSTATUS(st), 2, "exit %d: %s", WEXITSTATUS(st), out);
    cr_assert(strstr(out, "bad.conf:3: [server] workers: 'lots' is not an integer"), "%s", out);
    free(cmd);
    free(bad);
}

Test(serve, refuses_to_start_with_lasso_flag_set)
{
    char *cmd = util_xasprintf("LASSO_FLAG=no-verify-signature %s serve -c %s 2>&1", sg_bin(), sg.conf);
    FILE *p = popen(cmd, "r");
    char out[512] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert_eq(WEXITSTATUS(st), 2, "exit %d: %s", WEXITSTATUS(st), out);
    cr_assert(strstr(out, "LASSO_FLAG"), "%s", out);
    free(cmd);
}

Test(serve, warns_at_start_unless_redis_is_noeviction)
{
    const char *set[] = {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru", NULL};
    char *out = ts_redis_cli(&sg.redis, set);
    cr_assert(out && strstr(out, "OK"), "%s", out ? out : ts_last_error());
    free(out);
    sg_stop_server(&sg);
    sg_restart_server(&sg);
    usleep(200 * 1000);
    char *log = ts_read_file(sg.log, NULL);
    cr_assert(strstr(log, "maxmemory-policy is 'allkeys-lru'") && strstr(log, "\"level\":\"warn\""),
              "no warning about the eviction policy in:\n%s", log);
    free(log);
}

/* One request on an open connection; the answer's head and body into out
 * (NUL-terminated). Returns the status. */
static int ka_request(int fd, const char *req, char *out, size_t n)
{
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        ssize_t k = read(fd, out + got, n - 1 - got);
        cr_assert_gt(k, 0, "the connection closed before the answer's head");
        got += (size_t)k;
        out[got] = '\0';
        end = strstr(out, "\r\n\r\n");
    }
    const char *cl = strcasestr(out, "\r\nContent-Length: ");
    size_t want = (size_t)(end + 4 - out) + (cl ? (size_t)atol(cl + 18) : 0);
    while (got < want) {
        ssize_t k = read(fd, out + got, n - 1 - got);
        cr_assert_gt(k, 0);
        got += (size_t)k;
        out[got] = '\0';
    }
    return atoi(out + 9);
}

/* A proxy sends thousands of requests on one keep-alive connection, and the
 * server reuses one request struct per connection: nothing of a request may
 * show in the next one (its request id, a header it added, a long target
 * kept on the heap). */
Test(serve, keep_alive_requests_share_nothing)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sg.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static char out[65536];
    char req[1024];
    cr_assert_eq(ka_request(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: keepalive-one\r\n\r\n", out,
                            sizeof out), 200);
    cr_assert(strstr(out, "\r\nX-Request-Id: keepalive-one\r\n"), "%s", out);
    char longpath[400];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    snprintf(req, sizeof req, "GET /nope/%s?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", longpath);
    cr_assert_eq(ka_request(fd, req, out, sizeof out), 404, "%s", out);
    cr_assert(strstr(out, "\"not_found\""), "%s", out);
    cr_assert_eq(ka_request(fd, "GET /auth/forward HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n", out,
                            sizeof out), 302, "%s", out);
    cr_assert(strstr(out, "\r\nLocation: "), "%s", out);
    cr_assert_eq(ka_request(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
    cr_assert_null(strstr(out, "keepalive-one"), "the first request's id came back: %s", out);
    cr_assert_null(strstr(out, "\r\nLocation: "), "the redirect's header came back: %s", out);
    cr_assert(strstr(out, "\r\nX-Request-Id: "), "%s", out);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(ka_request(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
    close(fd);
    struct sg_resp r;
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, 200, "the server is still up after the connection closed");
    sg_resp_free(&r);
}

/* The CPUs a thread may run on, from /proc: a bit set (bit i = CPU i);
 * 0 when the thread is not a worker (libmicrohttpd names the thread of each
 * worker's daemon "MHD-single"). */
static unsigned long long worker_cpus(pid_t pid, const char *tid)
{
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, tid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(comm, sizeof comm, f) || strncmp(comm, "MHD-single", 10) != 0) {
        if (f)
            fclose(f);
        return 0;
    }
    fclose(f);
    cpu_set_t set;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity((pid_t)atoi(tid), sizeof set, &set), 0);
    unsigned long long bits = 0;
    for (int c = 0; c < 64; c++)
        if (CPU_ISSET(c, &set))
            bits |= 1ULL << c;
    return bits;
}

/* [server] cpu_affinity = auto: a worker that has served a connection is
 * pinned to one CPU, and two workers never to the same one (while there
 * are CPUs enough). Off (the default): no worker is pinned. */
Test(serve, cpu_affinity_auto_pins_each_worker_to_its_own_cpu)
{
    cpu_set_t all;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    int ncpu = CPU_COUNT(&all);
    for (int round = 0; round < 2; round++) {
        sg_stop(&sg);
        sg_start(&sg, round ? "[server]\nworkers = 2\ncpu_affinity = auto\n" : "[server]\nworkers = 2\n", NULL);
        int fds[16];
        for (int i = 0; i < 16; i++) { /* connections at once: both workers take some */
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sg.port)};
            inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
            cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        }
        static char out[8192];
        for (int i = 0; i < 16; i++) {
            cr_assert_eq(ka_request(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
            close(fds[i]);
        }
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", (int)sg.pid);
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        int workers = 0, pinned = 0;
        unsigned long long used = 0;
        for (struct dirent *de; (de = readdir(d));) {
            if (de->d_name[0] == '.')
                continue;
            unsigned long long bits = worker_cpus(sg.pid, de->d_name);
            if (!bits)
                continue;
            workers++;
            if (__builtin_popcountll(bits) != 1)
                continue;
            pinned++;
            if (ncpu >= 2)
                cr_assert_eq(used & bits, 0, "two workers pinned to one CPU");
            used |= bits;
        }
        closedir(d);
        cr_assert_eq(workers, 2);
        if (ncpu < 2)
            continue; /* one CPU: every thread is "pinned" already */
        if (round == 0)
            cr_assert_eq(pinned, 0, "a worker pinned without cpu_affinity = auto");
        else
            cr_assert_eq(pinned, 2, "cpu_affinity = auto pinned %d of 2 workers", pinned);
    }
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* The value of ssogate_http_worker_connections for each worker, from
 * /metrics asked on the open connection obs (which counts too: asking on a
 * connection of its own would leave a close in flight). Returns how many. */
static int worker_connections(int obs, int *n, int max)
{
    static char out[262144];
    cr_assert_eq(ka_request(obs, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
    int k = 0;
    for (const char *p = out; (p = strstr(p, "ssogate_http_worker_connections{worker=\"")); p++) {
        int w, v;
        cr_assert_eq(sscanf(p, "ssogate_http_worker_connections{worker=\"%d\"} %d", &w, &v), 2);
        cr_assert_eq(w, k, "workers out of order");
        cr_assert_lt(k, max);
        n[k++] = v;
    }
    return k;
}

/* Sums the workers' connections into *total, their spread into *lo, *hi. */
static int worker_spread(int obs, int *n, int *total, int *lo, int *hi)
{
    int k = worker_connections(obs, n, 8);
    *total = 0, *lo = 1 << 30, *hi = 0;
    for (int i = 0; i < k; i++) {
        *total += n[i];
        *lo = n[i] < *lo ? n[i] : *lo;
        *hi = n[i] > *hi ? n[i] : *hi;
    }
    return k;
}

/* Waits until the workers hold no connection but obs (the harness's probes
 * and closed connections are counted out in the workers' own time). */
static void connections_settle(int obs)
{
    int n[8], total = 0, lo, hi;
    for (int tries = 0; tries < 200; tries++) {
        worker_spread(obs, n, &total, &lo, &hi);
        if (total == 1)
            return;
        usleep(20 * 1000);
    }
    cr_assert_fail("connections still counted after every one closed: %d", total - 1);
}

/* Runs the calling thread on the given CPU only (so that loopback
 * connections it opens arrive on that CPU); returns 0 when it may not. */
static int run_on(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

static cpu_set_t all_cpus; /* the test's own, as it started */

static int allowed_cpus(int *cpu, int max)
{
    cpu_set_t all;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    all_cpus = all;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &all))
            cpu[n++] = c;
    return n;
}

static void run_anywhere(void)
{
    cr_assert_eq(sched_setaffinity(0, sizeof all_cpus, &all_cpus), 0);
}

/* Proxies keep a few connections alive for a long time. Workers that race
 * for the listening socket split them unevenly (28/37 to 55/10 of 64), and
 * the crowded worker's connections wait while another has time to spare.
 * Each new connection goes to the worker at home on the CPU that received
 * it unless that one holds more than 2 + a quarter over the fewest, else to
 * the one holding the fewest. 40 connections opened at once from one CPU to
 * 4 workers: every worker holds some, the home worker the most, within that
 * bound. Closed, they are counted out again. */
Test(serve, connections_are_spread_over_the_workers_within_a_bound)
{
    int cpu[1];
    cr_assert_eq(allowed_cpus(cpu, 1), 1);
    sg_stop(&sg);
    sg_start(&sg, "[server]\nworkers = 4\n", NULL);
    cr_assert(run_on(cpu[0]));
    int obs = connect_to(sg.port);
    connections_settle(obs);
    int fds[40];
    static char out[8192];
    for (int i = 0; i < 40; i++)
        fds[i] = connect_to(sg.port);
    for (int i = 0; i < 40; i++) /* each has been handed to a worker */
        cr_assert_eq(ka_request(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
    run_anywhere();
    int n[8], total, lo, hi;
    cr_assert_eq(worker_spread(obs, n, &total, &lo, &hi), 4);
    cr_assert_eq(total, 41, "40 open connections and the one asking: %d", total);
    cr_assert_geq(lo, 1, "a worker holds none: %d %d %d %d", n[0], n[1], n[2], n[3]);
    cr_assert_leq(hi - lo, 4 + lo / 4, "past the bound: %d %d %d %d", n[0], n[1], n[2], n[3]);
    cr_assert_geq(n[0], hi - 1, "the first CPU's worker is not the busiest: %d %d %d %d", n[0], n[1], n[2], n[3]);
    for (int i = 0; i < 40; i++)
        close(fds[i]);
    connections_settle(obs);
    close(obs);
}

/* Connections from a client on one CPU go to that CPU's worker (a proxy's
 * worker and ssogate's then talk without waking a thread on another CPU),
 * from another CPU to that one's: of 4 connections from each of two CPUs
 * to 2 workers, the home worker of each takes 3 or 4 (where the kernel's
 * race or a plain least-connections rule gives 2 and 2). */
Test(serve, connections_go_to_the_worker_at_home_on_their_cpu)
{
    int cpu[2];
    cr_assert_eq(allowed_cpus(cpu, 2), 2, "this test needs two CPUs (the project's machines have them)");
    sg_stop(&sg);
    sg_start(&sg, "[server]\nworkers = 2\n", NULL);
    int obs = connect_to(sg.port);
    connections_settle(obs);
    int fds[8], before[8], after[8];
    static char out[8192];
    for (int side = 0; side < 2; side++) {
        worker_connections(obs, before, 8);
        cr_assert(run_on(cpu[side]));
        for (int i = 0; i < 4; i++) {
            fds[side * 4 + i] = connect_to(sg.port);
            cr_assert_eq(ka_request(fds[side * 4 + i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out),
                         200);
        }
        run_anywhere();
        worker_connections(obs, after, 8);
        int home = after[side] - before[side], away = after[!side] - before[!side];
        cr_assert(home + away == 4 && home >= 3, "from CPU %d: %d to its worker, %d to the other", cpu[side], home,
                  away);
    }
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    close(obs);
}

/* [server] keepalive_requests = 3: the third answer on a connection says
 * "Connection: close" and the server closes it (the client reconnects, to
 * the least busy worker); the first two keep it open. */
Test(serve, keepalive_requests_closes_a_connection_after_that_many)
{
    sg_stop(&sg);
    sg_start(&sg, "[server]\nkeepalive_requests = 3\n", NULL);
    int fd = connect_to(sg.port);
    static char out[8192];
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(ka_request(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
        if (i < 3)
            cr_assert_null(strcasestr(out, "\r\nConnection: close"), "answer %d: %s", i, out);
        else
            cr_assert_not_null(strcasestr(out, "\r\nConnection: close"), "answer 3: %s", out);
    }
    char c;
    cr_assert_eq(read(fd, &c, 1), 0, "the connection stayed open after the third answer");
    close(fd);
    /* 0: no limit. */
    sg_stop(&sg);
    sg_start(&sg, "[server]\nkeepalive_requests = 0\n", NULL);
    fd = connect_to(sg.port);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(ka_request(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
        cr_assert_null(strcasestr(out, "\r\nConnection: close"), "answer %d: %s", i, out);
    }
    close(fd);
}

/* [server] connection_limit: past it, a new connection is closed without an
 * answer; one closed makes room again. */
Test(serve, connection_limit_refuses_the_connection_past_it)
{
    sg_stop(&sg);
    sg_start(&sg, "[server]\nconnection_limit = 16\nworkers = 2\n", NULL);
    int obs = connect_to(sg.port);
    connections_settle(obs);
    int fds[16];
    static char out[8192];
    for (int i = 1; i < 16; i++) { /* with obs, 16 */
        fds[i] = connect_to(sg.port);
        cr_assert_eq(ka_request(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out), 200);
    }
    fds[0] = obs;
    int extra = connect_to(sg.port); /* the kernel completes the handshake; ssogate closes it */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)!send(extra, req, strlen(req), MSG_NOSIGNAL);
    ssize_t k = read(extra, out, sizeof out);
    cr_assert_leq(k, 0, "a connection past the limit was answered: %s", out);
    close(extra);
    close(fds[0]);
    int answered = 0;
    for (int tries = 0; tries < 100 && !answered; tries++) { /* the worker sees the close in its own time */
        int again = connect_to(sg.port);
        (void)!send(again, req, strlen(req), MSG_NOSIGNAL);
        answered = read(again, out, sizeof out) > 0 && strncmp(out, "HTTP/1.1 200", 12) == 0;
        close(again);
        if (!answered)
            usleep(20 * 1000);
    }
    cr_assert(answered, "no room again after a connection closed");
    for (int i = 1; i < 16; i++)
        close(fds[i]);
}
