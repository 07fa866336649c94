/* The operator CLI through the built binary ($SSOGATE_BIN) against a real
 * redis-server: `org create` prints exactly {"org", "owner_api_key"} and
 * exits 0; an existing or bad slug gives a JSON error and exit 1; usage
 * errors exit 2; domain and audit commands. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "org/apikey.h"
#include "store/store.h"
#include "ts_dnsmasq.h"
#include "ts_orgfix.h"
#include "util/util.h"

extern char **environ;

static void setup(void)
{
    ts_org_setup();
    setenv("SSOGATE_REDIS_URL", ts_org_redis.url, 1);
}

TestSuite(cli_org, .init = setup, .fini = ts_org_teardown);

/* Run $SSOGATE_BIN with args; *out gets stdout (malloc'd). Exit code. */
static int run(char **out, const char *const args[])
{
    const char *bin = getenv("SSOGATE_BIN");
    cr_assert_not_null(bin, "SSOGATE_BIN is not set (run through ctest)");
    const char *argv[32] = {bin};
    int n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ), 0, "cannot run %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fds[0], buf + len, cap - len - 1)) > 0)
        if ((len += (size_t)r) + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    buf[len] = 0;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    cr_assert_not_null(j, "not JSON: '%s' (%s)", s, je.text);
    return j;
}

Test(cli_org, create_prints_exactly_org_and_owner_api_key)
{
    char *out;
    const char *args[] = {"org", "create", "acme", "--owner", "boss@acme.test", NULL};
    cr_assert_eq(run(&out, args), 0, "%s", out);
    cr_assert_eq(out[strlen(out) - 1], '\n');
    json_t *j = parse(out);
    cr_assert_eq(json_object_size(j), 2, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "org")), "acme");
    const char *key = json_string_value(json_object_get(j, "owner_api_key"));
    cr_assert_not_null(key);
    /* the exact text of the contract */
    char *want = util_xasprintf("{\"org\": \"acme\", \"owner_api_key\": \"%s\"}\n", key);
    cr_assert_str_eq(out, want);
    free(want);
    /* the key works and speaks for the owner */
    struct apikey_principal p;
    struct err e;
    cr_assert_eq(apikey_verify(key, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.org_role, ORG_ROLE_OWNER);
    json_decref(j);
    free(out);
}

static const struct {
    const char *why;
    const char *args[8];
    int code;
    const char *error; /* JSON error code on stdout, or NULL (usage: nothing on stdout) */
} rows[] = {
    {"existing slug", {"org", "create", "taken", "--owner", "x@y.test"}, 1, "org_exists"},
    {"upper case slug", {"org", "create", "Acme", "--owner", "x@y.test"}, 1, "invalid_slug"},
    {"one character", {"org", "create", "a", "--owner", "x@y.test"}, 1, "invalid_slug"},
    {"leading dash", {"org", "create", "-acme", "--owner", "x@y.test"}, 1, "invalid_slug"},
    {"underscore", {"org", "create", "ac_me", "--owner", "x@y.test"}, 1, "invalid_slug"},
    {"bad owner email", {"org", "create", "fresh", "--owner", "nobody"}, 1, "invalid_email"},
    {"no owner", {"org", "create", "fresh"}, 2, NULL},
    {"no slug", {"org", "create", "--owner", "x@y.test"}, 2, NULL},
    {"two slugs", {"org", "create", "a1", "b1", "--owner", "x@y.test"}, 2, NULL},
    {"unknown option", {"org", "create", "fresh", "--owner", "x@y.test", "--bogus"}, 2, NULL},
    {"unknown sub-command", {"org", "explode"}, 2, NULL},
    {"show unknown org", {"org", "show", "nope"}, 1, "org_not_found"},
    {"domain without org", {"domain", "add", "nope", "acme.test"}, 1, "org_not_found"},
    {"bad domain", {"domain", "add", "taken", "not a domain"}, 1, "invalid_domain"},
    {"verify a domain never added", {"domain", "verify", "taken", "other.test"}, 1, "domain_not_found"},
    {"--verified on verify", {"domain", "verify", "taken", "x.test", "--verified"}, 2, NULL},
    {"audit limit 0", {"audit", "taken", "--limit", "0"}, 2, NULL},
    {"delete without --yes", {"org", "delete", "taken"}, 2, NULL},
    {"delete unknown org", {"org", "delete", "nope", "--yes"}, 1, "org_not_found"},
    {"member add without role", {"member", "add", "taken", "a@y.test"}, 2, NULL},
    {"member add bad role", {"member", "add", "taken", "a@y.test", "--role", "king"}, 2, NULL},
    {"member remove unknown", {"member", "remove", "taken", "ghost@y.test"}, 1, "member_not_found"},
    {"last owner demoted", {"member", "role", "taken", "x@y.test", "--role", "admin"}, 1, "last_owner"},
    {"invite an existing member", {"invite", "taken", "x@y.test", "--role", "member"}, 1, "member_exists"},
    {"invite to a missing workspace", {"invite", "taken", "n@y.test", "--role", "member", "--workspace", "no=viewer"},
     1, "workspace_not_found"},
    {"missing config file", {"org", "list", "-c", "/nonexistent/ssogate.conf"}, 2, NULL},
};

Test(cli_org, errors_and_usage_table)
{
    char *out;
    const char *args[] = {"org", "create", "taken", "--owner", "x@y.test", NULL};
    cr_assert_eq(run(&out, args), 0, "%s", out);
    free(out);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int code = run(&out, rows[i].args);
        cr_expect_eq(code, rows[i].code, "%s: exit %d, stdout '%s'", rows[i].why, code, out);
        if (rows[i].error) {
            json_t *j = parse(out);
            cr_expect_str_eq(json_string_value(json_object_get(j, "error")), rows[i].error, "%s", rows[i].why);
            cr_expect(json_is_string(json_object_get(j, "message")), "%s", rows[i].why);
            json_decref(j);
        } else {
            cr_expect_str_eq(out, "", "%s: usage errors print nothing on stdout", rows[i].why);
        }
        free(out);
    }
}

Test(cli_org, redis_down_is_a_json_error)
{
    setenv("SSOGATE_REDIS_URL", "unix:///nonexistent/redis.sock", 1);
    char *out;
    const char *args[] = {"org", "create", "acme", "--owner", "x@y.test", NULL};
    cr_assert_eq(run(&out, args), 1, "%s", out);
    json_t *j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "store_unavailable");
    json_decref(j);
    free(out);
}

Test(cli_org, list_show_domains_and_audit)
{
    char *out;
    const char *c1[] = {"org", "create", "acme", "--owner", "boss@acme.test", "--name", "Acme Inc", NULL};
    cr_assert_eq(run(&out, c1), 0);
    free(out);
    const char *c2[] = {"org", "list", NULL};
    cr_assert_eq(run(&out, c2), 0);
    json_t *j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "orgs"), 0), "name")),
                     "Acme Inc");
    json_decref(j);
    free(out);
    const char *c3[] = {"domain", "add", "acme", "Acme.test", NULL};
    cr_assert_eq(run(&out, c3), 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "pending");
    cr_assert_str_eq(json_string_value(json_object_get(j, "txt_name")), "_ssogate-challenge.acme.test");
    json_decref(j);
    free(out);
    const char *c4[] = {"domain", "add", "acme", "corp.test", "--verified", "--include-subdomains", NULL};
    cr_assert_eq(run(&out, c4), 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "verified");
    cr_assert_str_eq(json_string_value(json_object_get(j, "method")), "operator");
    json_decref(j);
    free(out);
    const char *c5[] = {"domain", "list", "acme", NULL};
    cr_assert_eq(run(&out, c5), 0);
    j = parse(out);
    cr_assert_eq(json_array_size(json_object_get(j, "domains")), 2);
    json_decref(j);
    free(out);
    const char *c6[] = {"audit", "acme", "--limit", "2", NULL};
    cr_assert_eq(run(&out, c6), 0);
    j = parse(out);
    json_t *entries = json_object_get(j, "entries");
    cr_assert_eq(json_array_size(entries), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 0), "detail")), "method=operator");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 0), "actor")), "cli");
    const char *next = json_string_value(json_object_get(j, "next"));
    cr_assert_not_null(next);
    char *cursor = strdup(next);
    json_decref(j);
    free(out);
    const char *c7[] = {"audit", "acme", "--limit", "10", "--cursor", cursor, NULL};
    cr_assert_eq(run(&out, c7), 0);
    j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "entries"), 0), "action")),
                     "org.create");
    json_decref(j);
    free(out);
    free(cursor);
    const char *m1[] = {"member", "add", "acme", "Ann@acme.test", "--role", "admin", NULL};
    cr_assert_eq(run(&out, m1), 0, "%s", out);
    free(out);
    const char *m2[] = {"member", "list", "acme", NULL};
    cr_assert_eq(run(&out, m2), 0, "%s", out);
    j = parse(out);
    cr_assert_eq(json_array_size(json_object_get(j, "members")), 2, "%s", out);
    json_decref(j);
    free(out);
    const char *i1[] = {"invite", "acme", "new@acme.test", "--role", "viewer", "--ttl", "600", NULL};
    cr_assert_eq(run(&out, i1), 0, "%s", out);
    j = parse(out);
    cr_assert(strstr(json_string_value(json_object_get(j, "link")), "/login?org=acme&invitation="), "%s", out);
    json_decref(j);
    free(out);
    const char *m3[] = {"member", "remove", "acme", "ann@acme.test", NULL};
    cr_assert_eq(run(&out, m3), 0, "%s", out);
    free(out);
    const char *c8[] = {"org", "delete", "acme", "--yes", NULL};
    cr_assert_eq(run(&out, c8), 0, "%s", out);
    free(out);
    const char *c9[] = {"org", "show", "acme", NULL};
    cr_assert_eq(run(&out, c9), 1, "%s", out);
    free(out);
}

Test(cli_org, domain_verify_through_dns)
{
    struct ts_dnsmasq dns;
    cr_assert_eq(ts_dnsmasq_start(&dns), 0, "dnsmasq: %s", ts_last_error());
    setenv("SSOGATE_DNS_RESOLVERS", dns.resolvers, 1);
    char *out;
    const char *c1[] = {"org", "create", "acme", "--owner", "boss@acme.test", NULL};
    cr_assert_eq(run(&out, c1), 0);
    free(out);
    const char *c2[] = {"domain", "add", "acme", "acme.test", NULL};
    cr_assert_eq(run(&out, c2), 0, "%s", out);
    json_t *j = parse(out);
    char *rec = util_xasprintf("%s,%s", json_string_value(json_object_get(j, "txt_name")),
                               json_string_value(json_object_get(j, "txt_value")));
    json_decref(j);
    free(out);
    const char *c3[] = {"domain", "verify", "acme", "acme.test", NULL};
    cr_assert_eq(run(&out, c3), 1, "%s", out);
    j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "dns_record_missing");
    json_decref(j);
    free(out);
    const char *txt[] = {rec, NULL};
    cr_assert_eq(ts_dnsmasq_set(&dns, txt), 0, "%s", ts_last_error());
    cr_assert_eq(run(&out, c3), 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "verified");
    cr_assert_str_eq(json_string_value(json_object_get(j, "method")), "dns");
    json_decref(j);
    free(out);
    const char *c4[] = {"domain", "recheck", NULL};
    cr_assert_eq(run(&out, c4), 0, "%s", out);
    j = parse(out);
    cr_assert_eq(json_integer_value(json_object_get(j, "checked")), 1, "%s", out);
    json_decref(j);
    free(out);
    free(rec);
    unsetenv("SSOGATE_DNS_RESOLVERS");
    ts_dnsmasq_free(&dns);
}
