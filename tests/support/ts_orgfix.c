/* See ts_orgfix.h. */
#include "ts_orgfix.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/util.h"

struct ts_redis ts_org_redis;
const struct org_actor ts_org_operator = {.operator = 1, .uid = "", .label = "test-operator"};

void ts_org_setup(void)
{
    struct ts_redis_opts o = {0};
    cr_assert_eq(ts_redis_start(&ts_org_redis, &o), 0, "redis-server: %s", ts_last_error());
    struct store_config sc = {.url = ts_org_redis.url, .connect_timeout_ms = 1000, .command_timeout_ms = 2000,
                              .reconnect_max_backoff_ms = 200};
    struct err e;
    err_clear(&e);
    cr_assert_eq(store_init(&sc, &e), 0, "store_init: %s", e.msg);
    struct config cfg;
    cr_assert_eq(config_load(&cfg, NULL, &e), 0, "%s", e.msg);
    org_configure(&cfg);
    config_free(&cfg);
}

void ts_org_teardown(void)
{
    store_shutdown();
    ts_redis_free(&ts_org_redis);
}

void ts_org_make(const char *slug, const char *owner_email, struct org_info *info, char owner_uid[ORG_ID_MAX])
{
    struct err e;
    err_clear(&e);
    char *key = NULL;
    cr_assert_eq(org_create(&ts_org_operator, slug, NULL, owner_email, info, &key, &e), 0, "org_create %s: %s",
                 slug, e.msg);
    free(key);
    if (owner_uid)
        cr_assert_eq(org_member_by_email(info->id, owner_email, owner_uid, &e), 0, "%s", e.msg);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *ts_org_snapshot(void)
{
    struct err e;
    struct store_reply *keys = store_cmdl(&e, "KEYS", "*", NULL);
    cr_assert_not_null(keys, "%s", e.msg);
    size_t n = store_reply_len(keys);
    char **rows = calloc(n + 1, sizeof *rows);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = store_reply_str(store_reply_elem(keys, i), NULL);
        size_t kl = strlen(k);
        if (kl >= 6 && strcmp(k + kl - 6, ":audit") == 0)
            continue;
        struct store_reply *d = store_cmdl(&e, "DUMP", k, NULL);
        cr_assert_not_null(d);
        size_t dl = 0;
        const char *dv = store_reply_type(d) == STORE_STRING ? store_reply_str(d, &dl) : "";
        char hex[65];
        util_sha256_hex(dv, dl, hex);
        rows[m++] = util_xasprintf("%s=%s", k, hex);
        store_reply_free(d);
    }
    store_reply_free(keys);
    qsort(rows, m, sizeof *rows, cmp);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < m; i++) {
        buf_appendf(&b, "%s\n", rows[i]);
        free(rows[i]);
    }
    free(rows);
    return b.data ? b.data : util_xstrdup("");
}

long long ts_org_audit_len(const char *org_id)
{
    struct err e;
    char *k = util_xasprintf("sg:{o:%s}:audit", org_id);
    struct store_reply *r = store_cmdl(&e, "XLEN", k, NULL);
    free(k);
    cr_assert_not_null(r);
    long long n = store_reply_int(r);
    store_reply_free(r);
    return n;
}
