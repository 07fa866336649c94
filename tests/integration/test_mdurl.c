/* IdP metadata from a URL against a real ssogate, Redis and a loopback web
 * server (python3 -m http.server): `connection set --idp-metadata-url`, the
 * server's periodic refresh picking up an IdP key rollover, and a broken
 * document that leaves the stored metadata (and its keys) in force. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness_flow.h"
#include "store/store.h"
#include "ts_net.h"
#include "ts_proc.h"
#include "util/util.h"

static struct sg srv;
static char org_id[64];
static char *dir, *web, *md_url;
static pid_t web_pid;

static void put_metadata(const char *src_name)
{
    char *data = flow_read(dir, src_name);
    char *dst = ts_path(web, "md.xml.tmp"), *final = ts_path(web, "md.xml");
    cr_assert_eq(ts_write_file(dst, data), 0);
    cr_assert_eq(rename(dst, final), 0); /* never a half-written file */
    free(dst);
    free(final);
    free(data);
}

static void setup(void)
{
    sg_start(&srv, "[saml]\nmetadata_refresh_s = 2\nmetadata_timeout_ms = 3000\n", NULL);
    flow_org_setup(&srv, "acme", "alice@acme.test", "acme.test", org_id);
    dir = ts_path(srv.dir, "responses");
    char *cmd = util_xasprintf("/usr/bin/python3 %s/tests/saml/make_responses.py --http %s %s acme 2",
                               SSOGATE_SOURCE_DIR, dir, srv.base);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "make_responses.py: %s", out);
    free(out);
    free(cmd);
    web = ts_path(srv.dir, "web");
    cr_assert_eq(mkdir(web, 0700), 0);
    put_metadata("idp-metadata.xml");
    int port = ts_free_port();
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    const char *argv[] = {"/usr/bin/python3", "-m", "http.server", ports, "--bind", "127.0.0.1", "--directory",
                          web, NULL};
    char *log = ts_path(srv.dir, "web.log");
    web_pid = ts_spawn(argv, NULL, log);
    free(log);
    cr_assert_gt(web_pid, 0);
    cr_assert_eq(ts_wait_tcp("127.0.0.1", port, web_pid, 10000), 0, "http.server did not start");
    md_url = util_xasprintf("http://127.0.0.1:%d/md.xml", port);
    flow_store_open(&srv);
}

static void teardown(void)
{
    store_shutdown();
    if (web_pid > 0)
        ts_kill(web_pid, 2000);
    free(md_url);
    free(web);
    free(dir);
    sg_stop(&srv);
}

TestSuite(mdurl, .init = setup, .fini = teardown, .timeout = 120);

static void set_by_url(void)
{
    char *cmd = util_xasprintf("connection set acme --idp-metadata-url %s", md_url);
    char *out = flow_cli(&srv, cmd);
    cr_assert(strstr(out, md_url) && strstr(out, "\"version\": 1"), "%s", out);
    free(out);
    free(cmd);
}

static long post_status(const char *name)
{
    char *file = util_xasprintf("%s.b64", name);
    char *b64 = flow_read(dir, file);
    struct sg_resp r;
    flow_post_acs(&srv, "acme", b64, NULL, &r);
    long st = r.status;
    sg_resp_free(&r);
    free(b64);
    free(file);
    return st;
}

/* Poll `connection show` until its version is want (server refresh rounds). */
static int wait_version(int want, int timeout_ms)
{
    char needle[32];
    snprintf(needle, sizeof needle, "\"version\": %d,", want);
    for (int waited = 0; waited < timeout_ms; waited += 250) {
        char *out = flow_cli(&srv, "connection show acme");
        int ok = strstr(out, needle) != NULL;
        free(out);
        if (ok)
            return 0;
        usleep(250 * 1000);
    }
    return -1;
}

Test(mdurl, connection_set_by_url_stores_the_url_and_signs_in)
{
    set_by_url();
    flow_pending_put(org_id, "_req-http-0", "/");
    cr_expect_eq(post_status("valid-0"), 303);
}

Test(mdurl, refresh_picks_up_an_idp_key_rollover)
{
    set_by_url();
    flow_pending_put(org_id, "_req-rolled", "/");
    cr_assert_eq(post_status("valid-rolled"), 401, "the new key must not be known yet");
    put_metadata("idp-metadata-rolled.xml");
    cr_assert_eq(wait_version(2, 15000), 0, "the server did not refresh the metadata");
    flow_pending_put(org_id, "_req-rolled", "/");
    cr_expect_eq(post_status("valid-rolled"), 303);
    char *log = flow_read(srv.dir, "ssogate.log");
    cr_expect(strstr(log, "IdP metadata refreshed from"), "no log line of the change");
    free(log);
}

Test(mdurl, broken_metadata_keeps_the_old_keys_and_is_logged)
{
    set_by_url();
    char *bad = ts_path(web, "md.xml");
    ts_write_file(bad, "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>");
    free(bad);
    /* wait for a failed round in the log, then check nothing changed */
    int seen = 0;
    for (int i = 0; i < 60 && !seen; i++) {
        char *log = flow_read(srv.dir, "ssogate.log");
        seen = strstr(log, "refresh from") && strstr(log, "failed, the stored metadata stays");
        free(log);
        if (!seen)
            usleep(250 * 1000);
    }
    cr_assert(seen, "no log line of the failed refresh");
    char *out = flow_cli(&srv, "connection show acme");
    cr_expect(strstr(out, "\"version\": 1,"), "%s", out);
    free(out);
    flow_pending_put(org_id, "_req-http-1", "/");
    cr_expect_eq(post_status("valid-1"), 303);
    /* a refresh from a URL that now answers 404 fails the same way */
    char *cmd = util_xasprintf("%s connection refresh acme -c %s", sg_bin(), srv.conf);
    char *gone = ts_path(web, "md.xml");
    unlink(gone);
    free(gone);
    int st;
    out = flow_sh(cmd, &st);
    cr_expect_eq(st, 1, "%s", out);
    cr_expect(strstr(out, "saml_metadata_fetch_failed"), "%s", out);
    free(out);
    free(cmd);
}

Test(mdurl, connection_set_refuses_unreachable_oversized_and_non_http_urls)
{
    static const char *const bad[] = {"http://127.0.0.1:1/md.xml", "file:///etc/passwd", "ftp://127.0.0.1/x",
                                      "big"};
    char *big = ts_path(web, "big.xml");
    size_t n = 600 * 1024;
    char *data = util_xmalloc(n + 1);
    memset(data, ' ', n);
    data[n] = '\0';
    ts_write_file(big, data);
    free(data);
    free(big);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *url = strcmp(bad[i], "big") ? util_xstrdup(bad[i]) : util_xasprintf("%.*sbig.xml",
                                                                                (int)(strlen(md_url) - 6), md_url);
        char *cmd = util_xasprintf("%s connection set acme --idp-metadata-url '%s' -c %s", sg_bin(), url, srv.conf);
        int st;
        char *out = flow_sh(cmd, &st);
        cr_expect_eq(st, 1, "%s: %s", url, out);
        cr_expect(strstr(out, "saml_metadata_fetch_failed"), "%s: %s", url, out);
        free(out);
        free(cmd);
        free(url);
    }
}

/* ---- IdP certificate expiry ------------------------------------------- */

Test(mdurl, warns_before_an_idp_certificate_expires)
{
    /* a long-lived certificate: no warning */
    char *cmd = util_xasprintf("connection set acme --idp-metadata %s/idp-metadata.xml", dir);
    char *out = flow_cli(&srv, cmd);
    cr_expect(strstr(out, "\"idp_cert_expiry_warning\": false"), "%s", out);
    cr_expect(strstr(out, "\"expiring_soon\": false"), "%s", out);
    free(out);
    free(cmd);
    /* one of two certificates expires within a day ([saml] cert_warn_days 30) */
    cmd = util_xasprintf("connection set acme --idp-metadata %s/idp-metadata-short.xml", dir);
    out = flow_cli(&srv, cmd);
    cr_expect(strstr(out, "\"idp_cert_expiry_warning\": true"), "%s", out);
    cr_expect(strstr(out, "\"expiring_soon\": true"), "%s", out);
    cr_expect(strstr(out, "\"not_after\": \"20"), "%s", out);
    free(out);
    free(cmd);
    /* a sign-in compiles the connection in the server: log line and gauges */
    flow_pending_put(org_id, "_req-http-0", "/");
    cr_expect_eq(post_status("valid-0"), 303);
    struct sg_resp r;
    sg_get(&srv, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    const char *g = strstr(r.body, "ssogate_idp_cert_expiry_seconds{org=\"acme\"} ");
    cr_assert_not_null(g, "%s", r.body);
    long long secs = atoll(g + strlen("ssogate_idp_cert_expiry_seconds{org=\"acme\"} "));
    cr_expect(secs > 0 && secs <= 86400 + 60, "%lld", secs);
    cr_expect(strstr(r.body, "ssogate_idp_certs_expiring{org=\"acme\"} 1\n"), "%s", r.body);
    sg_resp_free(&r);
    char *log = flow_read(srv.dir, "ssogate.log");
    cr_expect(strstr(log, "IdP signing certificate 2 of") && strstr(log, "expires in"), "no warning logged");
    free(log);
}
