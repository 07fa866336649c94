/* Test support: real redis-server / redis-sentinel processes, each in its
 * own temp dir with its log, on a unix socket or a free loopback port,
 * always with maxmemory-policy noeviction (as production requires), stopped
 * by PID. */
#include "ts_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ts_fs.h"
#include "ts_net.h"
#include "ts_proc.h"
#include "ts_util.h"

#define TS_REDIS_START_MS 10000
#define TS_ARGV_MAX 64

static int wait_ready(struct ts_redis *r)
{
    int rc = r->sock ? ts_wait_unix(r->sock, r->pid, TS_REDIS_START_MS)
                     : ts_wait_tcp("127.0.0.1", r->port, r->pid, TS_REDIS_START_MS);
    if (rc < 0)
        ts_dump_log(r->log, 4000);
    return rc;
}

static int redis_spawn(struct ts_redis *r)
{
    const struct ts_redis_opts *o = &r->opts;
    const char *argv[TS_ARGV_MAX];
    char port[16], rport[16];
    int n = 0;
    snprintf(port, sizeof port, "%d", r->port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    if (r->sock) {
        argv[n++] = "--unixsocket";
        argv[n++] = r->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--logfile";
    argv[n++] = "";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = o->aof ? "yes" : "no";
    argv[n++] = "--maxmemory-policy";
    argv[n++] = "noeviction";
    /* Replicas sync at once instead of after the default 5 s wait. */
    argv[n++] = "--repl-diskless-sync-delay";
    argv[n++] = "0";
    if (o->password) {
        argv[n++] = "--requirepass";
        argv[n++] = o->password;
        argv[n++] = "--masterauth";
        argv[n++] = o->password;
    }
    if (o->replicaof_host) {
        snprintf(rport, sizeof rport, "%d", o->replicaof_port);
        argv[n++] = "--replicaof";
        argv[n++] = o->replicaof_host;
        argv[n++] = rport;
    }
    for (int i = 0; o->extra && o->extra[i]; i++) {
        if (n >= TS_ARGV_MAX - 1)
            return ts_fail("ts_redis_start: too many extra arguments");
        argv[n++] = o->extra[i];
    }
    argv[n] = NULL;
    r->pid = ts_spawn(argv, NULL, r->log);
    if (r->pid < 0) {
        r->pid = 0;
        return -1;
    }
    return wait_ready(r);
}

static char *make_url(const struct ts_redis *r)
{
    char *u = NULL;
    int rc;
    if (r->sock)
        rc = asprintf(&u, "unix://%s", r->sock);
    else if (r->opts.password)
        rc = asprintf(&u, "redis://:%s@127.0.0.1:%d", r->opts.password, r->port);
    else
        rc = asprintf(&u, "redis://127.0.0.1:%d", r->port);
    return rc < 0 ? NULL : u;
}

int ts_redis_start(struct ts_redis *r, const struct ts_redis_opts *opts)
{
    memset(r, 0, sizeof *r);
    r->opts = *opts;
    if (opts->dir) {
        r->dir = strdup(opts->dir);
    } else {
        r->dir = ts_mkdtemp("ssogate-redis");
        r->owns_dir = 1;
    }
    if (!r->dir)
        return -1;
    r->opts.dir = NULL; /* the caller's string may not outlive r */
    r->log = ts_path(r->dir, "redis.log");
    if (opts->tcp) {
        r->port = opts->port ? opts->port : ts_free_port();
        if (r->port <= 0)
            return -1;
    } else {
        r->sock = ts_path(r->dir, "redis.sock");
        if (strlen(r->sock) >= 100)
            return ts_fail("unix socket path too long: %s (set TMPDIR shorter)", r->sock);
    }
    r->url = make_url(r);
    return redis_spawn(r);
}

int ts_redis_restart(struct ts_redis *r)
{
    if (r->pid > 0 && ts_alive(r->pid))
        return ts_fail("ts_redis_restart: pid %d still running", (int)r->pid);
    return redis_spawn(r);
}

void ts_redis_stop(struct ts_redis *r)
{
    if (r->pid > 0)
        ts_kill(r->pid, 5000);
    r->pid = 0;
}

void ts_redis_kill(struct ts_redis *r)
{
    if (r->pid > 0)
        ts_kill_hard(r->pid);
    r->pid = 0;
}

void ts_redis_free(struct ts_redis *r)
{
    ts_redis_stop(r);
    if (r->owns_dir && r->dir)
        ts_rm_rf(r->dir);
    free(r->dir);
    free(r->sock);
    free(r->url);
    free(r->log);
    memset(r, 0, sizeof *r);
}

static char *sentinel_conf(const struct ts_redis *s, const struct ts_sentinel_opts *o)
{
    const char *m = o->master_name ? o->master_name : "m";
    char *conf = NULL, *auth = NULL, *pass = NULL;
    if (o->master_password) {
        if (asprintf(&auth, "sentinel auth-pass %s %s\n", m, o->master_password) < 0)
            auth = NULL;
    } else {
        auth = strdup("");
    }
    if (o->password) {
        if (asprintf(&pass, "requirepass %s\n", o->password) < 0)
            pass = NULL;
    } else {
        pass = strdup("");
    }
    if (!auth || !pass)
        goto done;
    if (asprintf(&conf,
                 "port %d\n"
                 "bind 127.0.0.1\n"
                 "daemonize no\n"
                 "logfile \"\"\n"
                 "dir %s\n"
                 "sentinel resolve-hostnames no\n"
                 "sentinel monitor %s 127.0.0.1 %d %d\n"
                 "sentinel down-after-milliseconds %s %d\n"
                 "sentinel failover-timeout %s %d\n"
                 "sentinel parallel-syncs %s 1\n"
                 "%s%s",
                 s->port, s->dir, m, o->master_port, o->quorum ? o->quorum : 2, m,
                 o->down_after_ms ? o->down_after_ms : 1000, m,
                 o->failover_timeout_ms ? o->failover_timeout_ms : 5000, m, auth, pass) < 0)
        conf = NULL;
done:
    free(auth);
    free(pass);
    return conf;
}

int ts_sentinel_start_opts(struct ts_redis *s, const char *parent_dir, const struct ts_sentinel_opts *o)
{
    memset(s, 0, sizeof *s);
    s->opts.tcp = 1;
    s->opts.password = o->password; /* for ts_redis_cli; must outlive s */
    s->port = ts_free_port();
    if (s->port <= 0)
        return -1;
    char name[32];
    snprintf(name, sizeof name, "sentinel-%d", s->port);
    s->dir = ts_path(parent_dir, name);
    if (mkdir(s->dir, 0700) < 0)
        return ts_fail("mkdir %s failed", s->dir);
    s->owns_dir = 0; /* inside parent_dir, which the caller removes */
    s->log = ts_path(s->dir, "sentinel.log");
    char *path = ts_path(s->dir, "sentinel.conf");
    char *conf = sentinel_conf(s, o);
    int rc = -1;
    if (!path || !conf || ts_write_file(path, conf) < 0)
        goto done;
    const char *argv[] = {"redis-server", path, "--sentinel", NULL};
    s->pid = ts_spawn(argv, NULL, s->log);
    if (s->pid < 0) {
        s->pid = 0;
        goto done;
    }
    rc = wait_ready(s);
done:
    free(conf);
    free(path);
    return rc;
}

int ts_sentinel_start(struct ts_redis *s, const char *parent_dir, const char *master_name,
                      int master_port, int quorum, int down_after_ms, int failover_timeout_ms)
{
    struct ts_sentinel_opts o = {
        .master_name = master_name,
        .master_port = master_port,
        .quorum = quorum,
        .down_after_ms = down_after_ms,
        .failover_timeout_ms = failover_timeout_ms,
    };
    return ts_sentinel_start_opts(s, parent_dir, &o);
}

char *ts_redis_cli(const struct ts_redis *r, const char *const args[])
{
    const char *argv[TS_ARGV_MAX];
    char port[16];
    int n = 0;
    argv[n++] = "redis-cli";
    if (r->sock) {
        argv[n++] = "-s";
        argv[n++] = r->sock;
    } else {
        snprintf(port, sizeof port, "%d", r->port);
        argv[n++] = "-h";
        argv[n++] = "127.0.0.1";
        argv[n++] = "-p";
        argv[n++] = port;
    }
    if (r->opts.password) {
        argv[n++] = "-a";
        argv[n++] = r->opts.password;
        argv[n++] = "--no-auth-warning";
    }
    for (int i = 0; args[i] && n < TS_ARGV_MAX - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out_path = ts_path(r->dir, "redis-cli.out");
    char *out = NULL;
    remove(out_path);
    pid_t pid = ts_spawn(argv, NULL, out_path);
    if (pid > 0) {
        if (ts_wait(pid, 10000) < 0)
            ts_kill_hard(pid);
        else
            out = ts_read_file(out_path, NULL);
    }
    if (out) {
        size_t len = strlen(out);
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
    }
    free(out_path);
    return out;
}
