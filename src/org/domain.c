/* Verified domains. The org's record (sg:{o:<id>}:domain:<name>) is the
 * truth; the global claim sg:domain:<name> -> org id exists so a sign-in can
 * find the org by email. Claim first, then mark verified; unmark first, then
 * release: so "the org's record says verified" always implies the claim, and
 * a claim whose holder does not say verified is dangling and ignored. */
#include "org/domain.h"

#include <ares.h>
#include <idn2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "org/audit.h"
#include "store/store.h"
#include "util/log.h"
#include "util/ticker.h"
#include "util/tlcache.h"
#include "util/util.h"

static struct {
    char resolvers[512];
    int timeout_ms;
    int grace;
} dcfg = {"", 3000, 3};

void domain_configure(const char *resolvers, int timeout_ms, int recheck_grace)
{
    snprintf(dcfg.resolvers, sizeof dcfg.resolvers, "%s", resolvers ? resolvers : "");
    dcfg.timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
    dcfg.grace = recheck_grace > 0 ? recheck_grace : 3;
}

/* ---- normalization ------------------------------------------------------ */

static int label_ok(const char *l, size_t n)
{
    if (n < 1 || n > 63 || l[0] == '-' || l[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= '0' && l[i] <= '9') || l[i] == '-'))
            return 0;
    return 1;
}

static int ldh_valid(const char *d)
{
    size_t len = strlen(d);
    if (len < 3 || len > 253)
        return 0;
    int labels = 0, tld_digits = 1;
    for (const char *p = d;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!label_ok(p, n))
            return 0;
        labels++;
        if (!dot) {
            tld_digits = strspn(p, "0123456789") == n; /* 10.0.0.1: an address, not a name */
            break;
        }
        p = dot + 1;
    }
    return labels >= 2 && !tld_digits;
}

int domain_normalize(const char *in, char *out, size_t n, struct err *e)
{
    size_t len = in ? strlen(in) : 0;
    if (len == 0 || len > 1000)
        return err_set(e, "invalid_domain", NULL);
    char *lower = util_xstrndup(in, len);
    if (lower[len - 1] == '.')
        lower[--len] = '\0';
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    char *ace = NULL;
    int rc = idn2_to_ascii_8z(lower, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    free(lower);
    if (rc != IDN2_OK || !ace) {
        free(ace);
        return err_set(e, "invalid_domain", "The domain name is not valid (%s).", idn2_strerror(rc));
    }
    for (char *p = ace; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    int ok = ldh_valid(ace) && strlen(ace) < n && strlen(ace) < DOMAIN_MAX;
    if (ok)
        snprintf(out, n, "%s", ace);
    free(ace);
    return ok ? 0 : err_set(e, "invalid_domain", NULL);
}

/* ---- DNS (c-ares) ------------------------------------------------------- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void ares_lib_init(void)
{
    ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

struct txt_query {
    int done, status;
    struct buf cur;
    char **values;
    size_t n;
};

static void txt_push(struct txt_query *q)
{
    q->values = util_xrealloc(q->values, (q->n + 2) * sizeof *q->values);
    q->values[q->n++] = util_xstrdup(q->cur.data ? q->cur.data : "");
    q->values[q->n] = NULL;
    buf_free(&q->cur);
    buf_init(&q->cur);
}

/* A TXT record may carry several character-strings (RFC 1035 3.3.14);
 * c-ares gives them as chunks, record_start marking each record's first. */
static void txt_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct txt_query *q = arg;
    q->done = 1;
    q->status = status;
    if (status != ARES_SUCCESS)
        return;
    struct ares_txt_ext *txt = NULL;
    q->status = ares_parse_txt_reply_ext(abuf, alen, &txt);
    int open = 0;
    for (struct ares_txt_ext *t = txt; t && q->status == ARES_SUCCESS; t = t->next) {
        if (t->record_start && open)
            txt_push(q);
        buf_append(&q->cur, t->txt, t->length);
        open = 1;
    }
    if (open)
        txt_push(q);
    ares_free_data(txt);
}

/* Drive the channel with poll (select breaks past fd 1024 in a busy server). */
static void ares_wait(ares_channel ch, struct txt_query *q, int64_t deadline)
{
    while (!q->done && util_mono_ms() < deadline) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 by up to 31 places
         * (undefined behaviour): test the bits as unsigned instead. */
        unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int nfd = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)(((bits >> i) & 1u ? POLLIN : 0) |
                               ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (ev)
                pfd[nfd++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval max = {.tv_sec = 0, .tv_usec = 100000}, tv;
        struct timeval *tvp = ares_timeout(ch, &max, &tv);
        int ms = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
        int ready = poll(pfd, (nfds_t)nfd, ms);
        if (ready <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (int i = 0; i < nfd; i++)
            ares_process_fd(ch, pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
                            pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
    }
}

int domain_dns_txt(const char *name, char ***values, struct err *e)
{
    *values = NULL;
    pthread_once(&ares_once, ares_lib_init);
    if (ares_init_rc != ARES_SUCCESS)
        return err_set(e, "dns_unavailable", "c-ares could not start.");
    struct ares_options o = {.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES, .timeout = dcfg.timeout_ms / 2,
                             .tries = 2};
    ares_channel ch;
    if (ares_init_options(&ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
        return err_set(e, "dns_unavailable", "c-ares could not start.");
    if (dcfg.resolvers[0] && ares_set_servers_ports_csv(ch, dcfg.resolvers) != ARES_SUCCESS) {
        ares_destroy(ch);
        return err_set(e, "dns_unavailable", "The [dns] resolvers are not usable.");
    }
    struct txt_query q = {0};
    buf_init(&q.cur);
    ares_query(ch, name, 1 /* C_IN */, 16 /* T_TXT */, txt_cb, &q);
    ares_wait(ch, &q, util_mono_ms() + dcfg.timeout_ms);
    ares_destroy(ch); /* calls txt_cb with ARES_EDESTRUCTION when still pending */
    buf_free(&q.cur);
    if (q.status == ARES_SUCCESS && q.n > 0) {
        *values = q.values;
        return 0;
    }
    org_strv_free(q.values);
    if (q.status == ARES_SUCCESS || q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA)
        return err_set(e, "dns_record_missing", "No TXT record at %s.", name);
    return err_set(e, "dns_unavailable", "The TXT look-up of %s failed: %s.", name, ares_strerror(q.status));
}

/* 0 when one of the TXT values is exactly the token. */
static int dns_check_token(const char *domain, const char *token, struct err *e)
{
    char name[DOMAIN_MAX + 32];
    snprintf(name, sizeof name, DOMAIN_CHALLENGE_PREFIX "%s", domain);
    char **vals;
    if (domain_dns_txt(name, &vals, e) < 0)
        return -1;
    int found = 0;
    for (char **v = vals; *v; v++)
        found |= util_ct_streq(*v, token);
    org_strv_free(vals);
    return found ? 0 : err_set(e, "dns_record_mismatch", "The TXT record at %s does not carry the token.", name);
}

/* ---- records ------------------------------------------------------------ */

static void info_from_hash(const struct store_reply *r, struct domain_info *out)
{
    const char *v;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", (v = org_reply_field(r, "name")) ? v : "");
    snprintf(out->txt_name, sizeof out->txt_name, DOMAIN_CHALLENGE_PREFIX "%s", out->name);
    snprintf(out->token, sizeof out->token, "%s", (v = org_reply_field(r, "token")) ? v : "");
    snprintf(out->method, sizeof out->method, "%s", (v = org_reply_field(r, "method")) ? v : "");
    out->verified = (v = org_reply_field(r, "status")) && strcmp(v, "verified") == 0;
    out->include_subdomains = (v = org_reply_field(r, "subdomains")) && strcmp(v, "1") == 0;
    out->added_ms = (v = org_reply_field(r, "added")) ? atoll(v) : 0;
    out->verified_ms = (v = org_reply_field(r, "verified_at")) ? atoll(v) : 0;
    out->misses = (v = org_reply_field(r, "misses")) ? atoi(v) : 0;
}

int domain_get(const char *org_id, const char *domain, struct domain_info *out, struct err *e)
{
    char d[DOMAIN_MAX];
    if (domain_normalize(domain, d, sizeof d, e) < 0)
        return -1;
    char *key = util_xasprintf("sg:{o:%s}:domain:%s", org_id, d);
    struct store_reply *r = store_cmdl(e, "HGETALL", key, NULL);
    free(key);
    if (!r)
        return -1;
    int found = org_reply_field(r, "name") != NULL;
    if (found)
        info_from_hash(r, out);
    store_reply_free(r);
    return found ? 0 : err_set(e, "domain_not_found", NULL);
}

/* Does holder still stand behind the claim sg:domain:<name>? */
static int claim_live(const char *holder, const char *key, struct err *e)
{
    char *dkey = util_xasprintf("sg:{o:%s}:domain:%s", holder, key + strlen("sg:domain:"));
    struct store_reply *r = store_cmdl(e, "HGET", dkey, "status", NULL);
    free(dkey);
    if (!r)
        return -1;
    int live = store_reply_type(r) == STORE_STRING && strcmp(store_reply_str(r, NULL), "verified") == 0;
    store_reply_free(r);
    return live;
}

/* The org holding a live claim on exactly this name: 1 found, 0 none. */
static int claim_holder(const char *domain, char org_id[ORG_ID_MAX], struct err *e)
{
    char *key = util_xasprintf("sg:domain:%s", domain);
    struct store_reply *r = store_cmdl(e, "GET", key, NULL);
    int rc = -1;
    if (!r)
        goto done;
    rc = 0;
    if (store_reply_type(r) == STORE_STRING) {
        snprintf(org_id, ORG_ID_MAX, "%s", store_reply_str(r, NULL));
        rc = claim_live(org_id, key, e);
    }
done:
    store_reply_free(r);
    free(key);
    return rc;
}

static const char lua_domain_add[] =
    "local d, token, sub = ARGV[6], ARGV[7], ARGV[8]\n"
    "local deny = need_org('domain.add', d) if deny then return deny end\n"
    "if redis.call('EXISTS', k('domain:' .. d)) == 1 then\n"
    "  return fail('domain.add', d, 'domain_exists', 'This domain was already added.') end\n"
    "redis.call('HSET', k('domain:' .. d), 'name', d, 'token', token, 'status', 'pending', 'subdomains', sub,\n"
    "  'added', NOW, 'verified_at', 0, 'method', '', 'misses', 0)\n"
    "redis.call('SADD', k('domains'), d)\n"
    "audit('domain.add', d, 'ok', '', '', 'pending subdomains=' .. sub)\n"
    "return {'ok'}\n";

int domain_add(const struct org_actor *a, const char *org_id, const char *domain, int include_subdomains,
               struct domain_info *out, struct err *e)
{
    char d[DOMAIN_MAX], holder[ORG_ID_MAX];
    if (domain_normalize(domain, d, sizeof d, e) < 0)
        return -1;
    int h = claim_holder(d, holder, e);
    if (h < 0)
        return -1;
    if (h == 1 && strcmp(holder, org_id) != 0)
        return err_set(e, "domain_taken", "%s is verified by another organization.", d);
    char *token = util_random_token(24);
    char *value = util_xasprintf("ssogate-verify=%s", token);
    free(token);
    const char *args[] = {d, value, include_subdomains ? "1" : "0"};
    struct store_reply *r = org_script(lua_domain_add, org_id, a, 3, args, e);
    free(value);
    store_reply_free(r);
    if (!r)
        return -1;
    return out ? domain_get(org_id, d, out, e) : 0;
}

/* Mark verified; the token checked must still be the record's (a re-add
 * in between would change it). method "dns" or "operator". */
static const char lua_domain_mark[] =
    "local d, token, method, sub = ARGV[6], ARGV[7], ARGV[8], ARGV[9]\n"
    "local deny = need_org('domain.verify', d) if deny then return deny end\n"
    "local cur = redis.call('HMGET', k('domain:' .. d), 'token', 'status')\n"
    "if method == 'operator' and not cur[1] then\n"
    "  redis.call('HSET', k('domain:' .. d), 'name', d, 'token', '', 'status', 'pending', 'subdomains', sub,\n"
    "    'added', NOW, 'verified_at', 0, 'method', '', 'misses', 0)\n"
    "  redis.call('SADD', k('domains'), d)\n"
    "  cur = {'', 'pending'}\n"
    "end\n"
    "if not cur[1] then return fail('domain.verify', d, 'domain_not_found', 'This domain was not added.') end\n"
    "if method == 'dns' and cur[1] ~= token then\n"
    "  return fail('domain.verify', d, 'conflict', 'The challenge changed meanwhile; verify again.') end\n"
    "redis.call('HSET', k('domain:' .. d), 'status', 'verified', 'verified_at', NOW, 'method', method, 'misses', 0)\n"
    "audit('domain.verify', d, 'ok', '', cur[2], 'verified', 'method=' .. method)\n"
    "return {'ok'}\n";

static int domain_mark(const struct org_actor *a, const char *org_id, const char *d, const char *token,
                       const char *method, int sub, struct err *e)
{
    char *claim = util_xasprintf("sg:domain:%s", d);
    int rc = -1;
    int c = org_global_claim(claim, org_id, claim_live, e);
    if (c == 0) {
        err_set(e, "domain_taken", "%s is verified by another organization.", d);
        audit_append(org_id, a->label, "domain.verify", d, "refused", "domain_taken", NULL, NULL);
    }
    if (c <= 0)
        goto done;
    const char *args[] = {d, token, method, sub ? "1" : "0"};
    struct store_reply *r = org_script(lua_domain_mark, org_id, a, 4, args, e);
    if (!r) {
        /* undo only a claim no verified record of ours stands behind */
        struct err ignore;
        if (claim_live(org_id, claim, &ignore) == 0)
            org_global_release(claim, org_id);
        goto done;
    }
    store_reply_free(r);
    rc = 0;
done:
    free(claim);
    return rc;
}

int domain_verify(const struct org_actor *a, const char *org_id, const char *domain,
                  struct domain_info *out, struct err *e)
{
    struct domain_info cur;
    if (domain_get(org_id, domain, &cur, e) < 0)
        return -1;
    if (!cur.verified) {
        if (dns_check_token(cur.name, cur.token, e) < 0) {
            audit_append(org_id, a->label, "domain.verify", cur.name, "refused", e->code, NULL, NULL);
            return -1;
        }
        if (domain_mark(a, org_id, cur.name, cur.token, "dns", cur.include_subdomains, e) < 0)
            return -1;
    }
    return out ? domain_get(org_id, cur.name, out, e) : 0;
}

int domain_add_verified(const struct org_actor *a, const char *org_id, const char *domain,
                        int include_subdomains, struct domain_info *out, struct err *e)
{
    char d[DOMAIN_MAX];
    if (!a || !a->operator)
        return err_set(e, "forbidden", "Only an operator may mark a domain verified without DNS.");
    if (domain_normalize(domain, d, sizeof d, e) < 0)
        return -1;
    if (domain_mark(a, org_id, d, "", "operator", include_subdomains, e) < 0)
        return -1;
    return out ? domain_get(org_id, d, out, e) : 0;
}

static const char lua_domain_remove[] =
    "local d, action, code = ARGV[6], ARGV[7], ARGV[8]\n"
    "if action == 'domain.remove' then\n"
    "  local deny = need_org(action, d) if deny then return deny end\n"
    "elseif redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "local st = redis.call('HGET', k('domain:' .. d), 'status')\n"
    "if not st then return fail(action, d, 'domain_not_found', 'This domain was not added.') end\n"
    "redis.call('DEL', k('domain:' .. d))\n"
    "redis.call('SREM', k('domains'), d)\n"
    "audit(action, d, 'ok', code, st, '')\n"
    "return {'ok', st}\n";

static int domain_drop(const struct org_actor *a, const char *org_id, const char *d, const char *action,
                       const char *code, struct err *e)
{
    const char *args[] = {d, action, code};
    struct store_reply *r = org_script(lua_domain_remove, org_id, a, 3, args, e);
    if (!r)
        return -1;
    store_reply_free(r);
    char *claim = util_xasprintf("sg:domain:%s", d);
    org_global_release(claim, org_id);
    free(claim);
    return 0;
}

int domain_remove(const struct org_actor *a, const char *org_id, const char *domain, struct err *e)
{
    char d[DOMAIN_MAX];
    if (domain_normalize(domain, d, sizeof d, e) < 0)
        return -1;
    return domain_drop(a, org_id, d, "domain.remove", "", e);
}

static int cmp_domain(const void *a, const void *b)
{
    return strcmp(((const struct domain_info *)a)->name, ((const struct domain_info *)b)->name);
}

int domain_list(const char *org_id, struct domain_info **out, size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    char *key = util_xasprintf("sg:{o:%s}:domains", org_id);
    struct store_reply *r = store_cmdl(e, "SMEMBERS", key, NULL);
    free(key);
    if (!r)
        return -1;
    size_t cnt = store_reply_len(r);
    struct domain_info *v = util_xcalloc(cnt ? cnt : 1, sizeof *v);
    size_t got = 0;
    for (size_t i = 0; i < cnt; i++) {
        struct err ignore;
        if (domain_get(org_id, store_reply_str(store_reply_elem(r, i), NULL), &v[got], &ignore) == 0)
            got++;
    }
    store_reply_free(r);
    qsort(v, got, sizeof *v, cmp_domain);
    *out = v;
    *n = got;
    return 0;
}

/* ---- re-check ----------------------------------------------------------- */

static const char lua_domain_miss[] =
    "local d, code = ARGV[6], ARGV[7]\n"
    "if redis.call('HGET', k('domain:' .. d), 'status') ~= 'verified' then return {'ok', '0'} end\n"
    "local m = redis.call('HINCRBY', k('domain:' .. d), 'misses', 1)\n"
    "audit('domain.recheck', d, 'failed', code, '', '', 'misses=' .. m)\n"
    "return {'ok', tostring(m)}\n";

static const char lua_domain_hit[] =
    "local d = ARGV[6]\n"
    "if redis.call('HGET', k('domain:' .. d), 'status') == 'verified' then\n"
    "  redis.call('HSET', k('domain:' .. d), 'misses', 0) end\n"
    "return {'ok'}\n";

int domain_recheck(const char *org_id, const char *domain, int *removed, struct err *e)
{
    struct domain_info cur;
    struct org_actor sys = {.label = "system:recheck"};
    *removed = 0;
    if (domain_get(org_id, domain, &cur, e) < 0)
        return -1;
    if (!cur.verified || strcmp(cur.method, "dns") != 0)
        return 0; /* operator-verified domains are not looked up (air-gapped installs) */
    struct err de;
    err_clear(&de);
    if (dns_check_token(cur.name, cur.token, &de) == 0) {
        const char *args[] = {cur.name};
        store_reply_free(org_script(lua_domain_hit, org_id, &sys, 1, args, e));
        return 0;
    }
    if (strcmp(de.code, "dns_unavailable") == 0) {
        log_msg(LOG_WARN, "domain re-check of %s skipped: %s", cur.name, de.msg);
        return 0;
    }
    const char *args[] = {cur.name, de.code};
    struct store_reply *r = org_script(lua_domain_miss, org_id, &sys, 2, args, e);
    if (!r)
        return -1;
    int misses = atoi(store_reply_str(store_reply_elem(r, 1), NULL));
    store_reply_free(r);
    if (misses < dcfg.grace) {
        log_msg(LOG_WARN, "org %s: verified domain %s lost its TXT record (%d of %d re-checks); it will be "
                "removed if the record stays missing", org_id, cur.name, misses, dcfg.grace);
        return 0;
    }
    log_msg(LOG_WARN, "org %s: domain %s removed: TXT record missing for %d re-checks", org_id, cur.name,
            misses);
    if (domain_drop(&sys, org_id, cur.name, "domain.lost", de.code, e) < 0)
        return -1;
    *removed = 1;
    return 0;
}

int domain_recheck_all(int *checked, int *removed, struct err *e)
{
    char cursor[32] = "0";
    *checked = *removed = 0;
    do {
        struct store_reply *r = store_cmdl(e, "SCAN", cursor, "MATCH", "sg:domain:*", "COUNT", "500", NULL);
        if (!r || store_reply_type(r) != STORE_ARRAY || store_reply_len(r) != 2) {
            store_reply_free(r);
            return r ? err_set(e, "internal_error", "unexpected SCAN reply") : -1;
        }
        snprintf(cursor, sizeof cursor, "%s", store_reply_str(store_reply_elem(r, 0), NULL));
        const struct store_reply *keys = store_reply_elem(r, 1);
        for (size_t i = 0; i < store_reply_len(keys); i++) {
            const char *d = store_reply_str(store_reply_elem(keys, i), NULL) + strlen("sg:domain:");
            char holder[ORG_ID_MAX];
            struct err de;
            int gone = 0;
            if (claim_holder(d, holder, &de) != 1)
                continue;
            (*checked)++;
            if (domain_recheck(holder, d, &gone, &de) < 0)
                log_msg(LOG_WARN, "domain re-check of %s failed: %s", d, de.msg);
            *removed += gone;
        }
        store_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* ---- the timer ---------------------------------------------------------- */

int domain_recheck_round(int interval_s, struct err *e)
{
    char ttl[32], me[32];
    snprintf(ttl, sizeof ttl, "%lld", (long long)interval_s * 1000 - 1000);
    snprintf(me, sizeof me, "%d", (int)getpid());
    struct store_reply *r = store_cmdl(e, "SET", "sg:recheck:lock", me, "NX", "PX", ttl, NULL);
    if (!r)
        return -1;
    int got = store_reply_type(r) == STORE_STATUS;
    store_reply_free(r);
    if (!got)
        return 0;
    int checked, removed;
    if (domain_recheck_all(&checked, &removed, e) < 0)
        return -1;
    log_msg(LOG_INFO, "verified domains re-checked: %d checked, %d removed", checked, removed);
    return 1;
}

static struct ticker *recheck_ticker;
static pthread_mutex_t recheck_lock = PTHREAD_MUTEX_INITIALIZER;

static void recheck_tick(void *arg)
{
    int interval_s = *(int *)arg;
    struct err e;
    err_clear(&e);
    if (domain_recheck_round(interval_s, &e) < 0)
        log_msg(LOG_WARN, "domain re-check round failed: %s", e.msg);
}

int domain_recheck_thread_start(int interval_s, struct err *e)
{
    static int interval;
    if (interval_s < 2)
        return err_set(e, "config_invalid", "[dns] recheck_interval_s is too small.");
    pthread_mutex_lock(&recheck_lock);
    if (!recheck_ticker) {
        interval = interval_s;
        recheck_ticker = ticker_start(interval_s, recheck_tick, store_thread_close, &interval);
    }
    int ok = recheck_ticker != NULL;
    pthread_mutex_unlock(&recheck_lock);
    return ok ? 0 : err_set(e, "internal_error", "cannot start the domain re-check thread");
}

void domain_recheck_thread_stop(void)
{
    pthread_mutex_lock(&recheck_lock);
    struct ticker *t = recheck_ticker;
    recheck_ticker = NULL;
    pthread_mutex_unlock(&recheck_lock);
    ticker_stop(t);
}

/* ---- sign-in look-ups --------------------------------------------------- */

static int email_domain(const char *email, char d[DOMAIN_MAX], struct err *e)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    if (!at)
        return err_set(e, "invalid_email", NULL);
    return domain_normalize(at + 1, d, DOMAIN_MAX, e);
}

int domain_org_for_email(const char *email, char org_id[ORG_ID_MAX], struct err *e)
{
    char d[DOMAIN_MAX];
    if (email_domain(email, d, e) < 0)
        return -1;
    for (const char *p = d; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
        if (!strchr(p, '.'))
            break; /* never a bare TLD */
        int h = claim_holder(p, org_id, e);
        if (h < 0)
            return -1;
        if (h == 0)
            continue;
        struct domain_info info;
        if (domain_get(org_id, p, &info, e) < 0)
            return -1;
        if (p == d || info.include_subdomains)
            return 0;
    }
    return err_set(e, "domain_not_verified", "No organization has verified %s.", d);
}

static int domain_verified_uncached(const char *org_id, const char *d, struct err *e);

/* The verdict per (org, email domain) is kept in the process cache (short
 * TTL, dropped on every invalidation message; domain changes publish one):
 * a sign-in asks twice (ACS diagnostics, provisioning), the gate often. */
int domain_verified_for_org(const char *org_id, const char *email, struct err *e)
{
    char d[DOMAIN_MAX], key[TLCACHE_KEY_MAX];
    if (email_domain(email, d, e) < 0)
        return -1;
    if (strlen(org_id) > 40 || strlen(d) > 200) /* never a truncated (shared) cache key */
        return domain_verified_uncached(org_id, d, e);
    snprintf(key, sizeof key, "dv:%.40s:%.200s", org_id, d);
    int v;
    if (tlcache_get(key, &v, sizeof v))
        return v;
    v = domain_verified_uncached(org_id, d, e);
    if (v >= 0)
        tlcache_put(key, &v, sizeof v);
    return v;
}

static int domain_verified_uncached(const char *org_id, const char *d, struct err *e)
{
    for (const char *p = d; p && strchr(p, '.'); p = strchr(p, '.') + 1) {
        struct domain_info info;
        struct err ne;
        if (domain_get(org_id, p, &info, &ne) < 0) {
            if (strcmp(ne.code, "domain_not_found") != 0) {
                *e = ne;
                return -1;
            }
            continue;
        }
        if (info.verified && (p == d || info.include_subdomains))
            return 1;
    }
    return 0;
}
