/* Session records against a real redis-server: create/load, expiry (idle,
 * sliding, absolute), delete, revocation by user and by SLO index, forged
 * tokens that never reach Redis, Redis down. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "session/session.h"
#include "store/store.h"
#include "ts.h"
#include "util/util.h"

static struct ts_redis redis;
static struct keyring *ring;

static void setup(void)
{
    struct ts_redis_opts o = {0};
    cr_assert_eq(ts_redis_start(&redis, &o), 0, "%s", ts_last_error());
    struct store_config sc = {.url = redis.url, .connect_timeout_ms = 300, .command_timeout_ms = 300,
                              .reconnect_max_backoff_ms = 200};
    struct err e;
    cr_assert_eq(store_init(&sc, &e), 0, "%s", e.msg);
    ring = keyring_parse("k1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", &e);
    cr_assert_not_null(ring);
}

static void teardown(void)
{
    keyring_free(ring);
    store_shutdown();
    ts_redis_free(&redis);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 60);

static const struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 600, .idle_refresh_s = 60};

static void make(struct session *s, const char *org, const char *uid, const char *nid, const char *sidx, char *tok,
                 const struct session_limits *l)
{
    memset(s, 0, sizeof *s);
    snprintf(s->org, sizeof s->org, "%s", org);
    snprintf(s->user_id, sizeof s->user_id, "%s", uid);
    snprintf(s->email, sizeof s->email, "%s@acme.test", uid);
    snprintf(s->name_id, sizeof s->name_id, "%s", nid);
    snprintf(s->session_index, sizeof s->session_index, "%s", sidx);
    snprintf(s->issuer, sizeof s->issuer, "https://idp.acme.test");
    struct err e;
    cr_assert_eq(session_create(ring, l ? l : &lim, s, tok, TOKEN_MAX_LEN + 1, &e), 0, "%s", e.msg);
}

Test(session, create_then_load_returns_the_identity)
{
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "alice@acme.test", "idx-1", tok, NULL);
    struct err e;
    cr_assert_eq(session_load(ring, &lim, tok, &got, &e), 0, "%s", e.msg);
    cr_assert_str_eq(got.user_id, "u1");
    cr_assert_str_eq(got.email, "u1@acme.test");
    cr_assert_str_eq(got.org, "acme");
    cr_assert_str_eq(got.session_index, "idx-1");
    cr_assert_str_eq(got.issuer, "https://idp.acme.test");
    cr_assert_gt(got.abs_expiry_ms, util_now_ms() + 3590 * 1000LL);
}

Test(session, redis_holds_no_usable_token)
{
    struct session s;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, NULL);
    /* The token's id field (4th) must appear in no key and no value. */
    const char *id = strchr(strchr(strchr(tok, '.') + 1, '.') + 1, '.') + 1;
    char idpart[64];
    snprintf(idpart, sizeof idpart, "%.43s", id);
    struct err e;
    struct store_reply *keys = store_cmdl(&e, "KEYS", "*", NULL);
    cr_assert_not_null(keys);
    for (size_t i = 0; i < store_reply_len(keys); i++) {
        const char *k = store_reply_str(store_reply_elem(keys, i), NULL);
        cr_assert_null(strstr(k, idpart), "key %s holds the token id", k);
    }
    store_reply_free(keys);
    char key[200];
    snprintf(key, sizeof key, "sg:{o:acme}:s:%s", s.id_hash);
    struct store_reply *all = store_cmdl(&e, "HGETALL", key, NULL);
    cr_assert_gt(store_reply_len(all), 0);
    for (size_t i = 0; i < store_reply_len(all); i++)
        cr_assert_null(strstr(store_reply_str(store_reply_elem(all, i), NULL), idpart));
    store_reply_free(all);
}

Test(session, forged_token_costs_no_redis_round_trip)
{
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, NULL);
    size_t n = strlen(tok);
    tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
    struct store_stats before, after;
    store_stats(&before);
    struct err e;
    cr_assert_eq(session_load(ring, &lim, tok, &got, &e), -1);
    cr_assert_str_eq(e.code, "unauthorized");
    store_stats(&after);
    cr_assert_eq(after.commands, before.commands, "a forged token reached Redis");
}

Test(session, delete_ends_the_session)
{
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, NULL);
    struct err e;
    cr_assert_eq(session_delete("acme", s.id_hash, &e), 0);
    cr_assert_eq(session_load(ring, &lim, tok, &got, &e), -1);
    cr_assert_str_eq(e.code, "unauthorized");
}

Test(session, revoke_user_ends_all_of_that_users_sessions_only)
{
    struct session a1, a2, b;
    char t1[TOKEN_MAX_LEN + 1], t2[TOKEN_MAX_LEN + 1], t3[TOKEN_MAX_LEN + 1];
    make(&a1, "acme", "ua", "", "", t1, NULL);
    make(&a2, "acme", "ua", "", "", t2, NULL);
    make(&b, "acme", "ub", "", "", t3, NULL);
    struct err e;
    cr_assert_eq(session_revoke_user("acme", "ua", &e), 2);
    struct session got;
    cr_assert_eq(session_load(ring, &lim, t1, &got, &e), -1);
    cr_assert_eq(session_load(ring, &lim, t2, &got, &e), -1);
    cr_assert_eq(session_load(ring, &lim, t3, &got, &e), 0);
}

Test(session, revoke_slo_by_name_id_and_session_index)
{
    struct session a, b;
    char t1[TOKEN_MAX_LEN + 1], t2[TOKEN_MAX_LEN + 1];
    make(&a, "acme", "ua", "alice@acme.test", "idx-a", t1, NULL);
    make(&b, "acme", "ua", "alice@acme.test", "idx-b", t2, NULL);
    struct err e;
    struct session got;
    cr_assert_eq(session_revoke_slo("acme", "alice@acme.test", "idx-a", &e), 1);
    cr_assert_eq(session_load(ring, &lim, t1, &got, &e), -1);
    cr_assert_eq(session_load(ring, &lim, t2, &got, &e), 0);
    /* No SessionIndex: every session of that NameID. */
    cr_assert_eq(session_revoke_slo("acme", "alice@acme.test", "", &e), 1);
    cr_assert_eq(session_load(ring, &lim, t2, &got, &e), -1);
}

Test(session, idle_expiry_slides_and_then_ends)
{
    struct session_limits l = {.max_age_s = 60, .idle_timeout_s = 2, .idle_refresh_s = 1};
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, &l);
    struct err e;
    usleep(1200 * 1000);
    cr_assert_eq(session_load(ring, &l, tok, &got, &e), 0, "%s", e.msg); /* slides to t+3.2 s */
    usleep(1300 * 1000); /* t = 2.5 s: past the first idle expiry */
    cr_assert_eq(session_load(ring, &l, tok, &got, &e), 0, "idle expiry did not slide: %s", e.msg);
    usleep(2300 * 1000);
    cr_assert_eq(session_load(ring, &l, tok, &got, &e), -1, "idle session still valid");
}

Test(session, absolute_expiry_is_not_extended)
{
    struct session_limits l = {.max_age_s = 2, .idle_timeout_s = 60, .idle_refresh_s = 1};
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, &l);
    struct err e;
    usleep(1200 * 1000);
    cr_assert_eq(session_load(ring, &l, tok, &got, &e), 0);
    usleep(1000 * 1000);
    cr_assert_eq(session_load(ring, &l, tok, &got, &e), -1, "session outlived its absolute expiry");
}

Test(session, redis_down_is_store_unavailable_not_unauthorized)
{
    struct session s, got;
    char tok[TOKEN_MAX_LEN + 1];
    make(&s, "acme", "u1", "", "", tok, NULL);
    ts_redis_kill(&redis);
    struct err e;
    cr_assert_eq(session_load(ring, &lim, tok, &got, &e), -1);
    cr_assert_str_eq(e.code, "store_unavailable");
}
