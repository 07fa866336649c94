/* Unit tests of store/ against a real redis-server (unix socket and TCP):
 * commands and reply types, AUTH, URL parsing, error replies, a dead and a
 * hung Redis (fail fast, then recover by itself), EVALSHA with the NOSCRIPT
 * fallback, concurrent threads, and reading maxmemory-policy. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "ts.h"

#define CMD_TIMEOUT_MS 300

static struct ts_redis srv;

static struct store_config cfg_for(const char *url)
{
    struct store_config c = {
        .url = url,
        .connect_timeout_ms = 300,
        .command_timeout_ms = CMD_TIMEOUT_MS,
        .reconnect_max_backoff_ms = 400,
    };
    return c;
}

static void start_unix(void)
{
    struct ts_redis_opts o = {0};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "redis-server: %s", ts_last_error());
}

static void init_store(const char *url)
{
    struct store_config c = cfg_for(url);
    struct err e;
    err_clear(&e);
    cr_assert_eq(store_init(&c, &e), 0, "store_init: %s", e.msg);
}

static void teardown(void)
{
    store_shutdown();
    ts_redis_free(&srv);
}

/* Run a command that must succeed; returns the reply (caller frees). */
static struct store_reply *must(const char *a0, const char *a1, const char *a2, const char *a3)
{
    struct err e;
    err_clear(&e);
    struct store_reply *r = store_cmdl(&e, a0, a1, a2, a3, (const char *)NULL);
    cr_assert_not_null(r, "%s failed: %s", a0, e.msg);
    return r;
}

static void expect_str(struct store_reply *r, const char *want)
{
    size_t n;
    const char *s = store_reply_str(r, &n);
    cr_assert_not_null(s);
    cr_assert_eq(n, strlen(want));
    cr_assert_str_eq(s, want);
    store_reply_free(r);
}

TestSuite(store, .fini = teardown, .timeout = 60);
TestSuite(store_support, .fini = teardown, .timeout = 60);

Test(store, basic_commands_over_unix_socket)
{
    start_unix();
    init_store(srv.url);
    struct store_reply *r = must("SET", "k", "v1", NULL);
    cr_assert_eq(store_reply_type(r), STORE_STATUS);
    expect_str(r, "OK");
    r = must("GET", "k", NULL, NULL);
    cr_assert_eq(store_reply_type(r), STORE_STRING);
    expect_str(r, "v1");
    r = must("GET", "missing", NULL, NULL);
    cr_assert_eq(store_reply_type(r), STORE_NIL);
    cr_assert_null(store_reply_str(r, NULL));
    store_reply_free(r);
    r = must("INCRBY", "n", "41", NULL);
    cr_assert_eq(store_reply_type(r), STORE_INTEGER);
    cr_assert_eq(store_reply_int(r), 41);
    store_reply_free(r);
    store_reply_free(must("RPUSH", "l", "a", "b"));
    r = must("LRANGE", "l", "0", "-1");
    cr_assert_eq(store_reply_type(r), STORE_ARRAY);
    cr_assert_eq(store_reply_len(r), 2);
    cr_assert_str_eq(store_reply_str(store_reply_elem(r, 1), NULL), "b");
    cr_assert_null(store_reply_elem(r, 2));
    store_reply_free(r);
    cr_assert_eq(store_ping(NULL), 0);
}

Test(store, binary_safe_arguments_and_values)
{
    start_unix();
    init_store(srv.url);
    const char *argv[] = {"SET", "bin", "a\0b\r\nc"};
    const size_t len[] = {3, 3, 6};
    struct err e;
    struct store_reply *r = store_cmd(&e, 3, argv, len);
    cr_assert_not_null(r, "%s", e.msg);
    store_reply_free(r);
    r = must("GET", "bin", NULL, NULL);
    size_t n;
    const char *s = store_reply_str(r, &n);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(s, "a\0b\r\nc", 6), 0);
    store_reply_free(r);
}

Test(store, tcp_with_auth_from_url_and_select_db)
{
    struct ts_redis_opts o = {.tcp = 1, .password = "s3cret"};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    char *url = NULL;
    cr_assert(asprintf(&url, "redis://:s3cret@127.0.0.1:%d/3", srv.port) > 0);
    init_store(url);
    free(url);
    store_reply_free(must("SET", "dbkey", "three", NULL));
    /* Seen from outside: the key is in db 3, not db 0. */
    const char *get3[] = {"-n", "3", "GET", "dbkey", NULL};
    char *out = ts_redis_cli(&srv, get3);
    cr_assert_str_eq(out, "three");
    free(out);
    const char *get0[] = {"-n", "0", "EXISTS", "dbkey", NULL};
    out = ts_redis_cli(&srv, get0);
    cr_assert_str_eq(out, "0");
    free(out);
}

Test(store, password_from_config_overrides_url)
{
    struct ts_redis_opts o = {.tcp = 1, .password = "right"};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    char *url = NULL;
    cr_assert(asprintf(&url, "redis://:wrong@127.0.0.1:%d", srv.port) > 0);
    struct store_config c = cfg_for(url);
    c.password = "right";
    struct err e;
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    free(url);
    cr_assert_eq(store_ping(&e), 0, "%s", e.msg);
}

Test(store, wrong_password_is_a_clear_error)
{
    struct ts_redis_opts o = {.tcp = 1, .password = "right"};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    char *url = NULL;
    cr_assert(asprintf(&url, "redis://:wrong@127.0.0.1:%d", srv.port) > 0);
    init_store(url);
    free(url);
    struct err e;
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert_eq(e.status, 503);
    cr_assert(strstr(e.msg, "AUTH") != NULL, "message: %s", e.msg);
    cr_assert(strstr(e.msg, "WRONGPASS") || strstr(e.msg, "invalid"), "message: %s", e.msg);
    cr_assert(strstr(e.msg, "wrong") == NULL, "the password leaked into: %s", e.msg);
}

Test(store, missing_password_gives_noauth_as_unavailable)
{
    struct ts_redis_opts o = {.tcp = 1, .password = "right"};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    char *url = NULL;
    cr_assert(asprintf(&url, "redis://127.0.0.1:%d", srv.port) > 0);
    init_store(url);
    free(url);
    struct err e;
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "GET", "x", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "NOAUTH") != NULL, "message: %s", e.msg);
}

Test(store, bad_urls_are_refused)
{
    static const char *const bad[] = {
        "",
        "localhost:6379",
        "http://127.0.0.1:6379",
        "redis://",
        "redis://127.0.0.1",
        "redis://127.0.0.1:",
        "redis://127.0.0.1:0",
        "redis://127.0.0.1:65536",
        "redis://127.0.0.1:63a9",
        "redis://127.0.0.1:6379/",
        "redis://127.0.0.1:6379/x",
        "redis://127.0.0.1:6379/0?timeout=1",
        "redis://127.0.0.1:6379/0#f",
        "redis://user:pw@127.0.0.1:6379",
        "redis://:@127.0.0.1:6379",
        "redis://:p%zz@127.0.0.1:6379",
        "redis://:p%00@127.0.0.1:6379",
        "redis://ho st:6379",
        "redis://[::1:6379",
        "redis://127.0.0.1:6379 ",
        "unix://",
        "unix://relative/path",
        "unix:///",
        "unix:///tmp/a\nb",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct store_config c = cfg_for(bad[i]);
        struct err e;
        err_clear(&e);
        cr_assert_eq(store_init(&c, &e), -1, "accepted '%s'", bad[i]);
        cr_assert_str_eq(e.code, "config_invalid", "%s", bad[i]);
        cr_assert(strstr(e.msg, "redis") != NULL, "unclear message for '%s': %s", bad[i], e.msg);
    }
    struct store_config c = cfg_for(NULL);
    struct err e;
    cr_assert_eq(store_init(&c, &e), -1);
    /* A long unix path is refused, not truncated. */
    char longp[200] = "unix:///";
    memset(longp + 8, 'a', 150);
    longp[158] = '\0';
    c = cfg_for(longp);
    cr_assert_eq(store_init(&c, &e), -1);
}

Test(store, good_urls_are_accepted)
{
    static const char *const good[] = {
        "redis://127.0.0.1:6379",
        "redis://localhost:6379/0",
        "redis://redis.internal-1.example:6380/15",
        "redis://[::1]:6379",
        "redis://:p%40ss%2Fw%3Ard@127.0.0.1:6379/2",
        "unix:///run/redis/redis.sock",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct store_config c = cfg_for(good[i]);
        struct err e;
        err_clear(&e);
        cr_assert_eq(store_init(&c, &e), 0, "refused '%s': %s", good[i], e.msg);
    }
}

Test(store, percent_encoded_password_is_decoded)
{
    struct ts_redis_opts o = {.tcp = 1, .password = "p@ss/w:rd"};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    char *url = NULL;
    cr_assert(asprintf(&url, "redis://:p%%40ss%%2Fw%%3Ard@127.0.0.1:%d", srv.port) > 0);
    init_store(url);
    free(url);
    struct err e;
    cr_assert_eq(store_ping(&e), 0, "%s", e.msg);
}

Test(store, bad_timeouts_and_sentinel_settings_are_refused)
{
    struct store_config c = cfg_for("redis://127.0.0.1:6379");
    struct err e;
    c.command_timeout_ms = 0;
    cr_assert_eq(store_init(&c, &e), -1);
    c = cfg_for("redis://127.0.0.1:6379");
    c.reconnect_max_backoff_ms = 10;
    cr_assert_eq(store_init(&c, &e), -1);
    c = cfg_for("redis://127.0.0.1:6379");
    c.sentinels = "127.0.0.1:26379";
    cr_assert_eq(store_init(&c, &e), -1, "sentinels without a master name");
    c.master_name = "m";
    cr_assert_eq(store_init(&c, &e), 0, "%s", e.msg);
    c.sentinels = "127.0.0.1:26379,,";
    cr_assert_eq(store_init(&c, &e), -1);
    c.sentinels = "127.0.0.1";
    cr_assert_eq(store_init(&c, &e), -1);
    c = cfg_for("unix:///tmp/x.sock");
    c.sentinels = "127.0.0.1:26379";
    c.master_name = "m";
    cr_assert_eq(store_init(&c, &e), -1, "unix url with sentinels");
}

Test(store, error_reply_is_a_reply_not_a_failure)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SET", "s", "text", NULL));
    struct store_stats before, after;
    store_stats(&before);
    struct err e;
    err_clear(&e);
    struct store_reply *r = store_cmdl(&e, "INCR", "s", (const char *)NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_eq(store_reply_type(r), STORE_ERROR);
    cr_assert(strncmp(store_reply_str(r, NULL), "ERR", 3) == 0);
    store_reply_free(r);
    r = store_cmdl(&e, "NOSUCHCOMMAND", (const char *)NULL);
    cr_assert_not_null(r);
    cr_assert_eq(store_reply_type(r), STORE_ERROR);
    store_reply_free(r);
    store_stats(&after);
    cr_assert_eq(after.errors, before.errors);
    cr_assert_eq(after.reconnects, before.reconnects, "an error reply must not drop the connection");
    cr_assert_eq(store_ping(&e), 0);
}

Test(store, not_initialized_is_unavailable)
{
    struct err e;
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
}

Test(store, missing_socket_fails_fast_with_503)
{
    char *dir = ts_mkdtemp("ssogate-nosock");
    char *url = NULL;
    cr_assert(asprintf(&url, "unix://%s/none.sock", dir) > 0);
    init_store(url);
    struct err e;
    long long t0 = ts_now_ms();
    cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
    cr_assert_eq(e.status, 503);
    cr_assert(ts_now_ms() - t0 < 100);
    free(url);
    ts_rm_rf(dir);
    free(dir);
}

Test(store, dead_redis_fails_fast_then_reconnects_by_itself)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SET", "k", "v", NULL));
    ts_redis_kill(&srv); /* SIGKILL: the socket file stays, nothing listens */

    struct err e;
    err_clear(&e);
    long long t0 = ts_now_ms();
    struct store_reply *r = store_cmdl(&e, "GET", "k", (const char *)NULL);
    long long took = ts_now_ms() - t0;
    cr_assert_null(r);
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert_eq(e.status, 503);
    cr_assert_leq(took, CMD_TIMEOUT_MS + 100, "took %lld ms", took);
    cr_log_info("dead redis detected in %lld ms: %s", took, e.msg);

    /* In backoff: no connection attempt, an immediate answer. */
    t0 = ts_now_ms();
    cr_assert_null(store_cmdl(&e, "GET", "k", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert_leq(ts_now_ms() - t0, 20);

    struct store_stats before;
    store_stats(&before);
    cr_assert_eq(ts_redis_restart(&srv), 0, "%s", ts_last_error());
    t0 = ts_now_ms();
    r = NULL;
    while (!r && ts_now_ms() - t0 < 5000) {
        r = store_cmdl(&e, "SET", "k", "again", (const char *)NULL);
        if (!r)
            ts_sleep_ms(10);
    }
    cr_assert_not_null(r, "no recovery after restart: %s", e.msg);
    cr_log_info("recovered %lld ms after the restart", ts_now_ms() - t0);
    store_reply_free(r);
    struct store_stats after;
    store_stats(&after);
    cr_assert_geq(after.reconnects, before.reconnects + 1);
    cr_assert_gt(after.errors, 0);
}

Test(store, backoff_grows_and_is_capped)
{
    char *dir = ts_mkdtemp("ssogate-backoff");
    char *url = NULL;
    cr_assert(asprintf(&url, "unix://%s/none.sock", dir) > 0);
    init_store(url);
    /* Count real attempts (errors) over 1.2 s of hammering: with 50, 100,
     * 200, 400, 400... ms between attempts there are about 6, not hundreds. */
    struct store_stats st;
    long long t0 = ts_now_ms();
    int calls = 0;
    while (ts_now_ms() - t0 < 1200) {
        struct err e;
        cr_assert_null(store_cmdl(&e, "PING", (const char *)NULL));
        calls++;
        ts_sleep_ms(1);
    }
    store_stats(&st);
    cr_log_info("%d calls, %llu connection attempts", calls, (unsigned long long)st.errors);
    cr_assert_geq(st.errors, 4);
    cr_assert_leq(st.errors, 8);
    free(url);
    ts_rm_rf(dir);
    free(dir);
}

Test(store, hung_redis_times_out_within_the_command_timeout)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SET", "k", "v", NULL));
    cr_assert_eq(ts_signal(srv.pid, SIGSTOP), 0);
    struct err e;
    long long t0 = ts_now_ms();
    cr_assert_null(store_cmdl(&e, "GET", "k", (const char *)NULL));
    long long took = ts_now_ms() - t0;
    ts_signal(srv.pid, SIGCONT);
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "timed out") != NULL, "%s", e.msg);
    cr_assert_geq(took, CMD_TIMEOUT_MS - 20);
    cr_assert_leq(took, CMD_TIMEOUT_MS + 200, "took %lld ms", took);
    /* Resumed: the next call reconnects by itself. */
    expect_str(must("GET", "k", NULL, NULL), "v");
}

Test(store, idle_connection_closed_by_server_is_replaced_silently)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SET", "k", "v", NULL));
    const char *kill[] = {"CLIENT", "KILL", "TYPE", "normal", NULL};
    char *out = ts_redis_cli(&srv, kill);
    free(out);
    ts_sleep_ms(50);
    /* Not a 503: the stale connection is noticed before the command is sent. */
    expect_str(must("GET", "k", NULL, NULL), "v");
    struct store_stats st;
    store_stats(&st);
    cr_assert_eq(st.reconnects, 1);
}

static const char *const LUA_ADD = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static long long eval_add(const char *key, const char *by)
{
    const char *args[] = {key, by};
    struct err e;
    err_clear(&e);
    struct store_reply *r = store_eval(&e, LUA_ADD, 1, 1, args, NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_eq(store_reply_type(r), STORE_INTEGER, "%s", store_reply_str(r, NULL));
    long long v = store_reply_int(r);
    store_reply_free(r);
    return v;
}

static int cmdstat_calls(const char *cmd)
{
    struct store_reply *r = must("INFO", "commandstats", NULL, NULL);
    char pat[64];
    snprintf(pat, sizeof pat, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(store_reply_str(r, NULL), pat);
    int n = p ? atoi(p + strlen(pat)) : 0;
    store_reply_free(r);
    return n;
}

Test(store, eval_uses_evalsha_and_falls_back_on_noscript)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SCRIPT", "FLUSH", NULL, NULL));
    store_reply_free(must("CONFIG", "RESETSTAT", NULL, NULL));
    cr_assert_eq(eval_add("c", "2"), 2);  /* NOSCRIPT -> EVAL */
    cr_assert_eq(eval_add("c", "3"), 5);  /* EVALSHA hits */
    cr_assert_eq(eval_add("c", "5"), 10);
    cr_assert_eq(cmdstat_calls("eval"), 1);
    store_reply_free(must("SCRIPT", "FLUSH", NULL, NULL));
    cr_assert_eq(eval_add("c", "1"), 11); /* flushed: falls back again */
    cr_assert_eq(cmdstat_calls("eval"), 2);
    /* A script error is an error reply, not a failure. */
    struct err e;
    struct store_reply *r = store_eval(&e, "return redis.call('NOPE')", 0, 0, NULL, NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_eq(store_reply_type(r), STORE_ERROR);
    store_reply_free(r);
}

/* A pipeline: the replies in order, an error reply kept in its place, a
 * script the server forgot run again with EVAL (and by EVALSHA once known),
 * keys across hash tags refused before sending, and a dead Redis a failure
 * with every reply NULL. */
Test(store, pipeline_keeps_order_errors_and_scripts)
{
    start_unix();
    init_store(srv.url);
    store_reply_free(must("SET", "p1", "one", NULL));
    store_reply_free(must("SET", "p3", "three", NULL));
    store_reply_free(must("SCRIPT", "FLUSH", NULL, NULL));
    store_reply_free(must("CONFIG", "RESETSTAT", NULL, NULL));
    const char *a0[] = {"GET", "p1"}, *a1[] = {"INCR", "p1"}, *a2[] = {"GET", "p3"};
    const char *a3[] = {"k{x}", "5"}; /* a script: KEYS[1], ARGV[1] */
    const char *script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    struct store_cmdv cmds[] = {
        {.argc = 2, .argv = a0},
        {.argc = 2, .argv = a1}, /* not an integer: an error reply */
        {.argc = 2, .argv = a2},
        {.script = script, .nkeys = 1, .argc = 2, .argv = a3},
    };
    struct store_reply *rep[4];
    struct err e;
    cr_assert_eq(store_pipeline(&e, 4, cmds, rep), 0, "%s", e.msg);
    cr_assert_str_eq(store_reply_str(rep[0], NULL), "one");
    cr_assert_eq(store_reply_type(rep[1]), STORE_ERROR);
    cr_assert_str_eq(store_reply_str(rep[2], NULL), "three");
    cr_assert_eq(store_reply_type(rep[3]), STORE_INTEGER, "the forgotten script ran with EVAL");
    cr_assert_eq(store_reply_int(rep[3]), 5);
    for (int i = 0; i < 4; i++)
        store_reply_free(rep[i]);
    cr_assert_eq(cmdstat_calls("eval"), 1);
    int sha0 = cmdstat_calls("evalsha");
    cr_assert_eq(store_pipeline(&e, 4, cmds, rep), 0, "%s", e.msg);
    cr_assert_eq(store_reply_int(rep[3]), 10, "known now: EVALSHA");
    cr_assert_eq(cmdstat_calls("eval"), 1);
    cr_assert_eq(cmdstat_calls("evalsha"), sha0 + 1);
    for (int i = 0; i < 4; i++)
        store_reply_free(rep[i]);
    /* Script keys across hash tags: refused before anything is sent. */
    const char *bad[] = {"a{x}", "b{y}", "1"};
    struct store_cmdv two = {.script = script, .nkeys = 2, .argc = 3, .argv = bad};
    cr_assert_eq(store_pipeline(&e, 1, &two, rep), -1);
    cr_assert_str_eq(e.code, "internal_error");
    cr_assert_null(rep[0]);
    ts_redis_kill(&srv);
    cr_assert_eq(store_pipeline(&e, 4, cmds, rep), -1);
    cr_assert_str_eq(e.code, "store_unavailable");
    for (int i = 0; i < 4; i++)
        cr_assert_null(rep[i]);
}

#define THREADS 4
#define PER_THREAD 500

static void *worker(void *arg)
{
    long id = (long)arg;
    char key[32], val[32];
    snprintf(key, sizeof key, "t%ld", id);
    long bad = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        struct err e;
        struct store_reply *r = store_cmdl(&e, "INCR", "shared", (const char *)NULL);
        if (!r || store_reply_type(r) != STORE_INTEGER)
            bad++;
        store_reply_free(r);
        snprintf(val, sizeof val, "%ld-%d", id, i);
        store_reply_free(store_cmdl(&e, "SET", key, val, (const char *)NULL));
        r = store_cmdl(&e, "GET", key, (const char *)NULL);
        if (!r || strcmp(store_reply_str(r, NULL) ? store_reply_str(r, NULL) : "", val) != 0)
            bad++;
        store_reply_free(r);
    }
    store_thread_close();
    return (void *)bad;
}

Test(store, four_threads_use_their_own_connections)
{
    start_unix();
    init_store(srv.url);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < THREADS; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        cr_assert_eq((long)bad, 0, "thread %d saw %ld wrong replies", i, (long)bad);
    }
    expect_str(must("GET", "shared", NULL, NULL), "2000");
    struct store_stats st;
    store_stats(&st);
    cr_assert_geq(st.commands, THREADS * PER_THREAD * 3);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.reconnects, 0, "first connections of new threads are not reconnects");
}

Test(store, maxmemory_policy_is_read)
{
    start_unix();
    init_store(srv.url);
    char policy[64];
    struct err e;
    cr_assert_eq(store_maxmemory_policy(policy, sizeof policy, &e), 0, "%s", e.msg);
    cr_assert_str_eq(policy, "noeviction");
    store_reply_free(must("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"));
    cr_assert_eq(store_maxmemory_policy(policy, sizeof policy, &e), 0, "%s", e.msg);
    cr_assert_str_eq(policy, "allkeys-lru");
    char tiny[4];
    cr_assert_eq(store_maxmemory_policy(tiny, sizeof tiny, &e), -1);
}

Test(store, maxmemory_policy_reports_a_refused_config_command)
{
    const char *extra[] = {"--rename-command", "CONFIG", "", NULL};
    struct ts_redis_opts o = {.extra = extra};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    init_store(srv.url);
    char policy[64];
    struct err e;
    err_clear(&e);
    cr_assert_eq(store_maxmemory_policy(policy, sizeof policy, &e), -1);
    cr_assert_str_eq(e.code, "store_error");
    cr_assert_eq(store_ping(&e), 0, "the connection stays usable");
}

Test(store, writes_to_a_replica_are_refused_not_lost)
{
    struct ts_redis master;
    struct ts_redis_opts mo = {.tcp = 1};
    cr_assert_eq(ts_redis_start(&master, &mo), 0, "%s", ts_last_error());
    struct ts_redis_opts ro = {.tcp = 1, .replicaof_host = "127.0.0.1", .replicaof_port = master.port};
    cr_assert_eq(ts_redis_start(&srv, &ro), 0, "%s", ts_last_error());
    init_store(srv.url);
    struct err e;
    err_clear(&e);
    cr_assert_null(store_cmdl(&e, "SET", "k", "v", (const char *)NULL));
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert(strstr(e.msg, "READONLY") != NULL, "%s", e.msg);
    ts_redis_free(&master);
}

Test(store_support, spawning_a_missing_binary_fails)
{
    const char *argv[] = {"ssogate-no-such-binary", NULL};
    cr_assert_eq(ts_spawn(argv, NULL, NULL), -1);
    cr_assert(strstr(ts_last_error(), "not found") != NULL);
}

Test(store_support, temp_dirs_are_removed_recursively)
{
    char *d = ts_mkdtemp("ssogate-ts");
    cr_assert_not_null(d);
    char *sub = ts_path(d, "sub");
    cr_assert_eq(mkdir(sub, 0700), 0);
    char *f = ts_path(sub, "f");
    cr_assert_eq(ts_write_file(f, "x"), 0);
    cr_assert_eq(ts_rm_rf(d), 0);
    cr_assert_eq(access(d, F_OK), -1);
    free(f);
    free(sub);
    free(d);
}

Test(store_support, spawn_passes_env_and_logs_output)
{
    char *d = ts_mkdtemp("ssogate-ts");
    char *log = ts_path(d, "out.log");
    const char *argv[] = {"sh", "-c", "echo \"$TS_PROBE\"; echo err >&2; exit 3", NULL};
    const char *env[] = {"TS_PROBE=hello", NULL};
    pid_t pid = ts_spawn(argv, env, log);
    cr_assert_gt(pid, 0);
    int st = ts_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    char *out = ts_read_file(log, NULL);
    cr_assert_str_eq(out, "hello\nerr\n");
    cr_assert_eq(ts_alive(pid), 0);
    free(out);
    ts_rm_rf(d);
    free(log);
    free(d);
}

Test(store_support, kill_escalates_to_sigkill)
{
    const char *argv[] = {"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL};
    pid_t pid = ts_spawn(argv, NULL, NULL);
    cr_assert_gt(pid, 0);
    ts_sleep_ms(100);
    long long t0 = ts_now_ms();
    int st = ts_kill(pid, 200);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cr_assert_lt(ts_now_ms() - t0, 1000);
    cr_assert_eq(ts_alive(pid), 0);
}

Test(store, pubsub_delivers_messages_and_resubscribes_after_a_restart)
{
    start_unix();
    init_store(srv.url);
    const char *channels[] = {"sg:inv:a", "sg:inv:b"};
    struct err e;
    err_clear(&e);
    struct store_sub *sub = store_sub_new(channels, 2, &e);
    cr_assert_not_null(sub);
    char *ch = NULL, *msg = NULL;
    size_t len = 0;
    long long t0 = ts_now_ms();
    cr_assert_eq(store_sub_next(sub, 100, &ch, &msg, &len, &e), 0, "timeout expected");
    cr_assert_geq(ts_now_ms() - t0, 90);
    cr_assert_eq(store_publish("sg:inv:b", "org o_1\0x", 9, &e), 1, "%s", e.msg);
    cr_assert_eq(store_publish("sg:inv:a", "two", 3, &e), 1, "%s", e.msg);
    cr_assert_eq(store_publish("sg:other", "ignored", 7, &e), 0);
    cr_assert_eq(store_sub_next(sub, 1000, &ch, &msg, &len, &e), 1, "%s", e.msg);
    cr_assert_str_eq(ch, "sg:inv:b");
    cr_assert_eq(len, 9);
    cr_assert_eq(memcmp(msg, "org o_1\0x", 9), 0);
    free(ch);
    free(msg);
    cr_assert_eq(store_sub_next(sub, 1000, &ch, &msg, &len, &e), 1, "%s", e.msg);
    cr_assert_str_eq(ch, "sg:inv:a");
    cr_assert_str_eq(msg, "two");
    free(ch);
    free(msg);

    ts_redis_kill(&srv);
    cr_assert_eq(store_sub_next(sub, 500, &ch, &msg, &len, &e), -1, "the gap must be reported");
    cr_assert_str_eq(e.code, "store_unavailable");
    cr_assert_eq(ts_redis_restart(&srv), 0, "%s", ts_last_error());
    /* Keep calling: it reconnects and resubscribes by itself. */
    int got = 0;
    t0 = ts_now_ms();
    while (!got && ts_now_ms() - t0 < 5000) {
        store_publish("sg:inv:a", "after", 5, NULL);
        got = store_sub_next(sub, 50, &ch, &msg, &len, NULL) == 1;
    }
    cr_assert(got, "no message after the restart");
    cr_assert_str_eq(msg, "after");
    free(ch);
    free(msg);
    store_sub_free(sub);
}

Test(store, eval_refuses_keys_of_two_hash_tags)
{
    start_unix();
    init_store(srv.url);
    const char *same[] = {"sg:{o:o_1}:a", "sg:{o:o_1}:b", "x"};
    struct err e;
    struct store_reply *r = store_eval(&e, "return #KEYS", 2, 1, same, NULL);
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_eq(store_reply_int(r), 2);
    store_reply_free(r);
    static const char *const bad[][2] = {
        {"sg:{o:o_1}:a", "sg:{o:o_2}:a"},
        {"sg:{o:o_1}:a", "sg:slug:acme"},
        {"sg:slug:acme", "sg:domain:acme.com"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&e);
        cr_assert_null(store_eval(&e, "return #KEYS", 2, 0, (const char **)bad[i], NULL));
        cr_assert_str_eq(e.code, "internal_error");
        cr_assert(strstr(e.msg, "hash tags") != NULL, "%s", e.msg);
    }
    /* One global key alone is fine; "{}" is no tag, like in Redis. */
    const char *one[] = {"sg:slug:acme"};
    r = store_eval(&e, "return 1", 1, 0, one, NULL);
    cr_assert_not_null(r, "%s", e.msg);
    store_reply_free(r);
}

Test(store_support, aof_redis_keeps_data_across_a_restart)
{
    struct ts_redis_opts o = {.aof = 1};
    cr_assert_eq(ts_redis_start(&srv, &o), 0, "%s", ts_last_error());
    init_store(srv.url);
    store_reply_free(must("SET", "durable", "yes", NULL));
    ts_redis_stop(&srv); /* SIGTERM: Redis fsyncs the AOF on shutdown */
    cr_assert_eq(ts_redis_restart(&srv), 0, "%s", ts_last_error());
    struct err e;
    struct store_reply *r = NULL;
    long long t0 = ts_now_ms();
    while (!r && ts_now_ms() - t0 < 3000) {
        r = store_cmdl(&e, "GET", "durable", (const char *)NULL);
        if (!r)
            ts_sleep_ms(20);
    }
    cr_assert_not_null(r, "%s", e.msg);
    cr_assert_str_eq(store_reply_str(r, NULL), "yes");
    store_reply_free(r);
}
