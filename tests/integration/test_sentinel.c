/* Integration test of store/ with Redis Sentinel: a master, a replica and
 * three sentinels on loopback; the master is killed and the store must find
 * the promoted replica by itself, within a bound, and never write to a
 * replica when the sentinels name one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "ts.h"

#define NSENT 3
#define FAILOVER_BOUND_MS 20000

static char *dir;
static struct ts_redis master, replica, sent[NSENT];

static void dump_logs(void)
{
    ts_dump_log(master.log, 2000);
    ts_dump_log(replica.log, 2000);
    for (int i = 0; i < NSENT; i++)
        ts_dump_log(sent[i].log, 3000);
}

static void teardown(void)
{
    store_shutdown();
    for (int i = 0; i < NSENT; i++)
        ts_redis_free(&sent[i]);
    ts_redis_free(&replica);
    ts_redis_free(&master);
    if (dir)
        ts_rm_rf(dir);
    free(dir);
    dir = NULL;
}

/* Poll redis-cli until its output contains want (or timeout). */
static int wait_cli(const struct ts_redis *r, const char *const args[], const char *want, int timeout_ms)
{
    long long t0 = ts_now_ms();
    while (ts_now_ms() - t0 < timeout_ms) {
        char *out = ts_redis_cli(r, args);
        int ok = out && strstr(out, want);
        free(out);
        if (ok)
            return 0;
        ts_sleep_ms(100);
    }
    return -1;
}

static void start_pair(const char *const replica_extra[])
{
    dir = ts_mkdtemp("ssogate-sentinel");
    cr_assert_not_null(dir);
    struct ts_redis_opts mo = {.tcp = 1};
    cr_assert_eq(ts_redis_start(&master, &mo), 0, "master: %s", ts_last_error());
    struct ts_redis_opts ro = {.tcp = 1, .replicaof_host = "127.0.0.1", .replicaof_port = master.port,
                               .extra = replica_extra};
    cr_assert_eq(ts_redis_start(&replica, &ro), 0, "replica: %s", ts_last_error());
    const char *info[] = {"INFO", "replication", NULL};
    cr_assert_eq(wait_cli(&replica, info, "master_link_status:up", 10000), 0, "replica never synced");
}

static void start_sentinels(int monitored_port)
{
    for (int i = 0; i < NSENT; i++)
        cr_assert_eq(ts_sentinel_start(&sent[i], dir, "m", monitored_port, 2, 1000, 5000), 0,
                     "sentinel: %s", ts_last_error());
}

/* "127.0.0.1:DEAD,127.0.0.1:S1,..." with a dead sentinel first, so that
 * discovery has to move on to the next one. */
static char *sentinel_list(void)
{
    struct buf_s {
        char s[256];
    } b = {""};
    int dead = ts_free_port();
    int n = snprintf(b.s, sizeof b.s, "127.0.0.1:%d", dead);
    for (int i = 0; i < NSENT; i++)
        n += snprintf(b.s + n, sizeof b.s - (size_t)n, ",127.0.0.1:%d", sent[i].port);
    return strdup(b.s);
}

static void init_store(void)
{
    char *list = sentinel_list();
    struct store_config c = {
        .url = NULL,
        .sentinels = list,
        .master_name = "m",
        .connect_timeout_ms = 300,
        .command_timeout_ms = 300,
        .reconnect_max_backoff_ms = 500,
    };
    struct err e;
    err_clear(&e);
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    free(list);
}

static long long config_port(void)
{
    struct err e;
    struct store_reply *r = store_cmdl(&e, "CONFIG", "GET", "port", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    long long port = atoll(store_reply_str(store_reply_elem(r, 1), NULL));
    store_reply_free(r);
    return port;
}

TestSuite(sentinel, .fini = teardown, .timeout = 60);

Test(sentinel, store_follows_a_failover_to_the_promoted_replica)
{
    start_pair(NULL);
    start_sentinels(master.port);
    const char *ckquorum[] = {"SENTINEL", "CKQUORUM", "m", NULL};
    const char *replicas[] = {"SENTINEL", "REPLICAS", "m", NULL};
    for (int i = 0; i < NSENT; i++) {
        cr_assert_eq(wait_cli(&sent[i], ckquorum, "OK 3 usable", 15000), 0, "sentinels never met");
        cr_assert_eq(wait_cli(&sent[i], replicas, "slave", 15000), 0, "sentinel never saw the replica");
    }
    init_store();

    struct err e;
    err_clear(&e);
    struct store_reply *r = store_cmdl(&e, "SET", "before", "kept", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    store_reply_free(r);
    cr_assert_eq(config_port(), master.port);
    /* Make sure the write reached the replica before the crash. */
    r = store_cmdl(&e, "WAIT", "1", "2000", (const char *)NULL);
    cr_assert_eq(store_reply_int(r), 1);
    store_reply_free(r);
    struct store_stats st0;
    store_stats(&st0);

    long long t0 = ts_now_ms();
    ts_redis_kill(&master);
    int attempts = 0, ok = 0;
    char last[512] = "";
    while (!ok && ts_now_ms() - t0 < FAILOVER_BOUND_MS) {
        attempts++;
        r = store_cmdl(&e, "SET", "after", "written", (const char *)NULL);
        ok = r && store_reply_type(r) == STORE_STATUS;
        if (!r)
            snprintf(last, sizeof last, "%s", e.msg);
        store_reply_free(r);
        if (!ok)
            ts_sleep_ms(20);
    }
    long long took = ts_now_ms() - t0;
    if (!ok)
        dump_logs();
    cr_assert(ok, "no write succeeded within %d ms (last error: %s)", FAILOVER_BOUND_MS, last);
    fprintf(stderr, "sentinel failover: writes resumed %lld ms after SIGKILL of the master (%d attempts)\n",
            took, attempts);

    struct store_stats st1;
    store_stats(&st1);
    cr_assert_geq(st1.failovers, st0.failovers + 1);
    cr_assert_gt(st1.errors, st0.errors);
    r = store_cmdl(&e, "ROLE", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_str_eq(store_reply_str(store_reply_elem(r, 0), NULL), "master");
    store_reply_free(r);
    cr_assert_eq(config_port(), replica.port, "not connected to the promoted replica");
    r = store_cmdl(&e, "GET", "before", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_str_eq(store_reply_str(r, NULL), "kept");
    store_reply_free(r);
    r = store_cmdl(&e, "GET", "after", (const char *)NULL);
    cr_assert_str_eq(store_reply_str(r, NULL), "written");
    store_reply_free(r);
}

Test(sentinel, writes_are_refused_when_the_sentinels_name_a_replica)
{
    /* A writable replica: a write sent there would succeed and be lost at
     * the next resync, so only the ROLE check stands between it and us. */
    const char *writable[] = {"--replica-read-only", "no", NULL};
    start_pair(writable);
    start_sentinels(replica.port); /* misconfigured: monitors the replica */
    const char *master_addr[] = {"SENTINEL", "get-master-addr-by-name", "m", NULL};
    char port[16];
    snprintf(port, sizeof port, "%d", replica.port);
    cr_assert_eq(wait_cli(&sent[0], master_addr, port, 10000), 0);
    init_store();

    struct err e;
    err_clear(&e);
    long long t0 = ts_now_ms();
    struct store_reply *r = store_cmdl(&e, "SET", "misrouted", "x", (const char *)NULL);
    cr_assert_null(r, "a write was sent to a replica");
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "ROLE") != NULL, "%s", e.msg);
    cr_assert_lt(ts_now_ms() - t0, 3000);
    const char *exists[] = {"EXISTS", "misrouted", NULL};
    char *out = ts_redis_cli(&replica, exists);
    cr_assert_str_eq(out, "0");
    free(out);
}

Test(sentinel, unknown_master_name_is_unavailable)
{
    start_pair(NULL);
    start_sentinels(master.port);
    char *list = sentinel_list();
    struct store_config c = {
        .sentinels = list,
        .master_name = "nosuch",
        .connect_timeout_ms = 300,
        .command_timeout_ms = 300,
        .reconnect_max_backoff_ms = 500,
    };
    struct err e;
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    free(list);
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "nosuch") != NULL, "%s", e.msg);
}

static char *sentinel_ports(void)
{
    char b[256];
    int n = 0;
    for (int i = 0; i < NSENT; i++)
        n += snprintf(b + n, sizeof b - (size_t)n, "%s127.0.0.1:%d", i ? "," : "", sent[i].port);
    return strdup(b);
}

Test(sentinel, passwords_for_sentinels_and_data_nodes)
{
    dir = ts_mkdtemp("ssogate-sentinel");
    struct ts_redis_opts mo = {.tcp = 1, .password = "data-pw"};
    cr_assert_eq(ts_redis_start(&master, &mo), 0, "master: %s", ts_last_error());
    struct ts_redis_opts ro = {.tcp = 1, .password = "data-pw", .replicaof_host = "127.0.0.1",
                               .replicaof_port = master.port};
    cr_assert_eq(ts_redis_start(&replica, &ro), 0, "replica: %s", ts_last_error());
    struct ts_sentinel_opts so = {.master_port = master.port, .master_password = "data-pw",
                                  .password = "sentinel-pw"};
    for (int i = 0; i < NSENT; i++)
        cr_assert_eq(ts_sentinel_start_opts(&sent[i], dir, &so), 0, "sentinel: %s", ts_last_error());
    char *list = sentinel_ports();
    struct store_config c = {
        .sentinels = list,
        .master_name = "m",
        .sentinel_password = "sentinel-pw",
        .password = "data-pw",
        .connect_timeout_ms = 300,
        .command_timeout_ms = 300,
        .reconnect_max_backoff_ms = 500,
    };
    struct err e;
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    struct store_reply *r = store_cmdl(&e, "SET", "k", "v", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_eq(store_reply_type(r), STORE_STATUS);
    store_reply_free(r);
    cr_assert_eq(config_port(), master.port);

    /* A wrong sentinel password is a clear refusal, not a hang. */
    c.sentinel_password = "nope";
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "AUTH (sentinel)") != NULL, "%s", e.msg);
    free(list);
}
