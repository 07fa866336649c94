/* IdP metadata: parsed with the hardened parser, keys loaded from the
 * metadata's X509Certificate elements only (SAML metadata 2.4.1.1: use
 * "signing" or no use). KeyInfo inside a response is never a key source. */
#include "saml/idp.h"

#include <errno.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/crypto.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <time.h>

#include "saml/saml.h"
#include "util/util.h"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define IDP_MAX_KEYS 8
#define IDP_MAX_ENDPOINTS 16
#define IDP_METADATA_MAX (1024 * 1024)

struct idp_endpoint {
    char *binding;
    char *location;
    char *response_location;
};

struct idp {
    char *entity_id;
    int want_signed_requests;
    xmlSecKeyPtr keys[IDP_MAX_KEYS];
    char *cert_b64[IDP_MAX_KEYS];   /* whitespace-free, to order attempts */
    time_t not_after[IDP_MAX_KEYS]; /* the certificate's notAfter (expiry warnings) */
    size_t n_keys;
    struct idp_endpoint sso[IDP_MAX_ENDPOINTS];
    size_t n_sso;
    struct idp_endpoint slo[IDP_MAX_ENDPOINTS];
    size_t n_slo;
};

static int idp_is(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static char *idp_attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = util_xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

/* notAfter of a DER certificate as Unix time; 0 when unreadable. Only for
 * the expiry warning: lasso/xmlsec never check metadata certificate dates
 * (SAML metadata interop profile: the key is what counts). */
static time_t idp_cert_not_after(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    struct tm tm;
    time_t t = 0;
    if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        t = timegm(&tm);
    X509_free(x);
    return t;
}

/* Load every X509Certificate under one KeyDescriptor's KeyInfo/X509Data. */
static int idp_load_certs(struct idp *idp, const xmlNode *kd, struct err *e)
{
    for (xmlNode *ki = kd->children; ki; ki = ki->next) {
        if (!idp_is(ki, NS_DS, "KeyInfo"))
            continue;
        for (xmlNode *xd = ki->children; xd; xd = xd->next) {
            if (!idp_is(xd, NS_DS, "X509Data"))
                continue;
            for (xmlNode *c = xd->children; c; c = c->next) {
                if (!idp_is(c, NS_DS, "X509Certificate"))
                    continue;
                if (idp->n_keys == IDP_MAX_KEYS)
                    return err_set(e, "saml_metadata_invalid",
                                   "more than %d signing certificates", IDP_MAX_KEYS);
                xmlChar *txt = xmlNodeGetContent(c);
                size_t der_len = 0;
                unsigned char *der = txt ? util_b64_decode((const char *)txt,
                                                           strlen((const char *)txt),
                                                           &der_len) : NULL;
                xmlFree(txt);
                if (!der)
                    return err_set(e, "saml_metadata_invalid",
                                   "a signing certificate is not valid base64");
                idp->cert_b64[idp->n_keys] = util_b64_encode(der, der_len);
                idp->not_after[idp->n_keys] = idp_cert_not_after(der, der_len);
                xmlSecKeyPtr key = xmlSecCryptoAppKeyLoadMemory(
                    der, der_len, xmlSecKeyDataFormatCertDer, NULL, NULL, NULL);
                free(der);
                if (!key) {
                    free(idp->cert_b64[idp->n_keys]);
                    idp->cert_b64[idp->n_keys] = NULL;
                    return err_set(e, "saml_metadata_invalid",
                                   "a signing certificate cannot be loaded");
                }
                idp->keys[idp->n_keys++] = key;
            }
        }
    }
    return 0;
}

static int idp_add_endpoint(struct idp_endpoint *arr, size_t *n, const xmlNode *el,
                            struct err *e)
{
    if (*n == IDP_MAX_ENDPOINTS)
        return 0;
    struct idp_endpoint *ep = &arr[*n];
    ep->binding = idp_attr(el, "Binding");
    ep->location = idp_attr(el, "Location");
    ep->response_location = idp_attr(el, "ResponseLocation");
    (*n)++;
    if (!ep->binding || !ep->location)
        return err_set(e, "saml_metadata_invalid",
                       "an endpoint lacks Binding or Location");
    return 0;
}

static int idp_read_descriptor(struct idp *idp, const xmlNode *sso, struct err *e)
{
    char *want = idp_attr(sso, "WantAuthnRequestsSigned");
    idp->want_signed_requests = want && (strcmp(want, "true") == 0 || strcmp(want, "1") == 0);
    free(want);
    for (xmlNode *c = sso->children; c; c = c->next) {
        if (idp_is(c, NS_MD, "KeyDescriptor")) {
            char *use = idp_attr(c, "use");
            int signing = !use || strcmp(use, "signing") == 0;
            free(use);
            if (signing && idp_load_certs(idp, c, e) < 0)
                return -1;
        } else if (idp_is(c, NS_MD, "SingleSignOnService")) {
            if (idp_add_endpoint(idp->sso, &idp->n_sso, c, e) < 0)
                return -1;
        } else if (idp_is(c, NS_MD, "SingleLogoutService")) {
            if (idp_add_endpoint(idp->slo, &idp->n_slo, c, e) < 0)
                return -1;
        }
    }
    if (idp->n_keys == 0)
        return err_set(e, "saml_metadata_invalid", "the IdP metadata has no signing certificate");
    return 0;
}

static const xmlNode *idp_find_idpsso(const xmlNode *ed)
{
    for (const xmlNode *c = ed->children; c; c = c->next)
        if (idp_is(c, NS_MD, "IDPSSODescriptor"))
            return c;
    return NULL;
}

/* The EntityDescriptor to use: the root, or the single one in an
 * EntitiesDescriptor that has an IDPSSODescriptor. */
static const xmlNode *idp_find_entity(const xmlNode *root, struct err *e)
{
    if (idp_is(root, NS_MD, "EntityDescriptor"))
        return root;
    if (!idp_is(root, NS_MD, "EntitiesDescriptor")) {
        err_set(e, "saml_metadata_invalid", "the root is not an md:EntityDescriptor");
        return NULL;
    }
    const xmlNode *found = NULL;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (!idp_is(c, NS_MD, "EntityDescriptor") || !idp_find_idpsso(c))
            continue;
        if (found) {
            err_set(e, "saml_metadata_invalid", "the metadata describes several IdPs");
            return NULL;
        }
        found = c;
    }
    if (!found)
        err_set(e, "saml_metadata_invalid", "the metadata describes no IdP");
    return found;
}

struct idp *idp_new(const char *xml, size_t len, struct err *e)
{
    struct idp *idp = NULL;
    xmlDocPtr doc = saml_xml_parse(xml, len, e);
    if (!doc)
        goto done;
    const xmlNode *ed = idp_find_entity(xmlDocGetRootElement(doc), e);
    if (!ed)
        goto done;
    const xmlNode *sso = idp_find_idpsso(ed);
    if (!sso) {
        err_set(e, "saml_metadata_invalid", "the entity has no IDPSSODescriptor");
        goto done;
    }
    idp = util_xcalloc(1, sizeof *idp);
    idp->entity_id = idp_attr(ed, "entityID");
    if (!idp->entity_id || !*idp->entity_id) {
        err_set(e, "saml_metadata_invalid", "the entity has no entityID");
        goto fail;
    }
    if (idp_read_descriptor(idp, sso, e) < 0)
        goto fail;
    goto done;
fail:
    idp_free(idp);
    idp = NULL;
done:
    saml_xml_free(doc);
    return idp;
}

struct idp *idp_new_from_file(const char *path, struct err *e)
{
    size_t len = 0;
    char *data = util_read_file(path, IDP_METADATA_MAX, &len);
    if (!data) {
        err_set(e, "saml_metadata_invalid", "cannot read %s: %s", path,
                errno == EFBIG ? "file too large" : strerror(errno));
        return NULL;
    }
    struct idp *idp = idp_new(data, len, e);
    free(data);
    return idp;
}

static void idp_endpoints_free(struct idp_endpoint *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(arr[i].binding);
        free(arr[i].location);
        free(arr[i].response_location);
    }
}

void idp_free(struct idp *idp)
{
    if (!idp)
        return;
    for (size_t i = 0; i < idp->n_keys; i++) {
        xmlSecKeyDestroy(idp->keys[i]);
        free(idp->cert_b64[i]);
    }
    idp_endpoints_free(idp->sso, idp->n_sso);
    idp_endpoints_free(idp->slo, idp->n_slo);
    free(idp->entity_id);
    free(idp);
}

const char *idp_entity_id(const struct idp *idp)
{
    return idp->entity_id;
}

static const struct idp_endpoint *idp_endpoint_find(const struct idp_endpoint *arr,
                                                    size_t n, const char *binding)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].binding, binding) == 0)
            return &arr[i];
    return NULL;
}

const char *idp_sso_url(const struct idp *idp, const char *binding)
{
    const struct idp_endpoint *ep = idp_endpoint_find(idp->sso, idp->n_sso, binding);
    return ep ? ep->location : NULL;
}

const char *idp_slo_url(const struct idp *idp, const char *binding)
{
    const struct idp_endpoint *ep = idp_endpoint_find(idp->slo, idp->n_slo, binding);
    return ep ? ep->location : NULL;
}

const char *idp_slo_response_url(const struct idp *idp, const char *binding)
{
    const struct idp_endpoint *ep = idp_endpoint_find(idp->slo, idp->n_slo, binding);
    if (!ep)
        return NULL;
    return ep->response_location ? ep->response_location : ep->location;
}

int idp_want_authn_requests_signed(const struct idp *idp)
{
    return idp->want_signed_requests;
}

size_t idp_key_count(const struct idp *idp)
{
    return idp->n_keys;
}

time_t idp_key_not_after(const struct idp *idp, size_t i)
{
    return i < idp->n_keys ? idp->not_after[i] : 0;
}

struct _xmlSecKey *idp_key_at(const struct idp *idp, size_t i)
{
    return i < idp->n_keys ? idp->keys[i] : NULL;
}

int idp_key_index_for_cert(const struct idp *idp, const char *b64)
{
    /* compare ignoring whitespace, without allocating */
    for (size_t i = 0; i < idp->n_keys; i++) {
        const char *a = idp->cert_b64[i], *b = b64;
        for (;;) {
            while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
                b++;
            if (*a != *b)
                break;
            if (!*a)
                return (int)i;
            a++;
            b++;
        }
    }
    return -1;
}
