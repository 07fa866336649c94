/* The decision matrix of docs/authz.md, row by row. */
#include <criterion/criterion.h>
#include <string.h>

#include "authz/authz.h"

static const char *const custom_perms[] = {"workspace:read", "dataset:export"};
static const char *const ents[] = {"model:gpt-4o:use", "model:llama3:use"};

struct row {
    const char *name;
    enum org_role org_role;
    const char *ws_role;
    const char *default_role;
    int custom;          /* ws_role/default is custom with custom_perms */
    const char *permission;
    int allow;
    const char *reason;
    const char *role;
};

static const struct row rows[] = {
    /* org owners and admins: admin everywhere in their org */
    {"owner admin anywhere", ORG_ROLE_OWNER, NULL, NULL, 0, "workspace:admin", 1, "org_admin", "admin"},
    {"admin writes anywhere", ORG_ROLE_ADMIN, NULL, NULL, 0, "workspace:write", 1, "org_admin", "admin"},
    {"admin over a viewer membership", ORG_ROLE_ADMIN, "viewer", NULL, 0, "workspace:admin", 1, "org_admin", "admin"},
    /* members: membership alone grants nothing */
    {"member without workspace", ORG_ROLE_MEMBER, NULL, NULL, 0, "workspace:read", 0, "no_workspace_access", ""},
    {"member viewer reads", ORG_ROLE_MEMBER, "viewer", NULL, 0, "workspace:read", 1, "workspace_role", "viewer"},
    {"member viewer cannot write", ORG_ROLE_MEMBER, "viewer", NULL, 0, "workspace:write", 0, "permission_not_in_role", "viewer"},
    {"member editor writes", ORG_ROLE_MEMBER, "editor", NULL, 0, "workspace:write", 1, "workspace_role", "editor"},
    {"member editor not admin", ORG_ROLE_MEMBER, "editor", NULL, 0, "workspace:admin", 0, "permission_not_in_role", "editor"},
    {"member ws admin", ORG_ROLE_MEMBER, "admin", NULL, 0, "workspace:admin", 1, "workspace_role", "admin"},
    /* default role for org members */
    {"default role applies", ORG_ROLE_MEMBER, NULL, "viewer", 0, "workspace:read", 1, "default_role", "viewer"},
    {"own role beats default", ORG_ROLE_MEMBER, "editor", "viewer", 0, "workspace:write", 1, "workspace_role", "editor"},
    {"default limited", ORG_ROLE_MEMBER, NULL, "viewer", 0, "workspace:write", 0, "permission_not_in_role", "viewer"},
    /* org viewers: read-only wherever they have access */
    {"org viewer reads", ORG_ROLE_VIEWER, "editor", NULL, 0, "workspace:read", 1, "workspace_role", "viewer"},
    {"org viewer capped", ORG_ROLE_VIEWER, "editor", NULL, 0, "workspace:write", 0, "org_viewer_read_only", "viewer"},
    {"org viewer no access", ORG_ROLE_VIEWER, NULL, NULL, 0, "workspace:read", 0, "no_workspace_access", ""},
    /* outsiders: only grants; defaults are for members */
    {"outsider grant", ORG_ROLE_NONE, "editor", NULL, 0, "workspace:write", 1, "outsider_grant", "editor"},
    {"outsider no default", ORG_ROLE_NONE, NULL, "viewer", 0, "workspace:read", 0, "no_workspace_access", ""},
    {"outsider nothing", ORG_ROLE_NONE, NULL, NULL, 0, "workspace:read", 0, "no_workspace_access", ""},
    /* custom roles */
    {"custom perm", ORG_ROLE_MEMBER, "analyst", NULL, 1, "dataset:export", 1, "workspace_role", "analyst"},
    {"custom lacks write", ORG_ROLE_MEMBER, "analyst", NULL, 1, "workspace:write", 0, "permission_not_in_role", "analyst"},
    {"custom as default", ORG_ROLE_MEMBER, NULL, "analyst", 1, "dataset:export", 1, "default_role", "analyst"},
    /* model entitlements */
    {"model entitled", ORG_ROLE_MEMBER, "viewer", NULL, 0, "model:gpt-4o:use", 1, "workspace_role", "viewer"},
    {"model not entitled", ORG_ROLE_MEMBER, "admin", NULL, 0, "model:claude:use", 0, "entitlement_missing", "admin"},
    {"model entitled, no access", ORG_ROLE_MEMBER, NULL, NULL, 0, "model:gpt-4o:use", 0, "no_workspace_access", ""},
    {"model owner still needs entitlement", ORG_ROLE_OWNER, NULL, NULL, 0, "model:claude:use", 0, "entitlement_missing", "admin"},
    {"model for org viewer", ORG_ROLE_VIEWER, "viewer", NULL, 0, "model:llama3:use", 1, "workspace_role", "viewer"},
    /* malformed permission */
    {"bad permission", ORG_ROLE_OWNER, NULL, NULL, 0, "Workspace Read", 0, "invalid_permission", ""},
    {"empty permission", ORG_ROLE_OWNER, NULL, NULL, 0, "", 0, "invalid_permission", ""},
};

Test(authz, matrix_row_by_row)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        struct authz_subject s = {
            .org_role = r->org_role,
            .workspace_role = r->ws_role,
            .default_role = r->default_role,
            .custom_permissions = r->custom ? custom_perms : NULL,
            .ncustom = r->custom ? 2 : 0,
            .entitlements = ents,
            .nentitlements = 2,
        };
        struct authz_result out;
        authz_decide(&s, r->permission, &out);
        cr_expect_eq(out.allow, r->allow, "row '%s': allow %d", r->name, out.allow);
        cr_expect_str_eq(out.reason, r->reason, "row '%s': reason %s", r->name, out.reason);
        cr_expect_str_eq(out.role, r->role, "row '%s': role %s", r->name, out.role);
    }
}
