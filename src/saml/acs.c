/* POST /saml/{org}/acs and /saml/{org}/slo (part of flow.h). The ACS runs
 * the strict validator with this org's compiled connection; the pending
 * request is consumed inside it, atomically, only after every check on the
 * verified assertion passed; then the replay cache, the org's verified
 * domain, provisioning and the session. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/gate.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "org/provision.h"
#include "saml/connection.h"
#include "saml/flow.h"
#include "saml/page.h"
#include "saml/response.h"
#include "saml/signins.h"
#include "saml/sp.h"
#include "session/session.h"
#include "store/store.h"
#include "util/log.h"
#include "util/url.h"
#include "util/util.h"

#define DIAG_MAX 100

/* flow.c's settings, read through the request's config. */
static const struct keyring *acs_ring;

void flow_acs_set_ring(const struct keyring *k);
void flow_acs_set_ring(const struct keyring *k)
{
    acs_ring = k;
}

/* One ACS request's state, so that every exit frees in one place. */
struct acs {
    struct http_req *r;
    const struct config *cfg;
    struct org_info org;
    struct connection *conn;
    const char *relay_state;
    /* the consumed pending request */
    char *rd;
    char *invitation;
    char *test_id;            /* a console test sign-in: no session */
    int relay_mismatch;
    int audited;              /* provision_signin audits its own outcome */
    struct response_result res;
    json_t *extra_checks;     /* our checks after the validator's */
    struct err e;
};

static char *tagged_key(const char *org_id, const char *kind, const char *raw)
{
    char h[65];
    util_sha256_hex(raw, strlen(raw), h);
    return util_xasprintf("sg:{o:%s}:%s:%s", org_id, kind, h);
}

static void add_check(struct acs *a, const char *name, int ok, const char *code, const char *expected,
                      const char *got)
{
    json_t *c = json_pack("{s:s, s:b}", "check", name, "ok", ok);
    if (code)
        json_object_set_new(c, "code", json_string(code));
    if (expected)
        json_object_set_new(c, "expected", json_string(expected));
    if (got)
        json_object_set_new(c, "got", json_string(got));
    json_array_append_new(a->extra_checks, c);
}

/* One script after the validator: take the pending request (GET + DEL of
 * the request and its RelayState handle, so two posts of one response cannot
 * both win) and put the assertion ID in the replay cache (SET NX until its
 * NotOnOrAfter plus any skew the checks may have allowed). All keys share
 * the org's hash tag. KEYS: request (a dummy when IdP-initiated), replay.
 * ARGV: 1 "1" when there is a request to take, 2 replay TTL ms, 3 prefix.
 * Returns {taken (0 unknown, 1 taken, 2 none needed), fresh, record}. */
static const char lua_commit[] =
    "local taken, v = 2, ''\n"
    "if ARGV[1] == '1' then\n"
    "  v = redis.call('GET', KEYS[1])\n"
    "  if not v then return {0, 0, ''} end\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  taken = 1\n"
    "  local ok, rec = pcall(cjson.decode, v)\n"
    "  if ok and type(rec) == 'table' and type(rec.rs) == 'string' and rec.rs:match('^%x+$') then\n"
    "    redis.call('DEL', ARGV[3] .. 'rs:' .. rec.rs)\n"
    "  end\n"
    "end\n"
    "local fresh = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) and 1 or 0\n"
    "return {taken, fresh, v}\n";

static int take_record(struct acs *a, const char *json)
{
    json_t *rec = json_loads(json, 0, NULL);
    const char *org = json_string_value(json_object_get(rec, "org"));
    const char *rd = json_string_value(json_object_get(rec, "rd"));
    const char *rs = json_string_value(json_object_get(rec, "rs"));
    const char *inv = json_string_value(json_object_get(rec, "inv"));
    const char *test = json_string_value(json_object_get(rec, "test"));
    int ok = org && rd && !strcmp(org, a->org.id);
    char posted[65] = "";
    if (a->relay_state)
        util_sha256_hex(a->relay_state, strlen(a->relay_state), posted);
    /* The RelayState the IdP echoes must be the handle sent with this
     * request: a response cannot be steered into another sign-in. */
    if (ok && rs && (!a->relay_state || strcmp(posted, rs) != 0)) {
        a->relay_mismatch = 1;
        ok = 0;
    }
    if (ok) {
        a->rd = util_xstrdup(rd);
        a->invitation = inv ? util_xstrdup(inv) : NULL;
        a->test_id = test ? util_xstrdup(test) : NULL;
    }
    json_decref(rec);
    return ok;
}

/* The outcome of the commit script as checks and an error code. */
static int commit_result(struct acs *a, int taken, int fresh, const char *rec)
{
    const char *irt = a->res.in_response_to;
    if (irt) {
        int ok = taken == 1 && take_record(a, rec);
        const char *code = a->relay_mismatch ? "saml_relay_state_mismatch" : "saml_in_response_to_mismatch";
        add_check(a, "request_pending", ok, ok ? NULL : code, "a pending request of this organization", irt);
        if (!ok)
            return err_set(&a->e, code, NULL);
    }
    add_check(a, "replay", fresh, fresh ? NULL : "saml_replay", NULL, NULL);
    if (!fresh)
        return err_set(&a->e, "saml_replay", NULL);
    return 0;
}

static int request_and_replay(struct acs *a)
{
    const char *irt = a->res.in_response_to;
    char *kreq = tagged_key(a->org.id, "req", irt ? irt : "-");
    char *krep = tagged_key(a->org.id, "replay", a->res.assertion_id);
    char *prefix = util_xasprintf("sg:{o:%s}:", a->org.id);
    /* + 600 s: the largest skew a connection may allow (longer is harmless). */
    long long ms = ((long long)a->res.not_on_or_after + 600) * 1000 - util_now_ms();
    char px[32];
    snprintf(px, sizeof px, "%lld", ms < 1000 ? 1000 : ms);
    const char *args[] = {kreq, krep, irt ? "1" : "0", px, prefix};
    struct store_reply *r = store_eval(&a->e, lua_commit, 2, 3, args, NULL);
    int rc = -1;
    if (!r || store_reply_type(r) != STORE_ARRAY || store_reply_len(r) != 3) {
        if (r)
            err_set(&a->e, "store_error", "unexpected reply of the ACS script");
        goto done;
    }
    rc = commit_result(a, (int)store_reply_int(store_reply_elem(r, 0)), (int)store_reply_int(store_reply_elem(r, 1)),
                       store_reply_str(store_reply_elem(r, 2), NULL));
done:
    store_reply_free(r);
    free(kreq);
    free(krep);
    free(prefix);
    return rc;
}

static int domain_check(struct acs *a)
{
    int v = domain_verified_for_org(a->org.id, a->res.email, &a->e);
    if (v < 0)
        return -1;
    const char *at = strrchr(a->res.email, '@');
    add_check(a, "email_domain_verified", v == 1, v == 1 ? NULL : "saml_domain_not_allowed",
              "a verified domain of the organization", at ? at + 1 : "");
    if (v != 1)
        return err_set(&a->e, "saml_domain_not_allowed", NULL);
    return 0;
}

static int fits(const char *s, size_t n)
{
    return !s || strlen(s) < n;
}

static int sign_in(struct acs *a)
{
    struct provision_result pr;
    a->audited = 1;
    if (provision_signin(a->org.id, a->res.issuer, a->res.name_id, a->res.name_id_format, a->res.email,
                         a->invitation, &pr, &a->e) < 0)
        return -1;
    struct session s;
    memset(&s, 0, sizeof s);
    if (!fits(a->res.name_id, sizeof s.name_id) || !fits(a->res.name_id_format, sizeof s.name_id_format) ||
        !fits(a->res.session_index, sizeof s.session_index) || !fits(a->res.issuer, sizeof s.issuer) ||
        !fits(a->res.email, sizeof s.email)) {
        a->audited = 0;
        return err_set(&a->e, "bad_request", "an identity value is too long to keep");
    }
    snprintf(s.org, sizeof s.org, "%s", a->org.id);
    snprintf(s.user_id, sizeof s.user_id, "%s", pr.uid);
    snprintf(s.email, sizeof s.email, "%s", a->res.email);
    snprintf(s.name_id, sizeof s.name_id, "%s", a->res.name_id);
    snprintf(s.name_id_format, sizeof s.name_id_format, "%s", a->res.name_id_format ? a->res.name_id_format : "");
    snprintf(s.session_index, sizeof s.session_index, "%s", a->res.session_index ? a->res.session_index : "");
    snprintf(s.issuer, sizeof s.issuer, "%s", a->res.issuer);
    struct session_limits lim = {a->cfg->session_max_age_s, a->cfg->session_idle_timeout_s,
                                 a->cfg->session_idle_refresh_s};
    if (a->org.settings.max_session_s > 0 && a->org.settings.max_session_s < lim.max_age_s)
        lim.max_age_s = a->org.settings.max_session_s;
    if (a->org.settings.idle_timeout_s > 0 && a->org.settings.idle_timeout_s < lim.idle_timeout_s)
        lim.idle_timeout_s = a->org.settings.idle_timeout_s;
    char token[TOKEN_MAX_LEN + 1];
    if (session_create(acs_ring, &lim, &s, token, sizeof token, &a->e) < 0)
        return -1;
    char *cookie = gate_cookie_set(token, lim.max_age_s);
    http_add_header(a->r, "Set-Cookie", cookie);
    free(cookie);
    return 0;
}

static const char lua_diag[] =
    "redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)\n"
    "return 1\n";

/* The full list of checks for the console (never the assertion). */
static void diag_store(struct acs *a, json_t *checks)
{
    json_t *entry = json_pack("{s:I, s:s, s:s, s:O}", "time", (json_int_t)util_now_ms(), "request_id",
                              http_request_id(a->r), "code", a->e.code, "checks", checks);
    if (a->res.email)
        json_object_set_new(entry, "email", json_string(a->res.email));
    char *val = json_dumps(entry, JSON_COMPACT);
    json_decref(entry);
    char *key = util_xasprintf("sg:{o:%s}:signin_diag", a->org.id);
    char max[16];
    snprintf(max, sizeof max, "%d", DIAG_MAX);
    const char *args[] = {key, val, max};
    struct store_reply *r = store_eval(NULL, lua_diag, 1, 2, args, NULL);
    store_reply_free(r);
    free(key);
    free(val);
}

#define TEST_RESULT_TTL_S 900

static char *test_key(const char *org_id, const char *test_id)
{
    return tagged_key(org_id, "test", test_id);
}

/* A test sign-in's outcome for the console: every check, never the
 * assertion. The browser then goes back to the console (a->rd). */
static void test_store(struct acs *a, int ok, json_t *checks)
{
    json_t *o = json_pack("{s:b, s:I, s:O}", "ok", ok, "time", (json_int_t)util_now_ms(), "checks", checks);
    if (!ok && a->e.code)
        json_object_set_new(o, "code", json_string(a->e.code));
    if (a->res.email)
        json_object_set_new(o, "email", json_string(a->res.email));
    if (a->res.issuer)
        json_object_set_new(o, "issuer", json_string(a->res.issuer));
    char *val = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *key = test_key(a->org.id, a->test_id);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", TEST_RESULT_TTL_S);
    store_reply_free(store_cmdl(NULL, "SET", key, val, "EX", ttl, NULL));
    free(key);
    free(val);
    audit_append(a->org.id, "console", "connection.test", a->res.email ? a->res.email : "", ok ? "ok" : "refused",
                 ok ? "" : a->e.code, NULL, NULL);
}

int flow_test_result_json(const char *org_id, const char *test_id, json_t **out, struct err *e)
{
    *out = NULL;
    char *key = test_key(org_id, test_id);
    struct store_reply *r = store_cmdl(e, "GET", key, NULL);
    free(key);
    if (!r)
        return -1;
    const char *v = store_reply_type(r) == STORE_STRING ? store_reply_str(r, NULL) : NULL;
    if (v)
        *out = json_loads(v, 0, NULL);
    store_reply_free(r);
    return 0;
}

int flow_signin_diag_json(const char *org_id, json_t **out, struct err *e)
{
    *out = NULL;
    char *key = util_xasprintf("sg:{o:%s}:signin_diag", org_id);
    struct store_reply *r = store_cmdl(e, "LRANGE", key, "0", "99", NULL);
    free(key);
    if (!r)
        return -1;
    json_t *arr = json_array();
    for (size_t i = 0; store_reply_type(r) == STORE_ARRAY && i < store_reply_len(r); i++) {
        const char *v = store_reply_str(store_reply_elem(r, i), NULL);
        json_t *entry = v ? json_loads(v, 0, NULL) : NULL;
        if (json_is_object(entry))
            json_array_append_new(arr, entry);
        else
            json_decref(entry);
    }
    store_reply_free(r);
    *out = arr;
    return 0;
}

static const char *idp_issuer_hint(const struct acs *a)
{
    return a->conn ? idp_entity_id(connection_idp(a->conn)) : "";
}

static void acs_fail(struct acs *a)
{
    json_t *checks = response_checks_json(&a->res);
    if (!checks)
        checks = json_array();
    json_array_extend(checks, a->extra_checks);
    const char *issuer = a->res.issuer ? a->res.issuer : idp_issuer_hint(a);
    if (a->org.id[0]) {
        if (!a->audited)
            audit_signin(a->org.id, a->res.email, issuer, "refused", a->e.code, NULL);
        diag_store(a, checks);
    }
    if (a->test_id && a->rd) {
        test_store(a, 0, checks);
        json_decref(checks);
        http_redirect(a->r, 303, a->rd);
        return;
    }
    json_decref(checks);
    page_reply_err(a->r, &a->e);
}

static int acs_validate(struct acs *a)
{
    const char *form = http_form(a->r, "SAMLResponse");
    if (!form || !*form)
        return err_set(&a->e, "saml_missing_response", NULL);
    a->relay_state = http_form(a->r, "RelayState");
    struct response_settings s;
    memset(&s, 0, sizeof s);
    connection_response_settings(a->conn, &s);
    s.defer_in_response_to = 1; /* request_and_replay, one script */
    s.max_size = (size_t)a->cfg->saml_max_response_bytes;
    /* The org's domains are checked after the signature, against the
     * directory (include_subdomains, DNS re-checks): any domain here. */
    s.allowed_domains = NULL;
    return response_validate(form, strlen(form), &s, &a->res, &a->e);
}

static void acs_done(struct acs *a)
{
    connection_release(a->conn);
    response_result_free(&a->res);
    json_decref(a->extra_checks);
    free(a->rd);
    free(a->invitation);
    free(a->test_id);
}

/* A test sign-in that passed every check: keep the list, no session. */
static void acs_test_passed(struct acs *a)
{
    json_t *checks = response_checks_json(&a->res);
    if (!checks)
        checks = json_array();
    json_array_extend(checks, a->extra_checks);
    test_store(a, 1, checks);
    json_decref(checks);
    http_redirect(a->r, 303, a->rd);
}

void flow_acs(struct http_req *r)
{
    struct acs a;
    memset(&a, 0, sizeof a);
    a.r = r;
    a.cfg = http_config(r);
    a.extra_checks = json_array();
    err_clear(&a.e);
    struct org_info org;
    if (org_lookup_cached(http_param(r, "org"), &org, &a.e) < 0) {
        signins_count(&a.e);
        page_reply_err(r, &a.e);
        goto done;
    }
    a.org = org;
    http_log_org(r, org.slug);
    if (!(a.conn = connection_get(&a.org, &a.e)) || acs_validate(&a) < 0 || domain_check(&a) < 0 ||
        request_and_replay(&a) < 0) {
        signins_count(&a.e);
        acs_fail(&a);
        goto done;
    }
    if (a.test_id && a.rd) {
        /* A console test sign-in: every check ran, nobody is provisioned. */
        a.audited = 1;
        acs_test_passed(&a);
        goto done;
    }
    if (sign_in(&a) < 0) {
        signins_count(&a.e);
        acs_fail(&a);
        goto done;
    }
    signins_count(NULL);
    char *home = util_xasprintf("%s/", org_base_url());
    http_redirect(r, 303, a.rd ? a.rd : home);
    free(home);
done:
    acs_done(&a);
}

/* ---- Single Logout ---- */

struct slo_ctx {
    const char *org_id;
    long ended;
};

static int slo_end(void *ctx, const char *name_id, const char *session_index)
{
    struct slo_ctx *c = ctx;
    struct err e;
    long n = session_revoke_slo(c->org_id, name_id, session_index, &e);
    if (n < 0)
        return -1;
    c->ended += n;
    return 0;
}

static void slo_request(struct http_req *r, const struct org_info *org, struct connection *c, const char *msg)
{
    struct err e;
    err_clear(&e);
    struct slo_ctx ctx = {org->id, 0};
    char *url = NULL;
    if (sp_logout_handle_request(connection_sp(c), msg, slo_end, &ctx, &url, &e) < 0) {
        audit_append(org->id, "idp", "slo", "", "refused", e.code, e.msg, NULL);
        log_msg(LOG_WARN, "SLO request of org %s refused: %s", org->slug, e.msg);
        page_reply_err(r, &e);
        return;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "sessions_ended=%ld", ctx.ended);
    audit_append(org->id, "idp", "slo", "", "ok", "", detail, NULL);
    http_redirect(r, 302, url);
    free(url);
}

/* Consume our pending LogoutRequest that this LogoutResponse answers: DEL
 * returns 1 once, so a response is accepted once, and only for this org
 * (the key lives under its tag). */
static int logout_pending_take(const char *org_id, const char *in_response_to, struct err *e)
{
    char *key = tagged_key(org_id, "logout", in_response_to);
    struct store_reply *r = store_cmdl(e, "DEL", key, NULL);
    free(key);
    if (!r)
        return -1;
    int found = store_reply_type(r) == STORE_INTEGER && store_reply_int(r) == 1;
    store_reply_free(r);
    if (!found)
        return err_set(e, "saml_in_response_to_mismatch",
                       "the LogoutResponse answers no pending logout of this organization");
    return 0;
}

static void slo_response(struct http_req *r, const struct org_info *org, struct connection *c, const char *msg)
{
    struct err e;
    err_clear(&e);
    char *irt = NULL;
    if (sp_logout_handle_response(connection_sp(c), msg, &irt, &e) < 0 ||
        logout_pending_take(org->id, irt, &e) < 0) {
        log_msg(LOG_WARN, "SLO response of org %s refused: %s", org->slug, e.msg);
        page_reply_err(r, &e);
        free(irt);
        return;
    }
    free(irt);
    char *home = util_xasprintf("%s/", org_base_url());
    const char *kv[] = {"home", home, NULL};
    page_reply(r, 200, "signed_out", kv, NULL);
    free(home);
}

void flow_slo(struct http_req *r)
{
    struct err e;
    err_clear(&e);
    struct org_info org;
    struct connection *c = NULL;
    if (org_lookup(http_param(r, "org"), &org, &e) < 0 || !(c = connection_get(&org, &e))) {
        page_reply_err(r, &e);
        goto done;
    }
    http_log_org(r, org.slug);
    int post = strcmp(http_method(r), "POST") == 0;
    const char *req = post ? http_form(r, "SAMLRequest") : http_query(r, "SAMLRequest");
    const char *resp = post ? http_form(r, "SAMLResponse") : http_query(r, "SAMLResponse");
    /* Redirect binding: the signature covers the query string exactly as
     * sent (SAML Bindings 3.4.4.1); re-encoding decoded values breaks on any
     * IdP that encodes differently (lower-case %xx, unescaped '~'). */
    const char *query = post ? NULL : http_raw_query(r);
    if (req) {
        slo_request(r, &org, c, post ? req : query);
    } else if (resp) {
        slo_response(r, &org, c, post ? resp : query);
    } else {
        err_set(&e, "saml_logout_invalid", "neither SAMLRequest nor SAMLResponse");
        page_reply_err(r, &e);
    }
done:
    connection_release(c);
}
