/* Session records. Every write that touches a record and its indexes is one
 * Lua script on keys of one hash tag ({o:<org>}), so it is atomic and stays in
 * one Redis Cluster slot. Index sets may hold ids of expired records; the
 * revoke scripts skip those, and the sets expire with the longest session. */
#include "session/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/bgwork.h"
#include "util/util.h"

#define KEY_MAX 200

static const char create_lua[] =
    "redis.call('HSET', KEYS[1], unpack(ARGV, 4))\n"
    "redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "for i = 2, #KEYS do\n"
    "  redis.call('SADD', KEYS[i], ARGV[1])\n"
    "  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end\n"
    "end\n"
    "return 1\n";

/* KEYS[1] = index set; ARGV[1] = record key prefix. Deletes every record the
 * set names, then the set. */
static const char revoke_lua[] =
    "local ids = redis.call('SMEMBERS', KEYS[1])\n"
    "local n = 0\n"
    "for _, id in ipairs(ids) do n = n + redis.call('DEL', ARGV[1] .. id) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

static void key_record(char *out, const char *org, const char *id_hash)
{
    snprintf(out, KEY_MAX, "sg:{o:%s}:s:%s", org, id_hash);
}

static void key_user(char *out, const char *org, const char *user_id)
{
    snprintf(out, KEY_MAX, "sg:{o:%s}:su:%s", org, user_id);
}

static void key_org(char *out, const char *org)
{
    snprintf(out, KEY_MAX, "sg:{o:%s}:ss", org);
}

static void key_slo(char *out, const char *org, const char *name_id, const char *session_index)
{
    /* NameID and SessionIndex are IdP-chosen text: hash them into the key. */
    char h[65];
    char *joined = util_xasprintf("%s\n%s", name_id, session_index ? session_index : "");
    util_sha256_hex(joined, strlen(joined), h);
    free(joined);
    snprintf(out, KEY_MAX, "sg:{o:%s}:sl:%s", org, h);
}

static void key_slo_all(char *out, const char *org, const char *name_id)
{
    char h[65];
    util_sha256_hex(name_id, strlen(name_id), h);
    snprintf(out, KEY_MAX, "sg:{o:%s}:sn:%s", org, h);
}

#define NFIELDS 12

int session_create(const struct keyring *k, const struct session_limits *lim, struct session *s, char *token,
                   size_t n, struct err *e)
{
    struct token t;
    if (token_issue(k, s->org, &t, token, n, e) < 0)
        return -1;
    memcpy(s->id_hash, t.id_hash, sizeof s->id_hash);
    int64_t now = util_now_ms();
    s->created_ms = s->last_seen_ms = now;
    s->abs_expiry_ms = now + (int64_t)lim->max_age_s * 1000;
    s->idle_expiry_ms = now + (int64_t)lim->idle_timeout_s * 1000;
    if (s->idle_expiry_ms > s->abs_expiry_ms)
        s->idle_expiry_ms = s->abs_expiry_ms;

    char keys[5][KEY_MAX];
    key_record(keys[0], s->org, s->id_hash);
    key_user(keys[1], s->org, s->user_id);
    key_org(keys[2], s->org);
    int nkeys = 3;
    if (s->name_id[0]) {
        key_slo(keys[nkeys++], s->org, s->name_id, s->session_index);
        key_slo_all(keys[nkeys++], s->org, s->name_id);
    }
    char expire_at[24], max_ms[24], created[24], last[24], absx[24], idlex[24];
    snprintf(expire_at, sizeof expire_at, "%lld", (long long)s->idle_expiry_ms);
    snprintf(max_ms, sizeof max_ms, "%lld", (long long)lim->max_age_s * 1000);
    snprintf(created, sizeof created, "%lld", (long long)s->created_ms);
    snprintf(last, sizeof last, "%lld", (long long)s->last_seen_ms);
    snprintf(absx, sizeof absx, "%lld", (long long)s->abs_expiry_ms);
    snprintf(idlex, sizeof idlex, "%lld", (long long)s->idle_expiry_ms);
    const char *fields[2 * NFIELDS] = {
        "uid", s->user_id, "email", s->email, "org", s->org, "nid", s->name_id,
        "nidf", s->name_id_format, "sidx", s->session_index, "iss", s->issuer, "created", created,
        "seen", last, "abs", absx, "idle", idlex, "v", "1",
    };
    const char *args[5 + 3 + 2 * NFIELDS];
    int na = 0;
    for (int i = 0; i < nkeys; i++)
        args[na++] = keys[i];
    args[na++] = s->id_hash;
    args[na++] = expire_at;
    args[na++] = max_ms;
    for (int i = 0; i < 2 * NFIELDS; i++)
        args[na++] = fields[i];
    struct store_reply *r = store_eval(e, create_lua, nkeys, na - nkeys, args, NULL);
    if (!r)
        return -1;
    int rc = store_reply_type(r) == STORE_INTEGER ? 0 : err_set(e, "internal_error", "session write refused");
    store_reply_free(r);
    return rc;
}

static void copy_field(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int parse_record(const struct store_reply *r, struct session *s)
{
    size_t n = store_reply_len(r);
    if (n == 0 || n % 2)
        return -1;
    for (size_t i = 0; i + 1 < n; i += 2) {
        size_t kl, vl;
        const char *k = store_reply_str(store_reply_elem(r, i), &kl);
        const char *v = store_reply_str(store_reply_elem(r, i + 1), &vl);
        if (!k || !v)
            return -1;
        if (!strcmp(k, "uid")) copy_field(s->user_id, sizeof s->user_id, v, vl);
        else if (!strcmp(k, "email")) copy_field(s->email, sizeof s->email, v, vl);
        else if (!strcmp(k, "nid")) copy_field(s->name_id, sizeof s->name_id, v, vl);
        else if (!strcmp(k, "nidf")) copy_field(s->name_id_format, sizeof s->name_id_format, v, vl);
        else if (!strcmp(k, "sidx")) copy_field(s->session_index, sizeof s->session_index, v, vl);
        else if (!strcmp(k, "iss")) copy_field(s->issuer, sizeof s->issuer, v, vl);
        else if (!strcmp(k, "created")) s->created_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "seen")) s->last_seen_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "abs")) s->abs_expiry_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "idle")) s->idle_expiry_ms = strtoll(v, NULL, 10);
    }
    return s->user_id[0] && s->abs_expiry_ms > 0 && s->idle_expiry_ms > 0 ? 0 : -1;
}

/* The write of a touch, as a job: the key, and the two times as text. */
struct touch {
    char key[KEY_MAX];
    char seen[24];
    char idle[24];
};

static void touch_write(void *arg)
{
    const struct touch *t = arg;
    /* XX-style: only when the record still exists, so a revoked session is not
     * brought back by a concurrent refresh. */
    static const char touch_lua[] =
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
        "redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'idle', ARGV[2])\n"
        "redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
        "return 1\n";
    const char *args[] = {t->key, t->seen, t->idle};
    struct err e;
    store_reply_free(store_eval(&e, touch_lua, 1, 2, args, NULL));
}

/* Push the idle expiry forward (at most once per refresh interval). The write
 * goes to the background thread when it runs: the answer does not depend on
 * it, and a touch that is lost (queue full, Redis away) only means the next
 * load touches again. Without the thread (CLI, tests) it is written here. */
static void session_touch(const struct session_limits *lim, struct session *s, const char *key, int64_t now)
{
    int64_t idle = now + (int64_t)lim->idle_timeout_s * 1000;
    if (idle > s->abs_expiry_ms)
        idle = s->abs_expiry_ms;
    struct touch t;
    snprintf(t.key, sizeof t.key, "%s", key);
    snprintf(t.seen, sizeof t.seen, "%lld", (long long)now);
    snprintf(t.idle, sizeof t.idle, "%lld", (long long)idle);
    if (bgwork_submit(touch_write, &t, sizeof t) < 0)
        touch_write(&t);
    s->last_seen_ms = now;
    s->idle_expiry_ms = idle;
}

int session_load(const struct keyring *k, const struct session_limits *lim, const char *token, struct session *s,
                 struct err *e)
{
    struct token t;
    if (token_verify(k, token, &t, e) < 0)
        return -1; /* forged or malformed: no Redis round trip */
    return session_load_hash(lim, t.org, t.id_hash, s, e);
}

/* s->org and s->id_hash set: its record's key. */
static void session_begin(struct session *s, const char *org, const char *id_hash, char key[KEY_MAX])
{
    memset(s, 0, sizeof *s);
    snprintf(s->id_hash, sizeof s->id_hash, "%s", id_hash);
    snprintf(s->org, sizeof s->org, "%s", org);
    key_record(key, s->org, s->id_hash);
}

/* The record's HGETALL reply into s: a live session, touched when due. */
static int session_from_reply(const struct session_limits *lim, const char *key, const struct store_reply *r,
                              struct session *s, struct err *e)
{
    if (!(store_reply_type(r) == STORE_ARRAY && parse_record(r, s) == 0))
        return err_set(e, "unauthorized", "The session has ended; sign in again.");
    int64_t now = util_now_ms();
    if (now >= s->abs_expiry_ms || now >= s->idle_expiry_ms)
        return err_set(e, "unauthorized", "The session has expired; sign in again.");
    if (now - s->last_seen_ms >= (int64_t)lim->idle_refresh_s * 1000)
        session_touch(lim, s, key, now);
    return 0;
}

int session_load_hash(const struct session_limits *lim, const char *org, const char *id_hash, struct session *s,
                      struct err *e)
{
    char key[KEY_MAX];
    session_begin(s, org, id_hash, key);
    struct store_reply *r = store_cmdl(e, "HGETALL", key, NULL);
    if (!r)
        return -1;
    int rc = session_from_reply(lim, key, r, s, e);
    store_reply_free(r);
    return rc;
}

void session_load_hashes(const struct session_limits *lim, int n, const char *const *orgs,
                         const char *const *id_hashes, struct session *out, int *rc, struct err *errs)
{
    if (n <= 0)
        return;
    char (*keys)[KEY_MAX] = util_xcalloc((size_t)n, KEY_MAX);
    const char **argv = util_xcalloc((size_t)n * 2, sizeof *argv);
    struct store_cmdv *cmds = util_xcalloc((size_t)n, sizeof *cmds);
    struct store_reply **replies = util_xcalloc((size_t)n, sizeof *replies);
    for (int i = 0; i < n; i++) {
        session_begin(&out[i], orgs[i], id_hashes[i], keys[i]);
        argv[2 * i] = "HGETALL";
        argv[2 * i + 1] = keys[i];
        cmds[i] = (struct store_cmdv){.argc = 2, .argv = &argv[2 * i]};
    }
    struct err pe;
    int ok = store_pipeline(&pe, n, cmds, replies) == 0;
    for (int i = 0; i < n; i++) {
        if (!ok) {
            errs[i] = pe;
            rc[i] = -1;
        } else {
            rc[i] = session_from_reply(lim, keys[i], replies[i], &out[i], &errs[i]);
        }
        store_reply_free(replies[i]);
    }
    free(replies);
    free(cmds);
    free(argv);
    free(keys);
}

/* Tell every instance's caches that sessions ended (SESSION_INVALIDATION_CHANNEL). */
static void session_announce(const char *org)
{
    struct err e;
    store_publish(SESSION_INVALIDATION_CHANNEL, org, strlen(org), &e);
}

int session_delete(const char *org, const char *id_hash, struct err *e)
{
    char key[KEY_MAX];
    key_record(key, org, id_hash);
    struct store_reply *r = store_cmdl(e, "DEL", key, NULL);
    if (!r)
        return -1;
    store_reply_free(r);
    session_announce(org);
    return 0;
}

static long revoke_index(const char *org, const char *index_key, struct err *e)
{
    char prefix[KEY_MAX];
    snprintf(prefix, sizeof prefix, "sg:{o:%s}:s:", org);
    const char *args[] = {index_key, prefix};
    struct store_reply *r = store_eval(e, revoke_lua, 1, 1, args, NULL);
    if (!r)
        return -1;
    long n = store_reply_type(r) == STORE_INTEGER ? (long)store_reply_int(r) : -1;
    store_reply_free(r);
    if (n < 0)
        return err_set(e, "internal_error", "session revocation refused");
    session_announce(org);
    return n;
}

long session_revoke_user(const char *org, const char *user_id, struct err *e)
{
    char key[KEY_MAX];
    key_user(key, org, user_id);
    return revoke_index(org, key, e);
}

long session_revoke_org(const char *org, struct err *e)
{
    char key[KEY_MAX];
    key_org(key, org);
    return revoke_index(org, key, e);
}

long session_revoke_slo(const char *org, const char *name_id, const char *session_index, struct err *e)
{
    char key[KEY_MAX];
    if (session_index && *session_index)
        key_slo(key, org, name_id, session_index);
    else
        key_slo_all(key, org, name_id);
    return revoke_index(org, key, e);
}
