/* Unit tests of verified domains: normalization (table), and verification
 * against a real dnsmasq (right token, wrong token, missing record, resolver
 * down), the periodic re-check (warn, then remove), one org per domain, the
 * operator override and the sign-in look-ups, with a real redis-server. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "store/store.h"
#include "ts_dnsmasq.h"
#include "ts_orgfix.h"
#include "util/util.h"

static struct ts_dnsmasq dns;

static void setup(void)
{
    ts_org_setup();
    cr_assert_eq(ts_dnsmasq_start(&dns), 0, "dnsmasq: %s", ts_last_error());
    domain_configure(dns.resolvers, 2000, 2);
}

static void teardown(void)
{
    ts_dnsmasq_free(&dns);
    ts_org_teardown();
}

TestSuite(domain, .init = setup, .fini = teardown);

Test(domain, normalization_table)
{
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } rows[] = {
        {"acme.com", "acme.com"},
        {"ACME.Com", "acme.com"},
        {"acme.com.", "acme.com"},
        {"Bücher.example", "xn--bcher-kva.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"sub.acme.co.uk", "sub.acme.co.uk"},
        {"a-b.io", "a-b.io"},
        {"localhost", NULL},
        {"acme", NULL},
        {"", NULL},
        {".", NULL},
        {"acme..com", NULL},
        {".acme.com", NULL},
        {"-acme.com", NULL},
        {"acme-.com", NULL},
        {"ac_me.com", NULL},
        {"acme.com..", NULL},
        {"10.0.0.1", NULL},
        {"acme com", NULL},
        {"user@acme.com", NULL},
        {"acme.com/path", NULL},
        {"*.acme.com", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[DOMAIN_MAX];
        struct err e;
        int rc = domain_normalize(rows[i].in, out, sizeof out, &e);
        if (rows[i].out) {
            cr_expect_eq(rc, 0, "'%s' refused: %s", rows[i].in, e.msg);
            if (rc == 0)
                cr_expect_str_eq(out, rows[i].out, "'%s'", rows[i].in);
        } else {
            cr_expect_lt(rc, 0, "'%s' accepted as '%s'", rows[i].in, out);
            if (rc < 0)
                cr_expect_str_eq(e.code, "invalid_domain");
        }
    }
    /* labels of 63 bytes pass, 64 do not; names over 253 bytes do not */
    char l63[80], l64[80], longname[300];
    snprintf(l63, sizeof l63, "%.*s.test", 63, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    snprintf(l64, sizeof l64, "%.*s.test", 64, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    char out[DOMAIN_MAX];
    struct err e;
    cr_expect_eq(domain_normalize(l63, out, sizeof out, &e), 0);
    cr_expect_lt(domain_normalize(l64, out, sizeof out, &e), 0);
    longname[0] = 0;
    for (int i = 0; i < 26; i++)
        strcat(longname, "abcdefghi.");
    strcat(longname, "test");
    cr_expect_lt(domain_normalize(longname, out, sizeof out, &e), 0, "264 bytes");
}

static void publish(const char *name, const char *value)
{
    char *rec = util_xasprintf("%s,%s", name, value);
    const char *txt[] = {rec, NULL};
    cr_assert_eq(ts_dnsmasq_set(&dns, txt), 0, "%s", ts_last_error());
    free(rec);
}

Test(domain, verify_succeeds_with_the_published_token)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct domain_info d;
    OK(domain_add(&ts_org_operator, acme.id, "Acme.test", 0, &d, e));
    cr_assert_str_eq(d.name, "acme.test");
    cr_assert_str_eq(d.txt_name, "_ssogate-challenge.acme.test");
    cr_assert(strncmp(d.token, "ssogate-verify=", 15) == 0 && strlen(d.token) > 40, "%s", d.token);
    cr_assert(!d.verified);
    /* a pending domain counts for nothing */
    cr_assert_eq(domain_verified_for_org(acme.id, "x@acme.test", NULL), 0);
    publish(d.txt_name, d.token);
    struct domain_info v;
    OK(domain_verify(&ts_org_operator, acme.id, "acme.test", &v, e));
    cr_assert(v.verified);
    cr_assert_str_eq(v.method, "dns");
    char org[ORG_ID_MAX];
    OK(domain_org_for_email("x@ACME.test", org, e));
    cr_assert_str_eq(org, acme.id);
    struct err ve;
    cr_assert_eq(domain_verified_for_org(acme.id, "x@acme.test", &ve), 1);
    REFUSED(domain_add(&ts_org_operator, acme.id, "acme.test", 0, &d, e), "domain_exists");
}

Test(domain, a_wrong_token_or_no_record_is_refused_and_audited)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct domain_info d;
    OK(domain_add(&ts_org_operator, acme.id, "acme.test", 0, &d, e));
    char *before = ts_org_snapshot();
    REFUSED(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e), "dns_record_missing");
    publish(d.txt_name, "ssogate-verify=somebody-elses-token");
    REFUSED(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e), "dns_record_mismatch");
    /* the token published on another name does not count */
    publish("_ssogate-challenge.other.test", d.token);
    REFUSED(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e), "dns_record_missing");
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after, "refused verifications change nothing");
    free(before);
    free(after);
    json_t *entries;
    char next[64];
    OK(audit_read(acme.id, NULL, 3, &entries, next, e));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 1), "code")), "dns_record_mismatch");
    json_decref(entries);
    REFUSED(domain_verify(&ts_org_operator, acme.id, "never-added.test", NULL, e), "domain_not_found");
    char org[ORG_ID_MAX];
    REFUSED(domain_org_for_email("x@acme.test", org, e), "domain_not_verified");
}

Test(domain, a_resolver_that_does_not_answer_is_unavailable_not_missing)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    OK(domain_add(&ts_org_operator, acme.id, "acme.test", 0, NULL, e));
    ts_dnsmasq_stop(&dns);
    domain_configure(dns.resolvers, 400, 2);
    REFUSED(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e), "dns_unavailable");
}

Test(domain, a_txt_record_in_several_strings_is_joined)
{
    char **vals;
    publish("_ssogate-challenge.acme.test", "ssogate-verify=abc");
    OK(domain_dns_txt("_ssogate-challenge.acme.test", &vals, e));
    cr_assert_str_eq(vals[0], "ssogate-verify=abc");
    cr_assert_null(vals[1]);
    org_strv_free(vals);
    /* dnsmasq splits "a,b" into two character-strings of one record */
    const char *txt[] = {"multi.acme.test,ssogate-verify=,abc", NULL};
    cr_assert_eq(ts_dnsmasq_set(&dns, txt), 0);
    OK(domain_dns_txt("multi.acme.test", &vals, e));
    cr_assert_str_eq(vals[0], "ssogate-verify=abc");
    org_strv_free(vals);
}

Test(domain, recheck_warns_then_removes_a_domain_whose_record_vanished)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct domain_info d;
    OK(domain_add(&ts_org_operator, acme.id, "acme.test", 1, &d, e));
    publish(d.txt_name, d.token);
    OK(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e));
    int checked, removed;
    OK(domain_recheck_all(&checked, &removed, e));
    cr_assert_eq(checked, 1);
    cr_assert_eq(removed, 0);

    const char *none[] = {NULL};
    cr_assert_eq(ts_dnsmasq_set(&dns, none), 0);
    OK(domain_recheck_all(&checked, &removed, e));
    cr_assert_eq(removed, 0, "first miss: a warning only (grace 2)");
    struct domain_info cur;
    OK(domain_get(acme.id, "acme.test", &cur, e));
    cr_assert(cur.verified);
    cr_assert_eq(cur.misses, 1);

    /* the record is back: the count resets */
    publish(d.txt_name, d.token);
    OK(domain_recheck_all(&checked, &removed, e));
    OK(domain_get(acme.id, "acme.test", &cur, e));
    cr_assert_eq(cur.misses, 0);

    cr_assert_eq(ts_dnsmasq_set(&dns, none), 0);
    OK(domain_recheck_all(&checked, &removed, e));
    OK(domain_recheck_all(&checked, &removed, e));
    cr_assert_eq(removed, 1, "second miss in a row: removed");
    REFUSED(domain_get(acme.id, "acme.test", &cur, e), "domain_not_found");
    char org[ORG_ID_MAX];
    REFUSED(domain_org_for_email("x@acme.test", org, e), "domain_not_verified");
    struct err se;
    struct store_reply *r = store_cmdl(&se, "EXISTS", "sg:domain:acme.test", NULL);
    cr_assert_eq(store_reply_int(r), 0, "the global claim is released");
    store_reply_free(r);
    json_t *entries;
    char next[64];
    OK(audit_read(acme.id, NULL, 1, &entries, next, e));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(entries, 0), "action")), "domain.lost");
    json_decref(entries);
}

Test(domain, a_resolver_outage_never_costs_a_domain)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct domain_info d;
    OK(domain_add(&ts_org_operator, acme.id, "acme.test", 0, &d, e));
    publish(d.txt_name, d.token);
    OK(domain_verify(&ts_org_operator, acme.id, "acme.test", NULL, e));
    ts_dnsmasq_stop(&dns);
    domain_configure(dns.resolvers, 300, 1);
    int checked, removed;
    OK(domain_recheck_all(&checked, &removed, e));
    OK(domain_recheck_all(&checked, &removed, e));
    cr_assert_eq(removed, 0);
    struct domain_info cur;
    OK(domain_get(acme.id, "acme.test", &cur, e));
    cr_assert(cur.verified);
    cr_assert_eq(cur.misses, 0);
}

Test(domain, one_org_per_domain_and_the_operator_override)
{
    struct org_info acme, beta;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    ts_org_make("beta", "o@beta.test", &beta, NULL);
    struct domain_info d;
    struct org_actor admin_like = {.operator = 0, .uid = "u_nobody", .label = "x"};
    REFUSED(domain_add_verified(&admin_like, acme.id, "acme.test", 0, &d, e), "forbidden");
    OK(domain_add_verified(&ts_org_operator, acme.id, "acme.test", 1, &d, e));
    cr_assert(d.verified);
    cr_assert_str_eq(d.method, "operator");
    REFUSED(domain_add_verified(&ts_org_operator, beta.id, "acme.test", 0, &d, e), "domain_taken");
    REFUSED(domain_add(&ts_org_operator, beta.id, "ACME.test.", 0, &d, e), "domain_taken");
    /* beta added it while it was free, and proves it by DNS after acme: taken */
    OK(domain_add(&ts_org_operator, beta.id, "shared.test", 0, &d, e));
    OK(domain_add_verified(&ts_org_operator, acme.id, "shared.test", 0, NULL, e));
    publish(d.txt_name, d.token);
    char *before = ts_org_snapshot();
    REFUSED(domain_verify(&ts_org_operator, beta.id, "shared.test", NULL, e), "domain_taken");
    char *after = ts_org_snapshot();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    /* subdomains: covered only when the owner said so */
    char org[ORG_ID_MAX];
    OK(domain_org_for_email("x@eng.acme.test", org, e));
    cr_assert_str_eq(org, acme.id);
    cr_assert_eq(domain_verified_for_org(acme.id, "x@deep.eng.acme.test", NULL), 1);
    REFUSED(domain_org_for_email("x@eng.shared.test", org, e), "domain_not_verified");
    cr_assert_eq(domain_verified_for_org(acme.id, "x@eng.shared.test", NULL), 0);
    cr_assert_eq(domain_verified_for_org(beta.id, "x@acme.test", NULL), 0);
    /* after acme removes it, beta can have it */
    OK(domain_remove(&ts_org_operator, acme.id, "shared.test", e));
    OK(domain_verify(&ts_org_operator, beta.id, "shared.test", NULL, e));
    OK(domain_org_for_email("x@shared.test", org, e));
    cr_assert_str_eq(org, beta.id);
    /* the override is audited as such */
    json_t *entries;
    char next[64];
    OK(audit_read(acme.id, NULL, 10, &entries, next, e));
    int seen = 0;
    size_t i;
    json_t *v;
    json_array_foreach(entries, i, v) {
        const char *detail = json_string_value(json_object_get(v, "detail"));
        seen |= detail && strcmp(detail, "method=operator") == 0;
    }
    cr_assert(seen);
    json_decref(entries);
}

Test(domain, a_dangling_domain_claim_is_ignored_and_taken_over)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct err se;
    store_reply_free(store_cmdl(&se, "SET", "sg:domain:acme.test", "o_00000000000000000000", NULL));
    char org[ORG_ID_MAX];
    REFUSED(domain_org_for_email("x@acme.test", org, e), "domain_not_verified");
    OK(domain_add_verified(&ts_org_operator, acme.id, "acme.test", 0, NULL, e));
    OK(domain_org_for_email("x@acme.test", org, e));
    cr_assert_str_eq(org, acme.id);
}

Test(domain, one_instance_per_round_rechecks_and_the_thread_stops_promptly)
{
    struct org_info acme;
    ts_org_make("acme", "o@acme.test", &acme, NULL);
    struct err e;
    err_clear(&e);
    cr_assert_eq(domain_recheck_round(60, &e), 1, "%s", e.msg);
    cr_assert_eq(domain_recheck_round(60, &e), 0, "a second instance in the same round does nothing");
    cr_assert_eq(domain_recheck_thread_start(3600, &e), 0, "%s", e.msg);
    long long t0 = ts_now_ms();
    domain_recheck_thread_stop();
    cr_assert_lt(ts_now_ms() - t0, 1000);
    cr_assert_lt(domain_recheck_thread_start(1, &e), 0);
}
