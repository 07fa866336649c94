/* The SAML 2.0 Response validator behind the ACS endpoint and
 * `ssogate verify-response`: from the posted SAMLResponse form value to a
 * verified identity, or a stable error code. Every check that could be made
 * is recorded (name, pass/fail, expected, got) for the org console.
 * Request state and replay are the caller's: it gets the assertion ID, its
 * expiry and the InResponseTo value to check its Redis stores with. */
#ifndef SSOGATE_SAML_RESPONSE_H
#define SSOGATE_SAML_RESPONSE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "saml/idp.h"
#include "saml/spkey.h"
#include "util/err.h"

#define RESPONSE_DEFAULT_MAX_SIZE (256 * 1024)   /* decoded bytes */
#define RESPONSE_DEFAULT_CLOCK_SKEW 60           /* seconds */

/* One connection's settings plus this request's expectations. Zero-init it,
 * then fill; zeros pick the defaults. */
struct response_settings {
    const struct idp *idp;           /* required */
    const char *sp_entity_id;        /* required: the Audience */
    const char *acs_url;             /* required: Destination and Recipient */
    time_t now;                      /* 0: the real clock */
    int clock_skew;                  /* seconds; 0: default, <0: none */
    const char *request_id;          /* expected InResponseTo, or NULL */
    /* Instead of request_id, the ACS may look the InResponseTo up in its
     * pending-request store: return 1 pending (and consume it if it likes),
     * 0 unknown, -1 store unreachable (-> store_unavailable). Called at most
     * once, with the value from the verified assertion, and only when every
     * check before it passed, so garbage never costs a store round trip. */
    int (*request_pending)(void *ctx, const char *in_response_to);
    void *request_ctx;
    /* Instead of both: the caller checks the InResponseTo it gets in
     * out->in_response_to against its store after a successful validation
     * (the ACS folds that into one script with the replay check). The
     * validator then only checks that the Response and the confirmation
     * agree, and records the value as "in_response_to" (deferred). */
    int defer_in_response_to;
    int allow_idp_initiated;         /* accept responses without InResponseTo */
    int allow_sha1;                  /* accept RSA-SHA1 and SHA-1 digests */
    const char *email_attribute;     /* attribute Name to read the email from */
    /* NULL: any domain (verify-response without --allowed-domain). Non-NULL:
     * the email's domain must equal one of the n entries exactly; an empty
     * list refuses every email (fail closed for an org with no domain). */
    const char *const *allowed_domains;
    size_t n_allowed_domains;
    const struct spkey *sp_key;      /* for EncryptedAssertion, or NULL */
    size_t max_size;                 /* decoded bytes; 0: 256 KiB */
};

/* The outcome of one check. expected/got are short, printable, and never a
 * secret or the assertion itself. */
struct response_check {
    const char *name;     /* stable, e.g. "audience", "signature" */
    int ok;
    const char *code;     /* error code when !ok, else NULL */
    char *expected;       /* may be NULL */
    char *got;            /* may be NULL */
};

struct response_result {
    /* identity, all from the verified assertion (set on success only) */
    char *email;             /* trimmed, lower case, domain as IDNA A-label */
    char *name_id;
    char *name_id_format;    /* NULL when the NameID has no Format */
    char *issuer;
    char *session_index;     /* NULL when absent */
    json_t *attributes;      /* object: Name -> array of strings */
    /* for the caller's replay cache and pending-request store */
    char *assertion_id;
    time_t not_on_or_after;  /* keep the assertion ID at least until then */
    char *in_response_to;    /* NULL for IdP-initiated */
    /* every check made, in order, success or not */
    struct response_check *checks;
    size_t n_checks;
};

/* Validate the SAMLResponse form value (base64, CR/LF wrapping allowed).
 * Returns 0 with the identity in out, or -1 with the first failing check's
 * code in e. out->checks is filled either way; free out with
 * response_result_free (also after a failure). */
int response_validate(const char *form_value, size_t len,
                      const struct response_settings *s,
                      struct response_result *out, struct err *e);
/* The same on the decoded XML (for fuzzing and tests). */
int response_validate_xml(const char *xml, size_t len,
                          const struct response_settings *s,
                          struct response_result *out, struct err *e);
void response_result_free(struct response_result *r);

/* [{"check", "ok", "code"?, "expected"?, "got"?}, ...]; json_decref it. */
json_t *response_checks_json(const struct response_result *r);
/* {"email", "name_id", "name_id_format", "issuer", "session_index",
 *  "attributes"} of a successful result; json_decref it. */
json_t *response_identity_json(const struct response_result *r);

#endif
