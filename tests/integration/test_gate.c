/* Forward auth end to end: nginx (auth_request) in front of a static
 * upstream and ssogate, with real Redis; plus each proxy dialect, /v1/authz,
 * API keys, bad cookies, spoofed headers, revocation within the cache bound
 * and a Redis outage. The directory and the session are made in-process with
 * the same modules the server uses (no SAML needed to test the gate). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_flow.h"
#include "org/org.h"
#include "session/session.h"
#include "store/store.h"
#include "util/util.h"

#define ROUTES                                                                                                 \
    "[server]\ntrusted_proxies = 127.0.0.1/32\n"                                                                \
    "[session]\ncache_ttl_ms = 1000\n"                                                                           \
    "[route.wsa]\npath_prefix = /a/\nworkspace = acme/ws-a\npermission = workspace:read\n"                      \
    "[route.wsb]\npath_prefix = /b/\nworkspace = acme/ws-b\n"                                                    \
    "[route.api]\npath_prefix = /a/api/\nworkspace = acme/ws-a\npermission = workspace:write\napi = true\n"

static struct sg sg;
static pid_t nginx_pid;
static int front_port;
static char alice_cookie[TOKEN_MAX_LEN + 32];
static char alice_token[TOKEN_MAX_LEN + 1];
static char alice_uid[ORG_ID_MAX];
static char org_id[ORG_ID_MAX];
static char wsa_id[ORG_ID_MAX], wsb_id[ORG_ID_MAX];
static char *owner_key;
static struct keyring *ring;

static void make_directory(void)
{
    struct store_config sc = {.url = sg.redis.url, .connect_timeout_ms = 500, .command_timeout_ms = 500,
                              .reconnect_max_backoff_ms = 200};
    struct err e;
    cr_assert_eq(store_init(&sc, &e), 0, "%s", e.msg);
    struct org_actor op = {.operator = 1, .uid = NULL, .label = "test"};
    struct org_info info;
    cr_assert_eq(org_create(&op, "acme", "Acme", "owner@acme.test", &info, &owner_key, &e), 0, "%s", e.msg);
    snprintf(org_id, sizeof org_id, "%s", info.id);
    cr_assert_eq(org_member_add(&op, org_id, "alice@acme.test", ORG_ROLE_MEMBER, alice_uid, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_create(&op, org_id, "ws-a", "A", wsa_id, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_create(&op, org_id, "ws-b", "B", wsb_id, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_member_set(&op, org_id, wsa_id, alice_uid, "editor", &e), 0, "%s", e.msg);

    char *keys = ts_path(sg.dir, "certs/session.keys");
    ring = keyring_load(keys, &e);
    cr_assert_not_null(ring, "%s", e.msg);
    free(keys);
    struct session s = {0};
    snprintf(s.org, sizeof s.org, "%s", org_id);
    snprintf(s.user_id, sizeof s.user_id, "%s", alice_uid);
    snprintf(s.email, sizeof s.email, "alice@acme.test");
    snprintf(s.name_id, sizeof s.name_id, "alice@acme.test");
    snprintf(s.session_index, sizeof s.session_index, "sidx-1");
    struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 3600, .idle_refresh_s = 60};
    cr_assert_eq(session_create(ring, &lim, &s, alice_token, sizeof alice_token, &e), 0, "%s", e.msg);
    snprintf(alice_cookie, sizeof alice_cookie, "Cookie: ssogate=%s", alice_token);
}

static void start_nginx(void)
{
    char *nginx = ts_which("nginx");
    if (!nginx)
        nginx = ts_which("/usr/sbin/nginx");
    cr_assert_not_null(nginx, "nginx is not installed (Debian package nginx-light)");
    front_port = ts_free_port();
    int up_port = ts_free_port();
    char *ndir = ts_path(sg.dir, "nginx");
    char *tmp = ts_path(ndir, "tmp");
    mkdir(ndir, 0700);
    mkdir(tmp, 0700);
    char *conf = util_xasprintf(
        "worker_processes 1;\nuser root;\npid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\n"
        "http {\n access_log off;\n client_body_temp_path %s/b;\n proxy_temp_path %s/p;\n"
        " fastcgi_temp_path %s/f;\n uwsgi_temp_path %s/u;\n scgi_temp_path %s/s;\n"
        /* Strip ssogate's cookie before the upstream sees it (docs/proxies.md). */
        " map $http_cookie $upstream_cookie {\n"
        "  \"~^(?<pre>.*?)(?:^|;\\s*)ssogate=[^;]*(?<post>.*)$\" \"$pre$post\";\n"
        "  default $http_cookie;\n }\n"
        " server { listen 127.0.0.1:%d; default_type text/plain;\n"
        "  location /a/jwt { return 200 \"$http_x_auth_jwt\"; }\n"
        "  location / { return 200 \"user=$http_x_auth_user email=$http_x_auth_email role=$http_x_auth_role "
        "ws=$http_x_auth_workspace cookie=$http_cookie\\n\"; } }\n"
        /* Keep-alive to ssogate, as docs/proxies.md shows it. */
        " upstream ssogate { server 127.0.0.1:%d; keepalive 8; }\n"
        " server { listen 127.0.0.1:%d;\n"
        "  location = /_auth { internal; proxy_pass http://ssogate/auth;\n"
        "   proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
        "   proxy_pass_request_body off; proxy_set_header Content-Length \"\";\n"
        "   proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Uri $request_uri;\n"
        "   proxy_set_header X-Forwarded-Method $request_method; proxy_set_header X-Forwarded-Proto $scheme; }\n"
        "  location / { auth_request /_auth;\n"
        "   auth_request_set $u $upstream_http_x_auth_user; auth_request_set $em $upstream_http_x_auth_email;\n"
        "   auth_request_set $ro $upstream_http_x_auth_role; auth_request_set $ws $upstream_http_x_auth_workspace;\n"
        "   auth_request_set $loc $upstream_http_location; auth_request_set $jwt $upstream_http_x_auth_jwt;\n"
        "   error_page 401 = @signin;\n"
        "   proxy_set_header X-Auth-User $u; proxy_set_header X-Auth-Email $em;\n"
        "   proxy_set_header X-Auth-Role $ro; proxy_set_header X-Auth-Workspace $ws;\n"
        "   proxy_set_header Cookie $upstream_cookie; proxy_set_header X-Auth-Jwt $jwt;\n"
        "   proxy_pass http://127.0.0.1:%d; }\n"
        "  location @signin { return 302 $loc; }\n }\n}\n",
        ndir, ndir, tmp, tmp, tmp, tmp, tmp, up_port, sg.port, front_port, up_port);
    char *cpath = ts_path(ndir, "nginx.conf");
    cr_assert_eq(ts_write_file(cpath, conf), 0);
    char *log = ts_path(ndir, "stderr.log");
    const char *argv[] = {nginx, "-p", ndir, "-c", cpath, "-g", "daemon off;", NULL};
    nginx_pid = ts_spawn(argv, NULL, log);
    cr_assert_gt(nginx_pid, 0);
    if (ts_wait_tcp("127.0.0.1", front_port, nginx_pid, 10000) < 0) {
        ts_dump_log(log, 4000);
        cr_assert_fail("nginx did not start");
    }
    free(nginx);
    free(ndir);
    free(tmp);
    free(conf);
    free(cpath);
    free(log);
}

/* The signed identity header is on, as docs/proxies.md shows it behind
 * nginx: an Ed25519 key made for the test. */
static char jwt_dir[64];

static void setup(void)
{
    snprintf(jwt_dir, sizeof jwt_dir, "/tmp/sg-gate-jwt.XXXXXX");
    cr_assert_not_null(mkdtemp(jwt_dir));
    char *cmd = util_xasprintf("openssl genpkey -algorithm ed25519 -out %s/id.key 2>&1", jwt_dir);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "openssl: %s", out);
    free(out);
    free(cmd);
    char *conf = util_xasprintf("%s[gate]\nidentity_jwt_header = X-Auth-Jwt\nidentity_jwt_key = %s/id.key\n", ROUTES,
                                jwt_dir);
    sg_start(&sg, conf, NULL);
    free(conf);
    make_directory();
    start_nginx();
}

static void teardown(void)
{
    if (nginx_pid > 0)
        ts_kill(nginx_pid, 5000);
    nginx_pid = 0;
    keyring_free(ring);
    free(owner_key);
    owner_key = NULL;
    store_shutdown();
    sg_stop(&sg);
    char *rm = util_xasprintf("rm -rf %s", jwt_dir);
    int st;
    free(flow_sh(rm, &st));
    free(rm);
}

TestSuite(gate, .init = setup, .fini = teardown, .timeout = 120);

/* A request through nginx. */
static void front(const char *path, const char *cookie_hdr, struct sg_resp *r)
{
    struct sg front_sg = sg;
    snprintf(front_sg.base, sizeof front_sg.base, "http://127.0.0.1:%d", front_port);
    struct curl_slist *h = cookie_hdr ? curl_slist_append(NULL, cookie_hdr) : NULL;
    h = curl_slist_append(h, "Accept: text/html");
    sg_request(&front_sg, "GET", path, h, NULL, r);
    curl_slist_free_all(h);
}

/* A request straight to ssogate with extra headers (NULL-terminated). */
static void direct(const char *method, const char *path, const char *const *hdrs, struct sg_resp *r)
{
    struct curl_slist *h = NULL;
    for (; hdrs && *hdrs; hdrs++)
        h = curl_slist_append(h, *hdrs);
    sg_request(&sg, method, path, h, NULL, r);
    curl_slist_free_all(h);
}

/* Alice's cookie straight to /auth (nginx dialect): the status. */
static long alice_auth(void)
{
    struct sg_resp r;
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
    direct("GET", "/auth", ok, &r);
    long status = r.status;
    sg_resp_free(&r);
    return status;
}

Test(gate, nginx_not_signed_in_is_sent_to_sign_in_with_return_url)
{
    struct sg_resp r;
    front("/a/page?x=1", NULL, &r);
    cr_assert_eq(r.status, 302, "status %ld: %s", r.status, r.body);
    char *loc = sg_header(&r, "Location");
    char *want = util_xasprintf("%s/login?rd=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fa%%2Fpage%%3Fx%%3D1", sg.base, front_port);
    cr_assert_str_eq(loc, want);
    free(want);
    free(loc);
    sg_resp_free(&r);
}

Test(gate, nginx_signed_in_with_access_reaches_upstream_with_identity_and_no_cookie)
{
    struct sg_resp r;
    front("/a/page", alice_cookie, &r);
    cr_assert_eq(r.status, 200, "status %ld: %s", r.status, r.body);
    char *want = util_xasprintf("user=%s email=alice@acme.test role=editor ws=acme/ws-a cookie=\n", alice_uid);
    cr_assert_str_eq(r.body, want);
    free(want);
    sg_resp_free(&r);
}

/* The signed identity header reaches the upstream through nginx (the config
 * of docs/proxies.md), replaces whatever the client sent under that name, and
 * verifies with an independent JWS library against the published JWKS. */
Test(gate, nginx_passes_a_verifiable_identity_token_and_replaces_a_forged_one)
{
    struct sg front_sg = sg;
    snprintf(front_sg.base, sizeof front_sg.base, "http://127.0.0.1:%d", front_port);
    struct curl_slist *h = curl_slist_append(NULL, alice_cookie);
    h = curl_slist_append(h, "X-Auth-Jwt: eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.");
    struct sg_resp r;
    sg_request(&front_sg, "GET", "/a/jwt", h, NULL, &r);
    curl_slist_free_all(h);
    cr_assert_eq(r.status, 200, "status %ld: %s", r.status, r.body);
    cr_assert(strncmp(r.body, "eyJ", 3) == 0 && strstr(r.body, "eyJhbGciOiJub25lIn0") == NULL,
              "the upstream got %s", r.body);
    struct sg_resp k;
    sg_get(&sg, "/.well-known/jwks.json", &k);
    cr_assert_eq(k.status, 200);
    char *jwks = util_xasprintf("%s/jwks.json", jwt_dir), *tok = util_xasprintf("%s/token.txt", jwt_dir);
    cr_assert_eq(ts_write_file(jwks, k.body), 0);
    cr_assert_eq(ts_write_file(tok, r.body), 0);
    char *cmd = util_xasprintf("/usr/bin/python3 %s/tests/integration/jws_verify.py %s %s '127.0.0.1:%d' '%s' 2>&1",
                               SSOGATE_SOURCE_DIR, jwks, tok, front_port, sg.base);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "the verifier refused the token the upstream got: %s", out);
    json_t *doc = json_loads(out, 0, NULL);
    cr_assert_not_null(doc, "%s", out);
    json_t *claims = json_object_get(doc, "claims");
    cr_assert_str_eq(json_string_value(json_object_get(claims, "sub")), alice_uid);
    cr_assert_str_eq(json_string_value(json_object_get(claims, "workspace")), "acme/ws-a");
    cr_assert_str_eq(json_string_value(json_object_get(claims, "role")), "editor");
    json_decref(doc);
    free(out);
    free(cmd);
    free(jwks);
    free(tok);
    sg_resp_free(&k);
    sg_resp_free(&r);
}

Test(gate, nginx_signed_in_without_access_is_403)
{
    struct sg_resp r;
    front("/b/page", alice_cookie, &r);
    cr_assert_eq(r.status, 403);
    sg_resp_free(&r);
    /* A path that no route covers: refused, fail closed. */
    front("/c/page", alice_cookie, &r);
    cr_assert_eq(r.status, 403);
    sg_resp_free(&r);
}

Test(gate, path_tricks_are_matched_on_the_normalized_path)
{
    struct sg_resp r;
    /* The query never selects a route. */
    front("/b/page?next=/a/page", alice_cookie, &r);
    cr_assert_eq(r.status, 403);
    sg_resp_free(&r);
    /* Encoded dot segments and slashes resolve to ws-b. */
    const char *hdr[] = {alice_cookie, "X-Forwarded-Uri: /a/..%2Fb/secret", "X-Forwarded-Host: x", NULL};
    direct("GET", "/auth", hdr, &r);
    cr_assert_eq(r.status, 403, "%s", r.body);
    sg_resp_free(&r);
    const char *hdr2[] = {alice_cookie, "X-Forwarded-Uri: /a%23/../b/secret", NULL};
    direct("GET", "/auth", hdr2, &r);
    cr_assert_eq(r.status, 403, "%s", r.body);
    sg_resp_free(&r);
    const char *hdr3[] = {alice_cookie, "X-Forwarded-Uri: //a/page", NULL};
    direct("GET", "/auth", hdr3, &r);
    cr_assert_eq(r.status, 200, "merged slashes: %s", r.body);
    sg_resp_free(&r);
}

Test(gate, bad_cookies_get_401_never_a_crash)
{
    char big[10300];
    memcpy(big, "Cookie: ssogate=", 16);
    memset(big + 16, 'A', 10240);
    big[16 + 10240] = '\0';
    char trunc[TOKEN_MAX_LEN + 32], badsig[TOKEN_MAX_LEN + 32], badkid[TOKEN_MAX_LEN + 32],
        two[2 * TOKEN_MAX_LEN + 64];
    snprintf(trunc, sizeof trunc, "%.*s", (int)strlen(alice_cookie) - 5, alice_cookie);
    snprintf(badsig, sizeof badsig, "%s", alice_cookie);
    badsig[strlen(badsig) - 2] = badsig[strlen(badsig) - 2] == 'A' ? 'B' : 'A';
    snprintf(badkid, sizeof badkid, "Cookie: ssogate=s1.zz%s", strchr(alice_token + 3, '.'));
    snprintf(two, sizeof two, "%s; ssogate=%s", alice_cookie, alice_token);
    const char *cases[] = {trunc, badsig, badkid, big, two, "Cookie: ssogate=", "Cookie: ssogate=s1....."};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *hdr[] = {cases[i], "X-Forwarded-Uri: /a/page", NULL};
        struct sg_resp r;
        direct("GET", "/auth", hdr, &r);
        cr_assert(r.status == 401 || (i == 3 && r.status == 431), "case %zu: status %ld", i, r.status);
        sg_resp_free(&r);
    }
    struct sg_resp r;
    sg_get(&sg, "/healthz", &r);
    cr_assert_eq(r.status, 200, "ssogate died on a bad cookie");
    sg_resp_free(&r);
}

Test(gate, spoofed_forwarded_headers_from_untrusted_peer_are_ignored)
{
    /* Restart ssogate without trusted proxies: X-Forwarded-Uri is then the
     * client's own word and must not select the route. */
    sg_stop_server(&sg);
    char *conf = ts_read_file(sg.conf, NULL);
    char *p = strstr(conf, "trusted_proxies = 127.0.0.1/32");
    cr_assert_not_null(p);
    memcpy(p, "trusted_proxies = 10.9.9.9/32 ", 30);
    ts_write_file(sg.conf, conf);
    free(conf);
    sg_restart_server(&sg);
    struct sg_resp r;
    const char *hdr[] = {alice_cookie, "X-Forwarded-Uri: /a/page", "X-Forwarded-Host: app", NULL};
    direct("GET", "/auth", hdr, &r);
    cr_assert_eq(r.status, 403, "spoofed X-Forwarded-Uri was believed: %ld", r.status);
    cr_assert(strstr(r.body, "no_route"), "%s", r.body);
    sg_resp_free(&r);
}

Test(gate, forward_dialect_redirects_browsers_and_401s_api_callers)
{
    struct sg_resp r;
    const char *browser[] = {"Accept: text/html,application/xhtml+xml", "X-Forwarded-Uri: /a/page",
                             "X-Forwarded-Host: app.test", NULL};
    direct("GET", "/auth/forward", browser, &r);
    cr_assert_eq(r.status, 302);
    char *loc = sg_header(&r, "Location");
    cr_assert(loc && strstr(loc, "/login?rd=http%3A%2F%2Fapp.test%2Fa%2Fpage"), "%s", loc);
    free(loc);
    sg_resp_free(&r);
    const char *post[] = {"Accept: text/html", "X-Forwarded-Uri: /a/page", "X-Forwarded-Method: POST", NULL};
    direct("GET", "/auth/forward", post, &r);
    cr_assert_eq(r.status, 303);
    sg_resp_free(&r);
    const char *xhr[] = {"Accept: text/html", "X-Requested-With: XMLHttpRequest", "X-Forwarded-Uri: /a/page", NULL};
    direct("GET", "/auth/forward", xhr, &r);
    cr_assert_eq(r.status, 401);
    sg_resp_free(&r);
    const char *api[] = {"Accept: application/json", "X-Forwarded-Uri: /a/page", NULL};
    direct("GET", "/auth/forward", api, &r);
    cr_assert_eq(r.status, 401);
    sg_resp_free(&r);
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
    direct("GET", "/auth/forward", ok, &r);
    cr_assert_eq(r.status, 200);
    char *role = sg_header(&r, "X-Auth-Role");
    cr_assert_str_eq(role, "editor");
    free(role);
    char *cc = sg_header(&r, "Cache-Control");
    cr_assert_str_eq(cc, "no-store");
    free(cc);
    sg_resp_free(&r);
}

Test(gate, envoy_dialect_uses_the_path_and_ignores_client_query)
{
    struct sg_resp r;
    const char *none[] = {"Accept: text/html", NULL};
    direct("POST", "/auth/envoy/a/page", none, &r);
    cr_assert_eq(r.status, 401);
    sg_resp_free(&r);
    const char *ok[] = {alice_cookie, NULL};
    direct("DELETE", "/auth/envoy/a/page", ok, &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
    direct("GET", "/auth/envoy/b/page?workspace=acme/ws-a", ok, &r);
    cr_assert_eq(r.status, 403, "the client's query chose the workspace");
    sg_resp_free(&r);
}

Test(gate, head_is_answered_like_get)
{
    struct sg_resp r;
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
    direct("HEAD", "/auth", ok, &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
    const char *none[] = {"X-Forwarded-Uri: /a/page", NULL};
    direct("HEAD", "/auth", none, &r);
    cr_assert_eq(r.status, 401);
    sg_resp_free(&r);
}

Test(gate, api_route_never_redirects)
{
    struct sg_resp r;
    const char *browser[] = {"Accept: text/html", "X-Forwarded-Uri: /a/api/x", NULL};
    direct("GET", "/auth/forward", browser, &r);
    cr_assert_eq(r.status, 401);
    sg_resp_free(&r);
    /* And the api route needs write: alice (editor) has it. */
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/api/x", NULL};
    direct("GET", "/auth", ok, &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
}

Test(gate, v1_authz_answers_json)
{
    struct sg_resp r;
    sg_get(&sg, "/v1/authz?workspace=acme/ws-a&permission=workspace:write", &r);
    cr_assert_eq(r.status, 401);
    cr_assert(strstr(r.body, "\"error\":\"unauthorized\""), "%s", r.body);
    sg_resp_free(&r);
    const char *ok[] = {alice_cookie, NULL};
    direct("GET", "/v1/authz?workspace=acme/ws-a&permission=workspace:write", ok, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"allow\":true,\"reason\":\"workspace_role\",\"role\":\"editor\"}\n");
    sg_resp_free(&r);
    direct("GET", "/v1/authz?workspace=acme/ws-a&permission=workspace:admin", ok, &r);
    cr_assert_str_eq(r.body, "{\"allow\":false,\"reason\":\"permission_not_in_role\",\"role\":\"editor\"}\n");
    sg_resp_free(&r);
    direct("GET", "/v1/authz?workspace=acme/ws-b", ok, &r);
    cr_assert(strstr(r.body, "\"allow\":false"), "%s", r.body);
    sg_resp_free(&r);
    direct("GET", "/v1/authz?workspace=nosuch/ws", ok, &r);
    cr_assert(strstr(r.body, "\"allow\":false"), "%s", r.body);
    sg_resp_free(&r);
    direct("GET", "/v1/authz", ok, &r);
    cr_assert_eq(r.status, 400);
    sg_resp_free(&r);
}

Test(gate, v1_session_names_the_signed_in_person)
{
    struct sg_resp r;
    const char *ok[] = {alice_cookie, NULL};
    direct("GET", "/v1/session", ok, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"email\":\"alice@acme.test\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"org\":\"acme\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"org_role\":\"member\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"workspaces\":[{\"workspace\":\"acme/ws-a\",\"role\":\"editor\"}]"), "%s",
              r.body);
    sg_resp_free(&r);
}

Test(gate, api_key_bearer_is_accepted_and_bad_keys_are_rate_limited)
{
    struct sg_resp r;
    char *auth = util_xasprintf("Authorization: Bearer %s", owner_key);
    const char *ok[] = {auth, NULL};
    direct("GET", "/v1/authz?workspace=acme/ws-b&permission=workspace:admin", ok, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"allow\":true"), "%s", r.body);
    sg_resp_free(&r);
    free(auth);
    const char *bad[] = {"Authorization: Bearer sgk_000000000000_nope", NULL};
    int limited = 0;
    for (int i = 0; i < 15 && !limited; i++) {
        direct("GET", "/v1/authz?workspace=acme/ws-b", bad, &r);
        cr_assert(r.status == 401 || r.status == 429, "status %ld", r.status);
        limited = r.status == 429;
        sg_resp_free(&r);
    }
    cr_assert(limited, "failed API-key checks were never rate-limited");
}

Test(gate, revoked_session_is_refused_within_the_cache_bound)
{
    struct sg_resp r;
    front("/a/page", alice_cookie, &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
    struct err e;
    cr_assert_eq(session_revoke_user(org_id, alice_uid, &e), 1, "%s", e.msg);
    int64_t t0 = util_mono_ms();
    long status = 200;
    while (status == 200 && util_mono_ms() - t0 < 3000) {
        front("/a/page", alice_cookie, &r);
        status = r.status;
        sg_resp_free(&r);
        if (status == 200)
            usleep(20 * 1000);
    }
    int64_t took = util_mono_ms() - t0;
    cr_assert_eq(status, 302, "revoked session still let through (%ld)", status);
    cr_assert_leq(took, 1000 + 200, "revocation took %lld ms (cache bound 1000 ms)", (long long)took);
}

static long long redis_commands(void)
{
    struct sg_resp m;
    sg_get(&sg, "/metrics", &m);
    cr_assert_eq(m.status, 200);
    const char *p = strstr(m.body, "\nssogate_redis_commands_total ");
    cr_assert_not_null(p);
    long long n = atoll(p + strlen("\nssogate_redis_commands_total "));
    sg_resp_free(&m);
    return n;
}

static void publish_invalidation(const char *org)
{
    const char *args[] = {"PUBLISH", "sg:inval", org, NULL};
    free(ts_redis_cli(&sg.redis, args));
    usleep(100 * 1000); /* the subscriber thread takes it */
}

/* The session cache is keyed by the whole token text and filled only after
 * the text verified, so that a hit can skip the HMAC. A cached token must
 * not vouch for any other text: a changed signature, id, org or kid, a
 * prefix, an extension; each is refused and costs no Redis command (the
 * signature is checked before Redis), while the cached token still passes. */
Test(gate, a_cached_token_vouches_for_no_other_text)
{
    struct sg_resp r;
    cr_assert_eq(alice_auth(), 200);
    size_t n = strlen(alice_token);
    const char *dots[4];
    const char *p = alice_token;
    for (int i = 0; i < 4; i++)
        p = dots[i] = strchr(p, '.') + 1; /* starts of kid, org, id, signature */
    char variants[7][TOKEN_MAX_LEN + 8];
    for (int i = 0; i < 7; i++)
        snprintf(variants[i], sizeof variants[i], "%s", alice_token);
    variants[0][n - 1] = variants[0][n - 1] == 'A' ? 'B' : 'A';           /* signature */
    variants[1][dots[2] - alice_token] ^= 1;                              /* id */
    variants[2][dots[1] - alice_token] ^= 1;                              /* org */
    variants[3][dots[0] - alice_token] ^= 1;                              /* kid */
    variants[4][n - 1] = '\0';                                            /* a prefix */
    strcat(variants[5], "A");                                             /* an extension */
    variants[6][dots[3] - alice_token] = variants[6][dots[3] - alice_token] == 'A' ? 'B' : 'A'; /* sig start */
    long long c0 = redis_commands();
    for (int i = 0; i < 7; i++) {
        char cookie[sizeof variants[0] + 24];
        snprintf(cookie, sizeof cookie, "Cookie: ssogate=%.*s", (int)sizeof variants[i] - 1, variants[i]);
        const char *bad[] = {cookie, "X-Forwarded-Uri: /a/page", NULL};
        direct("GET", "/auth", bad, &r);
        cr_assert_eq(r.status, 401, "variant %d of a cached token: %ld", i, r.status);
        sg_resp_free(&r);
    }
    cr_assert_eq(redis_commands(), c0, "a variant of a cached token reached Redis");
    cr_assert_eq(alice_auth(), 200);
}

static long long refreshes_done(void)
{
    struct sg_resp m;
    sg_get(&sg, "/metrics", &m);
    const char *p = strstr(m.body, "ssogate_cache_refresh_total{result=\"done\"} ");
    cr_assert_not_null(p);
    long long n = atoll(strchr(p, '}') + 2);
    sg_resp_free(&m);
    return n;
}

/* Alice's /auth until want(status, role) or the deadline; the ms it took. */
static long long auth_until(int (*want)(long, const char *), long long deadline_ms)
{
    long long t0 = util_mono_ms();
    for (;;) {
        struct sg_resp r;
        const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
        direct("GET", "/auth", ok, &r);
        char *role = sg_header(&r, "X-Auth-Role");
        int done = want(r.status, role);
        free(role);
        sg_resp_free(&r);
        long long took = util_mono_ms() - t0;
        if (done || took > deadline_ms)
            return took;
        usleep(40 * 1000);
    }
}

static int role_is_viewer(long status, const char *role)
{
    cr_assert(status == 200, "alice lost access while her role changed: %ld", status);
    return role && strcmp(role, "viewer") == 0;
}

static int refused(long status, const char *role)
{
    (void)role;
    return status == 401;
}

/* Without a pub/sub message (one lost, or a change written by another
 * tool), the cache TTL still bounds staleness: the background reloads,
 * batched into one Redis round trip per kind, read the grant and the
 * session again. A role changed and a session deleted straight in Redis
 * show within the 1000 ms TTL of this config while alice keeps asking. */
Test(gate, changes_without_a_message_show_within_the_ttl)
{
    cr_assert_eq(alice_auth(), 200);
    long long r0 = refreshes_done();
    char key[256];
    snprintf(key, sizeof key, "sg:{o:%s}:ws:%s:members", org_id, wsa_id);
    const char *hset[] = {"HSET", key, alice_uid, "viewer", NULL};
    free(ts_redis_cli(&sg.redis, hset));
    long long took = auth_until(role_is_viewer, 3000);
    cr_assert_leq(took, 1000 + 300, "the new role showed after %lld ms (TTL 1000 ms)", took);
    struct token t;
    struct err e;
    cr_assert_eq(token_verify(ring, alice_token, &t, &e), 0);
    snprintf(key, sizeof key, "sg:{o:%s}:s:%s", t.org, t.id_hash);
    const char *del[] = {"DEL", key, NULL};
    free(ts_redis_cli(&sg.redis, del));
    took = auth_until(refused, 3000);
    cr_assert_leq(took, 1000 + 300, "the deleted session passed for %lld ms (TTL 1000 ms)", took);
    cr_assert_gt(refreshes_done(), r0, "no background reload ran");
}

/* Invalidations are per org: a change in another org leaves this org's cached
 * sessions and grants alone (no Redis read on the next request), a change in
 * this org drops them (the next request reads Redis). */
Test(gate, another_orgs_change_keeps_this_orgs_cached_reads)
{
    cr_assert_eq(alice_auth(), 200);
    long long c0 = redis_commands();
    publish_invalidation("o_0123456789abcdef0123");
    cr_assert_eq(alice_auth(), 200);
    long long c1 = redis_commands();
    cr_assert_eq(c1, c0, "another org's change cost %lld Redis commands", c1 - c0);
    publish_invalidation(org_id);
    cr_assert_eq(alice_auth(), 200);
    cr_assert_gt(redis_commands(), c1, "this org's change did not drop its cached reads");
}

/* The idle expiry slides on use (at most once per [session] idle_refresh_s,
 * 60 s here): a session last seen two minutes ago is touched by its next
 * request, in the background (the answer does not wait for the write). */
Test(gate, a_used_session_slides_its_idle_expiry)
{
    struct token t;
    struct err e;
    cr_assert_eq(token_verify(ring, alice_token, &t, &e), 0);
    char key[256];
    snprintf(key, sizeof key, "sg:{o:%s}:s:%s", t.org, t.id_hash);
    long long old = (long long)util_now_ms() - 120000;
    char olds[24];
    snprintf(olds, sizeof olds, "%lld", old);
    const char *set[] = {"HSET", key, "seen", olds, NULL};
    free(ts_redis_cli(&sg.redis, set));
    const char *shorten[] = {"PEXPIRE", key, "600000", NULL}; /* 10 minutes left */
    free(ts_redis_cli(&sg.redis, shorten));
    publish_invalidation(org_id); /* no cached copy with the fresh time */
    long long t0 = (long long)util_now_ms();
    struct sg_resp r;
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
    direct("GET", "/auth", ok, &r);
    cr_assert_eq(r.status, 200);
    sg_resp_free(&r);
    const char *get[] = {"HGET", key, "seen", NULL};
    long long seen = 0;
    for (int i = 0; i < 50 && seen < t0; i++) {
        char *out = ts_redis_cli(&sg.redis, get);
        seen = out ? atoll(out) : 0;
        free(out);
        if (seen < t0)
            usleep(20 * 1000);
    }
    cr_assert_geq(seen, t0, "the session was not touched (seen %lld, request at %lld)", seen, t0);
    const char *ttl[] = {"PTTL", key, NULL};
    char *out = ts_redis_cli(&sg.redis, ttl);
    cr_assert_gt(atoll(out), 3500 * 1000LL, "idle expiry not pushed forward: PTTL %s", out);
    free(out);
}

Test(gate, redis_down_is_503_then_back_without_restart)
{
    struct sg_resp r;
    const char *ok[] = {alice_cookie, "X-Forwarded-Uri: /a/page", NULL};
    ts_redis_stop(&sg.redis);
    usleep(1100 * 1000); /* past the cache bound */
    direct("GET", "/auth", ok, &r);
    cr_assert_eq(r.status, 503, "status %ld: %s", r.status, r.body);
    cr_assert(strstr(r.body, "store_unavailable"), "%s", r.body);
    sg_resp_free(&r);
    front("/a/page", alice_cookie, &r);
    cr_assert_neq(r.status, 200, "nginx let a request through while Redis was down");
    sg_resp_free(&r);
    cr_assert_eq(ts_redis_restart(&sg.redis), 0, "%s", ts_last_error());
    int64_t t0 = util_mono_ms();
    long status = 0;
    while (status != 200 && util_mono_ms() - t0 < 5000) {
        direct("GET", "/auth", ok, &r);
        status = r.status;
        sg_resp_free(&r);
        usleep(50 * 1000);
    }
    cr_assert_eq(status, 200, "no recovery after Redis came back");
}

Test(gate, granted_workspace_is_reachable_at_once_through_invalidation)
{
    struct sg_resp r;
    front("/b/page", alice_cookie, &r);
    cr_assert_eq(r.status, 403);
    sg_resp_free(&r);
    struct org_actor op = {.operator = 1, .label = "test"};
    struct err e;
    char wsb[ORG_ID_MAX];
    cr_assert_eq(org_ws_lookup(org_id, "ws-b", wsb, &e), 0, "%s", e.msg);
    cr_assert_eq(org_ws_member_set(&op, org_id, wsb, alice_uid, "viewer", &e), 0, "%s", e.msg);
    int64_t t0 = util_mono_ms();
    long status = 403;
    while (status != 200 && util_mono_ms() - t0 < 2000) {
        front("/b/page", alice_cookie, &r);
        status = r.status;
        sg_resp_free(&r);
        if (status != 200)
            usleep(10 * 1000);
    }
    int64_t took = util_mono_ms() - t0;
    cr_assert_eq(status, 200, "grant not visible after %lld ms", (long long)took);
    /* Through pub/sub, well under the 1000 ms cache TTL of this test. */
    cr_assert_lt(took, 500, "grant took %lld ms: the invalidation message did not flush the cache", (long long)took);
}

static long publish_count(void)
{
    const char *args[] = {"INFO", "commandstats", NULL};
    char *out = ts_redis_cli(&sg.redis, args);
    const char *p = out ? strstr(out, "cmdstat_publish:calls=") : NULL;
    long n = p ? atol(p + 22) : 0;
    free(out);
    return n;
}

/* Regression: look-ups went through the same script runner as changes and
 * announced an invalidation each time, so every cache miss flushed every
 * cache (a feedback loop under load). */
Test(gate, look_ups_announce_no_invalidation)
{
    long before = publish_count();
    struct org_ws_access acc;
    struct err e;
    for (int i = 0; i < 5; i++) {
        memset(&acc, 0, sizeof acc);
        cr_assert_eq(org_ws_access_load(org_id, "ws-a", alice_uid, &acc, &e), 0, "%s", e.msg);
        org_ws_access_clear(&acc);
    }
    cr_assert_eq(publish_count(), before, "a look-up published an invalidation");
    struct org_actor op = {.operator = 1, .label = "test"};
    char wsa[ORG_ID_MAX];
    cr_assert_eq(org_ws_lookup(org_id, "ws-a", wsa, &e), 0);
    cr_assert_eq(org_ws_entitlement_set(&op, org_id, wsa, "model:gpt-4o:use", 1, &e), 0, "%s", e.msg);
    cr_assert_eq(publish_count(), before + 1, "a change did not announce an invalidation");
}
