/* What a verified SAML sign-in means for the directory: link it to a stable
 * user id, accept a pending invitation, or provision a member just in time
 * (domain capture), else refuse. Linking (documented in docs/keys.md): by
 * (org, IdP issuer, NameID) when the NameID format is persistent, so a reused
 * email never inherits a former person's grants; by email otherwise. */
#ifndef SSOGATE_ORG_PROVISION_H
#define SSOGATE_ORG_PROVISION_H

#include "org/org.h"

#define PROVISION_NAMEID_PERSISTENT "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

struct provision_result {
    char uid[ORG_ID_MAX];
    char email[ORG_EMAIL_MAX];
    enum org_role role;     /* NONE: an outsider (workspace grants only) */
    int provisioned;        /* 1: created now by domain capture */
    int invited;            /* 1: created now from an invitation */
};

/* Call after the assertion is verified. invitation_token may be NULL (an
 * invitation is found by email); when given it must be valid and for this
 * email. Refusals (each audited as a "signin" record with its code):
 * saml_domain_not_allowed (email not in a verified domain of the org),
 * not_a_member, identity_conflict, invitation_invalid, invitation_expired,
 * org_not_found. Successful sign-ins are audited too. */
int provision_signin(const char *org_id, const char *issuer, const char *name_id, const char *name_id_format,
                     const char *email, const char *invitation_token, struct provision_result *out,
                     struct err *e);

/* Invitations: email + org role + workspace roles ("ws-slug=role" words,
 * space-separated, may be NULL), valid ttl_s (0 = [org] invitation_ttl_s).
 * *token and *link (base_url/login?org=SLUG&invitation=TOKEN) are malloc'd;
 * the token is stored only hashed. One pending invitation per email: a new
 * one replaces the old. */
int invite_create(const struct org_actor *a, const char *org_id, const char *email, enum org_role role,
                  const char *ws_roles, int ttl_s, char **token, char **link, struct err *e);
/* Pending invitations: [{email, role, workspaces: "slug=role ...", expires,
 * created, by}] (never the token). */
int invite_list_json(const char *org_id, json_t **out, struct err *e);
int invite_revoke(const struct org_actor *a, const char *org_id, const char *email, struct err *e);

#endif
