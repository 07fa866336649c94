/* The organizations directory in Redis: organizations and their settings,
 * members with an org role, workspaces with their members, custom roles,
 * outsider grants, default workspace access and entitlements. Every change is
 * one Lua script on the org's hash-tagged keys (atomic, audited in the same
 * script); the key schema is in docs/keys.md. */
#ifndef SSOGATE_ORG_ORG_H
#define SSOGATE_ORG_ORG_H

#include <jansson.h>
#include <stddef.h>

#include "util/config.h"
#include "util/err.h"

#define ORG_ID_MAX 40      /* "o_" + 20 hex, NUL; user ids "u_...", workspace ids "w_..." */
#define ORG_SLUG_MAX 64
#define ORG_NAME_MAX 128
#define ORG_EMAIL_MAX 256

enum org_role {
    ORG_ROLE_NONE = 0,     /* not a member (an outsider, or nobody) */
    ORG_ROLE_VIEWER,
    ORG_ROLE_MEMBER,
    ORG_ROLE_ADMIN,
    ORG_ROLE_OWNER,
};
const char *org_role_name(enum org_role r);          /* "" for NONE */
int org_role_parse(const char *s, enum org_role *out); /* -1 unknown */

/* Who performs a change, for the role rules and the audit log. An operator
 * (CLI) is above the org's roles; anyone else acts with the org role of uid,
 * read inside the change's script (never trusted from the caller). */
struct org_actor {
    int operator;
    const char *uid;       /* the acting member (human or service account) */
    const char *label;     /* audit "actor": "cli", "user:u_..", "key:sgk_ab12.." */
    int reads_only;        /* a look-up: changes nothing that cached reads depend on */
};

struct org_settings {
    int max_session_s;     /* 0 = the instance's; else <= instance */
    int idle_timeout_s;    /* 0 = the instance's; else <= instance */
    int domain_capture;
    enum org_role default_role;   /* role of members provisioned just in time */
    int require_sso;
};

struct org_info {
    char id[ORG_ID_MAX];
    char slug[ORG_SLUG_MAX];
    char name[ORG_NAME_MAX];
    long long created_ms;
    struct org_settings settings;
};

struct org_member {
    char uid[ORG_ID_MAX];
    char email[ORG_EMAIL_MAX];
    char kind[16];         /* "human" or "service" */
    char name[ORG_NAME_MAX];
    enum org_role role;    /* NONE for an outsider */
};

/* Take the instance bounds, audit cap, invitation TTL, base_url and the
 * [dns] settings (domain_configure) from the config. Call once at start,
 * before threads; without it, built-in defaults apply (tests). */
void org_configure(const struct config *cfg);
int org_instance_max_session_s(void);
int org_instance_idle_timeout_s(void);
int org_invitation_ttl_s(void);
const char *org_base_url(void);

int org_slug_valid(const char *slug);
/* An id of ours: kind ('o', 'u', 'w') '_' and 20 lower-case hex. Ids from
 * outside (API paths) are checked before they reach a key name. */
int org_id_valid(char kind, const char *id);
/* Lower case, one '@', a plausible domain; out gets the normalized form. */
int org_email_normalize(const char *in, char *out, size_t n, struct err *e);

/* Create an org with its first owner (a human member by email) and an org
 * admin API key for that owner, shown once: *owner_key (malloc'd). */
int org_create(const struct org_actor *a, const char *slug, const char *name, const char *owner_email,
               struct org_info *out, char **owner_key, struct err *e);
/* By slug or by id ("o_..."); org_not_found when absent. */
int org_lookup(const char *slug_or_id, struct org_info *out, struct err *e);
/* org_lookup through the process cache (at most [session] cache_ttl_ms old,
 * dropped by any invalidation message): for the per-request paths. */
int org_lookup_cached(const char *slug, struct org_info *out, struct err *e);
/* Slugs of all orgs, sorted; *slugs is a NULL-terminated malloc'd array. */
int org_list(char ***slugs, size_t *n, struct err *e);
void org_strv_free(char **v);
/* Delete the org and everything in it (owners and the operator only): the
 * org's keys in one script, then its global claims (slug, verified domains,
 * key prefixes) are released. Sessions are the session layer's to revoke. */
int org_delete(const struct org_actor *a, const char *org_id, struct err *e);
int org_settings_update(const struct org_actor *a, const char *org_id, const struct org_settings *s,
                        struct err *e);

/* Members. Adding by email makes a human member not yet linked to an IdP
 * identity (linked at first sign-in, see provision.h). */
int org_member_add(const struct org_actor *a, const char *org_id, const char *email, enum org_role role,
                   char uid[ORG_ID_MAX], struct err *e);
int org_service_account_add(const struct org_actor *a, const char *org_id, const char *name,
                            enum org_role role, char uid[ORG_ID_MAX], struct err *e);
int org_member_set_role(const struct org_actor *a, const char *org_id, const char *uid, enum org_role role,
                        struct err *e);
int org_member_remove(const struct org_actor *a, const char *org_id, const char *uid, struct err *e);
int org_member_get(const char *org_id, const char *uid, struct org_member *out, struct err *e);
int org_member_by_email(const char *org_id, const char *email, char uid[ORG_ID_MAX], struct err *e);

/* Workspaces (slug unique in the org; a workspace belongs to one org). */
int org_ws_create(const struct org_actor *a, const char *org_id, const char *slug, const char *name,
                  char ws_id[ORG_ID_MAX], struct err *e);
int org_ws_lookup(const char *org_id, const char *slug, char ws_id[ORG_ID_MAX], struct err *e);
int org_ws_delete(const struct org_actor *a, const char *org_id, const char *ws_id, struct err *e);
/* The role every org member gets in this workspace; "" = none. */
int org_ws_set_default_role(const struct org_actor *a, const char *org_id, const char *ws_id,
                            const char *role, struct err *e);
/* Give uid a workspace role (admin/editor/viewer or a custom role). A uid that
 * is no org member gets an outsider grant. */
int org_ws_member_set(const struct org_actor *a, const char *org_id, const char *ws_id, const char *uid,
                      const char *role, struct err *e);
/* Outsider: a person who is no org member, known by email, with a grant on
 * one workspace. uid gets their (new or existing) id. */
int org_outsider_grant(const struct org_actor *a, const char *org_id, const char *email, const char *ws_id,
                       const char *role, char uid[ORG_ID_MAX], struct err *e);
int org_ws_member_remove(const struct org_actor *a, const char *org_id, const char *ws_id,
                         const char *uid, struct err *e);
/* Entitlements such as "model:gpt-4o:use" granted in a workspace. */
int org_ws_entitlement_set(const struct org_actor *a, const char *org_id, const char *ws_id,
                           const char *perm, int on, struct err *e);
/* Custom role: name -> space-separated permissions; perms NULL deletes. */
int org_role_define(const struct org_actor *a, const char *org_id, const char *name, const char *perms,
                    struct err *e);

/* Everything the access decision needs about (uid, workspace), in one read.
 * The two word lists are at most ORG_PERMS_MAX / ORG_ENTITLEMENTS_MAX bytes
 * with their NUL; words past that are not granted. */
#define ORG_PERMS_MAX 4096
#define ORG_ENTITLEMENTS_MAX 8192
struct org_ws_access {
    char ws_id[ORG_ID_MAX];
    enum org_role org_role;   /* NONE: outsider or nobody */
    char ws_role[64];         /* explicit grant; "" none */
    char default_role[64];    /* the workspace's default for org members; "" none */
    char *role_perms;         /* custom role's permissions (space-separated) or NULL */
    char *entitlements;       /* space-separated, or NULL */
};
/* org_not_found / not_found (workspace) when absent. Free with _clear. */
int org_ws_access_load(const char *org_id, const char *ws_slug, const char *uid, struct org_ws_access *out,
                       struct err *e);
/* org_ws_access_load for n (org, workspace, user) in one Redis round trip
 * (background reloads): rc[i] 0 with out[i], or -1 with errs[i]. Clear each
 * out[i] with _clear. */
void org_ws_access_load_many(int n, const char *const *org_ids, const char *const *ws_slugs,
                             const char *const *uids, struct org_ws_access *out, int *rc, struct err *errs);
void org_ws_access_clear(struct org_ws_access *x);

/* Listings for the admin API and the CLI (JSON arrays, new references):
 * members and outsiders [{id, email, kind, name, role, linked}], workspaces
 * [{id, slug, name, default_role, members: {uid: role}, entitlements: [..]}],
 * custom roles [{name, permissions: [..]}]. */
int org_members_json(const char *org_id, json_t **out, struct err *e);
int org_workspaces_json(const char *org_id, json_t **out, struct err *e);
int org_roles_json(const char *org_id, json_t **out, struct err *e);

/* For the org/ modules: run one of their Lua scripts on org_id's keys.
 * ARGV starts with now_ms, audit cap, actor label, actor uid, operator flag
 * (filled here) followed by args. Returns the reply of a script that
 * returned {"ok", ...}, else NULL with e set from {"err", code, msg}.
 * script must be a static string: its address names it in a cache of the
 * full script texts. */
struct store_reply;
struct store_reply *org_script(const char *script, const char *org_id, const struct org_actor *a, int nargs,
                               const char **args, struct err *e);
/* The Lua helpers every org script starts with (role checks, audit). */
extern const char org_lua_prelude[];
void org_new_id(char prefix, char out[ORG_ID_MAX]);
/* Global name -> org id keys (slug, verified domain, key prefix) live outside
 * the org's slot: claimed first with SET NX (a dangling claim, whose org is
 * gone, is taken over), released by compare-and-delete. 1 claimed, 0 held by
 * another live org, -1 store error. live (NULL: the org exists) says whether
 * the holder still stands behind the claim: 1 yes, 0 dangling, -1 error. */
typedef int (*org_claim_live_fn)(const char *holder_org_id, const char *key, struct err *e);
int org_global_claim(const char *key, const char *org_id, org_claim_live_fn live, struct err *e);
void org_global_release(const char *key, const char *org_id);
/* Field of a flat HGETALL reply, or NULL. */
const char *org_reply_field(const struct store_reply *r, const char *name);

#endif
