/* One SAML connection per organization: the IdP metadata and the settings
 * the ACS applies (email attribute, IdP-initiated, SHA-1, clock skew), kept
 * in Redis (sg:{o:ID}:conn, docs/keys.md), validated before it is stored, and
 * compiled once per version into a shared, refcounted object (struct idp +
 * struct sp) that worker threads borrow for one request. */
#ifndef SSOGATE_SAML_CONNECTION_H
#define SSOGATE_SAML_CONNECTION_H

#include <jansson.h>
#include <stddef.h>

#include "org/org.h"
#include "saml/response.h"
#include "util/config.h"
#include "util/err.h"
#include "util/util.h"

#define CONNECTION_MAX_METADATA (512 * 1024)

struct connection;
struct sp;
struct idp;

/* Load the SP key and certificates (current and next) named by [saml], the
 * base URL and the defaults. Once, before any other call. */
int connection_configure(const struct config *cfg, struct err *e);
/* Drop the cache and the SP keys (after the server stopped). */
void connection_shutdown(void);

struct connection_input {
    const char *idp_metadata;     /* EntityDescriptor XML */
    size_t idp_metadata_len;
    const char *idp_metadata_url; /* NULL/"": set by file; else where it came from */
    const char *email_attribute;  /* NULL or "": NameID / email / mail / OIDs */
    int allow_idp_initiated;
    int allow_sha1;
    int clock_skew_s;             /* -1: the instance's [saml] clock_skew_s */
};

/* Validate (idp_new and a LassoServer built from it) and store, as one
 * script on the org's keys, audited ("connection.set"); the version counter
 * moves so every instance recompiles. *out (may be NULL) gets the
 * connection_show object. Nothing is written when anything is refused. */
int connection_set(const struct org_actor *a, const struct org_info *org, const struct connection_input *in,
                   json_t **out, struct err *e);
/* {"org", "version", "idp_entity_id", "sso_url", "slo_url", "email_attribute",
 *  "allow_idp_initiated", "allow_sha1", "clock_skew_s", "sp_entity_id",
 *  "acs_url", "slo_url_sp", "updated"}; NULL + connection_not_found. */
json_t *connection_show(const struct org_info *org, struct err *e);

/* Fetch the org's idp_metadata_url again (bounded by timeout_ms) and, when
 * the document changed and validates (idp_new + LassoServer, same entityID),
 * store it with a new version, audited "connection.metadata_refresh". The
 * stored metadata (and its certificates) stay in force on any failure, which
 * is logged and audited. 1 updated, 0 unchanged or no URL, -1 failed. */
int connection_refresh(const struct org_info *org, int timeout_ms, struct err *e);

/* Log a warning for each IdP signing certificate that expires within
 * [saml] cert_warn_days (or has expired); returns how many, -1 on error. */
int connection_check_expiry(const struct org_info *org, struct err *e);
/* ssogate_idp_cert_expiry_seconds{org} and ssogate_idp_certs_expiring{org}
 * gauges (Prometheus text) for the connections compiled in this process. */
void connection_metrics_render(struct buf *out);

/* The compiled connection of an org (one HGET of the version per call; a
 * recompile when it moved). connection_not_found when the org has none.
 * Release it when the request is done. */
struct connection *connection_get(const struct org_info *org, struct err *e);
void connection_release(struct connection *c);

const struct idp *connection_idp(const struct connection *c);
const struct sp *connection_sp(const struct connection *c);
/* Fills the connection's part of the validator settings (idp, entity id, ACS
 * URL, skew, SHA-1, IdP-initiated, email attribute, SP decryption key). */
void connection_response_settings(const struct connection *c, struct response_settings *s);

/* Our URLs for an org (malloc'd): <base_url>/saml/<slug>/{metadata,acs,slo}. */
char *connection_url(const char *slug, const char *what);
/* SP metadata for this org (malloc'd XML); needs no connection. */
char *connection_sp_metadata(const char *slug, struct err *e);

#endif
