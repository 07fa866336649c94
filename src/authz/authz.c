/* The decision matrix (docs/authz.md). Rules, in order:
 * 1. Org owners and admins act as workspace admins in every workspace of
 *    their org.
 * 2. Otherwise the effective role is the subject's own workspace role (member
 *    or outsider grant), else the workspace's default role for org members.
 *    No role: denied (org membership alone grants no workspace).
 * 3. Org viewers are capped at the viewer role whatever the workspace says.
 * 4. The role must hold the permission; model:<name>:use needs the model in
 *    the workspace's entitlements AND a role that may read the workspace. */
#include "authz/authz.h"

#include <string.h>

static const char *const viewer_perms[] = {"workspace:read", NULL};
static const char *const editor_perms[] = {"workspace:read", "workspace:write", NULL};
static const char *const admin_perms[] = {"workspace:read", "workspace:write", "workspace:admin", NULL};

static const char *const *builtin_perms(const char *role)
{
    if (!role)
        return NULL;
    if (strcmp(role, "viewer") == 0)
        return viewer_perms;
    if (strcmp(role, "editor") == 0)
        return editor_perms;
    if (strcmp(role, "admin") == 0)
        return admin_perms;
    return NULL;
}

int authz_builtin_role(const char *name)
{
    return builtin_perms(name) != NULL;
}

int authz_permission_valid(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int list_has(const char *const *list, size_t n, const char *item)
{
    for (size_t i = 0; list && i < n; i++)
        if (list[i] && strcmp(list[i], item) == 0)
            return 1;
    return 0;
}

static int null_list_has(const char *const *list, const char *item)
{
    for (; list && *list; list++)
        if (strcmp(*list, item) == 0)
            return 1;
    return 0;
}

/* Does role (built-in or custom) hold perm? */
static int role_holds(const struct authz_subject *s, const char *role, const char *perm)
{
    const char *const *b = builtin_perms(role);
    if (b)
        return null_list_has(b, perm);
    return list_has(s->custom_permissions, s->ncustom, perm);
}

static int is_model_permission(const char *p)
{
    size_t n = strlen(p);
    return n > 10 && strncmp(p, "model:", 6) == 0 && strcmp(p + n - 4, ":use") == 0;
}

static void deny(struct authz_result *out, const char *reason, const char *role)
{
    out->allow = 0;
    out->reason = reason;
    out->role = role ? role : "";
}

void authz_decide(const struct authz_subject *s, const char *permission, struct authz_result *out)
{
    if (!authz_permission_valid(permission)) {
        deny(out, "invalid_permission", NULL);
        return;
    }
    const char *role;
    const char *granted_by;
    if (s->org_role == ORG_ROLE_OWNER || s->org_role == ORG_ROLE_ADMIN) {
        role = "admin";
        granted_by = "org_admin";
    } else if (s->workspace_role) {
        role = s->workspace_role;
        granted_by = s->org_role == ORG_ROLE_NONE ? "outsider_grant" : "workspace_role";
    } else if (s->default_role && s->org_role != ORG_ROLE_NONE) {
        role = s->default_role;
        granted_by = "default_role";
    } else {
        deny(out, "no_workspace_access", NULL);
        return;
    }
    /* Org viewers are read-only wherever they have access. */
    if (s->org_role == ORG_ROLE_VIEWER && !role_holds(s, "viewer", permission) && !is_model_permission(permission)) {
        deny(out, "org_viewer_read_only", "viewer");
        return;
    }
    if (s->org_role == ORG_ROLE_VIEWER && builtin_perms(role) && strcmp(role, "viewer") != 0)
        role = "viewer";
    if (is_model_permission(permission)) {
        if (!list_has(s->entitlements, s->nentitlements, permission)) {
            deny(out, "entitlement_missing", role);
            return;
        }
        if (!role_holds(s, role, "workspace:read") && !role_holds(s, role, permission)) {
            deny(out, "permission_not_in_role", role);
            return;
        }
    } else if (!role_holds(s, role, permission)) {
        deny(out, "permission_not_in_role", role);
        return;
    }
    out->allow = 1;
    out->reason = granted_by;
    out->role = role;
}
