/* `ssogate serve`: loads the configuration, sets up the store and the SAML
 * library, declares the route table and runs the HTTP server until SIGTERM or
 * SIGINT, then lets in-flight requests finish. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/console.h"
#include "cli.h"
#include "gate/gate.h"
#include "gate/idtoken.h"
#include "http/http.h"
#include "org/domain.h"
#include "org/org.h"
#include "saml/connection.h"
#include "saml/mdrefresh.h"
#include "saml/flow.h"
#include "saml/saml.h"
#include "saml/signins.h"
#include "session/session.h"
#include "session/token.h"
#include "store/store.h"
#include "util/config.h"
#include "util/bgwork.h"
#include "util/log.h"
#include "util/tlcache.h"
#include "util/util.h"

static void handle_healthz(struct http_req *r)
{
    http_reply(r, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
}

static void handle_readyz(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    if (store_ping(&e) < 0) {
        http_reply_error(r, "not_ready", "Redis is unreachable.");
        return;
    }
    http_reply(r, 200, "application/json", "{\"status\":\"ready\"}\n", 19);
}

static void handle_metrics(struct http_req *r)
{
    struct buf b;
    buf_init(&b);
    http_render_metrics(r, &b);
    struct store_stats st;
    store_stats(&st);
    buf_appendf(&b,
                "# HELP ssogate_redis_commands_total Redis commands sent.\n"
                "# TYPE ssogate_redis_commands_total counter\n"
                "ssogate_redis_commands_total %llu\n"
                "# HELP ssogate_redis_errors_total Redis connection errors and timeouts.\n"
                "# TYPE ssogate_redis_errors_total counter\n"
                "ssogate_redis_errors_total %llu\n"
                "# HELP ssogate_redis_reconnects_total Redis reconnections after the first connection.\n"
                "# TYPE ssogate_redis_reconnects_total counter\n"
                "ssogate_redis_reconnects_total %llu\n"
                "# HELP ssogate_redis_failovers_total Master changes seen through Sentinel.\n"
                "# TYPE ssogate_redis_failovers_total counter\n"
                "ssogate_redis_failovers_total %llu\n",
                (unsigned long long)st.commands, (unsigned long long)st.errors,
                (unsigned long long)st.reconnects, (unsigned long long)st.failovers);
    struct bgwork_stats bg;
    bgwork_stats(&bg);
    buf_appendf(&b,
                "# HELP ssogate_cache_refresh_total Cache entries reloaded off the request path before expiry.\n"
                "# TYPE ssogate_cache_refresh_total counter\n"
                "ssogate_cache_refresh_total{result=\"queued\"} %llu\n"
                "ssogate_cache_refresh_total{result=\"dropped\"} %llu\n"
                "ssogate_cache_refresh_total{result=\"done\"} %llu\n",
                (unsigned long long)bg.queued, (unsigned long long)bg.dropped, (unsigned long long)bg.done);
    connection_metrics_render(&b);
    signins_render(&b);
    http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    buf_free(&b);
}

/* The route table: every path ssogate answers, with its limits. Not const:
 * the ACS body limit comes from [saml] max_response_bytes at start. */
static struct http_route routes[] = {
    {"healthz", HTTP_GET, "/healthz", handle_healthz, 0, 0, RL_NONE},
    {"readyz", HTTP_GET, "/readyz", handle_readyz, 0, 0, RL_NONE},
    {"metrics", HTTP_GET, "/metrics", handle_metrics, 0, 0, RL_NONE},
    {"auth", HTTP_GET, "/auth", gate_auth_nginx, 0, 0, RL_NONE},
    {"auth_forward", HTTP_GET, "/auth/forward", gate_auth_forward, 0, 0, RL_NONE},
    {"auth_envoy", HTTP_ANY, "/auth/envoy/*", gate_auth_envoy, ROUTE_PREFIX, 0, RL_NONE},
    {"authz", HTTP_GET, "/v1/authz", gate_v1_authz, 0, 0, RL_NONE},
    {"session", HTTP_GET, "/v1/session", gate_v1_session, 0, 0, RL_NONE},
    {"jwks", HTTP_GET, "/.well-known/jwks.json", idtoken_handle_jwks, 0, 0, RL_NONE},
    {"home", HTTP_GET, "/", flow_home, 0, 0, RL_NONE},
    {"login", HTTP_GET, "/login", flow_login_get, 0, 0, RL_LOGIN},
    {"login_email", HTTP_POST, "/login", flow_login_post, 0, 4096, RL_LOGIN},
    {"logout", HTTP_POST, "/logout", flow_logout, 0, 4096, RL_NONE},
    {"saml_metadata", HTTP_GET, "/saml/{org}/metadata", flow_metadata, 0, 0, RL_NONE},
    {"saml_acs", HTTP_POST, "/saml/{org}/acs", flow_acs, 0, 0 /* set in cli_serve */, RL_ACS},
    {"saml_slo", HTTP_GET | HTTP_POST, "/saml/{org}/slo", flow_slo, 0, 0, RL_LOGIN},
    {NULL, 0, NULL, NULL, 0, 0, RL_NONE},
};

/* Cache invalidation: a thread subscribed to the invalidation channel. A
 * message names the org whose sessions or directory changed (its id): that
 * org's cached reads go, and every read not tagged with an org. Anything else,
 * and a lost subscription (messages may have been missed), flushes all. */
static atomic_int inval_stop;

static void *inval_thread(void *arg)
{
    (void)arg;
    const char *channels[] = {SESSION_INVALIDATION_CHANNEL};
    struct err e;
    struct store_sub *sub = store_sub_new(channels, 1, &e);
    while (!atomic_load(&inval_stop)) {
        char *ch = NULL, *msg = NULL;
        size_t len = 0;
        int rc = sub ? store_sub_next(sub, 200, &ch, &msg, &len, &e) : -1;
        if (rc == 1 && org_id_valid('o', msg))
            tlcache_invalidate(msg);
        else if (rc != 0)
            tlcache_bump_epoch();
        if (!sub) {
            usleep(200 * 1000);
            sub = store_sub_new(channels, 1, &e);
        }
        free(ch);
        free(msg);
    }
    store_sub_free(sub);
    store_thread_close();
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: ssogate serve [-c FILE]\n"
          "       ssogate serve --print-config-example\n"
          "Runs the HTTP server. Without -c, defaults and SSOGATE_* environment variables apply.\n",
          f);
}

static int store_setup(const struct config *cfg, struct err *e)
{
    if (store_init_from_config(cfg, e) < 0)
        return -1;
    /* An evicted session or directory key is data lost: say so loudly. */
    char policy[64];
    struct err pe;
    err_clear(&pe);
    if (store_maxmemory_policy(policy, sizeof policy, &pe) < 0)
        log_msg(LOG_WARN, "cannot read Redis maxmemory-policy (%s); it must be noeviction", pe.msg);
    else if (strcmp(policy, "noeviction") != 0)
        log_msg(LOG_WARN,
                "Redis maxmemory-policy is '%s': set it to noeviction, or Redis may evict sessions and "
                "directory data under memory pressure",
                policy);
    store_thread_close();
    return 0;
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

int cli_serve(int argc, char **argv)
{
    const char *path = NULL;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"print-config-example", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'E': config_write_example(stdout); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    struct config cfg;
    struct err e;
    err_clear(&e);
    if (config_load(&cfg, path, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        config_free(&cfg);
        return 2;
    }
    log_set_level(cfg.log_level);
    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 2;
    struct http_server *srv = NULL;
    struct http_route *all_routes = NULL;
    int inval_started = 0;
    pthread_t inval;
    struct keyring *ring = NULL;
    /* Refuses a set LASSO_FLAG; must run before any worker thread exists. */
    if (saml_init(&e) < 0 || !(ring = keyring_load(cfg.session_keys, &e)) || store_setup(&cfg, &e) < 0 ||
        gate_init(&cfg, ring, &e) < 0 || console_init(&cfg, ring, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        goto done;
    }
    org_configure(&cfg);
    domain_configure(cfg.dns_resolvers, cfg.dns_timeout_ms, cfg.dns_recheck_grace);
    if (connection_configure(&cfg, &e) < 0 || flow_init(&cfg, ring, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        goto done;
    }
    for (struct http_route *rt = routes; rt->name; rt++)
        if (rt->handler == flow_acs)
            rt->body_limit = cfg.saml_max_response_bytes;
    rc = 1;
    inval_started = pthread_create(&inval, NULL, inval_thread, NULL) == 0;
    all_routes = admin_routes_with(routes); /* + the admin API, /v1/orgs/... */
    srv = http_server_start(&cfg, all_routes, &e);
    if (!srv) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        goto done;
    }
    log_msg(LOG_INFO, "listening on %s:%d (public %s)", cfg.listen_host, http_server_port(srv), cfg.base_url);
    if (domain_recheck_thread_start(cfg.dns_recheck_interval_s, &e) < 0)
        log_msg(LOG_WARN, "verified domains will not be re-checked: %s", e.msg);
    if (mdrefresh_thread_start(&cfg, &e) < 0)
        log_msg(LOG_WARN, "IdP metadata will not be refreshed from URLs: %s", e.msg);
    if (bgwork_start(store_thread_close) < 0)
        log_msg(LOG_WARN, "cached entries will not be refreshed ahead of expiry: cannot start a thread");
    int sig = wait_for_signal();
    log_msg(LOG_INFO, "%s received: finishing in-flight requests (up to %d s)", strsignal(sig),
            cfg.shutdown_timeout_s);
    http_server_stop(srv, cfg.shutdown_timeout_s);
    log_msg(LOG_INFO, "stopped");
    rc = 0;
done:
    domain_recheck_thread_stop();
    mdrefresh_thread_stop();
    bgwork_stop();
    if (inval_started) {
        atomic_store(&inval_stop, 1);
        pthread_join(inval, NULL);
    }
    flow_shutdown();
    console_shutdown();
    connection_shutdown();
    gate_shutdown();
    tlcache_free();
    store_shutdown();
    saml_shutdown();
    keyring_free(ring);
    free(all_routes);
    config_free(&cfg);
    return rc;
}
