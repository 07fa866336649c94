/* The access decision: (subject, workspace, permission) -> allow/deny, why,
 * and the effective workspace role. Pure: the caller loads the subject's
 * roles (org/, session/) and this module only decides, so the matrix in
 * docs/authz.md is tested row by row without Redis or HTTP. */
#ifndef SSOGATE_AUTHZ_AUTHZ_H
#define SSOGATE_AUTHZ_AUTHZ_H

#include <stddef.h>

#include "org/org.h"   /* enum org_role */


struct authz_subject {
    enum org_role org_role;
    /* The subject's own role in the workspace (membership, or an outsider
     * grant), or NULL. "admin", "editor", "viewer" or a custom role name. */
    const char *workspace_role;
    /* The workspace's default role for org members, or NULL (no default). */
    const char *default_role;
    /* When workspace_role (or default_role) is a custom role: its permissions. */
    const char *const *custom_permissions;
    size_t ncustom;
    /* Resource entitlements of the workspace, e.g. "model:gpt-4o:use". */
    const char *const *entitlements;
    size_t nentitlements;
};

struct authz_result {
    int allow;
    const char *reason;  /* stable: see docs/authz.md */
    const char *role;    /* effective workspace role, or "" */
};

/* Decide. permission: "workspace:read|write|admin" or "model:<name>:use" or a
 * custom permission string a custom role may hold. */
void authz_decide(const struct authz_subject *s, const char *permission, struct authz_result *out);

/* Whether name is a built-in workspace role. */
int authz_builtin_role(const char *name);
/* Whether a permission string is well-formed (bounded, [a-z0-9:_.-]). */
int authz_permission_valid(const char *p);

#endif
