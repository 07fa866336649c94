/* Process-wide SAML set-up: refuse LASSO_FLAG, initialize lasso/xmlsec with
 * safe libxml2 defaults, route library diagnostics to stderr, and the one
 * hardened parser for untrusted XML (no DTD, no entities, no network). */
#include "saml/saml.h"

#include <curl/curl.h>

#include <glib.h>
#include <lasso/lasso.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <stdio.h>
#include <stdlib.h>
#include <xmlsec/errors.h>
#include <xmlsec/io.h>
#include <xmlsec/parser.h>

static int saml_ready;

/* libxml2 and xmlsec report through these; nothing may reach stdout, which
 * carries the JSON answer of the CLI. SSOGATE_SAML_DEBUG=1 shows them. */
static int saml_debug(void)
{
    const char *v = getenv("SSOGATE_SAML_DEBUG");
    return v && *v == '1';
}

static void saml_xml_generic_error(void *ctx, const char *msg, ...)
    __attribute__((format(printf, 2, 3)));

static void saml_xml_generic_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    if (!saml_debug())
        return;
    va_list ap;
    va_start(ap, msg);
    vfprintf(stderr, msg, ap);
    va_end(ap);
}

static void saml_xmlsec_error(const char *file, int line, const char *func,
                              const char *obj, const char *subj, int reason,
                              const char *msg)
{
    (void)file;
    (void)line;
    if (saml_debug())
        fprintf(stderr, "xmlsec: %s: obj=%s subj=%s reason=%d: %s\n",
                func ? func : "", obj ? obj : "", subj ? subj : "", reason,
                msg ? msg : "");
}

static void saml_glib_log(const gchar *domain, GLogLevelFlags level,
                          const gchar *message, gpointer data)
{
    (void)data;
    if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) || saml_debug())
        fprintf(stderr, "%s: %s\n", domain ? domain : "glib", message);
}

/* Never fetch anything a document points at: files, http, catalogs. */
static xmlParserInputPtr saml_no_entity_loader(const char *url, const char *id,
                                               xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL;
}

int saml_init(struct err *e)
{
    /* lasso reads LASSO_FLAG at start; "no-verify-signature" and friends
     * would turn the checks we rely on into no-ops. Checked on every call. */
    if (getenv("LASSO_FLAG"))
        return err_set(e, "config_invalid",
                       "LASSO_FLAG is set in the environment; unset it (it can "
                       "disable SAML signature checks)");
    if (saml_ready)
        return 0;
    xmlInitParser();
    g_log_set_default_handler(saml_glib_log, NULL);
    if (lasso_init() != 0)
        return err_set(e, "internal_error", "lasso_init failed");
    /* xmlsec/lasso may have changed these process defaults; set them after. */
    xmlThrDefSubstituteEntitiesDefaultValue(0);
    xmlThrDefLoadExtDtdDefaultValue(0);
    xmlSubstituteEntitiesDefault(0);
    xmlLoadExtDtdDefaultValue = 0;
    xmlSetExternalEntityLoader(saml_no_entity_loader);
    xmlSetGenericErrorFunc(NULL, saml_xml_generic_error);
    xmlThrDefSetGenericErrorFunc(NULL, saml_xml_generic_error);
    xmlSecErrorsSetCallback(saml_xmlsec_error);
    /* Nothing a signature or an encrypted element names by URI is ever
     * fetched: with no IO callbacks xmlsec cannot open files or URLs. */
    xmlSecIOCleanupCallbacks();
    /* xmlsec parses decrypted content with these; its default has NOENT. */
    xmlSecParserSetDefaultOptions(XML_PARSE_NONET | XML_PARSE_NOCDATA);
    /* IdP metadata downloads (mdurl.c) run on several threads: libcurl's
     * global state is set up once here, before any thread exists. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    saml_ready = 1;
    return 0;
}

void saml_shutdown(void)
{
    if (!saml_ready)
        return;
    lasso_shutdown();
    curl_global_cleanup();
    saml_ready = 0;
}

/* SAX hooks that stop the parser at the first DOCTYPE or entity declaration,
 * before libxml2 builds any entity table (billion laughs, XXE). */
static void saml_sax_internal_subset(void *ctx, const xmlChar *name,
                                     const xmlChar *ext_id, const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlParserCtxtPtr ctxt = ctx;
    ctxt->_private = (void *)1;
    xmlStopParser(ctxt);
}

static void saml_sax_entity_decl(void *ctx, const xmlChar *name, int type,
                                 const xmlChar *public_id, const xmlChar *system_id,
                                 xmlChar *content)
{
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    xmlParserCtxtPtr ctxt = ctx;
    ctxt->_private = (void *)1;
    xmlStopParser(ctxt);
}

struct _xmlDoc *saml_xml_parse(const char *data, size_t len, struct err *e)
{
    xmlDocPtr doc = NULL;
    xmlParserCtxtPtr ctxt = NULL;

    if (len == 0 || len > 64u * 1024 * 1024) {
        err_set(e, "saml_malformed_xml", "empty or oversized XML document");
        goto done;
    }
    ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
    if (!ctxt) {
        err_set(e, "saml_malformed_xml", "cannot create the XML parser");
        goto done;
    }
    ctxt->sax->internalSubset = saml_sax_internal_subset;
    ctxt->sax->externalSubset = saml_sax_internal_subset;
    ctxt->sax->entityDecl = saml_sax_entity_decl;
    ctxt->_private = NULL;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    xmlParseDocument(ctxt);
    if (ctxt->_private) {
        err_set(e, "saml_doctype_forbidden", "the document carries a DOCTYPE");
        goto done;
    }
    if (!ctxt->wellFormed || !ctxt->myDoc || ctxt->myDoc->intSubset ||
        ctxt->myDoc->extSubset || !xmlDocGetRootElement(ctxt->myDoc)) {
        err_set(e, "saml_malformed_xml", "the document is not well-formed XML");
        goto done;
    }
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
done:
    if (ctxt) {
        if (ctxt->myDoc)
            xmlFreeDoc(ctxt->myDoc);
        xmlFreeParserCtxt(ctxt);
    }
    return doc;
}

void saml_xml_free(struct _xmlDoc *doc)
{
    if (doc)
        xmlFreeDoc(doc);
}
