/* The Redis adapter: one hiredis connection per calling thread, connect and
 * command timeouts, reconnect with backoff, TCP / unix socket / AUTH, and Redis
 * Sentinel discovery with failover. The only module that includes hiredis:
 * everyone else sees the opaque store_reply below. Commands are argv only. */
#ifndef SSOGATE_STORE_STORE_H
#define SSOGATE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store_config {
    const char *url;              /* redis://[:password@]host:port[/db] or unix:///path;
                                   * the password is percent-decoded (%40 for '@').
                                   * With sentinels: optional, gives only password and db */
    const char *password;         /* overrides the URL's password when set ("" = unset) */
    const char *sentinels;        /* "host:port,host:port" or NULL/"": no Sentinel */
    const char *master_name;      /* Sentinel master name */
    const char *sentinel_password;
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_max_backoff_ms; /* backoff doubles from 50 ms up to this */
};

enum store_type {
    STORE_NIL,
    STORE_STRING,
    STORE_INTEGER,
    STORE_ARRAY,
    STORE_STATUS,
    STORE_ERROR,
};

struct store_reply;

/* Process-wide set-up; copies cfg. Does not connect. Refuses a malformed URL,
 * sentinel list or timeout with config_invalid. Call before worker threads
 * start (the settings are then read without locks). Ignores SIGPIPE if it
 * was at its default (hiredis writes with write(2)). */
int store_init(const struct store_config *cfg, struct err *e);
/* The same from the [redis] section of the configuration. */
struct config;
int store_init_from_config(const struct config *cfg, struct err *e);
/* Closes the calling thread's connection (call at worker thread exit) */
void store_thread_close(void);
/* Closes the calling thread's connection and forgets the settings; other
 * threads drop theirs on their next call (close them first). */
void store_shutdown(void);

/* Run one command on the calling thread's connection, connecting (or asking
 * the sentinels for the master) first when needed. On a connection error or
 * timeout the connection is dropped, e gets store_unavailable (503) and NULL
 * is returned. A Redis error reply (-ERR ...) is returned as a STORE_ERROR
 * reply, not as a failure: the caller decides. Exceptions, which mean the
 * server cannot serve us rather than that the command is wrong: READONLY,
 * MASTERDOWN, LOADING and NOAUTH replies drop the connection and give NULL +
 * store_unavailable. A failed command is never re-sent. After a failed
 * connection attempt, calls fail at once (store_unavailable) until the
 * backoff (50 ms doubling to reconnect_max_backoff_ms, process-wide) ends.
 * argvlen NULL: the arguments are NUL-terminated strings. e may be NULL. */
struct store_reply *store_cmd(struct err *e, int argc, const char **argv, const size_t *argvlen);
/* Convenience: NUL-terminated string arguments, list ends with NULL. */
struct store_reply *store_cmdl(struct err *e, const char *arg0, ...) __attribute__((sentinel));
/* EVALSHA with EVAL fallback (NOSCRIPT). script is the Lua source; its SHA-1
 * is computed once and cached. args holds the nkeys keys, then the nargs
 * arguments. Keys of different hash tags (docs/keys.md) are refused with
 * internal_error before anything is sent. */
struct store_reply *store_eval(struct err *e, const char *script, int nkeys, int nargs,
                               const char **args, const size_t *argslen);

/* One command of a pipeline: argv (argvlen NULL: NUL-terminated strings);
 * or, with script set, that script as store_eval runs it, argv holding the
 * nkeys keys and then the other arguments. */
struct store_cmdv {
    const char *script;
    int nkeys;
    int argc;
    const char **argv;
    const size_t *argvlen;
};
/* n commands in one round trip (for background reloads: one write and one
 * wait for many commands). 0: replies[i] is each command's reply (an error
 * reply included, as store_cmd; a script the server did not know is run
 * again with EVAL). -1: replies all NULL and e says why (Redis unreachable,
 * a moved master: the connection is dropped as store_cmd drops it; or
 * script keys across hash tags, refused before anything is sent). */
int store_pipeline(struct err *e, int n, const struct store_cmdv *cmds, struct store_reply **replies);

/* Accessors accept NULL (NIL, NULL, 0) and wrong types (NULL / 0). */
enum store_type store_reply_type(const struct store_reply *r);
/* String, status and error replies: the bytes (NUL-terminated) and length. */
const char *store_reply_str(const struct store_reply *r, size_t *len);
long long store_reply_int(const struct store_reply *r);
size_t store_reply_len(const struct store_reply *r);              /* array length */
const struct store_reply *store_reply_elem(const struct store_reply *r, size_t i);
void store_reply_free(struct store_reply *r);                     /* NULL ok */

/* PING on the calling thread's connection: 0 when Redis answers. */
int store_ping(struct err *e);
/* CONFIG GET maxmemory-policy; fills out (e.g. "noeviction"). An error
 * reply (CONFIG renamed or denied) gives -1 with store_error. */
int store_maxmemory_policy(char *out, size_t n, struct err *e);

/* Pub/sub for cache invalidation. A subscriber owns a dedicated connection
 * (a subscribed connection runs no other command), found like the workers'
 * (URL or Sentinel), and is used by one thread. Messages published while it
 * is disconnected are lost: treat a -1 from store_sub_next as "flush what
 * you cached", then keep calling it; it reconnects and resubscribes itself
 * (with the same backoff as the workers). */
/* The channel on which changes that affect cached reads (revoked sessions,
 * directory changes) are announced; every instance flushes its cache. */
#define STORE_INVALIDATION_CHANNEL "sg:inval"

struct store_sub;
/* Subscribes to n channels; connects at once, or later in store_sub_next. */
struct store_sub *store_sub_new(const char *const *channels, int n, struct err *e);
/* Waits up to timeout_ms for one message: 1 with *channel and *msg (malloc'd,
 * NUL-terminated; *msglen when not NULL), 0 on timeout, -1 with e
 * (store_unavailable) when disconnected. */
int store_sub_next(struct store_sub *s, int timeout_ms, char **channel, char **msg, size_t *msglen,
                   struct err *e);
void store_sub_free(struct store_sub *s);                         /* NULL ok */
/* PUBLISH on the calling thread's connection: receivers, or -1 with e. */
long long store_publish(const char *channel, const void *msg, size_t len, struct err *e);

struct store_stats {
    uint64_t commands;
    uint64_t errors;       /* connection errors and timeouts */
    uint64_t reconnects;   /* successful (re)connections after a thread's first */
    uint64_t failovers;    /* master address changes seen through Sentinel */
};
void store_stats(struct store_stats *out);

#endif
