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

static struct sg sg;

static void start(void) { sg_start(&sg, NULL, NULL); }
static void stop(void) { sg_stop(&sg); }

TestSuite(admin_serve, .init = start, .fini = stop, .timeout = 120);

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
    char *acme = sg_org_create(&sg, "acme", "boss@acme.test");
    char *beta = sg_org_create(&sg, "beta", "boss@beta.test");
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
