/* Helpers for the sign-in flow tests (see harness_flow.h). */
#include "harness_flow.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "store/store.h"
#include "util/util.h"

char *flow_sh(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(&b, chunk, n);
    int st = pclose(p);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return b.data;
}

char *flow_cli(const struct sg *s, const char *args)
{
    char *cmd = util_xasprintf("%s %s -c %s", sg_bin(), args, s->conf);
    int st;
    char *out = flow_sh(cmd, &st);
    cr_assert_eq(st, 0, "%s: %s", cmd, out);
    free(cmd);
    return out;
}

void flow_org_setup(const struct sg *s, const char *slug, const char *owner, const char *domain,
                    char org_id[64])
{
    char *a = util_xasprintf("org create %s --owner %s", slug, owner);
    free(flow_cli(s, a));
    free(a);
    a = util_xasprintf("domain add %s %s --verified", slug, domain);
    free(flow_cli(s, a));
    free(a);
    a = util_xasprintf("org show %s", slug);
    char *out = flow_cli(s, a);
    free(a);
    json_t *o = json_loads(out, 0, NULL);
    cr_assert_not_null(o, "%s", out);
    snprintf(org_id, 64, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    free(out);
}

void flow_store_open(const struct sg *s)
{
    struct store_config sc = {.url = s->redis.url, .connect_timeout_ms = 1000, .command_timeout_ms = 2000,
                              .reconnect_max_backoff_ms = 200};
    struct err e;
    cr_assert_eq(store_init(&sc, &e), 0, "%s", e.msg);
}

void flow_pending_put(const char *org_id, const char *request_id, const char *rd)
{
    char h[65];
    util_sha256_hex(request_id, strlen(request_id), h);
    char *key = util_xasprintf("sg:{o:%s}:req:%s", org_id, h);
    char *val = util_xasprintf("{\"org\":\"%s\",\"rd\":\"%s\",\"t\":%lld}", org_id, rd, (long long)util_now_ms());
    struct err e;
    struct store_reply *r = store_cmdl(&e, "SET", key, val, "EX", "600", NULL);
    cr_assert_not_null(r, "%s", e.msg);
    store_reply_free(r);
    free(key);
    free(val);
}

char *flow_read(const char *dir, const char *name)
{
    char *path = util_xasprintf("%s/%s", dir, name);
    size_t n;
    char *d = util_read_file(path, 1 << 24, &n);
    cr_assert_not_null(d, "cannot read %s", path);
    free(path);
    return d;
}

void flow_post_acs(const struct sg *s, const char *org, const char *saml_b64, const char *relay,
                   struct sg_resp *out)
{
    CURL *c = curl_easy_init();
    char *enc = curl_easy_escape(c, saml_b64, 0);
    char *renc = relay ? curl_easy_escape(c, relay, 0) : NULL;
    char *body = util_xasprintf("SAMLResponse=%s%s%s", enc, renc ? "&RelayState=" : "", renc ? renc : "");
    char *path = util_xasprintf("/saml/%s/acs", org);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    sg_request(s, "POST", path, h, body, out);
    curl_slist_free_all(h);
    curl_free(enc);
    curl_free(renc);
    curl_easy_cleanup(c);
    free(body);
    free(path);
}

char *flow_cookie(const struct sg_resp *r)
{
    char *sc = sg_header(r, "Set-Cookie");
    if (!sc)
        return NULL;
    char *semi = strchr(sc, ';');
    if (semi)
        *semi = '\0';
    return sc;
}

long flow_session_status(const struct sg *s, const char *cookie, char **body)
{
    char *h = util_xasprintf("Cookie: %s", cookie);
    struct curl_slist *hl = curl_slist_append(NULL, h);
    struct sg_resp r;
    sg_request(s, "GET", "/v1/session", hl, NULL, &r);
    curl_slist_free_all(hl);
    free(h);
    long st = r.status;
    if (body)
        *body = util_xstrdup(r.body ? r.body : "");
    sg_resp_free(&r);
    return st;
}

long flow_diag_count(const char *org_id)
{
    char *key = util_xasprintf("sg:{o:%s}:signin_diag", org_id);
    struct store_reply *r = store_cmdl(NULL, "LLEN", key, NULL);
    free(key);
    long n = (long)store_reply_int(r);
    store_reply_free(r);
    return n;
}
