/* HTML pages of the sign-in flow, from templates/ (sign-in, signed in,
 * signed out, error): {{name}} placeholders, every value HTML-escaped, sent
 * with a strict Content-Security-Policy (no script, no inline anything). */
#ifndef SSOGATE_SAML_PAGE_H
#define SSOGATE_SAML_PAGE_H

#include "http/http.h"

/* Read the templates once: $SSOGATE_TEMPLATES_DIR, else the source tree's
 * templates/; a missing file falls back to a built-in minimal page. */
void page_init(void);
void page_shutdown(void);

/* name: "error", "signin", "signed_in", "signed_out". kv: NULL-terminated
 * pairs {"key", "value", ..., NULL}. form_targets: extra CSP form-action
 * sources (the IdP redirects a form post leads to), or NULL. */
void page_reply(struct http_req *r, int status, const char *name, const char *const *kv,
                const char *form_targets);
/* Like page_reply, and {{{body}}} in the template gets raw_body as it is:
 * HTML the caller built with page_escape around every value (the console). */
void page_reply_raw(struct http_req *r, int status, const char *name, const char *const *kv, const char *raw_body,
                    const char *form_targets);
/* Append s to b HTML-escaped (& < > " '): safe in text and quoted attributes. */
void page_escape(struct buf *b, const char *s);

/* The error page for e (its status, code and message), correlation id =
 * the request id; logs the code on the request's line. */
void page_reply_err(struct http_req *r, const struct err *e);

#endif
