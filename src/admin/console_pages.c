/* The console's pages and form handlers: overview and settings, the SSO
 * connection with its test sign-in, domains, members, invitations,
 * workspaces, API keys, the audit log and the sign-in diagnostics. Every
 * value is written with ch() (escaped); every handler calls the same org/
 * or saml/ function as the admin API, as the signed-in member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/console_int.h"
#include "org/apikey.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/provision.h"
#include "saml/connection.h"
#include "saml/flow.h"

#define AUDIT_SCAN_MAX 1000
#define AUDIT_SHOW_MAX 100

static const char *const org_roles[] = {"viewer", "member", "admin", "owner"};
static const char *const ws_roles[] = {"viewer", "editor", "admin"};

static void select_html(struct buf *b, const char *name, const char *const *opts, size_t n, const char *current)
{
    buf_appends(b, "<select name=\"");
    ch(b, name);
    buf_appends(b, "\">");
    for (size_t i = 0; i < n; i++) {
        buf_appends(b, "<option");
        if (current && strcmp(current, opts[i]) == 0)
            buf_appends(b, " selected");
        buf_appends(b, ">");
        ch(b, opts[i]);
        buf_appends(b, "</option>");
    }
    buf_appends(b, "</select>");
}

static void input_html(struct buf *b, const char *label, const char *name, const char *type, const char *value)
{
    buf_appends(b, "<label>");
    ch(b, label);
    buf_appends(b, " <input name=\"");
    ch(b, name);
    buf_appends(b, "\" type=\"");
    ch(b, type);
    buf_appends(b, "\" value=\"");
    ch(b, value ? value : "");
    buf_appends(b, "\"></label> ");
}

static void checkbox_html(struct buf *b, const char *label, const char *name, int on)
{
    buf_appends(b, "<label><input type=\"checkbox\" name=\"");
    ch(b, name);
    buf_appends(b, "\" value=\"1\"");
    if (on)
        buf_appends(b, " checked");
    buf_appends(b, "> ");
    ch(b, label);
    buf_appends(b, "</label> ");
}

static void button_html(struct buf *b, const char *label, const char *id)
{
    buf_appends(b, "<button type=\"submit\"");
    if (id) {
        buf_appends(b, " id=\"");
        ch(b, id);
        buf_appends(b, "\"");
    }
    buf_appends(b, ">");
    ch(b, label);
    buf_appends(b, "</button></form>");
}

static void time_html(struct buf *b, json_int_t ms)
{
    char t[32];
    util_format_time((time_t)(ms / 1000), t, sizeof t);
    ch(b, t);
}

static const char *jsv(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void td(struct buf *b, const char *s)
{
    buf_appends(b, "<td>");
    ch(b, s);
    buf_appends(b, "</td>");
}

static int form_on(struct http_req *r, const char *name)
{
    const char *v = http_form(r, name);
    return v && strcmp(v, "1") == 0;
}

/* A POST that failed: show the page again with the error. */
typedef void (*page_fn)(struct http_req *r, struct cctx *c);

static void fail_page(struct http_req *r, struct cctx *c, page_fn page)
{
    buf_free(&c->body);
    buf_init(&c->body);
    page(r, c);
}

/* The end of a POST: rc 0 -> back to the page with a notice (303); else the
 * page again with the error in c->e. */
static void console_done(struct http_req *r, struct cctx *c, int rc, const char *page_name, const char *notice,
                         page_fn page)
{
    if (rc == 0)
        console_redirect(r, c, page_name, notice);
    else
        fail_page(r, c, page);
}

/* ---- overview and settings ---------------------------------------------------- */

/* A console page as a GET shows it: a read-only begin, the notice the last
 * form left in the query, the page. */
static void console_show(struct http_req *r, page_fn page)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 0) < 0)
        return;
    console_notice_from_query(r, &c);
    page(r, &c);
}

static void overview_page(struct http_req *r, struct cctx *c)
{
    struct buf *b = &c->body;
    const struct org_settings *s = &c->p.org.settings;
    struct err e;
    err_clear(&e);
    json_t *conn = connection_show(&c->p.org, &e);
    buf_appends(b, "<dl><dt>Organization</dt><dd id=\"org-name\">");
    ch(b, c->p.org.name);
    buf_appends(b, " (<code>");
    ch(b, c->p.org.slug);
    buf_appends(b, "</code>)</dd><dt>SSO</dt><dd id=\"sso-status\">");
    buf_appends(b, conn ? "connected" : "not connected");
    buf_appends(b, "</dd><dt>Signed in as</dt><dd>");
    ch(b, c->p.s.email);
    buf_appends(b, " (");
    ch(b, org_role_name(c->p.role));
    buf_appends(b, c->p.via_key ? ", with the owner API key" : ", through SSO");
    buf_appends(b, ")</dd></dl>");
    json_decref(conn);
    buf_appends(b, "<h2>Settings</h2>");
    console_form_open(b, c, "settings");
    checkbox_html(b, "Require SSO for the console (API-key sign-in refused)", "require_sso", s->require_sso);
    buf_appends(b, "<br>");
    checkbox_html(b, "Domain capture: provision people of verified domains on first sign-in", "domain_capture",
                  s->domain_capture);
    buf_appends(b, "<br><label>Default role ");
    select_html(b, "default_role", org_roles, 3, org_role_name(s->default_role));
    buf_appends(b, "</label><br>");
    char v1[16], v2[16];
    snprintf(v1, sizeof v1, "%d", s->max_session_s);
    snprintf(v2, sizeof v2, "%d", s->idle_timeout_s);
    input_html(b, "Max session (s, 0 = instance)", "max_session_s", "number", v1);
    input_html(b, "Idle timeout (s, 0 = instance)", "idle_timeout_s", "number", v2);
    button_html(b, "Save settings", "save-settings");
    console_finish(r, c, 200, "Overview", NULL);
}

void console_overview(struct http_req *r)
{
    console_show(r, overview_page);
}

static int int_field(struct http_req *r, struct cctx *c, const char *name, int *out)
{
    const char *v = http_form(r, name);
    char *end = NULL;
    long n = v && *v ? strtol(v, &end, 10) : 0;
    if (v && *v && (*end || n < 0 || n > 100000000))
        return err_set(&c->e, "invalid_setting", "%s must be a non-negative integer.", name);
    *out = (int)n;
    return 0;
}

void console_settings_post(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    struct org_settings s = c.p.org.settings;
    s.require_sso = form_on(r, "require_sso");
    s.domain_capture = form_on(r, "domain_capture");
    const char *dr = http_form(r, "default_role");
    int rc = 0;
    if (dr && (org_role_parse(dr, &s.default_role) < 0 || s.default_role == ORG_ROLE_OWNER))
        rc = err_set(&c.e, "invalid_setting", "default_role must be viewer, member or admin.");
    if (rc == 0)
        rc = int_field(r, &c, "max_session_s", &s.max_session_s);
    if (rc == 0)
        rc = int_field(r, &c, "idle_timeout_s", &s.idle_timeout_s);
    if (rc == 0)
        rc = org_settings_update(&c.p.actor, c.p.org.id, &s, &c.e);
    if (rc == 0)
        console_redirect(r, &c, "", "saved");
    else
        fail_page(r, &c, overview_page);
}

/* ---- SSO connection ---------------------------------------------------------- */

/* Forms of the SSO page lead to the IdP (test sign-in): the CSP's
 * form-action must allow the redirect there. */
static const char *idp_form_targets(void)
{
    return console_config()->dev_plain_http ? "https: http:" : "https:";
}

static void copy_row(struct buf *b, const char *label, const char *id, const char *value)
{
    buf_appends(b, "<dt>");
    ch(b, label);
    buf_appends(b, "</dt><dd><input readonly size=\"70\" id=\"");
    ch(b, id);
    buf_appends(b, "\" value=\"");
    ch(b, value);
    buf_appends(b, "\"></dd>");
}

static void sso_page(struct http_req *r, struct cctx *c)
{
    struct buf *b = &c->body;
    char *md = connection_url(c->p.org.slug, "metadata");
    char *acs = connection_url(c->p.org.slug, "acs");
    char *slo = connection_url(c->p.org.slug, "slo");
    buf_appends(b, "<h2>Copy into your identity provider</h2><dl>");
    copy_row(b, "SP metadata URL", "sp-metadata-url", md);
    copy_row(b, "SP entity ID (Audience)", "sp-entity-id", md);
    copy_row(b, "ACS URL (HTTP-POST)", "sp-acs-url", acs);
    copy_row(b, "Single Logout URL", "sp-slo-url", slo);
    buf_appends(b, "<dt>NameID format</dt><dd>emailAddress (or persistent with an email attribute)</dd></dl>");
    free(md);
    free(acs);
    free(slo);
    struct err e;
    err_clear(&e);
    json_t *conn = connection_show(&c->p.org, &e);
    buf_appends(b, "<h2>Current connection</h2>");
    if (conn) {
        buf_appends(b, "<dl id=\"connection\"><dt>IdP entity ID</dt><dd id=\"idp-entity-id\">");
        ch(b, jsv(conn, "idp_entity_id"));
        buf_appends(b, "</dd><dt>IdP sign-in URL</dt><dd>");
        ch(b, jsv(conn, "idp_sso_url"));
        buf_appends(b, "</dd><dt>IdP logout URL</dt><dd>");
        ch(b, jsv(conn, "idp_slo_url"));
        char n[64];
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(conn, "idp_signing_keys")));
        buf_appends(b, "</dd><dt>Signing keys</dt><dd>");
        ch(b, n);
        buf_appends(b, "</dd></dl>");
        console_form_open(b, c, "sso/test");
        buf_appends(b, "<p>Runs a sign-in at your IdP with any account and shows every check; no session is made.</p>");
        button_html(b, "Test sign-in", "test-signin");
    } else {
        buf_appends(b, "<p id=\"connection\">No connection yet: upload your IdP's metadata below.</p>");
    }
    buf_appends(b, "<h2>Upload IdP metadata</h2>");
    console_form_open(b, c, "sso");
    buf_appends(b, "<label for=\"idp_metadata\">IdP metadata XML (EntityDescriptor)</label><br>"
                   "<textarea id=\"idp_metadata\" name=\"idp_metadata\" rows=\"10\" cols=\"90\" required>"
                   "</textarea><br><h3>Attribute mapping and switches</h3>");
    char skew[16] = "";
    if (conn)
        snprintf(skew, sizeof skew, "%lld", (long long)json_integer_value(json_object_get(conn, "clock_skew_s")));
    input_html(b, "Email attribute (empty: NameID, then email/mail)", "email_attribute", "text",
               conn ? jsv(conn, "email_attribute") : "");
    input_html(b, "Clock skew (s, empty = instance)", "clock_skew_s", "number", skew);
    buf_appends(b, "<br>");
    checkbox_html(b, "Allow IdP-initiated sign-in", "allow_idp_initiated",
                  conn && json_is_true(json_object_get(conn, "allow_idp_initiated")));
    checkbox_html(b, "Allow SHA-1 signatures (legacy IdPs)", "allow_sha1",
                  conn && json_is_true(json_object_get(conn, "allow_sha1")));
    buf_appends(b, "<br>");
    button_html(b, "Save connection", "save-connection");
    json_decref(conn);
    console_finish(r, c, 200, "SSO connection", idp_form_targets());
}

void console_sso(struct http_req *r)
{
    console_show(r, sso_page);
}

void console_sso_post(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *md = http_form(r, "idp_metadata");
    const char *skew = http_form(r, "clock_skew_s");
    struct connection_input in = {
        .idp_metadata = md,
        .idp_metadata_len = md ? strlen(md) : 0,
        .email_attribute = http_form(r, "email_attribute"),
        .allow_idp_initiated = form_on(r, "allow_idp_initiated"),
        .allow_sha1 = form_on(r, "allow_sha1"),
        .clock_skew_s = -1,
    };
    int rc = 0;
    if (skew && *skew) {
        char *end = NULL;
        long v = strtol(skew, &end, 10);
        if (*end || v < 0 || v > 600)
            rc = err_set(&c.e, "invalid_setting", "clock_skew_s must be between 0 and 600.");
        in.clock_skew_s = (int)v;
    }
    if (rc == 0 && (!md || !*md))
        rc = err_set(&c.e, "saml_metadata_invalid", "Paste the IdP metadata XML.");
    if (rc == 0)
        rc = connection_set(&c.p.actor, &c.p.org, &in, NULL, &c.e);
    console_done(r, &c, rc, "sso", "connection_saved", sso_page);
}

void console_sso_test_post(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    char *id = util_random_token(18);
    char *rd = util_xasprintf("%s/console/%s/sso/test/%s", console_base(), c.p.org.slug, id);
    flow_test_signin_or_reply(r, &c.p.org, id, rd);
    free(id);
    free(rd);
    buf_free(&c.body);
}

/* The checks of a sign-in: which passed, which failed, the values compared. */
static void checks_table(struct buf *b, const json_t *checks, const char *id)
{
    buf_appends(b, "<table class=\"checks\"");
    if (id) {
        buf_appends(b, " id=\"");
        ch(b, id);
        buf_appends(b, "\"");
    }
    buf_appends(b, "><thead><tr><th>check</th><th>result</th><th>expected</th><th>got</th><th>code</th></tr>"
                   "</thead><tbody>");
    size_t i;
    json_t *ck;
    json_array_foreach(checks, i, ck) {
        int ok = json_is_true(json_object_get(ck, "ok"));
        buf_appends(b, ok ? "<tr class=\"pass\">" : "<tr class=\"fail\">");
        td(b, jsv(ck, "check"));
        buf_appends(b, ok ? "<td class=\"result\">pass</td>" : "<td class=\"result\"><strong>FAIL</strong></td>");
        td(b, jsv(ck, "expected"));
        td(b, jsv(ck, "got"));
        td(b, jsv(ck, "code"));
        buf_appends(b, "</tr>");
    }
    buf_appends(b, "</tbody></table>");
}

static int valid_token(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 8 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return 0;
    return 1;
}

void console_sso_test_result(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 0) < 0)
        return;
    struct buf *b = &c.body;
    json_t *res = NULL;
    const char *id = http_param(r, "id");
    if (!valid_token(id) || flow_test_result_json(c.p.org.id, id, &res, &c.e) < 0 || !res) {
        if (!c.e.code)
            buf_appends(b, "<p id=\"test-result\">No result for this test sign-in (it expired after 15 minutes, "
                           "or the identity provider never answered).</p>");
    } else {
        int ok = json_is_true(json_object_get(res, "ok"));
        buf_appends(b, "<p id=\"test-result\" class=\"");
        buf_appends(b, ok ? "pass\">All checks passed" : "fail\">The sign-in was refused");
        if (!ok) {
            buf_appends(b, ": <code>");
            ch(b, jsv(res, "code"));
            buf_appends(b, "</code>");
        }
        buf_appends(b, "</p><dl><dt>Email</dt><dd id=\"test-email\">");
        ch(b, jsv(res, "email"));
        buf_appends(b, "</dd><dt>Issuer</dt><dd>");
        ch(b, jsv(res, "issuer"));
        buf_appends(b, "</dd><dt>Time</dt><dd>");
        time_html(b, json_integer_value(json_object_get(res, "time")));
        buf_appends(b, "</dd></dl>");
        checks_table(b, json_object_get(res, "checks"), "test-checks");
    }
    json_decref(res);
    console_finish(r, &c, 200, "Test sign-in", NULL);
}

/* ---- domains ------------------------------------------------------------------ */

static void domains_page(struct http_req *r, struct cctx *c)
{
    struct buf *b = &c->body;
    struct domain_info *v = NULL;
    size_t n = 0;
    struct err e;
    err_clear(&e);
    if (domain_list(c->p.org.id, &v, &n, &e) < 0 && !c->e.code)
        c->e = e;
    buf_appends(b, "<table id=\"domains\"><thead><tr><th>domain</th><th>status</th><th>TXT record name</th>"
                   "<th>TXT value</th><th>verified</th><th></th></tr></thead><tbody>");
    for (size_t i = 0; i < n; i++) {
        buf_appends(b, "<tr data-domain=\"");
        ch(b, v[i].name);
        buf_appends(b, "\">");
        td(b, v[i].name);
        buf_appends(b, "<td class=\"status\">");
        buf_appends(b, v[i].verified ? "verified" : "pending");
        buf_appends(b, "</td><td><code class=\"txt-name\">");
        ch(b, v[i].txt_name);
        buf_appends(b, "</code></td><td><code class=\"txt-value\">");
        ch(b, v[i].token);
        buf_appends(b, "</code></td><td>");
        if (v[i].verified) {
            time_html(b, v[i].verified_ms);
            buf_appends(b, " (");
            ch(b, v[i].method);
            buf_appends(b, ")");
        }
        buf_appends(b, "</td><td>");
        char *act = util_xasprintf("domains/%s/verify", v[i].name);
        console_form_open(b, c, act);
        button_html(b, v[i].verified ? "Re-check" : "Verify", NULL);
        free(act);
        act = util_xasprintf("domains/%s/remove", v[i].name);
        console_form_open(b, c, act);
        button_html(b, "Remove", NULL);
        free(act);
        buf_appends(b, "</td></tr>");
    }
    buf_appends(b, "</tbody></table><p>Publish the TXT value at the TXT record name in your DNS, then press "
                   "Verify.</p><h2>Add a domain</h2>");
    free(v);
    console_form_open(b, c, "domains");
    input_html(b, "Domain", "domain", "text", "");
    checkbox_html(b, "Include subdomains", "include_subdomains", 0);
    button_html(b, "Add domain", "add-domain");
    console_finish(r, c, 200, "Domains", NULL);
}

void console_domains(struct http_req *r)
{
    console_show(r, domains_page);
}

void console_domain_add(struct http_req *r)
{
    struct cctx c;
    struct domain_info d;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = domain_add(&c.p.actor, c.p.org.id, http_form(r, "domain"), form_on(r, "include_subdomains"), &d, &c.e);
    console_done(r, &c, rc, "domains", "domain_added", domains_page);
}

void console_domain_verify(struct http_req *r)
{
    struct cctx c;
    struct domain_info d;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = domain_verify(&c.p.actor, c.p.org.id, http_param(r, "domain"), &d, &c.e);
    console_done(r, &c, rc, "domains", "domain_verified", domains_page);
}

void console_domain_remove(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = domain_remove(&c.p.actor, c.p.org.id, http_param(r, "domain"), &c.e);
    console_done(r, &c, rc, "domains", "domain_removed", domains_page);
}

/* ---- members ------------------------------------------------------------------ */

static void members_page(struct http_req *r, struct cctx *c)
{
    struct buf *b = &c->body;
    json_t *ms = NULL, *m;
    size_t i;
    struct err e;
    err_clear(&e);
    if (org_members_json(c->p.org.id, &ms, &e) < 0 && !c->e.code)
        c->e = e;
    buf_appends(b, "<table id=\"members\"><thead><tr><th>email / name</th><th>kind</th><th>role</th><th>linked</th>"
                   "<th>change role</th><th></th></tr></thead><tbody>");
    json_array_foreach(ms, i, m) {
        const char *uid = jsv(m, "id");
        buf_appends(b, "<tr data-email=\"");
        ch(b, jsv(m, "email"));
        buf_appends(b, "\">");
        td(b, *jsv(m, "email") ? jsv(m, "email") : jsv(m, "name"));
        td(b, jsv(m, "kind"));
        td(b, *jsv(m, "role") ? jsv(m, "role") : "outsider");
        td(b, json_is_true(json_object_get(m, "linked")) ? "yes" : "no");
        buf_appends(b, "<td>");
        char *act = util_xasprintf("members/%s/role", uid);
        console_form_open(b, c, act);
        select_html(b, "role", org_roles, 4, jsv(m, "role"));
        button_html(b, "Set", NULL);
        free(act);
        buf_appends(b, "</td><td>");
        act = util_xasprintf("members/%s/remove", uid);
        console_form_open(b, c, act);
        button_html(b, "Remove", NULL);
        free(act);
        buf_appends(b, "</td></tr>");
    }
    json_decref(ms);
    buf_appends(b, "</tbody></table><h2>Add a member</h2>");
    console_form_open(b, c, "members");
    input_html(b, "Email", "email", "email", "");
    select_html(b, "role", org_roles, 4, "member");
    button_html(b, "Add member", "add-member");
    buf_appends(b, "<h2>Add a service account</h2>");
    console_form_open(b, c, "service-accounts");
    input_html(b, "Name", "name", "text", "");
    select_html(b, "role", org_roles, 3, "member");
    button_html(b, "Add service account", "add-service-account");
    buf_appends(b, "<p>Give a service account credentials on the API keys page.</p>");
    console_finish(r, c, 200, "Members", NULL);
}

void console_members(struct http_req *r)
{
    console_show(r, members_page);
}

static int role_field(struct http_req *r, struct cctx *c, enum org_role *role)
{
    const char *s = http_form(r, "role");
    if (!s || org_role_parse(s, role) < 0)
        return err_set(&c->e, "invalid_role", NULL);
    return 0;
}

void console_member_add(struct http_req *r)
{
    struct cctx c;
    enum org_role role;
    char uid[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_field(r, &c, &role);
    if (rc == 0)
        rc = org_member_add(&c.p.actor, c.p.org.id, http_form(r, "email"), role, uid, &c.e);
    console_done(r, &c, rc, "members", "member_added", members_page);
}

void console_member_role(struct http_req *r)
{
    struct cctx c;
    enum org_role role;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_field(r, &c, &role);
    if (rc == 0)
        rc = org_member_set_role(&c.p.actor, c.p.org.id, http_param(r, "uid"), role, &c.e);
    console_done(r, &c, rc, "members", "member_updated", members_page);
}

void console_member_remove(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = org_member_remove(&c.p.actor, c.p.org.id, http_param(r, "uid"), &c.e);
    console_done(r, &c, rc, "members", "member_removed", members_page);
}

void console_service_account_add(struct http_req *r)
{
    struct cctx c;
    enum org_role role;
    char uid[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = role_field(r, &c, &role);
    if (rc == 0)
        rc = org_service_account_add(&c.p.actor, c.p.org.id, http_form(r, "name"), role, uid, &c.e);
    console_done(r, &c, rc, "members", "member_added", members_page);
}

/* ---- invitations -------------------------------------------------------------- */

static void invitations_body(struct cctx *c, const char *link)
{
    struct buf *b = &c->body;
    if (link) {
        buf_appends(b, "<p>Send this link to the person (shown once):</p><p><input readonly size=\"90\" "
                       "id=\"invitation-link\" value=\"");
        ch(b, link);
        buf_appends(b, "\"></p>");
    }
    buf_appends(b, "<h2>Invite a person</h2>");
    console_form_open(b, c, "invitations");
    input_html(b, "Email", "email", "email", "");
    select_html(b, "role", org_roles, 4, "member");
    input_html(b, "Workspaces (slug=role, space-separated)", "workspaces", "text", "");
    input_html(b, "Valid for (s, empty = default)", "ttl_s", "number", "");
    button_html(b, "Create invitation", "add-invitation");
    buf_appends(b, "<h2>Revoke a pending invitation</h2>");
    console_form_open(b, c, "invitations/revoke");
    input_html(b, "Email", "email", "email", "");
    button_html(b, "Revoke", "revoke-invitation");
}

static void invitations_page(struct http_req *r, struct cctx *c)
{
    invitations_body(c, NULL);
    console_finish(r, c, 200, "Invitations", NULL);
}

void console_invitations(struct http_req *r)
{
    console_show(r, invitations_page);
}

void console_invitation_add(struct http_req *r)
{
    struct cctx c;
    enum org_role role;
    char *token = NULL, *link = NULL;
    int ttl = 0;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *ws = http_form(r, "workspaces");
    int rc = role_field(r, &c, &role);
    if (rc == 0)
        rc = int_field(r, &c, "ttl_s", &ttl);
    if (rc == 0)
        rc = invite_create(&c.p.actor, c.p.org.id, http_form(r, "email"), role, ws && *ws ? ws : NULL, ttl, &token,
                           &link, &c.e);
    if (rc == 0) {
        c.notice = "Invitation created.";
        invitations_body(&c, link);
        console_finish(r, &c, 201, "Invitations", NULL);
    } else {
        fail_page(r, &c, invitations_page);
    }
    free(token);
    free(link);
}

void console_invitation_revoke(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = invite_revoke(&c.p.actor, c.p.org.id, http_form(r, "email"), &c.e);
    console_done(r, &c, rc, "invitations", "invitation_revoked", invitations_page);
}

/* ---- workspaces --------------------------------------------------------------- */

static void ws_members_html(struct buf *b, struct cctx *c, const json_t *w, const json_t *members)
{
    const char *slug = jsv(w, "slug");
    json_t *wm = json_object_get(w, "members"), *role, *m;
    const char *uid;
    size_t i;
    buf_appends(b, "<table class=\"ws-members\"><thead><tr><th>who</th><th>role</th><th></th></tr></thead><tbody>");
    json_object_foreach(wm, uid, role) {
        const char *who = uid;
        json_array_foreach(members, i, m) {
            if (strcmp(jsv(m, "id"), uid) == 0)
                who = *jsv(m, "email") ? jsv(m, "email") : jsv(m, "name");
        }
        buf_appends(b, "<tr>");
        td(b, who);
        td(b, json_string_value(role) ? json_string_value(role) : "");
        buf_appends(b, "<td>");
        char *act = util_xasprintf("workspaces/%s/revoke", slug);
        console_form_open(b, c, act);
        buf_appends(b, "<input type=\"hidden\" name=\"uid\" value=\"");
        ch(b, uid);
        buf_appends(b, "\">");
        button_html(b, "Remove", NULL);
        free(act);
        buf_appends(b, "</td></tr>");
    }
    buf_appends(b, "</tbody></table>");
}

static void ws_forms_html(struct buf *b, struct cctx *c, const json_t *w)
{
    const char *slug = jsv(w, "slug");
    char *act = util_xasprintf("workspaces/%s/grant", slug);
    console_form_open(b, c, act);
    free(act);
    input_html(b, "Grant to (email)", "email", "email", "");
    select_html(b, "role", ws_roles, 3, "editor");
    input_html(b, "or custom role", "custom_role", "text", "");
    button_html(b, "Grant", NULL);
    act = util_xasprintf("workspaces/%s/default", slug);
    console_form_open(b, c, act);
    free(act);
    input_html(b, "Default role for every org member (empty: none)", "default_role", "text", jsv(w, "default_role"));
    button_html(b, "Set default", NULL);
    json_t *ents = json_object_get(w, "entitlements"), *en;
    size_t i;
    buf_appends(b, "<p>Entitlements: ");
    json_array_foreach(ents, i, en) {
        buf_appends(b, "<code>");
        ch(b, json_string_value(en));
        buf_appends(b, "</code> ");
    }
    buf_appends(b, "</p>");
    act = util_xasprintf("workspaces/%s/entitlement", slug);
    console_form_open(b, c, act);
    free(act);
    input_html(b, "Entitlement (e.g. model:gpt-4o:use)", "perm", "text", "");
    checkbox_html(b, "granted", "on", 1);
    button_html(b, "Set entitlement", NULL);
    act = util_xasprintf("workspaces/%s/delete", slug);
    console_form_open(b, c, act);
    free(act);
    button_html(b, "Delete workspace", NULL);
}

static void roles_html(struct buf *b, struct cctx *c)
{
    json_t *roles = NULL, *ro, *pm;
    size_t i, j;
    struct err e;
    err_clear(&e);
    if (org_roles_json(c->p.org.id, &roles, &e) < 0 && !c->e.code)
        c->e = e;
    buf_appends(b, "<h2>Custom workspace roles</h2><table id=\"roles\"><thead><tr><th>role</th><th>permissions</th>"
                   "</tr></thead><tbody>");
    json_array_foreach(roles, i, ro) {
        buf_appends(b, "<tr>");
        td(b, jsv(ro, "name"));
        buf_appends(b, "<td>");
        json_array_foreach(json_object_get(ro, "permissions"), j, pm) {
            ch(b, json_string_value(pm));
            buf_appends(b, " ");
        }
        buf_appends(b, "</td></tr>");
    }
    json_decref(roles);
    buf_appends(b, "</tbody></table>");
    console_form_open(b, c, "roles");
    input_html(b, "Role name", "name", "text", "");
    input_html(b, "Permissions (space-separated; empty deletes the role)", "permissions", "text", "");
    button_html(b, "Define role", "define-role");
}

static void workspaces_page(struct http_req *r, struct cctx *c)
{
    struct buf *b = &c->body;
    json_t *wss = NULL, *members = NULL, *w;
    size_t i;
    struct err e;
    err_clear(&e);
    if ((org_workspaces_json(c->p.org.id, &wss, &e) < 0 || org_members_json(c->p.org.id, &members, &e) < 0) &&
        !c->e.code)
        c->e = e;
    json_array_foreach(wss, i, w) {
        buf_appends(b, "<section class=\"workspace\" data-slug=\"");
        ch(b, jsv(w, "slug"));
        buf_appends(b, "\"><h2>");
        ch(b, jsv(w, "name"));
        buf_appends(b, " <code>");
        ch(b, jsv(w, "slug"));
        buf_appends(b, "</code></h2><p>Default role: ");
        ch(b, *jsv(w, "default_role") ? jsv(w, "default_role") : "none");
        buf_appends(b, "</p>");
        ws_members_html(b, c, w, members);
        ws_forms_html(b, c, w);
        buf_appends(b, "</section>");
    }
    json_decref(wss);
    json_decref(members);
    buf_appends(b, "<h2>Create a workspace</h2>");
    console_form_open(b, c, "workspaces");
    input_html(b, "Slug", "slug", "text", "");
    input_html(b, "Name", "name", "text", "");
    button_html(b, "Create workspace", "add-workspace");
    roles_html(b, c);
    console_finish(r, c, 200, "Workspaces", NULL);
}

void console_workspaces(struct http_req *r)
{
    console_show(r, workspaces_page);
}

void console_workspace_add(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *slug = http_form(r, "slug");
    int rc = org_ws_create(&c.p.actor, c.p.org.id, slug ? slug : "", http_form(r, "name"), ws, &c.e);
    console_done(r, &c, rc, "workspaces", "workspace_created", workspaces_page);
}

static int ws_param(struct http_req *r, struct cctx *c, char ws[ORG_ID_MAX])
{
    const char *slug = http_param(r, "ws");
    if (!slug || !org_slug_valid(slug))
        return err_set(&c->e, "workspace_not_found", NULL);
    return org_ws_lookup(c->p.org.id, slug, ws, &c->e);
}

/* A member by email gets a workspace role; anyone else an outsider grant. */
void console_workspace_grant(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX], uid[ORG_ID_MAX], norm[ORG_EMAIL_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *custom = http_form(r, "custom_role");
    const char *role = custom && *custom ? custom : http_form(r, "role");
    const char *email = http_form(r, "email");
    int rc = ws_param(r, &c, ws);
    if (rc == 0 && (!email || org_email_normalize(email, norm, sizeof norm, &c.e) < 0))
        rc = c.e.code ? -1 : err_set(&c.e, "invalid_email", NULL);
    if (rc == 0 && (!role || !*role))
        rc = err_set(&c.e, "invalid_role", NULL);
    if (rc == 0) {
        struct err le;
        err_clear(&le);
        if (org_member_by_email(c.p.org.id, norm, uid, &le) == 0)
            rc = org_ws_member_set(&c.p.actor, c.p.org.id, ws, uid, role, &c.e);
        else
            rc = org_outsider_grant(&c.p.actor, c.p.org.id, norm, ws, role, uid, &c.e);
    }
    console_done(r, &c, rc, "workspaces", "granted", workspaces_page);
}

void console_workspace_revoke(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_param(r, &c, ws);
    if (rc == 0)
        rc = org_ws_member_remove(&c.p.actor, c.p.org.id, ws, http_form(r, "uid"), &c.e);
    console_done(r, &c, rc, "workspaces", "revoked", workspaces_page);
}

void console_workspace_default(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *dr = http_form(r, "default_role");
    int rc = ws_param(r, &c, ws);
    if (rc == 0)
        rc = org_ws_set_default_role(&c.p.actor, c.p.org.id, ws, dr ? dr : "", &c.e);
    console_done(r, &c, rc, "workspaces", "saved", workspaces_page);
}

void console_workspace_delete(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = ws_param(r, &c, ws);
    if (rc == 0)
        rc = org_ws_delete(&c.p.actor, c.p.org.id, ws, &c.e);
    console_done(r, &c, rc, "workspaces", "workspace_deleted", workspaces_page);
}

void console_workspace_entitlement(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX];
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *perm = http_form(r, "perm");
    int rc = ws_param(r, &c, ws);
    if (rc == 0 && (!perm || !*perm || strchr(perm, ' ')))
        rc = err_set(&c.e, "bad_request", "Give one entitlement without spaces.");
    if (rc == 0)
        rc = org_ws_entitlement_set(&c.p.actor, c.p.org.id, ws, perm, form_on(r, "on"), &c.e);
    console_done(r, &c, rc, "workspaces", "saved", workspaces_page);
}

void console_role_define(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *name = http_form(r, "name");
    const char *perms = http_form(r, "permissions");
    int rc = 0;
    if (!name || !org_slug_valid(name))
        rc = err_set(&c.e, "invalid_role", "Role names are slugs (a-z, 0-9, '-').");
    if (rc == 0)
        rc = org_role_define(&c.p.actor, c.p.org.id, name, perms && *perms ? perms : NULL, &c.e);
    console_done(r, &c, rc, "workspaces", "saved", workspaces_page);
}

/* ---- API keys ----------------------------------------------------------------- */

static void keys_body(struct cctx *c, const char *secret)
{
    struct buf *b = &c->body;
    json_t *keys = NULL, *members = NULL, *k, *m;
    size_t i;
    struct err e;
    err_clear(&e);
    if ((apikey_list_json(c->p.org.id, &keys, &e) < 0 || org_members_json(c->p.org.id, &members, &e) < 0) &&
        !c->e.code)
        c->e = e;
    if (secret) {
        buf_appends(b, "<p>The new key, shown once: copy it now.</p><p><input readonly size=\"90\" id=\"new-key\" "
                       "value=\"");
        ch(b, secret);
        buf_appends(b, "\"></p>");
    }
    buf_appends(b, "<table id=\"keys\"><thead><tr><th>prefix</th><th>name</th><th>kind</th><th>holder</th>"
                   "<th>scopes</th><th>expires</th><th>last used</th><th>revoked</th><th></th></tr></thead><tbody>");
    json_array_foreach(keys, i, k) {
        buf_appends(b, "<tr>");
        td(b, jsv(k, "prefix"));
        td(b, jsv(k, "name"));
        td(b, jsv(k, "kind"));
        td(b, jsv(k, "holder"));
        json_t *sc = json_object_get(k, "scopes");
        if (json_is_string(sc)) {
            td(b, json_string_value(sc));
        } else {
            buf_appends(b, "<td>");
            size_t j;
            json_t *s;
            json_array_foreach(sc, j, s) {
                ch(b, json_string_value(s));
                buf_appends(b, " ");
            }
            buf_appends(b, "</td>");
        }
        td(b, json_is_string(json_object_get(k, "expires")) ? jsv(k, "expires") : "never");
        td(b, jsv(k, "last_used"));
        json_t *rv = json_object_get(k, "revoked");
        td(b, json_is_string(rv) ? jsv(k, "revoked") : (json_is_true(rv) ? "yes" : ""));
        buf_appends(b, "<td>");
        if (!json_is_string(rv) && !json_is_true(rv)) {
            char *act = util_xasprintf("keys/%s/revoke", jsv(k, "prefix"));
            console_form_open(b, c, act);
            button_html(b, "Revoke", NULL);
            free(act);
        }
        buf_appends(b, "</td></tr>");
    }
    buf_appends(b, "</tbody></table><h2>Create a key</h2>");
    console_form_open(b, c, "keys");
    input_html(b, "Name", "name", "text", "");
    buf_appends(b, "<label>Holder <select name=\"holder\">");
    json_array_foreach(members, i, m) {
        if (!*jsv(m, "role"))
            continue;
        buf_appends(b, "<option value=\"");
        ch(b, jsv(m, "id"));
        buf_appends(b, "\">");
        ch(b, *jsv(m, "email") ? jsv(m, "email") : jsv(m, "name"));
        buf_appends(b, " (");
        ch(b, jsv(m, "kind"));
        buf_appends(b, ")</option>");
    }
    buf_appends(b, "</select></label> ");
    input_html(b, "Scopes (space-separated)", "scopes", "text", "org:read");
    input_html(b, "Workspace slug (empty: an org key)", "workspace", "text", "");
    input_html(b, "Expires in (s, 0 = never)", "expires_s", "number", "0");
    button_html(b, "Create key", "add-key");
    json_decref(keys);
    json_decref(members);
}

static void keys_page(struct http_req *r, struct cctx *c)
{
    keys_body(c, NULL);
    console_finish(r, c, 200, "API keys", NULL);
}

void console_keys(struct http_req *r)
{
    console_show(r, keys_page);
}

void console_key_add(struct http_req *r)
{
    struct cctx c;
    char ws[ORG_ID_MAX] = "", prefix[APIKEY_PREFIX_LEN + 1];
    char *key = NULL;
    int expires = 0;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    const char *wslug = http_form(r, "workspace");
    const char *scopes = http_form(r, "scopes");
    const char *holder = http_form(r, "holder");
    int rc = int_field(r, &c, "expires_s", &expires);
    if (rc == 0 && wslug && *wslug)
        rc = org_ws_lookup(c.p.org.id, wslug, ws, &c.e);
    if (rc == 0 && (!scopes || !*scopes))
        rc = err_set(&c.e, "bad_request", "Give at least one scope.");
    if (rc == 0)
        rc = apikey_create(&c.p.actor, c.p.org.id, ws[0] ? "workspace" : "org", ws[0] ? ws : NULL,
                           holder && *holder ? holder : c.p.s.user_id, scopes, http_form(r, "name"), expires, &key,
                           prefix, &c.e);
    if (rc == 0) {
        c.notice = "API key created.";
        keys_body(&c, key);
        console_finish(r, &c, 201, "API keys", NULL);
    } else {
        fail_page(r, &c, keys_page);
    }
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
}

void console_key_revoke(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 1) < 0)
        return;
    int rc = apikey_revoke(&c.p.actor, c.p.org.id, http_param(r, "prefix"), &c.e);
    console_done(r, &c, rc, "keys", "key_revoked", keys_page);
}

/* ---- audit log ---------------------------------------------------------------- */

static int audit_match(const json_t *entry, const char *const *filters, const char *const *fields)
{
    for (int i = 0; i < 4; i++) {
        const char *f = filters[i];
        if (f && *f && !strstr(jsv(entry, fields[i]), f))
            return 0;
    }
    return 1;
}

static void audit_filters_form(struct buf *b, const char *const *filters, const char *const *fields)
{
    buf_appends(b, "<form method=\"get\" id=\"audit-filters\">");
    for (int i = 0; i < 4; i++)
        input_html(b, fields[i], fields[i], "text", filters[i]);
    buf_appends(b, "<button type=\"submit\">Filter</button></form>");
}

void console_audit(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 0) < 0)
        return;
    struct buf *b = &c.body;
    static const char *const fields[] = {"action", "actor", "outcome", "code"};
    const char *filters[4];
    for (int i = 0; i < 4; i++)
        filters[i] = http_query(r, fields[i]);
    audit_filters_form(b, filters, fields);
    buf_appends(b, "<table id=\"audit\"><thead><tr><th>time</th><th>actor</th><th>action</th><th>target</th>"
                   "<th>outcome</th><th>code</th><th>detail</th></tr></thead><tbody>");
    char cursor[64] = "", next[64];
    int shown = 0, scanned = 0;
    while (shown < AUDIT_SHOW_MAX && scanned < AUDIT_SCAN_MAX) {
        json_t *entries = NULL, *en;
        size_t i;
        if (audit_read(c.p.org.id, cursor, 200, &entries, next, &c.e) < 0)
            break;
        json_array_foreach(entries, i, en) {
            scanned++;
            if (shown >= AUDIT_SHOW_MAX || !audit_match(en, filters, fields))
                continue;
            shown++;
            buf_appends(b, "<tr>");
            td(b, jsv(en, "time"));
            td(b, jsv(en, "actor"));
            td(b, jsv(en, "action"));
            td(b, jsv(en, "target"));
            td(b, jsv(en, "outcome"));
            td(b, jsv(en, "code"));
            td(b, jsv(en, "detail"));
            buf_appends(b, "</tr>");
        }
        json_decref(entries);
        if (!next[0])
            break;
        snprintf(cursor, sizeof cursor, "%s", next);
    }
    buf_appends(b, "</tbody></table>");
    console_finish(r, &c, 200, "Audit log", NULL);
}

/* ---- sign-in diagnostics ------------------------------------------------------ */

void console_diagnostics(struct http_req *r)
{
    struct cctx c;
    if (console_begin_or_reply(r, &c, 0) < 0)
        return;
    struct buf *b = &c.body;
    json_t *list = NULL, *en;
    size_t i;
    if (flow_signin_diag_json(c.p.org.id, &list, &c.e) == 0) {
        buf_appends(b, "<p>Failed sign-ins of this organization, newest first, with every check and the values "
                       "compared (never the assertion itself).</p>");
        if (json_array_size(list) == 0)
            buf_appends(b, "<p id=\"no-failures\">No failed sign-in.</p>");
        json_array_foreach(list, i, en) {
            buf_appends(b, "<section class=\"diag\"><h2>");
            time_html(b, json_integer_value(json_object_get(en, "time")));
            buf_appends(b, " &mdash; <span class=\"diag-email\">");
            ch(b, *jsv(en, "email") ? jsv(en, "email") : "(no email)");
            buf_appends(b, "</span> &mdash; <code class=\"diag-code\">");
            ch(b, jsv(en, "code"));
            buf_appends(b, "</code></h2><p>");
            const char *msg = err_default_message(jsv(en, "code"));
            ch(b, msg ? msg : "");
            buf_appends(b, " Correlation id: <code>");
            ch(b, jsv(en, "request_id"));
            buf_appends(b, "</code></p>");
            checks_table(b, json_object_get(en, "checks"), NULL);
            buf_appends(b, "</section>");
        }
    }
    json_decref(list);
    console_finish(r, &c, 200, "Sign-in diagnostics", NULL);
}
