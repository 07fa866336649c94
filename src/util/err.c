/* The one table of stable error codes. Codes are never renamed or reused:
 * tools outside the repository match on them. Add new ones at the end of
 * their group. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct err_def {
    const char *code;
    int status;
    const char *message;
};

static const struct err_def err_table[] = {
    /* generic request errors */
    {"bad_request", 400, "The request is malformed."},
    {"not_found", 404, "No such resource."},
    {"method_not_allowed", 405, "This method is not allowed here."},
    {"body_too_large", 413, "The request body is too large."},
    {"header_too_large", 431, "The request headers are too large."},
    {"uri_too_long", 414, "The request URI is too long."},
    {"request_timeout", 408, "The request took too long to arrive."},
    {"unsupported_media_type", 415, "This content type is not accepted here."},
    {"rate_limited", 429, "Too many requests; try again later."},
    {"unauthorized", 401, "Sign-in or an API key is required."},
    {"forbidden", 403, "You are not allowed to do this."},
    {"csrf_failed", 403, "The request did not carry a valid CSRF token."},
    {"no_route", 403, "No route of the configuration covers this request."},
    {"conflict", 409, "The resource already exists or changed meanwhile."},
    {"internal_error", 500, "Something went wrong on our side."},
    {"store_unavailable", 503, "The session store is unreachable; try again shortly."},
    {"store_error", 500, "The session store refused an operation."},
    {"not_ready", 503, "The service is not ready."},
    /* configuration */
    {"config_invalid", 400, "The configuration is invalid."},
    /* CLI and input validation */
    {"usage", 400, "The command was used incorrectly."},
    {"invalid_slug", 400, "Slugs are 2 to 63 characters: a-z, 0-9 and '-', not starting with '-'."},
    {"invalid_email", 400, "The email address is not valid."},
    {"invalid_domain", 400, "The domain name is not valid."},
    {"org_exists", 409, "An organization with this slug already exists."},
    {"org_not_found", 404, "No such organization."},
    /* SAML response validation (verify-response, ACS) */
    {"saml_invalid_base64", 400, "The SAML response is not valid base64."},
    {"saml_too_large", 413, "The SAML response is too large."},
    {"saml_malformed_xml", 400, "The SAML response is not well-formed XML."},
    {"saml_doctype_forbidden", 400, "The SAML response carries a DOCTYPE, which is never accepted."},
    {"saml_not_a_response", 400, "The document is not a SAML 2.0 Response."},
    {"saml_status_not_success", 401, "The identity provider did not report success."},
    {"saml_assertion_count", 400, "The response must carry exactly one assertion."},
    {"saml_duplicate_id", 400, "The response carries the same ID twice."},
    {"saml_signature_missing", 401, "The assertion is not signed."},
    {"saml_signature_invalid", 401, "The signature does not verify with the identity provider's keys."},
    {"saml_signature_reference", 401, "The signature does not cover the assertion that is used."},
    {"saml_signature_algorithm", 401, "The signature uses an algorithm that is not allowed."},
    {"saml_signature_transform", 401, "The signature uses a transform that is not allowed."},
    {"saml_issuer_mismatch", 401, "The issuer is not this organization's identity provider."},
    {"saml_destination_mismatch", 401, "The response was sent to another address."},
    {"saml_recipient_mismatch", 401, "The assertion is meant for another address."},
    {"saml_audience_mismatch", 401, "The assertion is meant for another service provider."},
    {"saml_not_yet_valid", 401, "The assertion is not valid yet; check the clocks."},
    {"saml_expired", 401, "The assertion has expired."},
    {"saml_in_response_to_mismatch", 401, "The response does not answer a sign-in started here."},
    {"saml_unsolicited", 401, "Sign-in started at the identity provider is not allowed for this organization."},
    {"saml_replay", 401, "This assertion was already used."},
    {"saml_no_subject", 401, "The assertion names no subject."},
    {"saml_no_email", 401, "The assertion carries no usable email address."},
    {"saml_domain_not_allowed", 403, "The email's domain is not a verified domain of this organization."},
    {"saml_decrypt_failed", 401, "The encrypted assertion could not be decrypted."},
    {"saml_metadata_invalid", 400, "The identity provider metadata is not valid."},
    {"saml_value_not_text", 400, "A NameID or attribute value holds markup instead of text."},
    {"saml_metadata_fetch_failed", 502, "The identity provider metadata could not be downloaded."},
    /* SAML service provider flow (issue 3) */
    {"connection_not_found", 404, "This organization has no SAML connection yet."},
    {"saml_relay_state_mismatch", 401, "The sign-in state does not match the request it belongs to."},
    {"saml_missing_response", 400, "No SAMLResponse was posted."},
    {"saml_logout_invalid", 400, "The logout message is not valid or not signed by the identity provider."},
    /* organizations directory (org/) */
    {"invalid_role", 400, "The role is not one of owner, admin, member, viewer or a defined role."},
    {"invalid_setting", 400, "The setting is out of its allowed range."},
    {"last_owner", 409, "An organization must keep at least one owner."},
    {"owner_required", 403, "Only an owner may do this."},
    {"admin_required", 403, "Only an owner or admin may do this."},
    {"member_exists", 409, "This person is already a member."},
    {"member_not_found", 404, "No such member."},
    {"workspace_exists", 409, "A workspace with this slug already exists in the organization."},
    {"workspace_not_found", 404, "No such workspace."},
    {"not_a_member", 403, "You are not a member of this organization; ask an admin for an invitation."},
    {"identity_conflict", 403, "This email belongs to a member linked to another identity; an admin must resolve it."},
    {"domain_not_found", 404, "This domain has not been added to the organization."},
    {"domain_exists", 409, "This domain was already added to the organization."},
    {"domain_taken", 409, "This domain is verified by another organization."},
    {"domain_not_verified", 403, "The email's domain is not a verified domain of this organization."},
    {"dns_record_missing", 422, "The TXT record was not found; publish it and try again."},
    {"dns_record_mismatch", 422, "The TXT record does not carry the expected token."},
    {"dns_unavailable", 503, "The DNS resolvers did not answer; try again later."},
    {"invitation_invalid", 404, "The invitation is unknown or was already used."},
    {"invitation_expired", 410, "The invitation has expired."},
    {"apikey_invalid", 401, "The API key is not valid."},
    {"apikey_expired", 401, "The API key has expired."},
    {"apikey_revoked", 401, "The API key was revoked."},
    {"apikey_scope", 403, "The API key does not carry the scope this needs."},
    {"apikey_not_found", 404, "No such API key."},
    {"sso_required", 403, "This organization requires signing in to the console through its SSO."},
    {NULL, 0, NULL},
};

static const struct err_def *err_find(const char *code)
{
    for (const struct err_def *d = err_table; d->code; d++)
        if (strcmp(d->code, code) == 0)
            return d;
    return NULL;
}

int err_set(struct err *e, const char *code, const char *fmt, ...)
{
    const struct err_def *d = err_find(code);
    if (!d) {
        fprintf(stderr, "BUG: unknown error code '%s'\n", code);
        abort();
    }
    if (!e)
        return -1;
    e->code = d->code;
    e->status = d->status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(e->msg, sizeof e->msg, "%s", d->message);
    }
    return -1;
}

void err_clear(struct err *e)
{
    if (!e)
        return;
    e->code = NULL;
    e->status = 0;
    e->msg[0] = '\0';
}

int err_status(const char *code)
{
    const struct err_def *d = err_find(code);
    return d ? d->status : -1;
}

const char *err_default_message(const char *code)
{
    const struct err_def *d = err_find(code);
    return d ? d->message : NULL;
}

const char *err_code_at(int i)
{
    if (i < 0 || i >= (int)(sizeof err_table / sizeof err_table[0]) - 1)
        return NULL;
    return err_table[i].code;
}
