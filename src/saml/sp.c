/* SP metadata and AuthnRequests. lasso 2.8.1 signs with RSA-SHA1 unless told
 * otherwise, so every LassoServer gets RSA-SHA256 explicitly (STYLE.md). The
 * metadata is written with libxml2's tree API; certificates go through
 * OpenSSL (PEM -> DER -> base64), never string surgery. */
#include "saml/sp.h"

#include <lasso/lasso.h>
#include <lasso/utils.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_authn_statement.h>
#include <lasso/xml/saml-2.0/saml2_name_id.h>
#include <lasso/xml/saml-2.0/saml2_subject.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_logout_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_status_code.h>
#include <lasso/xml/saml-2.0/samlp2_status_response.h>
#include <libxml/tree.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

struct sp {
    LassoServer *server;
    char *idp_entity_id;
    char *acs_url;
    int has_slo;
};

/* base64 of the DER form of a PEM certificate (malloc'd), or NULL. */
static char *cert_der_b64(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    char *out = NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    if (n > 0)
        out = util_b64_encode(der, (size_t)n);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    return out;
}

static void add_key(xmlNodePtr sso, xmlNsPtr md, xmlNsPtr ds, const char *use, const char *b64)
{
    xmlNodePtr kd = xmlNewChild(sso, md, BAD_CAST "KeyDescriptor", NULL);
    xmlNewProp(kd, BAD_CAST "use", BAD_CAST use);
    xmlNodePtr ki = xmlNewChild(kd, ds, BAD_CAST "KeyInfo", NULL);
    xmlNodePtr xd = xmlNewChild(ki, ds, BAD_CAST "X509Data", NULL);
    xmlNewTextChild(xd, ds, BAD_CAST "X509Certificate", BAD_CAST b64);
}

static void add_endpoint(xmlNodePtr sso, xmlNsPtr md, const char *name, const char *binding, const char *loc,
                         const char *index)
{
    xmlNodePtr ep = xmlNewChild(sso, md, BAD_CAST name, NULL);
    xmlNewProp(ep, BAD_CAST "Binding", BAD_CAST binding);
    xmlNewProp(ep, BAD_CAST "Location", BAD_CAST loc);
    if (index) {
        xmlNewProp(ep, BAD_CAST "index", BAD_CAST index);
        xmlNewProp(ep, BAD_CAST "isDefault", BAD_CAST "true");
    }
}

char *sp_metadata(const struct sp_identity *id, struct err *e)
{
    char *cur = cert_der_b64(id->cert_pem);
    char *next = id->next_cert_pem && *id->next_cert_pem ? cert_der_b64(id->next_cert_pem) : NULL;
    char *out = NULL;
    xmlDocPtr doc = NULL;
    if (!cur || (id->next_cert_pem && *id->next_cert_pem && !next)) {
        err_set(e, "config_invalid", "the SP certificate is not a PEM X.509 certificate");
        goto done;
    }
    doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "EntityDescriptor");
    xmlDocSetRootElement(doc, root);
    xmlNsPtr md = xmlNewNs(root, BAD_CAST NS_MD, BAD_CAST "md");
    xmlNsPtr ds = xmlNewNs(root, BAD_CAST NS_DS, BAD_CAST "ds");
    xmlSetNs(root, md);
    xmlNewProp(root, BAD_CAST "entityID", BAD_CAST id->entity_id);
    xmlNodePtr sso = xmlNewChild(root, md, BAD_CAST "SPSSODescriptor", NULL);
    xmlNewProp(sso, BAD_CAST "AuthnRequestsSigned", BAD_CAST "true");
    xmlNewProp(sso, BAD_CAST "WantAssertionsSigned", BAD_CAST "true");
    xmlNewProp(sso, BAD_CAST "protocolSupportEnumeration", BAD_CAST "urn:oasis:names:tc:SAML:2.0:protocol");
    add_key(sso, md, ds, "signing", cur);
    if (next)
        add_key(sso, md, ds, "signing", next);
    add_key(sso, md, ds, "encryption", cur);
    if (next)
        add_key(sso, md, ds, "encryption", next);
    add_endpoint(sso, md, "SingleLogoutService", BINDING_REDIRECT, id->slo_url, NULL);
    add_endpoint(sso, md, "SingleLogoutService", BINDING_POST, id->slo_url, NULL);
    xmlNewTextChild(sso, md, BAD_CAST "NameIDFormat",
                    BAD_CAST "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
    xmlNewTextChild(sso, md, BAD_CAST "NameIDFormat", BAD_CAST "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    add_endpoint(sso, md, "AssertionConsumerService", BINDING_POST, id->acs_url, "0");
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    if (mem) {
        out = util_xstrndup((const char *)mem, (size_t)size);
        xmlFree(mem);
    }
done:
    xmlFreeDoc(doc);
    free(cur);
    free(next);
    return out;
}

struct sp *sp_new(const struct sp_identity *id, const char *idp_metadata, struct err *e)
{
    char *md = sp_metadata(id, e);
    if (!md)
        return NULL;
    struct sp *sp = util_xcalloc(1, sizeof *sp);
    /* No certificate for lasso: it signs HTTP-Redirect messages, which carry
     * no KeyInfo, and with a certificate lasso 2.8.1 reloads it on every
     * signature through xmlSecOpenSSLAppKeyCertLoad, which takes the PEM text
     * for a file name and leaks the BIO of the failed open (xmlsec 1.2.37):
     * ~96 bytes per sign-in. The certificate is published in our metadata. */
    sp->server = lasso_server_new_from_buffers(md, id->key_pem, NULL, NULL);
    free(md);
    if (!sp->server) {
        err_set(e, "config_invalid", "lasso refused the SP key or certificate");
        goto fail;
    }
    sp->server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
    if (lasso_server_add_provider_from_buffer(sp->server, LASSO_PROVIDER_ROLE_IDP, idp_metadata, NULL, NULL) != 0) {
        err_set(e, "saml_metadata_invalid", "lasso could not load the identity provider metadata");
        goto fail;
    }
    /* The one IdP just added: its entityID is the providers table's only key. */
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, sp->server->providers);
    if (!g_hash_table_iter_next(&it, &key, &value)) {
        err_set(e, "saml_metadata_invalid", "the identity provider metadata names no entity");
        goto fail;
    }
    sp->idp_entity_id = util_xstrdup((const char *)key);
    sp->acs_url = util_xstrdup(id->acs_url);
    gchar *slo = lasso_provider_get_metadata_one((LassoProvider *)value, "SingleLogoutService HTTP-Redirect");
    sp->has_slo = slo != NULL;
    g_free(slo);
    return sp;
fail:
    sp_free(sp);
    return NULL;
}

void sp_free(struct sp *sp)
{
    if (!sp)
        return;
    if (sp->server)
        lasso_server_destroy(sp->server);
    free(sp->idp_entity_id);
    free(sp->acs_url);
    free(sp);
}

int sp_authn_request(const struct sp *sp, const char *relay_state, char **url, char **request_id, struct err *e)
{
    int rc = -1;
    LassoLogin *login = lasso_login_new(sp->server);
    if (!login)
        return err_set(e, "internal_error", "lasso_login_new failed");
    if (lasso_login_init_authn_request(login, sp->idp_entity_id, LASSO_HTTP_METHOD_REDIRECT) != 0) {
        err_set(e, "saml_metadata_invalid", "the identity provider has no HTTP-Redirect sign-in endpoint");
        goto done;
    }
    LassoSamlp2AuthnRequest *req = LASSO_SAMLP2_AUTHN_REQUEST(LASSO_PROFILE(login)->request);
    lasso_assign_string(req->ProtocolBinding, BINDING_POST);
    lasso_assign_string(req->AssertionConsumerServiceURL, sp->acs_url);
    if (req->NameIDPolicy) {
        lasso_assign_string(req->NameIDPolicy->Format, LASSO_SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED);
        req->NameIDPolicy->AllowCreate = TRUE;
    }
    lasso_assign_string(LASSO_PROFILE(login)->msg_relayState, relay_state);
    if (lasso_login_build_authn_request_msg(login) != 0 || !LASSO_PROFILE(login)->msg_url) {
        err_set(e, "internal_error", "lasso could not build the AuthnRequest");
        goto done;
    }
    *url = util_xstrdup(LASSO_PROFILE(login)->msg_url);
    *request_id = util_xstrdup(LASSO_SAMLP2_REQUEST_ABSTRACT(req)->ID);
    rc = 0;
done:
    lasso_login_destroy(login);
    return rc;
}

int sp_logout_request(const struct sp *sp, const char *name_id, const char *name_id_format,
                      const char *session_index, const char *relay_state, char **url, char **request_id,
                      struct err *e)
{
    *request_id = NULL;
    if (!sp->has_slo)
        return 1;
    int rc = -1;
    LassoLogout *logout = lasso_logout_new(sp->server);
    LassoSaml2NameID *nid = LASSO_SAML2_NAME_ID(lasso_saml2_name_id_new_with_string((char *)name_id));
    if (name_id_format && *name_id_format)
        lasso_assign_string(nid->Format, name_id_format);
    /* lasso addresses a LogoutRequest from the assertion in a session: give
     * it one with the NameID and SessionIndex the session record kept. */
    LassoSession *session = lasso_session_new();
    LassoSaml2Assertion *as = LASSO_SAML2_ASSERTION(lasso_saml2_assertion_new());
    LassoSaml2NameID *iss = LASSO_SAML2_NAME_ID(lasso_saml2_name_id_new_with_string(sp->idp_entity_id));
    LassoSaml2Subject *subj = LASSO_SAML2_SUBJECT(lasso_saml2_subject_new());
    LassoSaml2AuthnStatement *st = LASSO_SAML2_AUTHN_STATEMENT(lasso_saml2_authn_statement_new());
    lasso_assign_gobject(as->Issuer, iss);
    lasso_assign_gobject(subj->NameID, nid);
    lasso_assign_gobject(as->Subject, subj);
    if (session_index && *session_index)
        lasso_assign_string(st->SessionIndex, session_index);
    as->AuthnStatement = g_list_append(NULL, st); /* the assertion now owns st */
    int lrc = lasso_session_add_assertion(session, sp->idp_entity_id, LASSO_NODE(as));
    if (lrc == 0) {
        lasso_assign_gobject(LASSO_PROFILE(logout)->session, session);
        lrc = lasso_logout_init_request(logout, sp->idp_entity_id, LASSO_HTTP_METHOD_REDIRECT);
    }
    if (lrc != 0) {
        err_set(e, "internal_error", "lasso could not start the LogoutRequest: %s", lasso_strerror(lrc));
        goto done;
    }
    lasso_assign_string(LASSO_PROFILE(logout)->msg_relayState, relay_state);
    if (lasso_logout_build_request_msg(logout) != 0 || !LASSO_PROFILE(logout)->msg_url) {
        err_set(e, "internal_error", "lasso could not build the LogoutRequest");
        goto done;
    }
    LassoSamlp2RequestAbstract *req = LASSO_IS_SAMLP2_REQUEST_ABSTRACT(LASSO_PROFILE(logout)->request)
                                          ? LASSO_SAMLP2_REQUEST_ABSTRACT(LASSO_PROFILE(logout)->request)
                                          : NULL;
    if (!req || !req->ID) {
        err_set(e, "internal_error", "lasso built a LogoutRequest without an ID");
        goto done;
    }
    *url = util_xstrdup(LASSO_PROFILE(logout)->msg_url);
    *request_id = util_xstrdup(req->ID);
    rc = 0;
done:
    g_object_unref(subj);
    g_object_unref(iss);
    g_object_unref(as);
    g_object_unref(session);
    g_object_unref(nid);
    lasso_logout_destroy(logout);
    return rc;
}

/* ---- Single Logout started by the IdP, and the IdP's answer to ours ---- */

/* After lasso_logout_validate_request the response exists; without a
 * lasso session (we keep sessions in Redis, not in lasso) lasso marks it
 * denied. The sessions were ended by the caller: report Success. */
static void logout_response_success(LassoProfile *p)
{
    if (!LASSO_IS_SAMLP2_STATUS_RESPONSE(p->response))
        return;
    LassoSamlp2StatusResponse *resp = LASSO_SAMLP2_STATUS_RESPONSE(p->response);
    if (!resp->Status || !resp->Status->StatusCode)
        return;
    lasso_assign_string(resp->Status->StatusCode->Value, LASSO_SAML2_STATUS_CODE_SUCCESS);
    lasso_release_gobject(resp->Status->StatusCode->StatusCode);
    lasso_release_gobject(resp->Status->StatusMessage);
}

static int logout_request_identity(LassoLogout *lo, const struct sp *sp, const char **name_id, GList **indexes,
                                   struct err *e)
{
    LassoProfile *p = LASSO_PROFILE(lo);
    if (!p->remote_providerID || strcmp(p->remote_providerID, sp->idp_entity_id) != 0)
        return err_set(e, "saml_issuer_mismatch", "the LogoutRequest is not from this organization's IdP");
    if (!LASSO_IS_SAMLP2_LOGOUT_REQUEST(p->request))
        return err_set(e, "saml_logout_invalid", "not a SAML 2.0 LogoutRequest");
    LassoSaml2NameID *nid = LASSO_IS_SAML2_NAME_ID(p->nameIdentifier) ? LASSO_SAML2_NAME_ID(p->nameIdentifier)
                                                                        : NULL;
    if (!nid || !nid->content || !*nid->content)
        return err_set(e, "saml_no_subject", "the LogoutRequest names no subject");
    *name_id = nid->content;
    *indexes = lasso_samlp2_logout_request_get_session_indexes(LASSO_SAMLP2_LOGOUT_REQUEST(p->request));
    return 0;
}

int sp_logout_handle_request(const struct sp *sp, const char *msg, sp_slo_end_fn end, void *ctx, char **url,
                             struct err *e)
{
    int rc = -1;
    GList *indexes = NULL;
    LassoLogout *lo = lasso_logout_new(sp->server);
    LassoProfile *p = LASSO_PROFILE(lo);
    /* A LogoutRequest ends sessions: an unsigned one is never acted on. */
    lasso_profile_set_signature_verify_hint(p, LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE);
    int lrc = lasso_logout_process_request_msg(lo, (char *)msg);
    if (lrc != 0 || p->signature_status != 0) {
        err_set(e, "saml_logout_invalid", "the LogoutRequest was refused: %s",
                lasso_strerror(lrc ? lrc : p->signature_status));
        goto done;
    }
    const char *name_id = NULL;
    if (logout_request_identity(lo, sp, &name_id, &indexes, e) < 0)
        goto done;
    if (!indexes) {
        if (end(ctx, name_id, "") < 0)
            goto store_failed;
    }
    for (GList *it = indexes; it; it = it->next)
        if (end(ctx, name_id, (const char *)it->data) < 0)
            goto store_failed;
    lasso_logout_validate_request(lo);
    logout_response_success(p);
    /* Answer with the Redirect binding whatever the request's binding was:
     * a POST answer would need an auto-submitting script. */
    p->http_request_method = LASSO_HTTP_METHOD_REDIRECT;
    if (lasso_logout_build_response_msg(lo) != 0 || !p->msg_url) {
        err_set(e, "internal_error", "lasso could not build the LogoutResponse");
        goto done;
    }
    *url = util_xstrdup(p->msg_url);
    rc = 0;
    goto done;
store_failed:
    err_set(e, "store_unavailable", NULL);
done:
    lasso_release_list_of_strings(indexes);
    lasso_logout_destroy(lo);
    return rc;
}

int sp_logout_handle_response(const struct sp *sp, const char *msg, char **in_response_to, struct err *e)
{
    *in_response_to = NULL;
    LassoLogout *lo = lasso_logout_new(sp->server);
    LassoProfile *p = LASSO_PROFILE(lo);
    lasso_profile_set_signature_verify_hint(p, LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE);
    int lrc = lasso_logout_process_response_msg(lo, (char *)msg);
    int rc = 0;
    /* Without the lasso session of the request lasso may stop after the
     * signature with a profile error; only a signature or parse failure
     * (or a foreign issuer) refuses the answer. */
    if (p->signature_status != 0 || !p->response ||
        (lrc != 0 && lrc != LASSO_PROFILE_ERROR_SESSION_NOT_FOUND && lrc != LASSO_PROFILE_ERROR_IDENTITY_NOT_FOUND &&
         lrc != LASSO_LOGOUT_ERROR_UNKNOWN_PRINCIPAL && lrc != LASSO_LOGOUT_ERROR_REQUEST_DENIED))
        rc = err_set(e, "saml_logout_invalid", "the LogoutResponse was refused: %s",
                     lasso_strerror(lrc ? lrc : p->signature_status));
    else if (!p->remote_providerID || strcmp(p->remote_providerID, sp->idp_entity_id) != 0)
        rc = err_set(e, "saml_issuer_mismatch", "the LogoutResponse is not from this organization's IdP");
    else if (!LASSO_IS_SAMLP2_STATUS_RESPONSE(p->response) ||
             !LASSO_SAMLP2_STATUS_RESPONSE(p->response)->InResponseTo)
        rc = err_set(e, "saml_in_response_to_mismatch", "the LogoutResponse answers no request (no InResponseTo)");
    else
        *in_response_to = util_xstrdup(LASSO_SAMLP2_STATUS_RESPONSE(p->response)->InResponseTo);
    lasso_logout_destroy(lo);
    return rc;
}

int sp_has_slo(const struct sp *sp)
{
    return sp->has_slo;
}
