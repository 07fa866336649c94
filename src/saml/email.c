/* Email normalization for the domain check: one tested place, so that
 * "Alice@ACME.test ", "alice@acme.test" and the U-label form of an IDN
 * domain all compare equal, and nothing shorter or longer does. */
#include "saml/email.h"

#include <glib.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static int email_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void email_lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Strict LDH: labels of 1-63 letters, digits and inner hyphens, at least two
 * labels, 253 characters at most. Lower-case ASCII expected. */
static int email_ldh(const char *d)
{
    size_t n = strlen(d), label = 0, labels = 1;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-')
                return 0;
            label = 0;
            labels++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0 && d[n - 1] != '-' && labels >= 2;
}

/* IDNA2008 proper, without the UTS#46 mapping step: UTS#46 silently drops
 * characters such as '_' or U+00AD under its STD3 rules ("ac_me" would become
 * "acme"), which must never make one domain equal another. Unicode is
 * NFC-normalized and lower-cased by GLib first; IDNA2008 then refuses
 * anything disallowed, and the A-label round trip is checked. */
char *email_normalize_domain(const char *raw, const char **why)
{
    char *out = NULL, *ascii = NULL, *nfc = NULL, *lower = NULL;
    *why = "the domain is not a valid domain name";
    if (!g_utf8_validate(raw, -1, NULL) || strlen(raw) > 1024)
        goto done;
    nfc = g_utf8_normalize(raw, -1, G_NORMALIZE_NFC);
    lower = nfc ? g_utf8_strdown(nfc, -1) : NULL;
    if (!lower)
        goto done;
    int rc = idn2_to_ascii_8z(lower, &ascii, IDN2_NFC_INPUT | IDN2_NO_TR46 | IDN2_ALABEL_ROUNDTRIP);
    if (rc != IDN2_OK || !ascii) {
        *why = "the domain is not a valid (internationalized) domain name";
        goto done;
    }
    email_lower_ascii(ascii);
    if (!email_ldh(ascii))
        goto done;
    out = util_xstrdup(ascii);
    *why = NULL;
done:
    idn2_free(ascii);
    g_free(lower);
    g_free(nfc);
    return out;
}

char *email_normalize(const char *raw, const char **why)
{
    char *out = NULL, *domain = NULL;
    while (email_is_space((unsigned char)*raw))
        raw++;
    size_t n = strlen(raw);
    while (n > 0 && email_is_space((unsigned char)raw[n - 1]))
        n--;
    char *s = util_xstrndup(raw, n);
    if (!g_utf8_validate(s, -1, NULL)) {
        *why = "the address is not valid UTF-8";
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' ||
            c == '"' || c == '\\') {
            *why = "the address contains spaces, control or reserved characters";
            goto done;
        }
    }
    char *at = strchr(s, '@');
    if (!at || strchr(at + 1, '@')) {
        *why = "the address must contain exactly one '@'";
        goto done;
    }
    if (at == s || at - s > 64) {
        *why = "the local part is empty or too long";
        goto done;
    }
    *at = '\0';
    domain = email_normalize_domain(at + 1, why);
    if (!domain)
        goto done;
    email_lower_ascii(s);
    out = util_xasprintf("%s@%s", s, domain);
done:
    free(domain);
    free(s);
    return out;
}

const char *email_domain(const char *email)
{
    const char *at = strrchr(email, '@');
    return at ? at + 1 : email;
}
