/* The SAML 2.0 Response validator (SAML core 3.2.2, profiles 4.1.4.3): one
 * function per check, every outcome recorded, the identity read only from
 * the assertion node whose signature (its own or its Response's) verified.
 * Attacks in mind: XML signature wrapping (Somorovsky et al., "On Breaking
 * SAML", USENIX Security 2012), comment truncation (CVE-2017-11427 family),
 * XXE / billion laughs, algorithm confusion, KeyInfo trust. */
#include "saml/response.h"

#include <libxml/tree.h>
#include <libxml/valid.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saml/dsig.h"
#include "saml/email.h"
#include "saml/saml.h"
#include "util/util.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define STATUS_SUCCESS "urn:oasis:names:tc:SAML:2.0:status:Success"
#define CM_BEARER "urn:oasis:names:tc:SAML:2.0:cm:bearer"
#define NAMEID_EMAIL "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
#define RESPONSE_MAX_CHECKS 64
#define RESPONSE_MAX_SHOWN 200

/* Attributes that carry an email, tried in order after the configured one. */
static const char *const response_email_attrs[] = {
    "email", "mail", "urn:oid:0.9.2342.19200300.100.1.3",
    "urn:oid:1.2.840.113549.1.9.1", NULL,
};

struct rv {
    const struct response_settings *s;
    struct response_result *out;
    struct err *e;
    int failed;
    time_t now;
    int skew;
    xmlDocPtr doc;
    xmlNode *response;
    xmlNode *assertion;
    int response_signed;      /* the Response signature verified */
    int assertion_signed;     /* the Assertion signature verified */
    int signature_seen;
    time_t expiry;
    /* identity, moved to out only when every check passed */
    char *name_id, *name_id_format, *issuer, *session_index, *email;
    char *assertion_id, *in_response_to;
    json_t *attributes;
};

/* ---- recording ---------------------------------------------------------- */

static char *rv_shown(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n <= RESPONSE_MAX_SHOWN)
        return util_xstrdup(s);
    char *t = util_xmalloc(RESPONSE_MAX_SHOWN + 4);
    memcpy(t, s, RESPONSE_MAX_SHOWN);
    memcpy(t + RESPONSE_MAX_SHOWN, "...", 4);
    return t;
}

/* Record one check. On the first failure, e gets code and a message: the
 * printf-style one when given, else "name: expected X, got Y". */
static int rv_check(struct rv *v, const char *name, int ok, const char *code,
                    const char *expected, const char *got, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int rv_check(struct rv *v, const char *name, int ok, const char *code,
                    const char *expected, const char *got, const char *fmt, ...)
{
    struct response_result *r = v->out;
    if (r->n_checks < RESPONSE_MAX_CHECKS) {
        struct response_check *c = &r->checks[r->n_checks++];
        c->name = name;
        c->ok = ok;
        c->code = ok ? NULL : code;
        c->expected = rv_shown(expected);
        c->got = rv_shown(got);
    }
    if (ok)
        return 0;
    if (!v->failed) {
        v->failed = 1;
        char msg[400];
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg, sizeof msg, fmt, ap);
            va_end(ap);
        } else {
            snprintf(msg, sizeof msg, "%s: expected %.150s, got %.150s", name,
                     expected ? expected : "(none)", got ? got : "(none)");
        }
        err_set(v->e, code, "%s", msg);
    }
    return -1;
}

/* ---- tree helpers ------------------------------------------------------- */

static int rv_is(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

/* First child element ns:name and how many there are. */
static xmlNode *rv_child(const xmlNode *parent, const char *ns, const char *name, int *count)
{
    xmlNode *found = NULL;
    int n = 0;
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (rv_is(c, ns, name)) {
            if (!found)
                found = c;
            n++;
        }
    if (count)
        *count = n;
    return found;
}

static char *rv_attr(const xmlNode *n, const char *name)
{
    xmlChar *a = n ? xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
    if (!a)
        return NULL;
    char *s = util_xstrdup((const char *)a);
    xmlFree(a);
    return s;
}

/* The whole text content of an element that must hold text only: comments
 * are skipped but never split the value (xmlNodeGetContent concatenates), and
 * child elements make it invalid. Returns NULL in that case. */
static char *rv_text(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE || c->type == XML_ENTITY_REF_NODE)
            return NULL;
    xmlChar *t = xmlNodeGetContent(n);
    char *s = util_xstrdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

static void rv_trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    while (s[i] && strchr(" \t\r\n", s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* ---- structure ---------------------------------------------------------- */

static int rv_root(struct rv *v)
{
    xmlNode *root = xmlDocGetRootElement(v->doc);
    char *version = rv_attr(root, "Version");
    int ok = rv_is(root, NS_SAMLP, "Response") && version && strcmp(version, "2.0") == 0;
    char got[300];
    snprintf(got, sizeof got, "{%.150s}%.100s Version=%.10s",
             root && root->ns ? (const char *)root->ns->href : "",
             root ? (const char *)root->name : "", version ? version : "(none)");
    free(version);
    v->response = root;
    return rv_check(v, "root", ok, "saml_not_a_response",
                    "{" NS_SAMLP "}Response Version=2.0", got, NULL);
}

/* Register every ID attribute ourselves (there is no DTD to say which
 * attributes are IDs) and refuse duplicates, so "#id" can name one node only.
 * xml:id is refused outright: libxml2 registers it silently. */
static int rv_register_ids(struct rv *v, xmlNode *top)
{
    const char *dup = NULL;
    char dupbuf[128] = "";
    for (xmlNode *n = top; n && !dup;) {
        if (n->type == XML_ELEMENT_NODE) {
            for (xmlAttr *a = n->properties; a && !dup; a = a->next) {
                if (a->ns && strcmp((const char *)a->ns->href, NS_XML) == 0 &&
                    strcmp((const char *)a->name, "id") == 0) {
                    dup = "xml:id";
                } else if (!a->ns && strcmp((const char *)a->name, "ID") == 0) {
                    xmlChar *val = xmlNodeListGetString(v->doc, a->children, 1);
                    if (!val || !*val || xmlGetID(v->doc, val) || !xmlAddID(NULL, v->doc, val, a)) {
                        snprintf(dupbuf, sizeof dupbuf, "%.100s", val ? (const char *)val : "");
                        dup = dupbuf;
                    }
                    xmlFree(val);
                }
            }
        }
        /* depth-first walk of top's subtree */
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != top && !n->next)
            n = n->parent;
        n = (n == top || !n) ? NULL : n->next;
    }
    return rv_check(v, "unique_ids", !dup, "saml_duplicate_id", "every ID once, no xml:id",
                    dup, dup ? "ID \"%.100s\" appears twice (or is empty or xml:id)" : NULL,
                    dup ? dup : "");
}

static int rv_status(struct rv *v)
{
    xmlNode *st = rv_child(v->response, NS_SAMLP, "Status", NULL);
    xmlNode *code = rv_child(st, NS_SAMLP, "StatusCode", NULL);
    char *value = rv_attr(code, "Value");
    char *sub = rv_attr(rv_child(code, NS_SAMLP, "StatusCode", NULL), "Value");
    char got[400];
    snprintf(got, sizeof got, "%s%s%s", value ? value : "(none)", sub ? " / " : "", sub ? sub : "");
    int ok = value && strcmp(value, STATUS_SUCCESS) == 0;
    free(value);
    free(sub);
    return rv_check(v, "status", ok, "saml_status_not_success", STATUS_SUCCESS, got, NULL);
}

/* Exactly one Assertion or EncryptedAssertion in the whole document, and it
 * is a child of the Response: any other copy (in Extensions, Object, Advice,
 * a wrapper) is how signature-wrapping attacks smuggle a second one in. */
static int rv_assertion_count(struct rv *v)
{
    int total = 0, misplaced = 0;
    xmlNode *found = NULL;
    for (xmlNode *n = v->response; n;) {
        if (rv_is(n, NS_SAML, "Assertion") || rv_is(n, NS_SAML, "EncryptedAssertion")) {
            total++;
            if (n->parent != v->response)
                misplaced++;
            found = n;
        }
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != v->response && !n->next)
            n = n->parent;
        n = (n == v->response || !n) ? NULL : n->next;
    }
    char got[64];
    snprintf(got, sizeof got, "%d (%d not a child of the Response)", total, misplaced);
    int ok = total == 1 && misplaced == 0;
    v->assertion = ok ? found : NULL;
    return rv_check(v, "assertion_count", ok, "saml_assertion_count",
                    "1 child of the Response", got, NULL);
}

/* ---- signatures and decryption ----------------------------------------- */

/* Verify the ds:Signature child of node, if any. Returns 0 when absent or
 * valid (*valid says which), -1 when present and refused. */
static int rv_signature(struct rv *v, xmlNode *node, const char *name, int *valid)
{
    int count;
    xmlNode *sig = rv_child(node, NS_DS, "Signature", &count);
    *valid = 0;
    if (count == 0)
        return 0;
    v->signature_seen = 1;
    if (count > 1)
        return rv_check(v, name, 0, "saml_signature_reference", "one Signature",
                        "several", NULL);
    struct err se;
    err_clear(&se);
    const char *alg = NULL;
    if (dsig_verify(node, sig, v->s->idp, v->s->allow_sha1, &alg, &se) < 0)
        return rv_check(v, name, 0, se.code, "valid signature by the IdP metadata key",
                        se.msg, "%s: %s", name, se.msg);
    *valid = 1;
    return rv_check(v, name, 1, NULL, "valid signature by the IdP metadata key", alg, NULL);
}

static int rv_decrypt(struct rv *v)
{
    struct err de;
    err_clear(&de);
    xmlNode *assertion = NULL;
    if (!v->s->sp_key)
        return rv_check(v, "decrypt", 0, "saml_decrypt_failed", "an SP key", "none configured",
                        "the assertion is encrypted but no SP key is configured");
    if (spkey_decrypt(v->s->sp_key, v->assertion, &assertion, &de) < 0)
        return rv_check(v, "decrypt", 0, de.code, "decrypts with the SP key", de.msg,
                        "%s", de.msg);
    v->assertion = assertion;
    rv_check(v, "decrypt", 1, NULL, "decrypts with the SP key", "ok", NULL);
    if (rv_register_ids(v, assertion) < 0)
        return -1;
    /* Anyone can encrypt to the SP's public key: the plaintext gets the
     * same one-assertion rule as the document (no wrapped copies). */
    int nested = 0;
    for (xmlNode *n = assertion->children; n;) {
        nested += rv_is(n, NS_SAML, "Assertion") || rv_is(n, NS_SAML, "EncryptedAssertion");
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != assertion && !n->next)
            n = n->parent;
        n = (n == assertion || !n) ? NULL : n->next;
    }
    return rv_check(v, "assertion_count", nested == 0, "saml_assertion_count",
                    "no assertion inside the decrypted one",
                    nested ? "nested assertions" : "none", NULL);
}

/* ---- content checks ----------------------------------------------------- */

static int rv_issuer(struct rv *v, xmlNode *parent, const char *name, int required, char **keep)
{
    int count;
    xmlNode *iss = rv_child(parent, NS_SAML, "Issuer", &count);
    const char *want = idp_entity_id(v->s->idp);
    if (!iss && !required)
        return 0;
    char *text = iss && count == 1 ? rv_text(iss) : NULL;
    if (text)
        rv_trim(text);
    int ok = text && strcmp(text, want) == 0;
    int rc = rv_check(v, name, ok, "saml_issuer_mismatch", want, text ? text : "(none)", NULL);
    if (keep && ok)
        *keep = text;
    else
        free(text);
    return rc;
}

/* SAML core 3.2.2: Destination, when present, must be where it arrived; a
 * signed Response must carry it (profiles 4.1.4.5 for the POST binding). */
static int rv_destination(struct rv *v)
{
    char *dest = rv_attr(v->response, "Destination");
    if (!dest && !v->response_signed)
        return 0;
    int ok = dest && strcmp(dest, v->s->acs_url) == 0;
    int rc = rv_check(v, "destination", ok, "saml_destination_mismatch", v->s->acs_url,
                      dest ? dest : "(none)", NULL);
    free(dest);
    return rc;
}

/* A time attribute against now with the skew. before: the attribute is a
 * NotBefore (now + skew >= t), else a NotOnOrAfter (now - skew < t). */
static int rv_time(struct rv *v, const xmlNode *n, const char *attr, int before,
                   int required, const char *name)
{
    char *val = rv_attr(n, attr);
    time_t t = 0;
    char want[80], now_s[32];
    int rc = 0;
    if (!val && !required)
        return 0;
    util_format_time(v->now, now_s, sizeof now_s);
    snprintf(want, sizeof want, "%s %s (now %s, skew %ds)", attr, before ? "<=" : ">",
             now_s, v->skew);
    if (!val || util_parse_time(val, &t) < 0) {
        rc = rv_check(v, name, 0, before ? "saml_not_yet_valid" : "saml_expired", want,
                      val ? val : "(none)", "%s: %s is missing or not a valid time", name, attr);
    } else if (before) {
        rc = rv_check(v, name, (int64_t)v->now + v->skew >= (int64_t)t, "saml_not_yet_valid",
                      want, val, NULL);
    } else {
        rc = rv_check(v, name, (int64_t)v->now - v->skew < (int64_t)t, "saml_expired", want,
                      val, NULL);
        if (t > 0 && (v->expiry == 0 || t < v->expiry))
            v->expiry = t;
    }
    free(val);
    return rc;
}

/* Conditions: time window and every AudienceRestriction names us. */
static int rv_conditions(struct rv *v)
{
    int count, rc = 0;
    xmlNode *cond = rv_child(v->assertion, NS_SAML, "Conditions", &count);
    if (!cond || count != 1)
        return rv_check(v, "audience", 0, "saml_audience_mismatch", v->s->sp_entity_id,
                        "(no Conditions)", NULL);
    rc |= rv_time(v, cond, "NotBefore", 1, 0, "conditions_not_before");
    rc |= rv_time(v, cond, "NotOnOrAfter", 0, 0, "conditions_not_on_or_after");
    int restrictions = 0, satisfied = 0;
    char *got = NULL;
    for (xmlNode *ar = cond->children; ar; ar = ar->next) {
        if (!rv_is(ar, NS_SAML, "AudienceRestriction"))
            continue;
        restrictions++;
        int match = 0;
        for (xmlNode *au = ar->children; au; au = au->next) {
            if (!rv_is(au, NS_SAML, "Audience"))
                continue;
            char *t = rv_text(au);
            if (t) {
                rv_trim(t);
                match |= strcmp(t, v->s->sp_entity_id) == 0;
                if (!got)
                    got = t;
                else
                    free(t);
            }
        }
        satisfied += match;
    }
    rc |= rv_check(v, "audience", restrictions > 0 && satisfied == restrictions,
                   "saml_audience_mismatch", v->s->sp_entity_id, got ? got : "(none)", NULL);
    free(got);
    return rc ? -1 : 0;
}

/* The caller's pending-request store decides; never consulted once another
 * check has failed (an anonymous caller must not make us query the store). */
static int rv_irt_lookup(struct rv *v, const char *irt)
{
    if (v->failed)
        return -1;
    int known = v->s->request_pending(v->s->request_ctx, irt);
    if (known < 0)
        return rv_check(v, "in_response_to", 0, "store_unavailable", "a pending request",
                        irt, "the pending-request store is unreachable");
    if (known > 0)
        v->in_response_to = util_xstrdup(irt);
    return rv_check(v, "in_response_to", known > 0, "saml_in_response_to_mismatch",
                    "a pending request", irt, NULL);
}

/* InResponseTo on the Response and on the bearer confirmation must agree and
 * match the request we sent; none at all means IdP-initiated. */
static int rv_in_response_to(struct rv *v, const char *irt_scd)
{
    char *irt_resp = rv_attr(v->response, "InResponseTo");
    const char *want = v->s->request_id;
    const char *irt = irt_resp ? irt_resp : irt_scd;
    int rc;
    if (irt_resp && irt_scd && strcmp(irt_resp, irt_scd) != 0) {
        rc = rv_check(v, "in_response_to", 0, "saml_in_response_to_mismatch",
                      irt_resp, irt_scd, "InResponseTo differs between the Response and "
                      "its SubjectConfirmationData");
    } else if (irt && v->s->defer_in_response_to) {
        v->in_response_to = util_xstrdup(irt);
        rc = rv_check(v, "in_response_to", 1, NULL, "a pending request (checked after validation)", irt, NULL);
    } else if (irt && v->s->request_pending) {
        rc = rv_irt_lookup(v, irt);
    } else if (irt) {
        rc = rv_check(v, "in_response_to", want && strcmp(irt, want) == 0,
                      "saml_in_response_to_mismatch", want ? want : "(no request pending)",
                      irt, NULL);
        if (rc == 0)
            v->in_response_to = util_xstrdup(irt);
    } else {
        rc = rv_check(v, "in_response_to", v->s->allow_idp_initiated, "saml_unsolicited",
                      want ? want : "(IdP-initiated allowed)", "(none: IdP-initiated)",
                      v->s->allow_idp_initiated ? NULL
                          : "the response is unsolicited (IdP-initiated) and that is not allowed");
    }
    free(irt_resp);
    return rc;
}

/* Profiles 4.1.4.2: a bearer SubjectConfirmation whose data names our ACS
 * as Recipient and has a NotOnOrAfter. The first bearer one is used. */
static int rv_confirmation(struct rv *v, xmlNode *subject)
{
    xmlNode *scd = NULL;
    int found = 0, rc = 0;
    for (xmlNode *sc = subject->children; sc && !found; sc = sc->next) {
        char *m = rv_is(sc, NS_SAML, "SubjectConfirmation") ? rv_attr(sc, "Method") : NULL;
        if (m && strcmp(m, CM_BEARER) == 0) {
            found = 1;
            scd = rv_child(sc, NS_SAML, "SubjectConfirmationData", NULL);
        }
        free(m);
    }
    if (rv_check(v, "subject_confirmation", found, "saml_recipient_mismatch", CM_BEARER,
                 found ? CM_BEARER : "(no bearer confirmation)", NULL) < 0) {
        rv_in_response_to(v, NULL);
        return -1;
    }
    char *recipient = rv_attr(scd, "Recipient");
    rc |= rv_check(v, "recipient", recipient && strcmp(recipient, v->s->acs_url) == 0,
                   "saml_recipient_mismatch", v->s->acs_url, recipient ? recipient : "(none)",
                   NULL);
    free(recipient);
    rc |= rv_time(v, scd, "NotOnOrAfter", 0, 1, "confirmation_not_on_or_after");
    rc |= rv_time(v, scd, "NotBefore", 1, 0, "confirmation_not_before");
    char *irt = rv_attr(scd, "InResponseTo");
    rc |= rv_in_response_to(v, irt);
    free(irt);
    return rc ? -1 : 0;
}

static int rv_subject(struct rv *v)
{
    int count;
    xmlNode *subject = rv_child(v->assertion, NS_SAML, "Subject", &count);
    xmlNode *nid = subject && count == 1 ? rv_child(subject, NS_SAML, "NameID", &count) : NULL;
    char *text = nid && count == 1 ? rv_text(nid) : NULL;
    if (text)
        rv_trim(text);
    int rc = rv_check(v, "name_id", text && *text, nid && !text ? "saml_value_not_text" : "saml_no_subject",
                      "one Subject with one text-only NameID",
                      text ? text : nid ? "(NameID holds elements)" : "(none)", NULL);
    if (rc == 0) {
        v->name_id = text;
        v->name_id_format = rv_attr(nid, "Format");
    } else {
        free(text);
    }
    if (subject)
        rc |= rv_confirmation(v, subject);
    else
        rc |= rv_in_response_to(v, NULL);
    return rc ? -1 : 0;
}

static void rv_session_index(struct rv *v)
{
    xmlNode *as = rv_child(v->assertion, NS_SAML, "AuthnStatement", NULL);
    v->session_index = rv_attr(as, "SessionIndex");
}

/* All attributes as Name -> [values]; values must be text only. */
static int rv_attributes(struct rv *v)
{
    const char *bad = NULL;
    v->attributes = json_object();
    for (xmlNode *st = v->assertion->children; st; st = st->next) {
        if (!rv_is(st, NS_SAML, "AttributeStatement"))
            continue;
        for (xmlNode *a = st->children; a; a = a->next) {
            char *name = rv_is(a, NS_SAML, "Attribute") ? rv_attr(a, "Name") : NULL;
            if (!name)
                continue;
            json_t *arr = json_object_get(v->attributes, name);
            if (!arr) {
                arr = json_array();
                json_object_set_new(v->attributes, name, arr);
            }
            for (xmlNode *val = a->children; val; val = val->next) {
                if (!rv_is(val, NS_SAML, "AttributeValue"))
                    continue;
                char *t = rv_text(val);
                if (!t) {
                    bad = bad ? bad : "an attribute value holds elements";
                    continue;
                }
                json_array_append_new(arr, json_string(t));
                free(t);
            }
            free(name);
        }
    }
    return rv_check(v, "attribute_values", !bad, "saml_value_not_text", "text-only values",
                    bad ? bad : "ok", NULL);
}

/* The raw email: NameID when its Format is emailAddress, else the configured
 * attribute, else the usual attribute names. One value only. */
static const char *rv_email_raw(struct rv *v, const char **source)
{
    if (v->name_id_format && strcmp(v->name_id_format, NAMEID_EMAIL) == 0) {
        *source = "NameID";
        return v->name_id;
    }
    const char *cfg = v->s->email_attribute;
    for (int i = cfg ? -1 : 0; i < 0 || response_email_attrs[i]; i++) {
        const char *name = i < 0 ? cfg : response_email_attrs[i];
        json_t *arr = json_object_get(v->attributes, name);
        if (arr && json_array_size(arr) > 0) {
            *source = name;
            return json_array_size(arr) == 1 ? json_string_value(json_array_get(arr, 0)) : NULL;
        }
    }
    *source = NULL;
    return NULL;
}

static int rv_domain_allowed(struct rv *v, const char *domain)
{
    for (size_t i = 0; i < v->s->n_allowed_domains; i++) {
        const char *why = NULL;
        char *d = email_normalize_domain(v->s->allowed_domains[i], &why);
        int eq = d && strcmp(d, domain) == 0;
        free(d);
        if (eq)
            return 1;
    }
    return 0;
}

static int rv_email(struct rv *v)
{
    const char *source = NULL, *why = NULL;
    const char *raw = v->attributes ? rv_email_raw(v, &source) : NULL;
    char *email = raw ? email_normalize(raw, &why) : NULL;
    char expected[200];
    snprintf(expected, sizeof expected, "one valid address from %s", source ? source : "NameID or an email attribute");
    if (rv_check(v, "email", email != NULL, raw ? "invalid_email" : "saml_no_email",
                 expected, raw ? raw : source ? "(several values)" : "(none)",
                 raw ? "email: %s" : NULL, why ? why : "") < 0)
        return -1;
    v->email = email;
    if (!v->s->allowed_domains)
        return 0;
    struct buf want;
    buf_init(&want);
    for (size_t i = 0; i < v->s->n_allowed_domains; i++)
        buf_appendf(&want, "%s%s", i ? ", " : "", v->s->allowed_domains[i]);
    int rc = rv_check(v, "email_domain", rv_domain_allowed(v, email_domain(email)),
                      "saml_domain_not_allowed", want.len ? want.data : "(no domain)",
                      email_domain(email), NULL);
    buf_free(&want);
    return rc;
}

/* ---- the flow ----------------------------------------------------------- */

/* Structure, signatures, decryption: each step needs the one before. */
static int rv_structure(struct rv *v)
{
    if (rv_root(v) < 0 || rv_register_ids(v, v->response) < 0)
        return -1;
    rv_status(v);
    if (rv_assertion_count(v) < 0)
        return -1;
    /* The Response signature first: decryption rewrites the tree it covers.
     * A refused one stops here: no decryption work (or CBC oracle, Jager and
     * Somorovsky 2011) for content whose signature failed. */
    if (rv_signature(v, v->response, "response_signature", &v->response_signed) < 0 &&
        rv_is(v->assertion, NS_SAML, "EncryptedAssertion"))
        return -1;
    if (rv_is(v->assertion, NS_SAML, "EncryptedAssertion") && rv_decrypt(v) < 0)
        return -1;
    rv_signature(v, v->assertion, "assertion_signature", &v->assertion_signed);
    /* Either signature covers the assertion used; a present but refused one
     * has already failed above. */
    rv_check(v, "signed", v->response_signed || v->assertion_signed,
             v->signature_seen ? "saml_signature_invalid" : "saml_signature_missing",
             "a valid signature on the Response or the Assertion",
             v->response_signed && v->assertion_signed ? "Response and Assertion"
             : v->response_signed ? "Response" : v->assertion_signed ? "Assertion"
             : v->signature_seen ? "no valid signature" : "unsigned", NULL);
    return 0;
}

static void rv_content(struct rv *v)
{
    rv_issuer(v, v->response, "response_issuer", 0, NULL);
    rv_issuer(v, v->assertion, "assertion_issuer", 1, &v->issuer);
    rv_destination(v);
    rv_conditions(v);
    rv_subject(v);
    rv_session_index(v);
    v->assertion_id = rv_attr(v->assertion, "ID");
    if (rv_attributes(v) == 0)
        rv_email(v);
}

static void rv_publish(struct rv *v)
{
    struct response_result *r = v->out;
    r->email = v->email;
    r->name_id = v->name_id;
    r->name_id_format = v->name_id_format;
    r->issuer = v->issuer;
    r->session_index = v->session_index;
    r->attributes = v->attributes;
    r->assertion_id = v->assertion_id;
    r->in_response_to = v->in_response_to;
    r->not_on_or_after = v->expiry;
    v->email = v->name_id = v->name_id_format = v->issuer = NULL;
    v->session_index = v->assertion_id = v->in_response_to = NULL;
    v->attributes = NULL;
}

static void rv_release(struct rv *v)
{
    free(v->email);
    free(v->name_id);
    free(v->name_id_format);
    free(v->issuer);
    free(v->session_index);
    free(v->assertion_id);
    free(v->in_response_to);
    json_decref(v->attributes);
    saml_xml_free(v->doc);
}

static void rv_start(struct rv *v, const struct response_settings *s,
                     struct response_result *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    out->checks = util_xcalloc(RESPONSE_MAX_CHECKS, sizeof *out->checks);
    memset(v, 0, sizeof *v);
    v->s = s;
    v->out = out;
    v->e = e;
    v->now = s->now ? s->now : (time_t)(util_now_ms() / 1000);
    v->skew = s->clock_skew == 0 ? RESPONSE_DEFAULT_CLOCK_SKEW : s->clock_skew < 0 ? 0 : s->clock_skew;
    err_clear(e);
}

static int rv_run_xml(struct rv *v, const char *xml, size_t len)
{
    struct err pe;
    err_clear(&pe);
    v->doc = saml_xml_parse(xml, len, &pe);
    if (!v->doc)
        return rv_check(v, "xml", 0, pe.code, "well-formed XML without DOCTYPE", pe.msg,
                        "%s", pe.msg);
    rv_check(v, "xml", 1, NULL, "well-formed XML without DOCTYPE", "ok", NULL);
    if (rv_structure(v) == 0)
        rv_content(v);
    if (v->failed)
        return -1;
    rv_publish(v);
    return 0;
}

static int rv_settings_ok(const struct response_settings *s, struct err *e)
{
    if (!s || !s->idp || !s->sp_entity_id || !s->acs_url)
        return err_set(e, "internal_error", "validator settings lack the IdP, SP entity ID or ACS URL");
    return 0;
}

int response_validate_xml(const char *xml, size_t len, const struct response_settings *s,
                          struct response_result *out, struct err *e)
{
    struct rv v;
    rv_start(&v, s, out, e);
    int rc = rv_settings_ok(s, e);
    size_t max = s && s->max_size ? s->max_size : RESPONSE_DEFAULT_MAX_SIZE;
    if (rc == 0) {
        char want[64], got[64];
        snprintf(want, sizeof want, "<= %zu bytes decoded", max);
        snprintf(got, sizeof got, "%zu bytes decoded", len);
        rc = rv_check(&v, "size", len <= max, "saml_too_large", want, got, NULL);
    }
    if (rc == 0)
        rc = rv_run_xml(&v, xml, len);
    rv_release(&v);
    return rc;
}

int response_validate(const char *form_value, size_t len, const struct response_settings *s,
                      struct response_result *out, struct err *e)
{
    struct rv v;
    unsigned char *xml = NULL;
    size_t xml_len = 0;
    rv_start(&v, s, out, e);
    int rc = rv_settings_ok(s, e);
    if (rc < 0)
        goto done;
    size_t max = s->max_size ? s->max_size : RESPONSE_DEFAULT_MAX_SIZE;
    /* Bound the encoded form first (base64 plus CR/LF every 64-76 chars),
     * so an oversized post is refused before any decoding work. */
    size_t enc_max = (max / 3 + 1) * 4;
    enc_max += enc_max / 8 + 64;
    char want[64], got[64];
    snprintf(want, sizeof want, "<= %zu bytes decoded", max);
    snprintf(got, sizeof got, "%zu bytes encoded", len);
    if ((rc = rv_check(&v, "size", len <= enc_max, "saml_too_large", want, got, NULL)) < 0)
        goto done;
    xml = util_b64_decode(form_value, len, &xml_len);
    if ((rc = rv_check(&v, "base64", xml != NULL, "saml_invalid_base64", "valid base64",
                       xml ? "ok" : "invalid", NULL)) < 0)
        goto done;
    snprintf(got, sizeof got, "%zu bytes decoded", xml_len);
    if ((rc = rv_check(&v, "size", xml_len <= max, "saml_too_large", want, got, NULL)) < 0)
        goto done;
    rc = rv_run_xml(&v, (const char *)xml, xml_len);
done:
    free(xml);
    rv_release(&v);
    return rc;
}

void response_result_free(struct response_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_checks; i++) {
        free(r->checks[i].expected);
        free(r->checks[i].got);
    }
    free(r->checks);
    free(r->email);
    free(r->name_id);
    free(r->name_id_format);
    free(r->issuer);
    free(r->session_index);
    free(r->assertion_id);
    free(r->in_response_to);
    json_decref(r->attributes);
    memset(r, 0, sizeof *r);
}

static json_t *response_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *response_checks_json(const struct response_result *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n_checks; i++) {
        const struct response_check *c = &r->checks[i];
        json_t *o = json_pack("{s:s, s:b}", "check", c->name, "ok", c->ok);
        if (c->code)
            json_object_set_new(o, "code", json_string(c->code));
        if (c->expected)
            json_object_set_new(o, "expected", json_string(c->expected));
        if (c->got)
            json_object_set_new(o, "got", json_string(c->got));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *response_identity_json(const struct response_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "email", response_str_or_null(r->email));
    json_object_set_new(o, "name_id", response_str_or_null(r->name_id));
    json_object_set_new(o, "name_id_format", response_str_or_null(r->name_id_format));
    json_object_set_new(o, "issuer", response_str_or_null(r->issuer));
    json_object_set_new(o, "session_index", response_str_or_null(r->session_index));
    json_object_set_new(o, "attributes", r->attributes ? json_deep_copy(r->attributes) : json_object());
    return o;
}
