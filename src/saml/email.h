/* Email addresses as the gateway compares them: trimmed, lower case, the
 * domain as an IDNA A-label (libidn2, UTS#46 non-transitional). */
#ifndef SSOGATE_SAML_EMAIL_H
#define SSOGATE_SAML_EMAIL_H

/* Normalize raw into a malloc'd string, or return NULL and a static reason
 * in *why: exactly one '@', non-empty local part and domain, no spaces or
 * control characters, a valid domain. */
char *email_normalize(const char *raw, const char **why);
/* Normalize a bare domain the same way (malloc'd, or NULL). */
char *email_normalize_domain(const char *raw, const char **why);
/* The domain part of a normalized email (points into it). */
const char *email_domain(const char *email);

#endif
