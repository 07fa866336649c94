/* Configuration: a good file, each kind of bad file, environment overrides
 * (including the two fixed aliases), and the committed example staying in
 * step with the option table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"
#include "util/util.h"

static char path[64];

static void write_conf(const char *text)
{
    strcpy(path, "/tmp/ssogate-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static void clear_env(void)
{
    unsetenv("SSOGATE_LISTEN");
    unsetenv("SSOGATE_REDIS_URL");
    unsetenv("SSOGATE_SERVER_WORKERS");
    unsetenv("SSOGATE_SERVER_LISTEN");
    unsetenv("SSOGATE_REDIS_URL");
    unsetenv("SSOGATE_LOG_LEVEL");
}

static void cleanup(void)
{
    if (path[0])
        unlink(path);
    path[0] = '\0';
    clear_env();
}

TestSuite(config, .init = clear_env, .fini = cleanup);

Test(config, defaults_apply_without_a_file)
{
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, NULL, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.listen, "127.0.0.1:8080");
    cr_assert_eq(c.listen_port, 8080);
    cr_assert_eq(c.max_body_bytes, 262144);
    cr_assert_eq(c.saml_clock_skew_s, 60);
    cr_assert_eq(c.base_url_https, 0);
    config_free(&c);
}

Test(config, reads_a_good_file)
{
    write_conf("# comment\n[server]\nlisten = 0.0.0.0:9000\nbase_url = https://sso.example.com\n"
               "workers = 3\n\n[redis]\nurl = unix:///tmp/redis.sock\n[log]\nlevel = debug\n");
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.listen_host, "0.0.0.0");
    cr_assert_eq(c.listen_port, 9000);
    cr_assert_eq(c.workers, 3);
    cr_assert_eq(c.base_url_https, 1);
    cr_assert_str_eq(c.redis_url, "unix:///tmp/redis.sock");
    cr_assert_str_eq(c.log_level, "debug");
    config_free(&c);
}

static void expect_error(const char *text, const char *needle)
{
    write_conf(text);
    struct config c;
    struct err e;
    err_clear(&e);
    cr_assert_eq(config_load(&c, path, &e), -1, "accepted: %s", text);
    cr_assert_str_eq(e.code, "config_invalid");
    cr_assert(strstr(e.msg, needle), "message '%s' lacks '%s'", e.msg, needle);
    cr_assert(strstr(e.msg, path), "message '%s' does not name the file", e.msg);
    config_free(&c);
}

Test(config, refuses_unknown_key_with_line)
{
    expect_error("[server]\nlisten = 127.0.0.1:1\nlisen = x\n", ":3: unknown option 'lisen'");
}

Test(config, refuses_unknown_section)
{
    expect_error("[srever]\nlisten = 127.0.0.1:1\n", ":2: unknown option 'listen' in section [srever]");
}

Test(config, refuses_bad_values)
{
    expect_error("[server]\nworkers = many\n", ":2: [server] workers: 'many' is not an integer");
    expect_error("[server]\nworkers = 100000\n", "out of range");
    expect_error("[server]\nlisten = nope\n", "is not host:port");
    expect_error("[server]\nbase_url = ftp://x\n", "must start with http");
    expect_error("[server]\nbase_url = https://x/path\n", "no path");
    expect_error("[server]\ndev_plain_http = maybe\n", "not a boolean");
    expect_error("[redis]\nurl = http://x\n", "redis://");
    expect_error("[log]\nlevel = loud\n", "not one of");
    expect_error("[server]\ncpu_affinity = yes\n", "not one of auto, off");
}

Test(config, refuses_syntax_error)
{
    expect_error("[server]\nthis line has no equals sign\n", ":2: syntax error");
}

Test(config, refuses_over_long_line_that_inih_would_split)
{
    char text[400];
    snprintf(text, sizeof text, "[server]\nallowed_redirect_hosts = %0250d\n", 0);
    expect_error(text, ":2: line longer than 199 characters");
}

Test(config, accepts_a_line_at_the_limit)
{
    char text[400], val[200];
    memset(val, 'a', sizeof val);
    val[199 - strlen("allowed_redirect_hosts = ")] = '\0';
    snprintf(text, sizeof text, "[server]\nallowed_redirect_hosts = %s\n", val);
    write_conf(text);
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_eq(strlen(c.allowed_redirect_hosts), strlen(val));
    config_free(&c);
}

Test(config, refuses_unreadable_file)
{
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, "/nonexistent/ssogate.conf", &e), -1);
    cr_assert(strstr(e.msg, "/nonexistent/ssogate.conf: cannot read"), "%s", e.msg);
    config_free(&c);
}

Test(config, refuses_plain_http_mode_with_https_base_url)
{
    expect_error("[server]\nbase_url = https://sso.example.com\ndev_plain_http = true\n", "dev_plain_http");
}

Test(config, environment_overrides_file)
{
    write_conf("[server]\nworkers = 3\nlisten = 127.0.0.1:9000\n");
    setenv("SSOGATE_SERVER_WORKERS", "5", 1);
    setenv("SSOGATE_LOG_LEVEL", "warn", 1);
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_eq(c.workers, 5);
    cr_assert_str_eq(c.log_level, "warn");
    cr_assert_eq(c.listen_port, 9000);
    config_free(&c);
}

Test(config, short_aliases_listen_and_redis_url)
{
    setenv("SSOGATE_LISTEN", "127.0.0.2:7001", 1);
    setenv("SSOGATE_REDIS_URL", "redis://:pw@127.0.0.1:6380/2", 1);
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, NULL, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.listen_host, "127.0.0.2");
    cr_assert_eq(c.listen_port, 7001);
    cr_assert_str_eq(c.redis_url, "redis://:pw@127.0.0.1:6380/2");
    config_free(&c);
}

Test(config, bad_environment_value_names_the_variable)
{
    setenv("SSOGATE_SERVER_WORKERS", "-1", 1);
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, NULL, &e), -1);
    cr_assert(strstr(e.msg, "environment SSOGATE_SERVER_WORKERS"), "%s", e.msg);
    config_free(&c);
}

Test(config, env_name_folds_dots_and_dashes)
{
    char n[64];
    config_env_name("route.app-a", "path_prefix", n, sizeof n);
    cr_assert_str_eq(n, "SSOGATE_ROUTE_APP_A_PATH_PREFIX");
}

Test(config, committed_example_matches_the_option_table)
{
    char *expected = NULL;
    size_t elen = 0;
    FILE *f = open_memstream(&expected, &elen);
    config_write_example(f);
    fclose(f);
    char p[512];
    snprintf(p, sizeof p, "%s/config/ssogate.conf", SSOGATE_SOURCE_DIR);
    size_t alen = 0;
    char *actual = util_read_file(p, 1 << 20, &alen);
    cr_assert_not_null(actual, "cannot read %s", p);
    cr_assert_str_eq(actual, expected, "config/ssogate.conf is stale: regenerate with "
                                       "'ssogate serve --print-config-example > config/ssogate.conf'");
    /* And the example itself loads. */
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, p, &e), 0, "%s", e.msg);
    config_free(&c);
    free(actual);
    free(expected);
}

Test(config, reads_route_sections)
{
    write_conf("[gate]\ndefault_route = fallback\n"
               "[route.app-a]\nhost = app.example.com\npath_prefix = /a/\nworkspace = acme/research\n"
               "permission = workspace:write\napi = true\n"
               "[route.fallback]\nworkspace = acme/general\n");
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_eq(c.nroutes, 2);
    cr_assert_str_eq(c.routes[0].name, "app-a");
    cr_assert_str_eq(c.routes[0].host, "app.example.com");
    cr_assert_str_eq(c.routes[0].path_prefix, "/a/");
    cr_assert_str_eq(c.routes[0].workspace, "acme/research");
    cr_assert_str_eq(c.routes[0].permission, "workspace:write");
    cr_assert_eq(c.routes[0].api, 1);
    cr_assert_str_eq(c.routes[1].path_prefix, "/");
    cr_assert_str_eq(c.routes[1].permission, "workspace:read");
    config_free(&c);
}

Test(config, refuses_bad_route_sections)
{
    expect_error("[route.a]\npath_prefix = /x\n", "needs workspace");
    expect_error("[route.a]\nworkspace = nodelimiter\n", "ORG/WORKSPACE");
    expect_error("[route.a]\nworkspace = a/b\npath_prefix = x\n", "must start with '/'");
    expect_error("[route.a]\nworkspace = a/b\npath_prefix = /x?y\n", "path_prefix");
    expect_error("[route.a]\nworkspace = a/b\nmethod = GET\n", "unknown option 'method' in section [route.a]");
    expect_error("[route.A B]\nworkspace = a/b\n", "route names");
    expect_error("[gate]\ndefault_route = missing\n", "default_route 'missing'");
}

Test(config, cookie_prefix_rules)
{
    expect_error("[session]\ncookie_name = ssogate\n", "must start with __Host-");
    expect_error("[session]\ncookie_domain = example.com\n", "cannot carry a domain");
    write_conf("[session]\ncookie_domain = example.com\ncookie_name = ssogate\n");
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    config_free(&c);
}

Test(config, plain_http_mode_only_for_a_loopback_base_url)
{
    expect_error("[server]\nbase_url = http://sso.example.com\ndev_plain_http = true\n", "loopback development");
    expect_error("[server]\nbase_url = http://127.0.0.1.evil.test\ndev_plain_http = true\n", "loopback");
    write_conf("[server]\nbase_url = http://127.0.0.1:18280\ndev_plain_http = true\n");
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    config_free(&c);
}

Test(config, identity_jwt_options_at_their_edges)
{
    expect_error("[gate]\nidentity_jwt_header = X-Auth-Identity\n", "identity_jwt_header needs identity_jwt_key");
    expect_error("[gate]\nidentity_jwt_header = X Auth\n", ":2: [gate] identity_jwt_header: 'X Auth' is not an HTTP");
    expect_error("[gate]\nidentity_jwt_header = X-Auth:Id\n", "is not an HTTP header name");
    expect_error("[gate]\nidentity_jwt_ttl_s = 9\n", "9 is out of range [10, 3600]");
    expect_error("[gate]\nidentity_jwt_ttl_s = 3601\n", "out of range");
    write_conf("[gate]\nidentity_jwt_header = X-Auth-Identity\nidentity_jwt_key = /k.pem\nidentity_jwt_ttl_s = 10\n");
    struct config c;
    struct err e;
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.identity_jwt_header, "X-Auth-Identity");
    cr_assert_eq(c.identity_jwt_ttl_s, 10);
    config_free(&c);
    write_conf("[gate]\nidentity_jwt_ttl_s = 3600\n");
    cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.identity_jwt_header, "", "off by default");
    cr_assert_eq(c.identity_jwt_ttl_s, 3600);
    config_free(&c);
}
