/* Unit tests of the organizations directory against a real redis-server:
 * creation and slugs, every role rule and invariant (table-driven), refused
 * changes that write nothing, workspaces and the access read, API keys,
 * sign-in linking / capture / invitations, and the audit log. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "org/apikey.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "org/provision.h"
#include "store/store.h"
#include "ts_orgfix.h"
#include "util/util.h"

TestSuite(org, .init = ts_org_setup, .fini = ts_org_teardown);

Test(org, slug_rules_table)
{
    static const struct {
        const char *slug;
        int ok;
    } rows[] = {
        {"ab", 1}, {"acme", 1}, {"a-1", 1}, {"0day", 1}, {"a--b", 1}, {"ab-", 1},
        {"a", 0}, {"", 0}, {"-ab", 0}, {"Acme", 0}, {"ac_me", 0}, {"ac.me", 0}, {"ac me", 0}, {"é-a", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_expect_eq(org_slug_valid(rows[i].slug), rows[i].ok, "slug '%s'", rows[i].slug);
    char s63[64], s64[65];
    memset(s63, 'a', 63);
    s63[63] = 0;
    memset(s64, 'a', 64);
    s64[64] = 0;
    cr_expect(org_slug_valid(s63), "63 characters is the edge");
    cr_expect(!org_slug_valid(s64), "64 characters is one too many");
}

Test(org, create_returns_a_shown_once_owner_key_and_refuses_duplicates)
{
    struct org_info info;
    char *key = NULL;
    OK(org_create(&ts_org_operator, "acme", "Acme Inc", "Owner@Acme.test", &info, &key, e));
    cr_assert_str_eq(info.slug, "acme");
    cr_assert_str_eq(info.name, "Acme Inc");
    cr_assert(strncmp(key, "sgk_", 4) == 0 && strlen(key) == 60, "key %s", key);
    struct apikey_principal p;
    OK(apikey_verify(key, &p, e));
    cr_assert_str_eq(p.org_id, info.id);
    cr_assert_eq(p.org_role, ORG_ROLE_OWNER);
    cr_assert(apikey_has_scope(&p, "org:admin"));
    /* no key material is stored in clear */
    char *snap = ts_org_snapshot();
    cr_assert_null(strstr(snap, key + 17));
    free(snap);
    free(key);
    char *again = NULL;
    REFUSED(org_create(&ts_org_operator, "acme", NULL, "x@y.test", NULL, &again, e), "org_exists");
    cr_assert_null(again);
    REFUSED(org_create(&ts_org_operator, "-x", NULL, "x@y.test", NULL, &again, e), "invalid_slug");
    REFUSED(org_create(&ts_org_operator, "okslug", NULL, "not-an-email", NULL, &again, e), "invalid_email");
    struct org_info got;
    OK(org_lookup("acme", &got, e));
    cr_assert_str_eq(got.id, info.id);
    OK(org_lookup(info.id, &got, e));
    REFUSED(org_lookup("nope", &got, e), "org_not_found");
    char **slugs;
    size_t n;
    OK(org_list(&slugs, &n, e));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(slugs[0], "acme");
    org_strv_free(slugs);
}

Test(org, refused_create_leaves_nothing_behind)
{
    struct org_info info;
    ts_org_make("acme", "o@acme.test", &info, NULL);
    char *before = ts_org_snapshot();
    char *key = NULL;
    struct err e;
    cr_assert_lt(org_create(&ts_org_operator, "acme", NULL, "p@acme.test", NULL, &key, &e), 0);
    cr_assert_lt(org_create(&ts_org_operator, "Bad", NULL, "p@acme.test", NULL, &key, &e), 0);
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(org, a_dangling_slug_claim_is_taken_over)
{
    /* a create that died after claiming the slug: the claim names no org */
    struct err se;
    store_reply_free(store_cmdl(&se, "SET", "sg:slug:ghost", "o_00000000000000000000", NULL));
    struct org_info info;
    REFUSED(org_lookup("ghost", &info, e), "org_not_found");
    char *key = NULL;
    OK(org_create(&ts_org_operator, "ghost", NULL, "o@ghost.test", &info, &key, e));
    free(key);
    OK(org_lookup("ghost", &info, e));
}

/* ---- the role rules, row by row ---------------------------------------- */

enum op { OP_SET, OP_REMOVE, OP_ADD };
static const struct role_row {
    const char *why;
    int actor;              /* an org role, or 9 = operator */
    enum org_role target;   /* the member acted upon (besides the bootstrap owner) */
    enum op op;
    enum org_role to;
    const char *want;       /* NULL = allowed */
} role_rows[] = {
    {"owner makes an owner", ORG_ROLE_OWNER, ORG_ROLE_MEMBER, OP_SET, ORG_ROLE_OWNER, NULL},
    {"owner demotes another owner", ORG_ROLE_OWNER, ORG_ROLE_OWNER, OP_SET, ORG_ROLE_ADMIN, NULL},
    {"owner removes another owner", ORG_ROLE_OWNER, ORG_ROLE_OWNER, OP_REMOVE, 0, NULL},
    {"owner adds an owner", ORG_ROLE_OWNER, 0, OP_ADD, ORG_ROLE_OWNER, NULL},
    {"admin promotes a member to admin", ORG_ROLE_ADMIN, ORG_ROLE_MEMBER, OP_SET, ORG_ROLE_ADMIN, NULL},
    {"admin demotes an admin", ORG_ROLE_ADMIN, ORG_ROLE_ADMIN, OP_SET, ORG_ROLE_VIEWER, NULL},
    {"admin removes a member", ORG_ROLE_ADMIN, ORG_ROLE_MEMBER, OP_REMOVE, 0, NULL},
    {"admin adds a viewer", ORG_ROLE_ADMIN, 0, OP_ADD, ORG_ROLE_VIEWER, NULL},
    {"admin cannot make an owner", ORG_ROLE_ADMIN, ORG_ROLE_MEMBER, OP_SET, ORG_ROLE_OWNER, "owner_required"},
    {"admin cannot add an owner", ORG_ROLE_ADMIN, 0, OP_ADD, ORG_ROLE_OWNER, "owner_required"},
    {"admin cannot demote an owner", ORG_ROLE_ADMIN, ORG_ROLE_OWNER, OP_SET, ORG_ROLE_MEMBER, "owner_required"},
    {"admin cannot remove an owner", ORG_ROLE_ADMIN, ORG_ROLE_OWNER, OP_REMOVE, 0, "owner_required"},
    {"member cannot change roles", ORG_ROLE_MEMBER, ORG_ROLE_VIEWER, OP_SET, ORG_ROLE_MEMBER, "admin_required"},
    {"member cannot remove", ORG_ROLE_MEMBER, ORG_ROLE_VIEWER, OP_REMOVE, 0, "admin_required"},
    {"member cannot add", ORG_ROLE_MEMBER, 0, OP_ADD, ORG_ROLE_VIEWER, "admin_required"},
    {"viewer cannot change roles", ORG_ROLE_VIEWER, ORG_ROLE_MEMBER, OP_SET, ORG_ROLE_VIEWER, "admin_required"},
    {"operator makes an owner", 9, ORG_ROLE_MEMBER, OP_SET, ORG_ROLE_OWNER, NULL},
};

static void run_role_row(const struct role_row *r, int idx)
{
    struct org_info info;
    char slug[16], owner[ORG_ID_MAX], actor_uid[ORG_ID_MAX] = "", target[ORG_ID_MAX] = "";
    snprintf(slug, sizeof slug, "row%d", idx);
    ts_org_make(slug, "boot@acme.test", &info, owner);
    struct err e;
    err_clear(&e);
    if (r->actor != 9)
        cr_assert_eq(org_member_add(&ts_org_operator, info.id, "actor@acme.test", (enum org_role)r->actor,
                                    actor_uid, &e), 0, "%s", e.msg);
    if (r->target)
        cr_assert_eq(org_member_add(&ts_org_operator, info.id, "target@acme.test", r->target, target, &e), 0,
                     "%s", e.msg);
    struct org_actor a = {.operator = r->actor == 9, .uid = actor_uid, .label = "row"};
    char *before = ts_org_snapshot();
    int rc;
    char newuid[ORG_ID_MAX];
    if (r->op == OP_SET)
        rc = org_member_set_role(&a, info.id, target, r->to, &e);
    else if (r->op == OP_REMOVE)
        rc = org_member_remove(&a, info.id, target, &e);
    else
        rc = org_member_add(&a, info.id, "new@acme.test", r->to, newuid, &e);
    if (!r->want) {
        cr_expect_eq(rc, 0, "row '%s': refused with %s (%s)", r->why, e.code, e.msg);
    } else {
        cr_expect_lt(rc, 0, "row '%s': allowed, expected %s", r->why, r->want);
        if (rc < 0)
            cr_expect_str_eq(e.code, r->want, "row '%s'", r->why);
        char *after = ts_org_snapshot();
        cr_expect_str_eq(before, after, "row '%s' wrote something", r->why);
        free(after);
    }
    free(before);
}

Test(org, role_rules_table)
{
    for (size_t i = 0; i < sizeof role_rows / sizeof role_rows[0]; i++)
        run_role_row(&role_rows[i], (int)i);
}

static const struct {
    const char *why;
    int actor_is_operator;
    enum op op;
    enum org_role to;
} last_owner_rows[] = {
    {"the last owner cannot demote themself", 0, OP_SET, ORG_ROLE_ADMIN},
    {"the last owner cannot remove themself", 0, OP_REMOVE, 0},
    {"not even the operator demotes the last owner", 1, OP_SET, ORG_ROLE_MEMBER},
    {"not even the operator removes the last owner", 1, OP_REMOVE, 0},
};

Test(org, at_least_one_owner_always)
{
    for (size_t i = 0; i < sizeof last_owner_rows / sizeof last_owner_rows[0]; i++) {
        struct org_info info;
        char slug[16], owner[ORG_ID_MAX];
        snprintf(slug, sizeof slug, "lo%zu", i);
        ts_org_make(slug, "only@acme.test", &info, owner);
        struct org_actor a = {.operator = last_owner_rows[i].actor_is_operator, .uid = owner, .label = "t"};
        struct err e;
        char *before = ts_org_snapshot();
        long long alen = ts_org_audit_len(info.id);
        int rc = last_owner_rows[i].op == OP_SET ? org_member_set_role(&a, info.id, owner, last_owner_rows[i].to, &e)
                                                 : org_member_remove(&a, info.id, owner, &e);
        cr_expect_lt(rc, 0, "%s", last_owner_rows[i].why);
        cr_expect_str_eq(e.code, "last_owner", "%s", last_owner_rows[i].why);
        char *after = ts_org_snapshot();
        cr_expect_str_eq(before, after, "%s: nothing may change", last_owner_rows[i].why);
        cr_expect_eq(ts_org_audit_len(info.id), alen + 1, "the refusal is audited");
        free(before);
        free(after);
    }
}

Test(org, service_accounts_are_members_but_never_owners)
{
    struct org_info info;
    ts_org_make("acme", "o@acme.test", &info, NULL);
    char sa[ORG_ID_MAX];
    OK(org_service_account_add(&ts_org_operator, info.id, "ci-bot", ORG_ROLE_MEMBER, sa, e));
    struct org_member m;
    OK(org_member_get(info.id, sa, &m, e));
    cr_assert_str_eq(m.kind, "service");
    cr_assert_str_eq(m.name, "ci-bot");
    cr_assert_eq(m.role, ORG_ROLE_MEMBER);
    REFUSED(org_member_set_role(&ts_org_operator, info.id, sa, ORG_ROLE_OWNER, e), "invalid_role");
    REFUSED(org_service_account_add(&ts_org_operator, info.id, "x", ORG_ROLE_OWNER, sa, e), "invalid_slug");
}

Test(org, settings_are_bounded_by_the_instance)
{
    struct org_info info;
    ts_org_make("acme", "o@acme.test", &info, NULL);
    struct org_settings s = {.max_session_s = 3600, .idle_timeout_s = 600, .domain_capture = 1,
                             .default_role = ORG_ROLE_VIEWER, .require_sso = 1};
    OK(org_settings_update(&ts_org_operator, info.id, &s, e));
    OK(org_lookup("acme", &info, e));
    cr_assert_eq(info.settings.max_session_s, 3600);
    cr_assert_eq(info.settings.domain_capture, 1);
    cr_assert_eq(info.settings.default_role, ORG_ROLE_VIEWER);
    s.max_session_s = org_instance_max_session_s();
    OK(org_settings_update(&ts_org_operator, info.id, &s, e));
    s.max_session_s = org_instance_max_session_s() + 1;
    REFUSED(org_settings_update(&ts_org_operator, info.id, &s, e), "invalid_setting");
    s.max_session_s = 0;
    s.idle_timeout_s = org_instance_idle_timeout_s() + 1;
    REFUSED(org_settings_update(&ts_org_operator, info.id, &s, e), "invalid_setting");
    s.idle_timeout_s = 0;
    s.default_role = ORG_ROLE_OWNER;
    REFUSED(org_settings_update(&ts_org_operator, info.id, &s, e), "invalid_setting");
}

/* ---- workspaces and the access read ------------------------------------- */

Test(org, workspaces_grants_outsiders_custom_roles_and_entitlements)
{
    struct org_info acme, beta;
    char owner[ORG_ID_MAX], member[ORG_ID_MAX], ws[ORG_ID_MAX], ws2[ORG_ID_MAX], outsider[ORG_ID_MAX];
    ts_org_make("acme", "o@acme.test", &acme, owner);
    ts_org_make("beta", "o@beta.test", &beta, NULL);
    OK(org_ws_create(&ts_org_operator, acme.id, "research", "Research", ws, e));
    REFUSED(org_ws_create(&ts_org_operator, acme.id, "research", NULL, ws2, e), "workspace_exists");
    OK(org_ws_create(&ts_org_operator, beta.id, "research", NULL, ws2, e)); /* slugs are per org */
    OK(org_member_add(&ts_org_operator, acme.id, "m@acme.test", ORG_ROLE_MEMBER, member, e));

    struct org_ws_access x;
    OK(org_ws_access_load(acme.id, "research", member, &x, e));
    cr_assert_eq(x.org_role, ORG_ROLE_MEMBER);
    cr_assert_str_eq(x.ws_role, "", "org membership alone grants no workspace role");
    cr_assert_str_eq(x.default_role, "");
    org_ws_access_clear(&x);

    OK(org_ws_set_default_role(&ts_org_operator, acme.id, ws, "viewer", e));
    REFUSED(org_ws_set_default_role(&ts_org_operator, acme.id, ws, "nosuch", e), "invalid_role");
    OK(org_role_define(&ts_org_operator, acme.id, "trainer", "workspace:read model:gpt-4o:use", e));
    REFUSED(org_role_define(&ts_org_operator, acme.id, "admin", "x:y", e), "invalid_role");
    OK(org_ws_member_set(&ts_org_operator, acme.id, ws, member, "trainer", e));
    OK(org_ws_entitlement_set(&ts_org_operator, acme.id, ws, "model:gpt-4o:use", 1, e));
    OK(org_ws_access_load(acme.id, "research", member, &x, e));
    cr_assert_str_eq(x.ws_role, "trainer");
    cr_assert_str_eq(x.default_role, "viewer");
    cr_assert_str_eq(x.role_perms, "workspace:read model:gpt-4o:use");
    cr_assert_str_eq(x.entitlements, "model:gpt-4o:use");
    org_ws_access_clear(&x);

    /* a workspace belongs to one org: beta's id means nothing in acme */
    REFUSED(org_ws_member_set(&ts_org_operator, acme.id, ws2, member, "viewer", e), "workspace_not_found");
    OK(org_ws_access_load(beta.id, "research", member, &x, e));
    cr_assert_eq(x.org_role, ORG_ROLE_NONE, "acme's member is nobody in beta");
    cr_assert_str_eq(x.ws_role, "");
    org_ws_access_clear(&x);
    REFUSED(org_ws_access_load(acme.id, "nosuch", member, &x, e), "workspace_not_found");

    /* an outsider: a grant on one workspace, no org role */
    OK(org_outsider_grant(&ts_org_operator, acme.id, "contractor@else.test", ws, "editor", outsider, e));
    OK(org_ws_access_load(acme.id, "research", outsider, &x, e));
    cr_assert_eq(x.org_role, ORG_ROLE_NONE);
    cr_assert_str_eq(x.ws_role, "editor");
    org_ws_access_clear(&x);
    /* the last grant gone, the outsider is gone */
    OK(org_ws_member_remove(&ts_org_operator, acme.id, ws, outsider, e));
    struct org_member m;
    REFUSED(org_member_get(acme.id, outsider, &m, e), "member_not_found");

    /* removing a member drops their grants */
    OK(org_member_remove(&ts_org_operator, acme.id, member, e));
    OK(org_ws_access_load(acme.id, "research", member, &x, e));
    cr_assert_str_eq(x.ws_role, "");
    cr_assert_eq(x.org_role, ORG_ROLE_NONE);
    org_ws_access_clear(&x);

    /* deleting the workspace */
    OK(org_ws_delete(&ts_org_operator, acme.id, ws, e));
    REFUSED(org_ws_lookup(acme.id, "research", ws, e), "workspace_not_found");
}

/* A workspace's entitlements beyond ORG_ENTITLEMENTS_MAX bytes: the list the
 * decision reads stops at a whole word (a cut word could read as another
 * permission, e.g. "model:a:use" out of "model:a:user"), every word in it is
 * one that was granted, and nothing past the bound is granted. */
Test(org, overlong_entitlement_lists_stop_at_a_whole_word)
{
    struct org_info acme;
    char owner[ORG_ID_MAX], member[ORG_ID_MAX], ws[ORG_ID_MAX];
    ts_org_make("acme", "o@acme.test", &acme, owner);
    OK(org_ws_create(&ts_org_operator, acme.id, "big", NULL, ws, e));
    OK(org_member_add(&ts_org_operator, acme.id, "m@acme.test", ORG_ROLE_MEMBER, member, e));
    char name[128];
    size_t total = 0;
    int n = 0;
    while (total < ORG_ENTITLEMENTS_MAX + 512) {
        snprintf(name, sizeof name, "model:m%03d-%s:user", n++, "padpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpad");
        OK(org_ws_entitlement_set(&ts_org_operator, acme.id, ws, name, 1, e));
        total += strlen(name) + 1;
    }
    struct org_ws_access x;
    OK(org_ws_access_load(acme.id, "big", member, &x, e));
    cr_assert_not_null(x.entitlements);
    size_t len = strlen(x.entitlements);
    cr_assert_lt(len, ORG_ENTITLEMENTS_MAX, "%zu bytes", len);
    cr_assert_gt(len, ORG_ENTITLEMENTS_MAX - 200, "the list keeps what fits (%zu bytes)", len);
    char *copy = util_xstrdup(x.entitlements), *save = NULL;
    int words = 0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save), words++) {
        size_t wl = strlen(w);
        cr_assert(wl > 5 && strcmp(w + wl - 5, ":user") == 0, "a cut word reached the decision: '%s'", w);
    }
    cr_assert_lt(words, n, "words past the bound are not granted");
    free(copy);
    org_ws_access_clear(&x);
}

Test(org, members_cannot_manage_workspaces)
{
    struct org_info acme;
    char member[ORG_ID_MAX], ws[ORG_ID_MAX];
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    OK(org_member_add(&ts_org_operator, acme.id, "m@acme.test", ORG_ROLE_MEMBER, member, e));
    struct org_actor a = {.uid = member, .label = "m"};
    char *before = ts_org_snapshot();
    REFUSED(org_ws_create(&a, acme.id, "x1", NULL, ws, e), "admin_required");
    REFUSED(org_role_define(&a, acme.id, "r1", "a:b", e), "admin_required");
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

/* ---- API keys ------------------------------------------------------------ */

Test(org, api_keys_verify_revoke_expire_and_follow_the_holder)
{
    struct org_info acme;
    char sa[ORG_ID_MAX], ws[ORG_ID_MAX], prefix[APIKEY_PREFIX_LEN + 1];
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    OK(org_ws_create(&ts_org_operator, acme.id, "prod", NULL, ws, e));
    OK(org_service_account_add(&ts_org_operator, acme.id, "deployer", ORG_ROLE_MEMBER, sa, e));
    char *key = NULL;
    OK(apikey_create(&ts_org_operator, acme.id, "workspace", ws, sa, "workspace:read authz:check", "ci", 0, &key,
                     prefix, e));
    cr_assert(strncmp(key + 4, prefix, APIKEY_PREFIX_LEN) == 0, "the prefix is visible in the key");
    struct apikey_principal p;
    OK(apikey_verify(key, &p, e));
    cr_assert_str_eq(p.kind, "workspace");
    cr_assert_str_eq(p.ws_id, ws);
    cr_assert_str_eq(p.uid, sa);
    cr_assert(apikey_has_scope(&p, "authz:check"));
    cr_assert(!apikey_has_scope(&p, "authz"));
    cr_assert(!apikey_has_scope(&p, "org:admin"));

    /* wrong secret, truncated, garbage, empty, oversized */
    char *bad = strdup(key);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
    REFUSED(apikey_verify(bad, &p, e), "apikey_invalid");
    bad[20] = '\0';
    REFUSED(apikey_verify(bad, &p, e), "apikey_invalid");
    REFUSED(apikey_verify("", &p, e), "apikey_invalid");
    REFUSED(apikey_verify("sgk_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p, e), "apikey_invalid");
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    REFUSED(apikey_verify(big, &p, e), "apikey_invalid");
    free(bad);

    /* last use is recorded (at most once a minute) */
    char *k = util_xasprintf("sg:{o:%s}:key:%s", acme.id, prefix);
    struct err se;
    struct store_reply *r = store_cmdl(&se, "HGET", k, "last_used", NULL);
    cr_assert(atoll(store_reply_str(r, NULL)) > 0);
    store_reply_free(r);
    free(k);

    /* a member may not create keys held by an owner; revoke */
    OK(apikey_revoke(&ts_org_operator, acme.id, prefix, e));
    REFUSED(apikey_verify(key, &p, e), "apikey_revoked");
    REFUSED(apikey_revoke(&ts_org_operator, acme.id, "000000000000", e), "apikey_not_found");
    free(key);

    /* expiry */
    OK(apikey_create(&ts_org_operator, acme.id, "org", NULL, sa, "org:read", NULL, 1, &key, prefix, e));
    OK(apikey_verify(key, &p, e));
    usleep(1100 * 1000);
    REFUSED(apikey_verify(key, &p, e), "apikey_expired");
    free(key);

    /* removing the holder revokes their keys */
    OK(apikey_create(&ts_org_operator, acme.id, "org", NULL, sa, "org:read", NULL, 0, &key, prefix, e));
    OK(org_member_remove(&ts_org_operator, acme.id, sa, e));
    REFUSED(apikey_verify(key, &p, e), "apikey_revoked");
    free(key);
    REFUSED(apikey_create(&ts_org_operator, acme.id, "workspace", NULL, sa, "x:y", NULL, 0, &key, prefix, e),
            "bad_request");
}

Test(org, admins_cannot_mint_or_revoke_owner_keys)
{
    struct org_info acme;
    char owner[ORG_ID_MAX], admin[ORG_ID_MAX], prefix[APIKEY_PREFIX_LEN + 1];
    ts_org_make("acme", "o@acme.test", &acme, owner);
    OK(org_member_add(&ts_org_operator, acme.id, "a@acme.test", ORG_ROLE_ADMIN, admin, e));
    struct org_actor a = {.uid = admin, .label = "admin"};
    char *key = NULL;
    REFUSED(apikey_create(&a, acme.id, "org", NULL, owner, "org:admin", NULL, 0, &key, prefix, e), "owner_required");
    cr_assert_null(key);
    OK(apikey_create(&a, acme.id, "org", NULL, admin, "org:admin", NULL, 0, &key, prefix, e));
    free(key);
}

/* ---- sign-in: linking, capture, invitations ---------------------------- */

#define PERSISTENT PROVISION_NAMEID_PERSISTENT
#define TRANSIENT "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
#define ISSUER "https://idp.acme.test/saml"

static void verified_org(const char *slug, struct org_info *info, int capture)
{
    ts_org_make(slug, "owner@acme.test", info, NULL);
    struct err e;
    cr_assert_eq(domain_add_verified(&ts_org_operator, info->id, "acme.test", 0, NULL, &e), 0, "%s", e.msg);
    struct org_settings s = info->settings;
    s.domain_capture = capture;
    s.default_role = ORG_ROLE_VIEWER;
    cr_assert_eq(org_settings_update(&ts_org_operator, info->id, &s, &e), 0, "%s", e.msg);
}

Test(org, capture_provisions_once_and_links_by_persistent_nameid)
{
    struct org_info acme;
    verified_org("acme", &acme, 1);
    struct provision_result r1, r2, r3;
    OK(provision_signin(acme.id, ISSUER, "abc123", PERSISTENT, "Jo@Acme.test", NULL, &r1, e));
    cr_assert(r1.provisioned);
    cr_assert_eq(r1.role, ORG_ROLE_VIEWER, "the org's default role");
    cr_assert_str_eq(r1.email, "jo@acme.test");
    OK(provision_signin(acme.id, ISSUER, "abc123", PERSISTENT, "jo@acme.test", NULL, &r2, e));
    cr_assert(!r2.provisioned);
    cr_assert_str_eq(r1.uid, r2.uid, "the same person keeps one id");
    /* the email reused for another person (new persistent NameID) */
    REFUSED(provision_signin(acme.id, ISSUER, "zzz999", PERSISTENT, "jo@acme.test", NULL, &r3, e),
            "identity_conflict");
    /* a domain the org has not verified */
    REFUSED(provision_signin(acme.id, ISSUER, "q", PERSISTENT, "jo@other.test", NULL, &r3, e),
            "saml_domain_not_allowed");
    REFUSED(provision_signin(acme.id, ISSUER, "q", PERSISTENT, "jo@sub.acme.test", NULL, &r3, e),
            "saml_domain_not_allowed");
    REFUSED(provision_signin(acme.id, ISSUER, "", PERSISTENT, "jo@acme.test", NULL, &r3, e), "saml_no_subject");
    json_t *entries;
    char next[64];
    OK(audit_read(acme.id, NULL, 1, &entries, next, e));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 0), "code")), "saml_no_subject",
                     "every refused sign-in is audited");
    json_decref(entries);
}

Test(org, transient_nameid_links_by_email)
{
    struct org_info acme;
    verified_org("acme", &acme, 0);
    char uid[ORG_ID_MAX];
    OK(org_member_add(&ts_org_operator, acme.id, "kim@acme.test", ORG_ROLE_ADMIN, uid, e));
    struct provision_result r;
    OK(provision_signin(acme.id, ISSUER, "t-1", TRANSIENT, "kim@acme.test", NULL, &r, e));
    cr_assert_str_eq(r.uid, uid);
    cr_assert_eq(r.role, ORG_ROLE_ADMIN);
    OK(provision_signin(acme.id, ISSUER, "t-2", TRANSIENT, "kim@acme.test", NULL, &r, e));
    cr_assert_str_eq(r.uid, uid);
    /* first persistent sign-in binds the pre-added member */
    OK(provision_signin(acme.id, ISSUER, "p-1", PERSISTENT, "kim@acme.test", NULL, &r, e));
    cr_assert_str_eq(r.uid, uid);
    REFUSED(provision_signin(acme.id, ISSUER, "p-2", PERSISTENT, "kim@acme.test", NULL, &r, e), "identity_conflict");
}

Test(org, without_capture_only_invited_people_get_in)
{
    struct org_info acme;
    char ws[ORG_ID_MAX];
    verified_org("acme", &acme, 0);
    OK(org_ws_create(&ts_org_operator, acme.id, "lab", NULL, ws, e));
    struct provision_result r;
    char *before = ts_org_snapshot();
    REFUSED(provision_signin(acme.id, ISSUER, "n1", PERSISTENT, "new@acme.test", NULL, &r, e), "not_a_member");
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after, "a refused sign-in writes nothing but its audit record");
    free(before);
    free(after);

    char *token, *link;
    OK(invite_create(&ts_org_operator, acme.id, "New@acme.test", ORG_ROLE_MEMBER, "lab=editor", 0, &token, &link, e));
    cr_assert(strstr(link, "/login?org=acme&invitation="), "%s", link);
    cr_assert(strstr(link, token));
    OK(provision_signin(acme.id, ISSUER, "n1", PERSISTENT, "new@acme.test", NULL, &r, e));
    cr_assert(r.invited);
    cr_assert_eq(r.role, ORG_ROLE_MEMBER);
    struct org_ws_access x;
    OK(org_ws_access_load(acme.id, "lab", r.uid, &x, e));
    cr_assert_str_eq(x.ws_role, "editor");
    org_ws_access_clear(&x);
    /* single use */
    struct provision_result r2;
    REFUSED(provision_signin(acme.id, ISSUER, "n2", PERSISTENT, "new2@acme.test", token, &r2, e),
            "invitation_invalid");
    free(token);
    free(link);

    REFUSED(invite_create(&ts_org_operator, acme.id, "x@acme.test", ORG_ROLE_MEMBER, "nolab=editor", 0, &token,
                          &link, e), "workspace_not_found");
    REFUSED(invite_create(&ts_org_operator, acme.id, "new@acme.test", ORG_ROLE_MEMBER, NULL, 0, &token, &link, e),
            "member_exists");
}

Test(org, an_expired_invitation_is_refused)
{
    struct org_info acme;
    verified_org("acme", &acme, 0);
    char *token, *link;
    OK(invite_create(&ts_org_operator, acme.id, "late@acme.test", ORG_ROLE_VIEWER, NULL, 1, &token, &link, e));
    usleep(1200 * 1000);
    struct provision_result r;
    struct err ee;
    cr_assert_lt(provision_signin(acme.id, ISSUER, "l1", PERSISTENT, "late@acme.test", token, &r, &ee), 0);
    cr_assert(!strcmp(ee.code, "invitation_expired") || !strcmp(ee.code, "invitation_invalid"), "%s", ee.code);
    free(token);
    free(link);
}

Test(org, admins_cannot_invite_owners)
{
    struct org_info acme;
    char admin[ORG_ID_MAX];
    verified_org("acme", &acme, 0);
    OK(org_member_add(&ts_org_operator, acme.id, "a@acme.test", ORG_ROLE_ADMIN, admin, e));
    struct org_actor a = {.uid = admin, .label = "admin"};
    char *token, *link;
    REFUSED(invite_create(&a, acme.id, "boss@acme.test", ORG_ROLE_OWNER, NULL, 0, &token, &link, e), "owner_required");
}

/* ---- audit --------------------------------------------------------------- */

Test(org, audit_records_changes_and_signins_and_pages_newest_first)
{
    struct org_info acme;
    verified_org("acme", &acme, 0);
    struct provision_result r;
    struct err ignore;
    provision_signin(acme.id, ISSUER, "x", PERSISTENT, "nobody@acme.test", NULL, &r, &ignore);
    OK(audit_signin(acme.id, "eve@acme.test", ISSUER, "refused", "saml_signature_invalid", e));
    json_t *page;
    char next[64];
    OK(audit_read(acme.id, NULL, 2, &page, next, e));
    cr_assert_eq(json_array_size(page), 2);
    json_t *first = json_array_get(page, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "action")), "signin");
    cr_assert_str_eq(json_string_value(json_object_get(first, "code")), "saml_signature_invalid");
    json_t *second = json_array_get(page, 1);
    cr_assert_str_eq(json_string_value(json_object_get(second, "code")), "not_a_member");
    cr_assert_neq(next[0], '\0');
    /* walk all pages: ids strictly decreasing, nothing repeated, ends */
    json_t *all = json_array();
    json_array_extend(all, page);
    json_decref(page);
    int pages = 1;
    while (next[0]) {
        char cur[64];
        snprintf(cur, sizeof cur, "%s", next);
        OK(audit_read(acme.id, cur, 2, &page, next, e));
        json_array_extend(all, page);
        json_decref(page);
        cr_assert(++pages < 50);
    }
    cr_assert_eq((long long)json_array_size(all), ts_org_audit_len(acme.id));
    const char *actions = "";
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        if (i > 0)
            cr_assert_gt(strcmp(json_string_value(json_object_get(json_array_get(all, i - 1), "id")),
                                json_string_value(json_object_get(v, "id"))) != 0, 0);
        if (!strcmp(json_string_value(json_object_get(v, "action")), "org.create"))
            actions = "found";
    }
    cr_assert_str_eq(actions, "found", "the org's creation is the oldest record");
    json_decref(all);
    REFUSED(audit_read(acme.id, "bogus", 2, &page, next, e), "bad_request");
    REFUSED(audit_read(acme.id, NULL, 0, &page, next, e), "bad_request");
}


Test(org, ids_from_outside_never_reach_a_key_name_unchecked)
{
    struct org_info acme;
    char owner[ORG_ID_MAX], ws[ORG_ID_MAX];
    ts_org_make("acme", "o@acme.test", &acme, owner);
    OK(org_ws_create(&ts_org_operator, acme.id, "lab", NULL, ws, e));
    char *crafted = util_xasprintf("%s:ws", owner); /* would name the owner's workspace set */
    char *before = ts_org_snapshot();
    REFUSED(org_member_set_role(&ts_org_operator, acme.id, crafted, ORG_ROLE_ADMIN, e), "member_not_found");
    REFUSED(org_ws_member_set(&ts_org_operator, acme.id, ws, crafted, "viewer", e), "member_not_found");
    REFUSED(org_ws_member_set(&ts_org_operator, acme.id, "w_../x", owner, "viewer", e), "workspace_not_found");
    REFUSED(org_member_remove(&ts_org_operator, acme.id, "", e), "member_not_found");
    REFUSED(apikey_revoke(&ts_org_operator, acme.id, "zz}{", e), "apikey_not_found");
    struct org_info x;
    REFUSED(org_lookup("o_}x", &x, e), "org_not_found");
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    free(crafted);
    cr_assert(org_id_valid('u', owner));
    cr_assert(!org_id_valid('w', owner));
}

Test(org, delete_removes_every_key_of_the_org_and_its_claims)
{
    struct org_info acme, beta;
    char owner[ORG_ID_MAX], admin[ORG_ID_MAX], ws[ORG_ID_MAX], out[ORG_ID_MAX], sa[ORG_ID_MAX];
    char prefix[APIKEY_PREFIX_LEN + 1];
    ts_org_make("acme", "owner@acme.test", &acme, owner);
    ts_org_make("beta", "owner@beta.test", &beta, NULL);
    OK(org_member_add(&ts_org_operator, acme.id, "admin@acme.test", ORG_ROLE_ADMIN, admin, e));
    OK(org_ws_create(&ts_org_operator, acme.id, "lab", NULL, ws, e));
    OK(org_ws_member_set(&ts_org_operator, acme.id, ws, admin, "editor", e));
    OK(org_ws_entitlement_set(&ts_org_operator, acme.id, ws, "model:m:use", 1, e));
    OK(org_outsider_grant(&ts_org_operator, acme.id, "c@else.test", ws, "viewer", out, e));
    OK(org_role_define(&ts_org_operator, acme.id, "r1", "a:b", e));
    OK(domain_add_verified(&ts_org_operator, acme.id, "acme.test", 0, NULL, e));
    OK(domain_add(&ts_org_operator, acme.id, "pending.test", 0, NULL, e));
    OK(org_service_account_add(&ts_org_operator, acme.id, "bot", ORG_ROLE_MEMBER, sa, e));
    char *key = NULL, *token = NULL, *link = NULL;
    OK(apikey_create(&ts_org_operator, acme.id, "org", NULL, sa, "org:read", NULL, 0, &key, prefix, e));
    OK(invite_create(&ts_org_operator, acme.id, "inv@acme.test", ORG_ROLE_MEMBER, "lab=viewer", 0, &token, &link, e));
    struct provision_result pr;
    OK(provision_signin(acme.id, ISSUER, "p1", PERSISTENT, "admin@acme.test", NULL, &pr, e));

    struct org_actor as_admin = {.uid = admin, .label = "admin"};
    REFUSED(org_delete(&as_admin, acme.id, e), "owner_required");
    struct org_actor as_owner = {.uid = owner, .label = "owner"};
    OK(org_delete(&as_owner, acme.id, e));

    char *snap = ts_org_snapshot();
    char tag[64];
    snprintf(tag, sizeof tag, "{o:%s}", acme.id);
    cr_assert_null(strstr(snap, tag), "keys of the deleted org remain:\n%s", snap);
    cr_assert_null(strstr(snap, "sg:slug:acme="), "%s", snap);
    cr_assert_null(strstr(snap, "sg:domain:acme.test="), "%s", snap);
    cr_assert_null(strstr(snap, prefix), "%s", snap);
    free(snap);
    struct org_info got;
    REFUSED(org_lookup("acme", &got, e), "org_not_found");
    OK(org_lookup("beta", &got, e));
    struct apikey_principal p;
    REFUSED(apikey_verify(key, &p, e), "apikey_invalid");
    REFUSED(org_delete(&ts_org_operator, acme.id, e), "org_not_found");
    /* the slug and the domain are free again */
    ts_org_make("acme", "new@acme.test", &got, NULL);
    OK(domain_add_verified(&ts_org_operator, got.id, "acme.test", 0, NULL, e));
    free(key);
    free(token);
    free(link);
}

struct race {
    const char *org_id;
    struct provision_result r;
    int rc;
};

static void *race_signin(void *arg)
{
    struct race *x = arg;
    struct err e;
    x->rc = provision_signin(x->org_id, ISSUER, "same-person", PERSISTENT, "racer@acme.test", NULL, &x->r, &e);
    store_thread_close();
    return NULL;
}

Test(org, concurrent_first_signins_make_one_member)
{
    struct org_info acme;
    verified_org("acme", &acme, 1);
    pthread_t t[8];
    struct race x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (struct race){.org_id = acme.id};
        pthread_create(&t[i], NULL, race_signin, &x[i]);
    }
    int provisioned = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(x[i].rc, 0);
        cr_assert_str_eq(x[i].r.uid, x[0].r.uid, "one person, one id");
        provisioned += x[i].r.provisioned;
    }
    cr_assert_eq(provisioned, 1);
    json_t *members;
    OK(org_members_json(acme.id, &members, e));
    cr_assert_eq(json_array_size(members), 2, "the owner and the racer");
    json_decref(members);
}

Test(org, the_audit_stream_is_capped_by_config)
{
    setenv("SSOGATE_ORG_AUDIT_MAX_ENTRIES", "100", 1);
    struct config cfg;
    struct err ce;
    cr_assert_eq(config_load(&cfg, NULL, &ce), 0, "%s", ce.msg);
    org_configure(&cfg);
    config_free(&cfg);
    unsetenv("SSOGATE_ORG_AUDIT_MAX_ENTRIES");
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    for (int i = 0; i < 600; i++)
        OK(audit_signin(acme.id, "x@acme.test", ISSUER, "refused", "not_a_member", e));
    long long n = ts_org_audit_len(acme.id);
    /* MAXLEN ~ trims whole stream nodes (100 entries each): at most one node over */
    cr_assert(n >= 100 && n <= 200, "XLEN %lld", n);
    setenv("SSOGATE_ORG_AUDIT_MAX_ENTRIES", "99", 1);
    cr_assert_lt(config_load(&cfg, NULL, &ce), 0, "below the minimum is refused");
    config_free(&cfg);
    unsetenv("SSOGATE_ORG_AUDIT_MAX_ENTRIES");
}
