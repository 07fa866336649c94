/* Test support: real redis-server and redis-sentinel processes in temp
 * dirs, started and stopped by PID. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_REDIS_H
#define SSOGATE_TESTS_SUPPORT_TS_REDIS_H

#include <sys/types.h>

struct ts_redis_opts {
    int tcp;                  /* 0: unix socket only (port 0); 1: 127.0.0.1 TCP */
    int port;                 /* tcp: 0 = pick a free port */
    const char *password;     /* requirepass (and masterauth), or NULL */
    int aof;                  /* 1: appendonly yes, appendfsync everysec; 0: --save '' only */
    const char *replicaof_host; /* start as a replica of host:replicaof_port */
    int replicaof_port;
    const char *dir;          /* NULL: a new temp dir, removed by ts_redis_free */
    const char *const *extra; /* more "--option value" argv words, NULL-terminated */
};

struct ts_redis {
    pid_t pid;                /* 0 when not running */
    char *dir;                /* data dir, also holds the socket and redis.log */
    char *sock;               /* unix socket path (unix mode) */
    int port;                 /* TCP port (tcp mode), 0 in unix mode */
    char *url;                /* unix:///... or redis://[:pw@]127.0.0.1:port, for store_init */
    char *log;                /* log file path */
    struct ts_redis_opts opts;
    int owns_dir;
};

/* Start redis-server (always --maxmemory-policy noeviction, --daemonize no,
 * log to dir/redis.log) and wait until it accepts connections (10 s).
 * r is zeroed first. 0, or -1 with ts_last_error() (e.g. redis-server not
 * installed). */
int ts_redis_start(struct ts_redis *r, const struct ts_redis_opts *opts);
/* Start again with the same options, socket, port and dir (after a stop). */
int ts_redis_restart(struct ts_redis *r);
/* SIGTERM by PID (SIGKILL after 5 s); the dir stays. */
void ts_redis_stop(struct ts_redis *r);
/* SIGKILL by PID: a crash. */
void ts_redis_kill(struct ts_redis *r);
/* Stop if running, remove the dir if we made it, free the strings. */
void ts_redis_free(struct ts_redis *r);

/* A redis-sentinel on 127.0.0.1:port (0 = free port) monitoring
 * master_name at 127.0.0.1:master_port with the given quorum;
 * down-after-milliseconds and failover-timeout as given (ms). Writes
 * sentinel.conf into its own dir under parent_dir. Uses struct ts_redis for
 * the handle (url is unused). */
int ts_sentinel_start(struct ts_redis *s, const char *parent_dir, const char *master_name,
                      int master_port, int quorum, int down_after_ms, int failover_timeout_ms);

struct ts_sentinel_opts {
    const char *master_name;     /* NULL: "m" */
    int master_port;             /* the monitored master on 127.0.0.1 */
    int quorum;                  /* 0: 2 */
    int down_after_ms;           /* 0: 1000 */
    int failover_timeout_ms;     /* 0: 5000 */
    const char *master_password; /* "sentinel auth-pass" for master and replicas, or NULL */
    const char *password;        /* the sentinel's own requirepass, or NULL */
};
/* The same with every setting; s->opts.password is the sentinel's password
 * (so ts_redis_cli authenticates). */
int ts_sentinel_start_opts(struct ts_redis *s, const char *parent_dir, const struct ts_sentinel_opts *o);

/* Run one command against a server with redis-cli and return its stdout
 * (malloc'd, trailing newline removed), or NULL. For checks from outside
 * the code under test. args: NULL-terminated. */
char *ts_redis_cli(const struct ts_redis *r, const char *const args[]);

#endif
