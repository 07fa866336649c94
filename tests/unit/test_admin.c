/* The admin API over real HTTP (the http/ server with admin_routes) against a
 * real redis-server: authentication, scopes, roles, every endpoint's success
 * and error codes, and that no key of one org sees or touches another org. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/console.h"
#include "gate/gate.h"
#include "saml/connection.h"
#include "saml/saml.h"
#include "org/apikey.h"
#include "org/domain.h"
#include "org/org.h"
#include "session/session.h"
#include "ts_orgfix.h"
#include "util/log.h"
#include "util/util.h"

static struct config cfg;
static struct http_server *srv;
static int port;
static struct org_info acme, beta;
static char *acme_key, *beta_key;
static char acme_owner[ORG_ID_MAX], beta_owner[ORG_ID_MAX];

static void start(void)
{
    ts_org_setup();
    struct err e;
    setenv("SSOGATE_LISTEN", "127.0.0.1:0", 1);
    setenv("SSOGATE_SERVER_WORKERS", "2", 1);
    setenv("SSOGATE_RATELIMIT_APIKEY_BURST", "5", 1);
    setenv("SSOGATE_RATELIMIT_APIKEY_PER_MINUTE", "1", 1);
    cr_assert_eq(config_load(&cfg, NULL, &e), 0, "%s", e.msg);
    log_set_level("error");
    srv = http_server_start(&cfg, admin_routes, &e);
    cr_assert_not_null(srv, "%s", e.msg);
    port = http_server_port(srv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cr_assert_eq(org_create(&ts_org_operator, "acme", NULL, "boss@acme.test", &acme, &acme_key, &e), 0, "%s", e.msg);
    cr_assert_eq(org_create(&ts_org_operator, "beta", NULL, "boss@beta.test", &beta, &beta_key, &e), 0, "%s", e.msg);
    cr_assert_eq(org_member_by_email(acme.id, "boss@acme.test", acme_owner, &e), 0);
    cr_assert_eq(org_member_by_email(beta.id, "boss@beta.test", beta_owner, &e), 0);
}

static void stop(void)
{
    if (srv)
        http_server_stop(srv, 2);
    srv = NULL;
    config_free(&cfg);
    free(acme_key);
    free(beta_key);
    ts_org_teardown();
}

TestSuite(admin, .init = start, .fini = stop);

struct resp {
    long status;
    struct buf body;
    json_t *json;
};

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    buf_append(u, p, s * n);
    return s * n;
}

/* One request; body may be NULL. The reply's JSON (if any) in out->json. */
static const char *extra_headers[3]; /* more request headers, or NULL */

static void call(const char *key, const char *method, const char *path, const char *body, struct resp *out)
{
    buf_init(&out->body);
    CURL *c = curl_easy_init();
    char url[512], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (int i = 0; i < 3; i++)
        if (extra_headers[i])
            h = curl_slist_append(h, extra_headers[i]);
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out->json = out->body.len ? json_loads(out->body.data, 0, NULL) : NULL;
}

static void done(struct resp *r)
{
    json_decref(r->json);
    buf_free(&r->body);
}

static const char *jget(const struct resp *r, const char *name)
{
    return json_string_value(json_object_get(r->json, name));
}

/* Expect status and (for errors) the code; frees the response. */
static void expect(const char *key, const char *method, const char *path, const char *body, long status,
                   const char *code)
{
    struct resp r;
    call(key, method, path, body, &r);
    cr_expect_eq(r.status, status, "%s %s: %ld %s", method, path, r.status, r.body.data);
    if (code)
        cr_expect_str_eq(jget(&r, "error") ? jget(&r, "error") : "(none)", code, "%s %s", method, path);
    done(&r);
}

Test(admin, requests_without_a_valid_org_key_are_401)
{
    expect(NULL, "GET", "/v1/orgs/acme", NULL, 401, "unauthorized");
    expect("sgk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/orgs/acme", NULL, 401,
           "apikey_invalid");
    expect("garbage", "GET", "/v1/orgs/acme/members", NULL, 401, "apikey_invalid");
    struct resp r;
    call(acme_key, "GET", "/v1/orgs/acme", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert_str_eq(jget(&r, "slug"), "acme");
    done(&r);
}

/* Every route, with beta's key on acme's paths: the same 404 as an org that
 * does not exist, and nothing changes. */
Test(admin, another_orgs_key_gets_404_on_every_route)
{
    static const struct {
        const char *method, *path, *body;
    } rows[] = {
        {"GET", "/v1/orgs/acme", NULL},
        {"PATCH", "/v1/orgs/acme", "{\"domain_capture\": true}"},
        {"DELETE", "/v1/orgs/acme", NULL},
        {"GET", "/v1/orgs/acme/members", NULL},
        {"POST", "/v1/orgs/acme/members", "{\"email\": \"x@acme.test\", \"role\": \"admin\"}"},
        {"GET", "/v1/orgs/acme/members/OWNER", NULL},
        {"PATCH", "/v1/orgs/acme/members/OWNER", "{\"role\": \"viewer\"}"},
        {"DELETE", "/v1/orgs/acme/members/OWNER", NULL},
        {"POST", "/v1/orgs/acme/service-accounts", "{\"name\": \"bot\", \"role\": \"member\"}"},
        {"GET", "/v1/orgs/acme/workspaces", NULL},
        {"POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"w1\"}"},
        {"PATCH", "/v1/orgs/acme/workspaces/lab", "{\"default_role\": \"viewer\"}"},
        {"DELETE", "/v1/orgs/acme/workspaces/lab", NULL},
        {"PUT", "/v1/orgs/acme/workspaces/lab/members/OWNER", "{\"role\": \"admin\"}"},
        {"DELETE", "/v1/orgs/acme/workspaces/lab/members/OWNER", NULL},
        {"POST", "/v1/orgs/acme/workspaces/lab/outsiders", "{\"email\": \"c@x.test\", \"role\": \"viewer\"}"},
        {"PUT", "/v1/orgs/acme/workspaces/lab/entitlements/model:x:use", NULL},
        {"DELETE", "/v1/orgs/acme/workspaces/lab/entitlements/model:x:use", NULL},
        {"GET", "/v1/orgs/acme/roles", NULL},
        {"PUT", "/v1/orgs/acme/roles/r1", "{\"permissions\": [\"a:b\"]}"},
        {"DELETE", "/v1/orgs/acme/roles/r1", NULL},
        {"GET", "/v1/orgs/acme/domains", NULL},
        {"POST", "/v1/orgs/acme/domains", "{\"domain\": \"evil.test\"}"},
        {"POST", "/v1/orgs/acme/domains/acme.test/verify", NULL},
        {"DELETE", "/v1/orgs/acme/domains/acme.test", NULL},
        {"GET", "/v1/orgs/acme/invitations", NULL},
        {"POST", "/v1/orgs/acme/invitations", "{\"email\": \"i@acme.test\", \"role\": \"member\"}"},
        {"DELETE", "/v1/orgs/acme/invitations/i@acme.test", NULL},
        {"GET", "/v1/orgs/acme/api-keys", NULL},
        {"POST", "/v1/orgs/acme/api-keys", "{\"scopes\": [\"org:admin\"]}"},
        {"DELETE", "/v1/orgs/acme/api-keys/PREFIX", NULL},
        {"GET", "/v1/orgs/acme/audit", NULL},
        {"GET", "/v1/orgs/acme/connection", NULL},
        {"PUT", "/v1/orgs/acme/connection", "{\"idp_metadata\": \"<x/>\"}"},
        {"GET", "/v1/orgs/acme/signin-diagnostics", NULL},
    };
    struct err e;
    char ws[ORG_ID_MAX];
    cr_assert_eq(org_ws_create(&ts_org_operator, acme.id, "lab", NULL, ws, &e), 0);
    cr_assert_eq(domain_add_verified(&ts_org_operator, acme.id, "acme.test", 0, NULL, &e), 0);
    cr_assert_eq(admin_route_count(), (int)(sizeof rows / sizeof rows[0]), "a row per route");
    /* beta's key records its last use now, not during the loop */
    expect(beta_key, "GET", "/v1/orgs/beta", NULL, 200, NULL);
    char *before = ts_org_snapshot();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char path[256];
        const char *p = rows[i].path;
        char *owner = strstr(p, "OWNER"), *prefix = strstr(p, "PREFIX");
        if (owner)
            snprintf(path, sizeof path, "%.*s%s%s", (int)(owner - p), p, acme_owner, owner + 5);
        else if (prefix)
            snprintf(path, sizeof path, "%.*s%.12s", (int)(prefix - p), p, acme_key + 4);
        else
            snprintf(path, sizeof path, "%s", p);
        struct resp r;
        call(beta_key, rows[i].method, path, rows[i].body, &r);
        cr_expect_eq(r.status, 404, "%s %s with beta's key: %ld %s", rows[i].method, path, r.status, r.body.data);
        cr_expect_str_eq(jget(&r, "error") ? jget(&r, "error") : "", "org_not_found");
        done(&r);
        /* the same answer as for an org that does not exist */
        char ghost[300];
        snprintf(ghost, sizeof ghost, "/v1/orgs/ghost%s", path + strlen("/v1/orgs/acme"));
        call(beta_key, rows[i].method, ghost, rows[i].body, &r);
        cr_expect_eq(r.status, 404, "%s %s", rows[i].method, ghost);
        done(&r);
    }
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after, "another org's key changed nothing");
    free(before);
    free(after);
    /* acme's member id under beta's path is unknown there */
    char path[256];
    snprintf(path, sizeof path, "/v1/orgs/beta/members/%s", acme_owner);
    expect(beta_key, "GET", path, NULL, 404, "member_not_found");
}

Test(admin, members_roles_and_their_rules)
{
    struct resp r;
    call(acme_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"Ann@acme.test\", \"role\": \"admin\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    char ann[ORG_ID_MAX];
    snprintf(ann, sizeof ann, "%s", jget(&r, "id"));
    done(&r);
    expect(acme_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"ann@acme.test\", \"role\": \"admin\"}", 409,
           "member_exists");
    expect(acme_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"b@acme.test\", \"role\": \"emperor\"}", 400,
           "invalid_role");
    expect(acme_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"nope\", \"role\": \"member\"}", 400,
           "invalid_email");
    expect(acme_key, "POST", "/v1/orgs/acme/members", "not json", 400, "bad_request");
    expect(acme_key, "POST", "/v1/orgs/acme/members", "[1]", 400, "bad_request");
    char path[256];
    snprintf(path, sizeof path, "/v1/orgs/acme/members/%s", acme_owner);
    expect(acme_key, "PATCH", path, "{\"role\": \"admin\"}", 409, "last_owner");
    expect(acme_key, "DELETE", path, NULL, 409, "last_owner");

    /* ann (admin) with her own key: cannot touch the owner */
    struct err e;
    char *ann_key = NULL, prefix[APIKEY_PREFIX_LEN + 1];
    cr_assert_eq(apikey_create(&ts_org_operator, acme.id, "org", NULL, ann, "org:admin", NULL, 0, &ann_key, prefix,
                               &e), 0, "%s", e.msg);
    expect(ann_key, "PATCH", path, "{\"role\": \"member\"}", 403, "owner_required");
    expect(ann_key, "DELETE", path, NULL, 403, "owner_required");
    expect(ann_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"c@acme.test\", \"role\": \"owner\"}", 403,
           "owner_required");
    expect(ann_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"c@acme.test\", \"role\": \"admin\"}", 201, NULL);
    /* demoted to viewer, her key can no longer write (the role is read live) */
    snprintf(path, sizeof path, "/v1/orgs/acme/members/%s", ann);
    call(acme_key, "PATCH", path, "{\"role\": \"viewer\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert_str_eq(jget(&r, "role"), "viewer");
    done(&r);
    expect(ann_key, "POST", "/v1/orgs/acme/members", "{\"email\": \"d@acme.test\", \"role\": \"viewer\"}", 403,
           "admin_required");
    expect(ann_key, "GET", "/v1/orgs/acme/members", NULL, 200, NULL);
    expect(acme_key, "DELETE", path, NULL, 204, NULL);
    expect(ann_key, "GET", "/v1/orgs/acme/members", NULL, 401, "apikey_revoked");
    expect(acme_key, "GET", path, NULL, 404, "member_not_found");
    free(ann_key);

    call(acme_key, "GET", "/v1/orgs/acme/members", NULL, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "members")), 2, "%s", r.body.data);
    done(&r);
    call(acme_key, "POST", "/v1/orgs/acme/service-accounts", "{\"name\": \"ci-bot\", \"role\": \"member\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    done(&r);
}

Test(admin, scopes_and_key_kinds)
{
    struct err e;
    char ws[ORG_ID_MAX], prefix[APIKEY_PREFIX_LEN + 1];
    char *ro = NULL, *wsk = NULL;
    cr_assert_eq(org_ws_create(&ts_org_operator, acme.id, "lab", NULL, ws, &e), 0);
    cr_assert_eq(apikey_create(&ts_org_operator, acme.id, "org", NULL, acme_owner, "org:read", NULL, 0, &ro, prefix,
                               &e), 0);
    cr_assert_eq(apikey_create(&ts_org_operator, acme.id, "workspace", ws, acme_owner, "org:admin", NULL, 0, &wsk,
                               prefix, &e), 0);
    expect(ro, "GET", "/v1/orgs/acme/workspaces", NULL, 200, NULL);
    expect(ro, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"w2\"}", 403, "apikey_scope");
    expect(wsk, "GET", "/v1/orgs/acme/workspaces", NULL, 403, "apikey_scope");
    free(ro);
    free(wsk);
}

Test(admin, workspaces_roles_entitlements_domains_invitations_keys_and_audit)
{
    struct resp r;
    expect(acme_key, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"lab\", \"name\": \"Lab\"}", 201, NULL);
    expect(acme_key, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"lab\"}", 409, "workspace_exists");
    expect(acme_key, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"-x\"}", 400, "invalid_slug");
    expect(acme_key, "PUT", "/v1/orgs/acme/roles/trainer", "{\"permissions\": [\"workspace:read\", \"model:m1:use\"]}",
           200, NULL);
    expect(acme_key, "PUT", "/v1/orgs/acme/roles/trainer", "{\"permissions\": []}", 400, "bad_request");
    expect(acme_key, "PUT", "/v1/orgs/acme/roles/editor", "{\"permissions\": [\"a:b\"]}", 400, "invalid_role");
    expect(acme_key, "PATCH", "/v1/orgs/acme/workspaces/lab", "{\"default_role\": \"trainer\"}", 200, NULL);
    expect(acme_key, "PATCH", "/v1/orgs/acme/workspaces/nolab", "{\"default_role\": \"viewer\"}", 404,
           "workspace_not_found");
    expect(acme_key, "PUT", "/v1/orgs/acme/workspaces/lab/entitlements/model:m1:use", NULL, 204, NULL);
    expect(acme_key, "PUT", "/v1/orgs/acme/workspaces/lab/entitlements/BAD", NULL, 400, "bad_request");
    char path[256];
    snprintf(path, sizeof path, "/v1/orgs/acme/workspaces/lab/members/%s", acme_owner);
    expect(acme_key, "PUT", path, "{\"role\": \"admin\"}", 200, NULL);
    expect(acme_key, "PUT", path, "{\"role\": \"nosuch\"}", 400, "invalid_role");
    call(acme_key, "POST", "/v1/orgs/acme/workspaces/lab/outsiders", "{\"email\": \"c@else.test\", \"role\": \"viewer\"}",
         &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    done(&r);
    call(acme_key, "GET", "/v1/orgs/acme/workspaces", NULL, &r);
    json_t *w = json_array_get(json_object_get(r.json, "workspaces"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(w, "default_role")), "trainer", "%s", r.body.data);
    cr_assert_eq(json_object_size(json_object_get(w, "members")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(w, "entitlements"), 0)), "model:m1:use");
    done(&r);
    call(acme_key, "GET", "/v1/orgs/acme/roles", NULL, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "roles")), 1);
    done(&r);

    call(acme_key, "POST", "/v1/orgs/acme/domains", "{\"domain\": \"Acme.test\", \"include_subdomains\": true}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    cr_assert_str_eq(jget(&r, "txt_name"), "_ssogate-challenge.acme.test");
    done(&r);
    expect(acme_key, "POST", "/v1/orgs/acme/domains", "{\"domain\": \"acme.test\"}", 409, "domain_exists");
    expect(acme_key, "POST", "/v1/orgs/acme/domains", "{\"domain\": \"not a domain\"}", 400, "invalid_domain");
    expect(acme_key, "POST", "/v1/orgs/acme/domains/nope.test/verify", NULL, 404, "domain_not_found");
    expect(acme_key, "GET", "/v1/orgs/acme/domains", NULL, 200, NULL);
    expect(acme_key, "DELETE", "/v1/orgs/acme/domains/acme.test", NULL, 204, NULL);

    call(acme_key, "POST", "/v1/orgs/acme/invitations",
         "{\"email\": \"new@acme.test\", \"role\": \"member\", \"workspaces\": {\"lab\": \"editor\"}}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    cr_assert(strstr(jget(&r, "link"), "/login?org=acme&invitation="));
    done(&r);
    expect(acme_key, "POST", "/v1/orgs/acme/invitations", "{\"email\": \"n2@acme.test\", \"role\": \"member\", "
           "\"workspaces\": {\"nolab\": \"editor\"}}", 404, "workspace_not_found");
    call(acme_key, "GET", "/v1/orgs/acme/invitations", NULL, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "invitations")), 1, "%s", r.body.data);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "invitations"), 0),
                                                       "workspaces")), "lab=editor");
    cr_assert_null(strstr(r.body.data, "invitation="), "never the token");
    done(&r);
    expect(acme_key, "DELETE", "/v1/orgs/acme/invitations/new@acme.test", NULL, 204, NULL);
    expect(acme_key, "DELETE", "/v1/orgs/acme/invitations/new@acme.test", NULL, 404, "invitation_invalid");

    call(acme_key, "POST", "/v1/orgs/acme/api-keys", "{\"scopes\": [\"org:read\"], \"name\": \"ro\", \"expires_s\": 3600}",
         &r);
    cr_assert_eq(r.status, 201, "%s", r.body.data);
    char newkey[128], prefix[16];
    snprintf(newkey, sizeof newkey, "%s", jget(&r, "key"));
    snprintf(prefix, sizeof prefix, "%s", jget(&r, "prefix"));
    done(&r);
    expect(newkey, "GET", "/v1/orgs/acme", NULL, 200, NULL);
    call(acme_key, "GET", "/v1/orgs/acme/api-keys", NULL, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "api_keys")), 2);
    cr_assert_null(strstr(r.body.data, "hash"), "never the hash: %s", r.body.data);
    done(&r);
    snprintf(path, sizeof path, "/v1/orgs/acme/api-keys/%s", prefix);
    expect(acme_key, "DELETE", path, NULL, 204, NULL);
    expect(newkey, "GET", "/v1/orgs/acme", NULL, 401, "apikey_revoked");
    expect(acme_key, "DELETE", "/v1/orgs/acme/api-keys/000000000000", NULL, 404, "apikey_not_found");
    expect(acme_key, "POST", "/v1/orgs/acme/api-keys", "{\"scopes\": []}", 400, "bad_request");

    expect(acme_key, "PATCH", "/v1/orgs/acme", "{\"max_session_s\": 999999999}", 400, "invalid_setting");
    expect(acme_key, "PATCH", "/v1/orgs/acme", "{\"domain_capture\": \"yes\"}", 400, "invalid_setting");
    call(acme_key, "PATCH", "/v1/orgs/acme", "{\"domain_capture\": true, \"default_role\": \"viewer\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert(json_is_true(json_object_get(json_object_get(r.json, "settings"), "domain_capture")));
    done(&r);

    call(acme_key, "GET", "/v1/orgs/acme/audit?limit=3", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "entries")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "entries"), 0), "action")),
                     "org.settings");
    cr_assert(strncmp(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "entries"), 0),
                                                        "actor")), "key:", 4) == 0);
    char cur[256];
    snprintf(cur, sizeof cur, "/v1/orgs/acme/audit?limit=3&cursor=%s", jget(&r, "next"));
    done(&r);
    expect(acme_key, "GET", cur, NULL, 200, NULL);
    expect(acme_key, "GET", "/v1/orgs/acme/audit?limit=0", NULL, 400, "bad_request");
    expect(acme_key, "GET", "/v1/orgs/acme/audit?limit=x", NULL, 400, "bad_request");
    expect(acme_key, "GET", "/v1/orgs/acme/audit?cursor=zzz", NULL, 400, "bad_request");
    expect(acme_key, "DELETE", "/v1/orgs/acme/workspaces/lab", NULL, 204, NULL);
    /* the owner's key deletes the org; then the key is gone with it */
    expect(acme_key, "DELETE", "/v1/orgs/acme", NULL, 204, NULL);
    expect(acme_key, "GET", "/v1/orgs/acme", NULL, 401, "apikey_invalid");
}

Test(admin, every_route_is_described_in_openapi)
{
    char path[512];
    const char *src = getenv("SSOGATE_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", src ? src : SSOGATE_SOURCE_DIR);
    size_t len;
    char *doc = util_read_file(path, 1 << 20, &len);
    cr_assert_not_null(doc, "%s", path);
    static const struct {
        unsigned bit;
        const char *name;
    } methods[] = {{HTTP_GET, "get"}, {HTTP_POST, "post"}, {HTTP_PUT, "put"}, {HTTP_PATCH, "patch"},
                   {HTTP_DELETE, "delete"}};
    for (const struct http_route *rt = admin_routes; rt->name; rt++) {
        char key[300];
        snprintf(key, sizeof key, "\n  %s:\n", rt->path);
        const char *at = strstr(doc, key);
        cr_expect_not_null(at, "%s is not in docs/openapi.yaml", rt->path);
        if (!at)
            continue;
        const char *end = strstr(at + strlen(key), "\n  /");
        if (!end)
            end = strstr(at + strlen(key), "\ncomponents:");
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            if (!(rt->methods & methods[i].bit))
                continue;
            char m[32];
            snprintf(m, sizeof m, "\n    %s:", methods[i].name);
            const char *found = strstr(at, m);
            cr_expect(found && found < end, "%s %s is not described", methods[i].name, rt->path);
        }
    }
    free(doc);
}

Test(admin, routes_merge_into_the_main_table)
{
    static const struct http_route base[] = {
        {"healthz", HTTP_GET, "/healthz", NULL, 0, 0, RL_NONE},
        {NULL, 0, NULL, NULL, 0, 0, RL_NONE},
    };
    struct http_route *all = admin_routes_with(base);
    cr_assert_str_eq(all[0].name, "healthz");
    cr_assert_str_eq(all[1].name, admin_routes[0].name);
    /* then the console's pages */
    cr_assert_str_eq(all[1 + admin_route_count()].name, console_routes[0].name);
    cr_assert_null(all[1 + admin_route_count() + console_route_count()].name);
    free(all);
}

Test(admin, failed_key_checks_are_rate_limited_per_address)
{
    /* valid keys are never limited */
    for (int i = 0; i < 8; i++)
        expect(acme_key, "GET", "/v1/orgs/acme", NULL, 200, NULL);
    for (int i = 0; i < 5; i++)
        expect("sgk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/orgs/acme", NULL, 401,
               "apikey_invalid");
    struct resp r;
    call("sgk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/orgs/acme", NULL, &r);
    cr_assert_eq(r.status, 429, "%s", r.body.data);
    cr_assert_str_eq(jget(&r, "error"), "rate_limited");
    done(&r);
    /* the limit is per client address and class: a good key is refused too while blocked */
    expect(acme_key, "GET", "/v1/orgs/acme", NULL, 429, "rate_limited");
}

Test(admin, removing_a_member_ends_their_sessions)
{
    struct err e;
    char uid[ORG_ID_MAX];
    cr_assert_eq(org_member_add(&ts_org_operator, acme.id, "leaver@acme.test", ORG_ROLE_MEMBER, uid, &e), 0);
    struct keyring *ring = keyring_parse("k1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", &e);
    cr_assert_not_null(ring, "%s", e.msg);
    struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 600, .idle_refresh_s = 60};
    struct session s = {0};
    snprintf(s.org, sizeof s.org, "%s", acme.id);
    snprintf(s.user_id, sizeof s.user_id, "%s", uid);
    snprintf(s.email, sizeof s.email, "leaver@acme.test");
    char tok[TOKEN_MAX_LEN + 1];
    cr_assert_eq(session_create(ring, &lim, &s, tok, sizeof tok, &e), 0, "%s", e.msg);
    struct session back;
    cr_assert_eq(session_load(ring, &lim, tok, &back, &e), 0, "%s", e.msg);
    char path[256];
    snprintf(path, sizeof path, "/v1/orgs/acme/members/%s", uid);
    expect(acme_key, "DELETE", path, NULL, 204, NULL);
    cr_assert_lt(session_load(ring, &lim, tok, &back, &e), 0, "the removed member's session still works");
    keyring_free(ring);
}

/* expect() with two more headers (a cookie and an Origin). */
static void expect_with2(const char *h1, const char *h2, const char *method, const char *path, const char *body,
                         long status, const char *code)
{
    extra_headers[0] = h1;
    extra_headers[1] = h2;
    expect(NULL, method, path, body, status, code);
    extra_headers[0] = extra_headers[1] = NULL;
}

/* expect() with three more headers (cookie, Origin, CSRF token). */
static void expect_with3(const char *h1, const char *h2, const char *h3, const char *method, const char *path,
                         const char *body, long status, const char *code)
{
    extra_headers[2] = h3;
    expect_with2(h1, h2, method, path, body, status, code);
    extra_headers[2] = NULL;
}

/* The X-CSRF-Token header that goes with a "Cookie: NAME=VALUE" header. */
static char *csrf_header(const char *cookie_header)
{
    char tok[65];
    console_csrf_token(strchr(cookie_header, '=') + 1, tok);
    return util_xasprintf("X-CSRF-Token: %s", tok);
}

/* A session of uid in org, as the cookie header to send. */
static char *session_cookie(struct keyring *ring, const char *org_id, const char *uid)
{
    struct err e;
    struct session_limits lim = {.max_age_s = 3600, .idle_timeout_s = 600, .idle_refresh_s = 60};
    struct session s = {0};
    snprintf(s.org, sizeof s.org, "%s", org_id);
    snprintf(s.user_id, sizeof s.user_id, "%s", uid);
    snprintf(s.email, sizeof s.email, "someone@acme.test");
    char tok[TOKEN_MAX_LEN + 1];
    cr_assert_eq(session_create(ring, &lim, &s, tok, sizeof tok, &e), 0, "%s", e.msg);
    return util_xasprintf("Cookie: __Host-ssogate=%s", tok);
}

Test(admin, owner_and_admin_sessions_with_csrf_checked_writes)
{
    struct err e;
    struct keyring *ring = keyring_parse("k1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", &e);
    cr_assert_not_null(ring, "%s", e.msg);
    cr_assert_eq(gate_init(&cfg, ring, &e), 0, "%s", e.msg);
    cr_assert_eq(console_init(&cfg, ring, &e), 0, "%s", e.msg);
    char member[ORG_ID_MAX];
    cr_assert_eq(org_member_add(&ts_org_operator, acme.id, "m@acme.test", ORG_ROLE_MEMBER, member, &e), 0);
    char *owner_cookie = session_cookie(ring, acme.id, acme_owner);
    char *member_cookie = session_cookie(ring, acme.id, member);
    char *beta_cookie = session_cookie(ring, beta.id, beta_owner);

    extra_headers[0] = owner_cookie;
    expect(NULL, "GET", "/v1/orgs/acme/members", NULL, 200, NULL);
    expect(NULL, "POST", "/v1/orgs/acme/workspaces", "{\"slug\": \"w1\"}", 403, "csrf_failed");
    extra_headers[0] = NULL;
    expect_with2(owner_cookie, "Origin: http://evil.test", "POST", "/v1/orgs/acme/workspaces",
                 "{\"slug\": \"w1\"}", 403, "csrf_failed");
    /* Our Origin alone is not enough: the session's CSRF token too. */
    expect_with2(owner_cookie, "Origin: http://127.0.0.1:8080", "POST", "/v1/orgs/acme/workspaces",
                 "{\"slug\": \"w1\"}", 403, "csrf_failed");
    char *csrf = csrf_header(owner_cookie);
    expect_with3(owner_cookie, "Origin: http://127.0.0.1:8080", "X-CSRF-Token: 0000", "POST",
                 "/v1/orgs/acme/workspaces", "{\"slug\": \"w1\"}", 403, "csrf_failed");
    expect_with3(owner_cookie, "Origin: http://127.0.0.1:8080", csrf, "POST", "/v1/orgs/acme/workspaces",
                 "{\"slug\": \"w1\"}", 201, NULL);
    expect_with3(owner_cookie, "Origin: http://127.0.0.1:8080", csrf, "DELETE", "/v1/orgs/acme/workspaces/w1", NULL,
                 204, NULL);
    free(csrf);
    expect_with2(member_cookie, "Origin: http://127.0.0.1:8080", "GET", "/v1/orgs/acme/members", NULL, 403,
                 "admin_required");
    /* Another org's session learns nothing: the same 401 as no session. */
    expect_with2(beta_cookie, "Origin: http://127.0.0.1:8080", "GET", "/v1/orgs/acme/members", NULL, 401,
                 "unauthorized");
    expect_with2(beta_cookie, "Origin: http://127.0.0.1:8080", "GET", "/v1/orgs/nosuch/members", NULL, 401,
                 "unauthorized");
    expect_with2("Cookie: __Host-ssogate=s1.forged", "Origin: http://127.0.0.1:8080", "GET", "/v1/orgs/acme", NULL,
                 401, NULL);
    /* the audit names the session's user */
    struct resp r;
    call(acme_key, "GET", "/v1/orgs/acme/audit?limit=1", NULL, &r);
    char want[64];
    snprintf(want, sizeof want, "user:%s", acme_owner);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "entries"), 0),
                                                       "actor")), want, "%s", r.body.data);
    done(&r);
    free(owner_cookie);
    free(member_cookie);
    free(beta_cookie);
    keyring_free(ring);
}

/* The SSO connection through the JSON API: refused metadata leaves nothing,
 * good metadata is stored and shown, bad switches are refused. */
Test(admin, connection_put_get_and_diagnostics)
{
    /* SP keys for the connection's lasso server, made now (never committed). */
    char *dir = ts_mkdtemp("ssogate-admin-sp");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/certs/gen-dev-certs.sh %s >/dev/null", SSOGATE_SOURCE_DIR, dir);
    cr_assert_eq(system(cmd), 0);
    char *key = ts_path(dir, "sp.key"), *crt = ts_path(dir, "sp.crt");
    setenv("SSOGATE_SAML_SP_KEY", key, 1);
    setenv("SSOGATE_SAML_SP_CERT", crt, 1);
    struct config c2;
    struct err e;
    cr_assert_eq(config_load(&c2, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(saml_init(&e), 0, "%s", e.msg);
    cr_assert_eq(connection_configure(&c2, &e), 0, "%s", e.msg);
    expect(acme_key, "GET", "/v1/orgs/acme/connection", NULL, 404, "connection_not_found");
    expect(acme_key, "PUT", "/v1/orgs/acme/connection", "{\"idp_metadata\": \"<notmetadata/>\"}", 400,
           "saml_metadata_invalid");
    expect(acme_key, "GET", "/v1/orgs/acme/connection", NULL, 404, "connection_not_found");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/saml/test-idp-metadata.xml", SSOGATE_SOURCE_DIR);
    char *md = util_read_file(path, 1 << 20, NULL);
    cr_assert_not_null(md);
    json_t *body = json_pack("{s:s, s:b, s:i}", "idp_metadata", md, "allow_sha1", 0, "clock_skew_s", 90);
    char *text = json_dumps(body, 0);
    expect(acme_key, "PUT", "/v1/orgs/acme/connection", text, 200, NULL);
    struct resp r;
    call(acme_key, "GET", "/v1/orgs/acme/connection", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "clock_skew_s")), 90, "%s", r.body.data);
    cr_assert(strstr(jget(&r, "acs_url"), "/saml/acme/acs"), "%s", r.body.data);
    done(&r);
    json_object_set_new(body, "clock_skew_s", json_integer(100000));
    free(text);
    text = json_dumps(body, 0);
    expect(acme_key, "PUT", "/v1/orgs/acme/connection", text, 400, "invalid_setting");
    call(acme_key, "GET", "/v1/orgs/acme/signin-diagnostics", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert(json_is_array(json_object_get(r.json, "failures")), "%s", r.body.data);
    done(&r);
    free(text);
    json_decref(body);
    free(md);
    connection_shutdown();
    config_free(&c2);
    ts_rm_rf(dir);
    free(dir);
    free(key);
    free(crt);
}
