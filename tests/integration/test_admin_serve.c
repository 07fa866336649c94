/* The admin API inside `ssogate serve` (the route table includes it): an org
 * created with the CLI is managed over HTTP with the owner's key, and another
 * org's key sees nothing; the owner key from the CLI output works as is. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/util.h"

extern char **environ;

static struct sg sg;

static void start(void) { sg_start(&sg, NULL, NULL); }
static void stop(void) { sg_stop(&sg); }

TestSuite(admin_serve, .init = start, .fini = stop, .timeout = 120);

/* `ssogate org create SLUG --owner EMAIL` against the harness's Redis; the key. */
static char *create_org(const char *slug, const char *owner)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    setenv("SSOGATE_REDIS_URL", sg.redis.url, 1);
    const char *argv[] = {sg_bin(), "org", "create", slug, "--owner", owner, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, sg_bin(), &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "org create: %s", buf);
    json_t *j = json_loads(buf, 0, NULL);
    cr_assert_not_null(j, "%s", buf);
    char *key = util_xstrdup(json_string_value(json_object_get(j, "owner_api_key")));
    json_decref(j);
    return key;
}

static long call(const char *key, const char *method, const char *path, const char *body, json_t **out)
{
    struct curl_slist *h = NULL;
    char *auth = util_xasprintf("Authorization: Bearer %s", key);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    struct sg_resp r;
    sg_request(&sg, method, path, h, body, &r);
    long status = r.status;
    if (out)
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    sg_resp_free(&r);
    curl_slist_free_all(h);
    free(auth);
    return status;
}

Test(admin_serve, the_cli_owner_key_manages_its_org_over_http_and_only_it)
{
    char *acme = create_org("acme", "boss@acme.test");
    char *beta = create_org("beta", "boss@beta.test");
    json_t *j = NULL;
    cr_assert_eq(call(acme, "GET", "/v1/orgs/acme", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "slug")), "acme");
    json_decref(j);
    cr_assert_eq(call(acme, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"lab\"}", NULL), 201);
    cr_assert_eq(call(acme, "POST", "/v1/orgs/acme/members", "{\"email\": \"a@acme.test\", \"role\": \"member\"}",
                      NULL), 201);
    cr_assert_eq(call(beta, "GET", "/v1/orgs/acme/members", NULL, &j), 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "org_not_found");
    json_decref(j);
    cr_assert_eq(call(acme, "GET", "/v1/orgs/acme/audit?limit=5", NULL, &j), 200);
    cr_assert_eq(json_array_size(json_object_get(j, "entries")), 3);
    json_decref(j);
    free(acme);
    free(beta);
}
