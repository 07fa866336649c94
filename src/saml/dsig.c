/* Signature verification through xmlsec with the IdP key set on the context
 * (so KeyInfo is never read: a certificate in the response is not a trust
 * anchor), xmlsec's own transform and URI restrictions, and our allow-list
 * checked first so each refusal gets a precise code. */
#include "saml/dsig.h"

#include <libxml/tree.h>
#include <libxml/valid.h>
#include <string.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_EC "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

struct dsig_alg {
    const char *uri;
    int sha1;
};

static const struct dsig_alg dsig_sig_algs[] = {
    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", 0},
    {"http://www.w3.org/2000/09/xmldsig#rsa-sha1", 1},
    {NULL, 0},
};

static const struct dsig_alg dsig_digest_algs[] = {
    {"http://www.w3.org/2001/04/xmlenc#sha256", 0},
    {"http://www.w3.org/2001/04/xmldsig-more#sha384", 0},
    {"http://www.w3.org/2001/04/xmlenc#sha512", 0},
    {"http://www.w3.org/2000/09/xmldsig#sha1", 1},
    {NULL, 0},
};

static int dsig_is(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

/* Next element sibling (text and comments skipped). */
static xmlNode *dsig_next_el(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static const char *dsig_allowed(const struct dsig_alg *list, const xmlNode *n,
                                int allow_sha1)
{
    xmlChar *a = xmlGetNoNsProp(n, (const xmlChar *)"Algorithm");
    const char *found = NULL;
    for (const struct dsig_alg *d = list; a && d->uri; d++)
        if (strcmp((const char *)a, d->uri) == 0 && (!d->sha1 || allow_sha1))
            found = d->uri;
    xmlFree(a);
    return found;
}

static int dsig_attr_is(const xmlNode *n, const char *name, const char *want)
{
    xmlChar *a = xmlGetNoNsProp(n, (const xmlChar *)name);
    int eq = a && strcmp((const char *)a, want) == 0;
    xmlFree(a);
    return eq;
}

/* Transforms: only enveloped-signature and exclusive c14n (optionally with an
 * InclusiveNamespaces child), no XSLT, XPath or anything else. */
static int dsig_check_transforms(xmlNode *transforms, struct err *e)
{
    for (xmlNode *t = transforms->children; t; t = t->next) {
        if (t->type != XML_ELEMENT_NODE)
            continue;
        if (!dsig_is(t, NS_DS, "Transform"))
            return err_set(e, "saml_signature_transform", "unexpected element in Transforms");
        xmlChar *a = xmlGetNoNsProp(t, (const xmlChar *)"Algorithm");
        int env = a && strcmp((const char *)a, ALG_ENVELOPED) == 0;
        int exc = a && strcmp((const char *)a, ALG_EXC_C14N) == 0;
        if (!env && !exc) {
            err_set(e, "saml_signature_transform", "transform %.200s is not allowed",
                    a ? (const char *)a : "(none)");
            xmlFree(a);
            return -1;
        }
        xmlFree(a);
        for (xmlNode *c = t->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && !(exc && dsig_is(c, NS_EC, "InclusiveNamespaces")))
                return err_set(e, "saml_signature_transform", "unexpected transform parameter");
    }
    return 0;
}

/* One Reference, URI "#ID" naming signed_node, allowed transforms/digest. */
static int dsig_check_reference(xmlNode *ref, xmlNode *signed_node, int allow_sha1,
                                struct err *e)
{
    xmlChar *id = xmlGetNoNsProp(signed_node, (const xmlChar *)"ID");
    xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
    int rc = -1;
    if (!id || !*id) {
        err_set(e, "saml_signature_reference", "the signed element has no ID");
        goto done;
    }
    if (!uri || uri[0] != '#' || strcmp((const char *)uri + 1, (const char *)id) != 0) {
        err_set(e, "saml_signature_reference",
                "the signature's Reference URI is not \"#\" + the signed element's ID");
        goto done;
    }
    xmlAttrPtr idattr = xmlGetID(signed_node->doc, id);
    if (!idattr || idattr->parent != signed_node) {
        err_set(e, "saml_signature_reference", "the Reference does not resolve to the signed element");
        goto done;
    }
    xmlNode *c = dsig_next_el(ref->children);
    if (dsig_is(c, NS_DS, "Transforms")) {
        if (dsig_check_transforms(c, e) < 0)
            goto done;
        c = dsig_next_el(c->next);
    }
    if (!dsig_is(c, NS_DS, "DigestMethod") || !dsig_allowed(dsig_digest_algs, c, allow_sha1)) {
        err_set(e, "saml_signature_algorithm", "the digest method is not allowed");
        goto done;
    }
    rc = 0;
done:
    xmlFree(id);
    xmlFree(uri);
    return rc;
}

/* Structure of SignedInfo: c14n method, signature method, one Reference. */
static int dsig_check_signed_info(xmlNode *sig, xmlNode *signed_node, int allow_sha1,
                                  const char **alg, struct err *e)
{
    xmlNode *si = dsig_next_el(sig->children);
    if (!dsig_is(si, NS_DS, "SignedInfo"))
        return err_set(e, "saml_signature_invalid", "the signature has no SignedInfo");
    xmlNode *c14n = dsig_next_el(si->children);
    if (!dsig_is(c14n, NS_DS, "CanonicalizationMethod") ||
        !dsig_attr_is(c14n, "Algorithm", ALG_EXC_C14N))
        return err_set(e, "saml_signature_transform",
                       "SignedInfo must use exclusive c14n without comments");
    xmlNode *sm = dsig_next_el(c14n->next);
    *alg = dsig_is(sm, NS_DS, "SignatureMethod") ? dsig_allowed(dsig_sig_algs, sm, allow_sha1) : NULL;
    if (!*alg)
        return err_set(e, "saml_signature_algorithm", "the signature method is not allowed");
    for (xmlNode *c = sm->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) /* HMACOutputLength and the like */
            return err_set(e, "saml_signature_algorithm", "unexpected SignatureMethod parameter");
    xmlNode *ref = dsig_next_el(sm->next);
    if (!dsig_is(ref, NS_DS, "Reference") || dsig_next_el(ref->next))
        return err_set(e, "saml_signature_reference", "the signature must have exactly one Reference");
    return dsig_check_reference(ref, signed_node, allow_sha1, e);
}

static int dsig_enable(xmlSecDSigCtxPtr ctx, int allow_sha1)
{
    int rc = 0;
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformExclC14NId);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha256Id);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha384Id);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha512Id);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha384Id);
    rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha512Id);
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId);
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId);
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id);
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha384Id);
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha512Id);
    if (allow_sha1) {
        rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha1Id);
        rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha1Id);
    }
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
    return rc ? -1 : 0;
}

/* Try one key. The key is borrowed: xmlsec only reads it (the signature
 * transform takes its own reference to the EVP_PKEY), and it is detached
 * before the context is destroyed, so nothing is copied per response. */
static int dsig_try_key(xmlNode *sig, xmlSecKeyPtr key, int allow_sha1)
{
    int ok = 0;
    xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
    if (!ctx)
        return 0;
    if (dsig_enable(ctx, allow_sha1) < 0)
        goto done;
    ctx->signKey = key;
    if (xmlSecDSigCtxVerify(ctx, sig) == 0 && ctx->status == xmlSecDSigStatusSucceeded &&
        xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1)
        ok = 1;
done:
    ctx->signKey = NULL;
    xmlSecDSigCtxDestroy(ctx);
    return ok;
}

static int dsig_hint(xmlNode *sig, const struct idp *idp)
{
    xmlNode *ki = NULL, *xd = NULL, *cert = NULL;
    for (xmlNode *c = sig->children; c && !ki; c = c->next)
        if (dsig_is(c, NS_DS, "KeyInfo"))
            ki = c;
    for (xmlNode *c = ki ? ki->children : NULL; c && !xd; c = c->next)
        if (dsig_is(c, NS_DS, "X509Data"))
            xd = c;
    for (xmlNode *c = xd ? xd->children : NULL; c && !cert; c = c->next)
        if (dsig_is(c, NS_DS, "X509Certificate"))
            cert = c;
    if (!cert || !cert->children || cert->children->type != XML_TEXT_NODE ||
        cert->children->next)
        return -1;
    return idp_key_index_for_cert(idp, (const char *)cert->children->content);
}

int dsig_verify(struct _xmlNode *signed_node, struct _xmlNode *sig,
                const struct idp *idp, int allow_sha1, const char **alg,
                struct err *e)
{
    *alg = NULL;
    if (dsig_check_signed_info(sig, signed_node, allow_sha1, alg, e) < 0)
        return -1;
    /* Try the key whose certificate KeyInfo names first (rollover: saves a
     * c14n and digest pass), then the others; never a key from KeyInfo. */
    int first = dsig_hint(sig, idp);
    if (first >= 0 && dsig_try_key(sig, idp_key_at(idp, (size_t)first), allow_sha1))
        return 0;
    for (size_t i = 0; i < idp_key_count(idp); i++)
        if ((int)i != first && dsig_try_key(sig, idp_key_at(idp, i), allow_sha1))
            return 0;
    return err_set(e, "saml_signature_invalid",
                   "the signature does not verify with the identity provider's certificates");
}
