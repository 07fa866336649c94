/* Email normalization for the domain check: one tested place, so that
 * "Alice@ACME.test ", "alice@acme.test" and the U-label form of an IDN
 * domain all compare equal, and nothing shorter or longer does. */
#include "saml/email.h"

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

char *email_normalize_domain(const char *raw, const char **why)
{
    char *out = NULL;
    size_t n = strlen(raw);
    if (n == 0 || n > 253 || raw[n - 1] == '.' || raw[0] == '.') {
        *why = "the domain is empty, too long or starts or ends with a dot";
        return NULL;
    }
    char *ascii = NULL;
    int rc = idn2_to_ascii_8z(raw, &ascii,
                              IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL | IDN2_USE_STD3_ASCII_RULES);
    if (rc != IDN2_OK || !ascii) {
        *why = "the domain is not a valid (internationalized) domain name";
        goto done;
    }
    email_lower_ascii(ascii);
    if (strstr(ascii, "..") || !strchr(ascii, '.') || ascii[strlen(ascii) - 1] == '.') {
        *why = "the domain is not a valid domain name";
        goto done;
    }
    out = util_xstrdup(ascii);
done:
    idn2_free(ascii);
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
