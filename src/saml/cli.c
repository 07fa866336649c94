/* `ssogate verify-response`: validate one SAMLResponse offline with the
 * ACS checks (not the Redis ones) and print one JSON object. Exit 0 accepted,
 * 1 refused, 2 usage or configuration error (DESIGN.md, Contracts). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "saml/idp.h"
#include "saml/response.h"
#include "saml/saml.h"
#include "saml/spkey.h"
#include "util/err.h"
#include "util/util.h"

#define CLI_MAX_INPUT (4u * 1024 * 1024)
#define CLI_MAX_DOMAINS 64

static const char cli_usage[] =
    "usage: ssogate verify-response --idp-metadata FILE --sp-entity-id ID --acs-url URL\n"
    "        [--now RFC3339] [--request-id ID] [--allowed-domain DOMAIN]...\n"
    "        [--sp-key FILE] [--sp-next-key FILE] [--allow-idp-initiated] [--clock-skew SECONDS]\n"
    "        [--email-attribute NAME] [--allow-sha1] RESPONSE_FILE|-\n";

struct cli_opts {
    const char *metadata, *sp_entity_id, *acs_url, *request_id, *sp_key, *sp_next_key, *email_attr;
    const char *input;
    const char *domains[CLI_MAX_DOMAINS];
    size_t n_domains;
    int domains_given, allow_idp_initiated, allow_sha1, clock_skew;
    time_t now;
};

static int cli_usage_error(const char *why)
{
    fprintf(stderr, "ssogate verify-response: %s\n%s", why, cli_usage);
    return 2;
}

static void cli_print(json_t *o)
{
    json_dumpf(o, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
}

static int cli_fail(const struct err *e, json_t *checks, int exit_code)
{
    json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", e->code, "message", e->msg);
    if (checks)
        json_object_set_new(o, "checks", checks);
    cli_print(o);
    return exit_code;
}

static int cli_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int cli_parse(int argc, char **argv, struct cli_opts *o)
{
    enum { O_META = 1, O_SP, O_ACS, O_NOW, O_REQ, O_DOM, O_KEY, O_IDPI, O_SKEW, O_EATTR, O_SHA1, O_NKEY };
    static const struct option longopts[] = {
        {"idp-metadata", required_argument, NULL, O_META},
        {"sp-entity-id", required_argument, NULL, O_SP},
        {"acs-url", required_argument, NULL, O_ACS},
        {"now", required_argument, NULL, O_NOW},
        {"request-id", required_argument, NULL, O_REQ},
        {"allowed-domain", required_argument, NULL, O_DOM},
        {"sp-key", required_argument, NULL, O_KEY},
        {"sp-next-key", required_argument, NULL, O_NKEY},
        {"allow-idp-initiated", no_argument, NULL, O_IDPI},
        {"clock-skew", required_argument, NULL, O_SKEW},
        {"email-attribute", required_argument, NULL, O_EATTR},
        {"allow-sha1", no_argument, NULL, O_SHA1},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    o->clock_skew = RESPONSE_DEFAULT_CLOCK_SKEW;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_META: o->metadata = optarg; break;
        case O_SP: o->sp_entity_id = optarg; break;
        case O_ACS: o->acs_url = optarg; break;
        case O_REQ: o->request_id = optarg; break;
        case O_KEY: o->sp_key = optarg; break;
        case O_NKEY: o->sp_next_key = optarg; break;
        case O_EATTR: o->email_attr = optarg; break;
        case O_IDPI: o->allow_idp_initiated = 1; break;
        case O_SHA1: o->allow_sha1 = 1; break;
        case O_NOW:
            if (util_parse_time(optarg, &o->now) < 0 || o->now <= 0)
                return cli_usage_error("--now must be an RFC 3339 time with a zone");
            break;
        case O_SKEW:
            if (cli_parse_int(optarg, 0, 3600, &o->clock_skew) < 0)
                return cli_usage_error("--clock-skew must be 0..3600 seconds");
            break;
        case O_DOM:
            if (o->n_domains == CLI_MAX_DOMAINS)
                return cli_usage_error("too many --allowed-domain");
            o->domains[o->n_domains++] = optarg;
            o->domains_given = 1;
            break;
        default:
            return cli_usage_error("unknown option or missing value");
        }
    }
    if (!o->metadata || !o->sp_entity_id || !o->acs_url)
        return cli_usage_error("--idp-metadata, --sp-entity-id and --acs-url are required");
    if (optind != argc - 1)
        return cli_usage_error("exactly one RESPONSE_FILE (or -) is required");
    o->input = argv[optind];
    return 0;
}

static char *cli_read_stdin(size_t max, size_t *len)
{
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (b.len + n > max) {
            buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
        buf_append(&b, chunk, n);
    }
    *len = b.len;
    if (!b.data)
        buf_append(&b, "", 0);
    return b.data;
}

static int cli_validate(const struct cli_opts *o, const struct idp *idp,
                        const struct spkey *key, const char *data, size_t len)
{
    struct response_settings s = {
        .idp = idp, .sp_entity_id = o->sp_entity_id, .acs_url = o->acs_url,
        .now = o->now, .clock_skew = o->clock_skew == 0 ? -1 : o->clock_skew,
        .request_id = o->request_id, .allow_idp_initiated = o->allow_idp_initiated,
        .allow_sha1 = o->allow_sha1, .email_attribute = o->email_attr,
        .allowed_domains = o->domains_given ? o->domains : NULL,
        .n_allowed_domains = o->n_domains, .sp_key = key,
    };
    struct response_result r;
    struct err e;
    int rc;
    if (response_validate(data, len, &s, &r, &e) < 0) {
        rc = cli_fail(&e, response_checks_json(&r), 1);
    } else {
        json_t *out = response_identity_json(&r);
        json_object_set_new(out, "ok", json_true());
        json_object_set_new(out, "assertion_id", json_string(r.assertion_id ? r.assertion_id : ""));
        char t[32];
        util_format_time(r.not_on_or_after, t, sizeof t);
        json_object_set_new(out, "not_on_or_after", json_string(t));
        json_object_set_new(out, "checks", response_checks_json(&r));
        cli_print(out);
        rc = 0;
    }
    response_result_free(&r);
    return rc;
}

int cli_verify_response(int argc, char **argv)
{
    struct cli_opts o;
    struct err e;
    struct idp *idp = NULL;
    struct spkey *key = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;
    memset(&o, 0, sizeof o);
    err_clear(&e);
    if ((rc = cli_parse(argc, argv, &o)) != 0)
        goto done;
    if (saml_init(&e) < 0) {
        rc = cli_fail(&e, NULL, 2);
        goto done;
    }
    if (!(idp = idp_new_from_file(o.metadata, &e))) {
        rc = cli_fail(&e, NULL, 1);
        goto done;
    }
    if (o.sp_key && !(key = spkey_new_from_file(o.sp_key, &e))) {
        rc = cli_fail(&e, NULL, 2);
        goto done;
    }
    if (o.sp_next_key) {
        struct spkey *next = spkey_new_from_file(o.sp_next_key, &e);
        if (!next || !key) {
            spkey_free(next);
            rc = next ? cli_usage_error("--sp-next-key needs --sp-key") : cli_fail(&e, NULL, 2);
            goto done;
        }
        spkey_chain(key, next);
    }
    data = strcmp(o.input, "-") == 0 ? cli_read_stdin(CLI_MAX_INPUT, &len)
                                     : util_read_file(o.input, CLI_MAX_INPUT, &len);
    if (!data && errno == EFBIG) {
        err_set(&e, "saml_too_large", NULL);
        rc = cli_fail(&e, NULL, 1);
        goto done;
    } else if (!data) {
        rc = cli_usage_error("cannot read the response file");
        goto done;
    }
    rc = cli_validate(&o, idp, key, data, len);
done:
    free(data);
    spkey_free(key);
    idp_free(idp);
    saml_shutdown();
    return rc;
}
