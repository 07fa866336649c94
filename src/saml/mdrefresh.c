/* Periodic refresh of IdP metadata from URLs (and, in the same round, the
 * IdP certificate expiry warnings of every connection). The connections are found by
 * SCAN over sg:{o:*}:conn (no global index to keep in step); one instance per
 * round does the work, holding sg:mdrefresh:lock for just under a round. */
#include "saml/mdrefresh.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "org/org.h"
#include "saml/connection.h"
#include "store/store.h"
#include "util/log.h"
#include "util/ticker.h"

static void mdrefresh_one(const char *key, int timeout_ms, int *refreshed, int *failed)
{
    /* key is sg:{o:<id>}:conn */
    char id[ORG_ID_MAX];
    const char *a = strstr(key, "{o:"), *b = a ? strchr(a, '}') : NULL;
    if (!a || !b || (size_t)(b - a - 3) >= sizeof id)
        return;
    snprintf(id, sizeof id, "%.*s", (int)(b - a - 3), a + 3);
    struct err e;
    err_clear(&e);
    struct org_info org;
    if (org_lookup(id, &org, &e) < 0)
        return;
    int rc = connection_refresh(&org, timeout_ms, &e);
    if (rc > 0)
        (*refreshed)++;
    else if (rc < 0)
        (*failed)++;
    /* once per round across the instances: the certificate expiry warning */
    err_clear(&e);
    connection_check_expiry(&org, &e);
}

static int mdrefresh_all(int timeout_ms, int *refreshed, int *failed, struct err *e)
{
    char cursor[32] = "0";
    do {
        struct store_reply *r = store_cmdl(e, "SCAN", cursor, "MATCH", "sg:{o:*}:conn", "COUNT", "500", NULL);
        if (!r || store_reply_type(r) != STORE_ARRAY || store_reply_len(r) != 2) {
            store_reply_free(r);
            return r ? err_set(e, "internal_error", "unexpected SCAN reply") : -1;
        }
        snprintf(cursor, sizeof cursor, "%s", store_reply_str(store_reply_elem(r, 0), NULL));
        const struct store_reply *keys = store_reply_elem(r, 1);
        for (size_t i = 0; i < store_reply_len(keys); i++)
            mdrefresh_one(store_reply_str(store_reply_elem(keys, i), NULL), timeout_ms, refreshed, failed);
        store_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int mdrefresh_round(int interval_s, int timeout_ms, int *refreshed, int *failed, struct err *e)
{
    char ttl[32], me[32];
    *refreshed = *failed = 0;
    snprintf(ttl, sizeof ttl, "%lld", (long long)interval_s * 1000 - 500);
    snprintf(me, sizeof me, "%d", (int)getpid());
    struct store_reply *r = store_cmdl(e, "SET", "sg:mdrefresh:lock", me, "NX", "PX", ttl, NULL);
    if (!r)
        return -1;
    int got = store_reply_type(r) == STORE_STATUS;
    store_reply_free(r);
    if (!got)
        return 0;
    if (mdrefresh_all(timeout_ms, refreshed, failed, e) < 0)
        return -1;
    log_msg(*failed ? LOG_WARN : LOG_DEBUG, "IdP metadata refresh: %d updated, %d failed", *refreshed, *failed);
    return 1;
}

static struct ticker *refresh_ticker;
static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int interval_s, timeout_ms;
} refresh_cfg;

static void mdrefresh_tick(void *arg)
{
    (void)arg;
    struct err e;
    err_clear(&e);
    int up, failed;
    if (mdrefresh_round(refresh_cfg.interval_s, refresh_cfg.timeout_ms, &up, &failed, &e) < 0)
        log_msg(LOG_WARN, "IdP metadata refresh round failed: %s", e.msg);
}

int mdrefresh_thread_start(const struct config *cfg, struct err *e)
{
    pthread_mutex_lock(&refresh_lock);
    if (!refresh_ticker) {
        refresh_cfg.interval_s = cfg->saml_metadata_refresh_s;
        refresh_cfg.timeout_ms = cfg->saml_metadata_timeout_ms;
        refresh_ticker = ticker_start(refresh_cfg.interval_s, mdrefresh_tick, store_thread_close, NULL);
    }
    int ok = refresh_ticker != NULL;
    pthread_mutex_unlock(&refresh_lock);
    return ok ? 0 : err_set(e, "internal_error", "cannot start the metadata refresh thread");
}

void mdrefresh_thread_stop(void)
{
    pthread_mutex_lock(&refresh_lock);
    struct ticker *t = refresh_ticker;
    refresh_ticker = NULL;
    pthread_mutex_unlock(&refresh_lock);
    ticker_stop(t);
}
