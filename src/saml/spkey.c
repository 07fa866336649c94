/* SP decryption key: one xmlsec keys manager per connection holding only the
 * SP's private key, so decrypting a response never reads a key file. During a
 * rollover the next key is chained after the current one and tried second:
 * an IdP that already picked up the next certificate from our metadata
 * encrypts to it before we switch. */
#include "saml/spkey.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmlenc.h>
#include <libxml/tree.h>

#include "util/util.h"

#define SPKEY_MAX (64 * 1024)
#define NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"

struct spkey {
    xmlSecKeysMngrPtr mngr;
    struct spkey *next;   /* the next key during a rollover, or NULL */
};

struct spkey *spkey_new(const char *pem, size_t len, struct err *e)
{
    struct spkey *k = NULL;
    xmlSecKeyPtr key = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)pem, len,
                                                    xmlSecKeyDataFormatPem, NULL,
                                                    NULL, NULL);
    if (!key || !(xmlSecKeyGetType(key) & xmlSecKeyDataTypePrivate)) {
        err_set(e, "config_invalid", "the SP key is not a PEM private key");
        goto done;
    }
    k = util_xcalloc(1, sizeof *k);
    k->mngr = xmlSecKeysMngrCreate();
    if (!k->mngr || xmlSecCryptoAppDefaultKeysMngrInit(k->mngr) < 0 ||
        xmlSecCryptoAppDefaultKeysMngrAdoptKey(k->mngr, key) < 0) {
        err_set(e, "internal_error", "cannot set up the SP key manager");
        spkey_free(k);
        k = NULL;
        goto done;
    }
    key = NULL; /* adopted */
done:
    if (key)
        xmlSecKeyDestroy(key);
    return k;
}

struct spkey *spkey_new_from_file(const char *path, struct err *e)
{
    size_t len = 0;
    char *pem = util_read_file(path, SPKEY_MAX, &len);
    if (!pem) {
        err_set(e, "config_invalid", "cannot read %s: %s", path,
                errno == EFBIG ? "file too large" : strerror(errno));
        return NULL;
    }
    struct spkey *k = spkey_new(pem, len, e);
    explicit_bzero(pem, len);
    free(pem);
    return k;
}

void spkey_free(struct spkey *k)
{
    if (!k)
        return;
    if (k->mngr)
        xmlSecKeysMngrDestroy(k->mngr);
    spkey_free(k->next);
    free(k);
}

static int spkey_is(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNode *spkey_child(xmlNode *parent, const char *ns, const char *name, int *count)
{
    xmlNode *found = NULL;
    *count = 0;
    for (xmlNode *c = parent->children; c; c = c->next)
        if (spkey_is(c, ns, name)) {
            if (!found)
                found = c;
            (*count)++;
        }
    return found;
}

static int spkey_alg_in(const xmlNode *parent, const char *const *allowed)
{
    int n;
    xmlNode *m = spkey_child((xmlNode *)parent, NS_XENC, "EncryptionMethod", &n);
    if (!m || n != 1)
        return 0;
    xmlChar *a = xmlGetNoNsProp(m, (const xmlChar *)"Algorithm");
    int ok = 0;
    for (size_t i = 0; a && allowed[i]; i++)
        if (strcmp((const char *)a, allowed[i]) == 0)
            ok = 1;
    xmlFree(a);
    return ok;
}

/* Content ciphers and key transports we accept. RSA PKCS#1 v1.5 key
 * transport is refused (Bleichenbacher-style oracles, "XML Encryption
 * Attacks" Jager et al. 2012). */
static const char *const spkey_data_algs[] = {
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    NULL,
};
static const char *const spkey_key_algs[] = {
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    NULL,
};

/* CipherData holds exactly one CipherValue: a CipherReference would make
 * xmlsec fetch the ciphertext from a URI. */
static int spkey_cipher_value(xmlNode *parent)
{
    int n_cd, n_cv;
    xmlNode *cd = spkey_child(parent, NS_XENC, "CipherData", &n_cd);
    if (!cd || n_cd != 1)
        return 0;
    spkey_child(cd, NS_XENC, "CipherValue", &n_cv);
    for (xmlNode *c = cd->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !spkey_is(c, NS_XENC, "CipherValue"))
            return 0;
    return n_cv == 1;
}

/* Put one EncryptedKey (inside KeyInfo already, or the sibling some IdPs
 * send) into EncryptedData/KeyInfo, where xmlsec looks for it; drop
 * RetrievalMethod so nothing else in the document is dereferenced. */
static int spkey_prepare(xmlNode *ea, xmlNode *ed, struct err *e)
{
    int n_ki, n_ek_in, n_ek_out;
    xmlNode *ki = spkey_child(ed, NS_DS, "KeyInfo", &n_ki);
    xmlNode *ek = ki ? spkey_child(ki, NS_XENC, "EncryptedKey", &n_ek_in) : NULL;
    if (!ki)
        n_ek_in = 0;
    xmlNode *ek_out = spkey_child(ea, NS_XENC, "EncryptedKey", &n_ek_out);
    if (n_ki > 1 || n_ek_in + n_ek_out != 1)
        return err_set(e, "saml_decrypt_failed", "expected exactly one EncryptedKey");
    if (!ki) {
        ki = xmlNewNode(NULL, (const xmlChar *)"KeyInfo");
        xmlSetNs(ki, xmlNewNs(ki, (const xmlChar *)NS_DS, (const xmlChar *)"ds"));
        xmlNode *first = ed->children;
        while (first && !spkey_is(first, NS_XENC, "EncryptionMethod"))
            first = first->next;
        if (first)
            xmlAddNextSibling(first, ki);
        else
            xmlAddChild(ed, ki);
    }
    if (ek_out) {
        xmlUnlinkNode(ek_out);
        xmlAddChild(ki, ek_out);
        ek = ek_out;
    }
    for (xmlNode *c = ki->children, *next; c; c = next) {
        next = c->next;
        if (c->type == XML_ELEMENT_NODE && c != ek) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
    if (!spkey_alg_in(ek, spkey_key_algs))
        return err_set(e, "saml_decrypt_failed", "the key transport algorithm is not allowed");
    /* The SP has one key: the EncryptedKey's own KeyInfo (KeyName,
     * RetrievalMethod, certificates) is not needed and not read. */
    int n;
    xmlNode *eki;
    while ((eki = spkey_child(ek, NS_DS, "KeyInfo", &n))) {
        xmlUnlinkNode(eki);
        xmlFreeNode(eki);
    }
    if (!spkey_cipher_value(ek) || !spkey_cipher_value(ed))
        return err_set(e, "saml_decrypt_failed",
                       "CipherData must hold a CipherValue (CipherReference is not allowed)");
    return 0;
}

void spkey_chain(struct spkey *k, struct spkey *next)
{
    while (k->next)
        k = k->next;
    k->next = next;
}

/* One xmlsec decryption attempt with one key manager. The simple keys store
 * hands out its first private key only, so each key gets its own manager
 * and attempt. A failed attempt leaves the document as it was: RSA-OAEP
 * refuses the EncryptedKey before any content is replaced. */
static int spkey_try(const struct spkey *k, xmlNode *ed, int *replaced)
{
    *replaced = 0;
    xmlSecEncCtxPtr ctx = xmlSecEncCtxCreate(k->mngr);
    if (!ctx)
        return -2;
    ctx->keyInfoReadCtx.retrievalMethodCtx.enabledUris = xmlSecTransformUriTypeSameDocument;
    ctx->transformCtx.enabledUris = xmlSecTransformUriTypeNone;
    int rc = xmlSecEncCtxDecrypt(ctx, ed);
    *replaced = ctx->resultReplaced;
    xmlSecEncCtxDestroy(ctx);
    return rc < 0 || !*replaced ? -1 : 0;
}

int spkey_decrypt(const struct spkey *k, struct _xmlNode *ea,
                  struct _xmlNode **assertion, struct err *e)
{
    int rc = -1, n;
    *assertion = NULL;
    xmlNode *ed = spkey_child(ea, NS_XENC, "EncryptedData", &n);
    if (!ed || n != 1) {
        err_set(e, "saml_decrypt_failed", "expected exactly one EncryptedData");
        goto done;
    }
    if (!spkey_alg_in(ed, spkey_data_algs)) {
        err_set(e, "saml_decrypt_failed", "the content encryption algorithm is not allowed");
        goto done;
    }
    if (spkey_prepare(ea, ed, e) < 0)
        goto done;
    int r = -1, replaced = 0;
    for (const struct spkey *x = k; x && r == -1 && !replaced; x = x->next)
        r = spkey_try(x, ed, &replaced);
    if (r == -2) {
        err_set(e, "internal_error", "cannot create the decryption context");
        goto done;
    }
    if (r < 0) {
        err_set(e, "saml_decrypt_failed", "the assertion does not decrypt with the SP key");
        goto done;
    }
    /* The decrypted content must be exactly one saml:Assertion element. */
    xmlNode *found = NULL;
    int elements = 0;
    for (xmlNode *c = ea->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            elements++;
            found = c;
        }
    if (elements != 1 || !spkey_is(found, NS_SAML, "Assertion")) {
        err_set(e, "saml_decrypt_failed", "the decrypted content is not one saml:Assertion");
        goto done;
    }
    *assertion = found;
    rc = 0;
done:
    return rc;
}
