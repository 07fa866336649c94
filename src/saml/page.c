/* Template pages: loaded once at start, rendered by substituting {{key}}
 * with HTML-escaped values (an email or a message is never markup). */
#include "saml/page.h"

#include <stdlib.h>
#include <string.h>

#include "org/org.h"
#include "util/util.h"

#ifndef SSOGATE_SOURCE_DIR
#define SSOGATE_SOURCE_DIR "."
#endif

static const char *const names[] = {"error", "signin", "signed_in", "signed_out", "console", "console_login"};
#define NPAGES (sizeof names / sizeof names[0])
static char *pages[NPAGES];

static const char fallback[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ssogate</title></head><body>"
    "<p>{{message}}{{email}}</p><p><code>{{code}}</code> <code>{{request_id}}</code></p></body></html>\n";

void page_init(void)
{
    const char *dir = getenv("SSOGATE_TEMPLATES_DIR");
    for (size_t i = 0; i < NPAGES; i++) {
        free(pages[i]);
        char *path = util_xasprintf("%s/%s.html", dir && *dir ? dir : SSOGATE_SOURCE_DIR "/templates", names[i]);
        size_t n;
        pages[i] = util_read_file(path, 1 << 16, &n);
        free(path);
    }
}

void page_shutdown(void)
{
    for (size_t i = 0; i < NPAGES; i++) {
        free(pages[i]);
        pages[i] = NULL;
    }
}

void page_escape(struct buf *b, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_appends(b, "&amp;"); break;
        case '<': buf_appends(b, "&lt;"); break;
        case '>': buf_appends(b, "&gt;"); break;
        case '"': buf_appends(b, "&quot;"); break;
        case '\'': buf_appends(b, "&#39;"); break;
        default: buf_append(b, s, 1); break;
        }
    }
}

static const char *lookup(const char *const *kv, const char *key, size_t n)
{
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (strlen(kv[i]) == n && strncmp(kv[i], key, n) == 0)
            return kv[i + 1];
    return "";
}

static void render(struct buf *b, const char *tpl, const char *const *kv, const char *raw_body)
{
    const char *p = tpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!close) {
            buf_appends(b, p);
            return;
        }
        buf_append(b, p, (size_t)(open - p));
        /* The one raw slot: trusted markup built with page_escape. */
        if (strncmp(open, "{{{body}}}", 10) == 0) {
            buf_appends(b, raw_body ? raw_body : "");
            p = open + 10;
            continue;
        }
        page_escape(b, lookup(kv, open + 2, (size_t)(close - open - 2)));
        p = close + 2;
    }
}

void page_reply(struct http_req *r, int status, const char *name, const char *const *kv, const char *form_targets)
{
    page_reply_raw(r, status, name, kv, NULL, form_targets);
}

void page_reply_raw(struct http_req *r, int status, const char *name, const char *const *kv, const char *raw_body,
                    const char *form_targets)
{
    const char *tpl = fallback;
    for (size_t i = 0; i < NPAGES; i++)
        if (!strcmp(names[i], name) && pages[i])
            tpl = pages[i];
    struct buf b;
    buf_init(&b);
    render(&b, tpl, kv, raw_body);
    /* No script, no style, no frames; forms post to us (and, after a
     * redirect, to the IdP, which Chrome checks against form-action too). */
    /* The console's pages load its one stylesheet from us. */
    int console = strncmp(name, "console", 7) == 0;
    char *csp = util_xasprintf("default-src 'none'; img-src 'self';%s form-action 'self'%s%s; "
                               "frame-ancestors 'none'; base-uri 'none'",
                               console ? " style-src 'self';" : "", form_targets ? " " : "",
                               form_targets ? form_targets : "");
    http_add_header(r, "Content-Security-Policy", csp);
    http_add_header(r, "X-Frame-Options", "DENY");
    /* same-origin: our own form posts keep a real Origin (no-referrer
     * makes Chrome send "Origin: null", which POST /logout refuses). */
    http_add_header(r, "Referrer-Policy", "same-origin");
    free(csp);
    http_reply(r, status, "text/html; charset=utf-8", b.data, b.len);
    buf_free(&b);
}

void page_reply_err(struct http_req *r, const struct err *e)
{
    const char *code = e->code ? e->code : "internal_error";
    int status = e->status > 0 ? e->status : 500;
    const char *msg = err_default_message(code);
    char *home = util_xasprintf("%s/", org_base_url());
    const char *kv[] = {"code", code, "message", msg ? msg : "", "request_id", http_request_id(r), "home", home, NULL};
    http_log_code(r, code);
    page_reply(r, status, "error", kv, NULL);
    free(home);
}
