/* `ssogate connection set|show`: the operator's way to connect an org's IdP.
 * Same code path as the admin API (connection_set, as the operator actor
 * "cli", audited); prints one JSON object, errors as {"error", "message"}
 * with exit 1, usage errors exit 2. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "org/org.h"
#include "saml/connection.h"
#include "saml/mdurl.h"
#include "saml/saml.h"
#include "store/store.h"
#include "util/config.h"
#include "util/util.h"

static const char usage[] =
    "usage: ssogate connection set ORG (--idp-metadata FILE | --idp-metadata-url URL) [--email-attribute NAME]\n"
    "                              [--allow-idp-initiated] [--allow-sha1] [--clock-skew SECONDS] [-c FILE]\n"
    "       ssogate connection show ORG [-c FILE]\n"
    "       ssogate connection refresh ORG [-c FILE]\n";

struct copts {
    const char *config, *metadata, *metadata_url, *email_attr;
    int idp_init, sha1, skew;
};

enum { O_MD = 256, O_EMAIL, O_IDPINIT, O_SHA1, O_SKEW, O_MDURL };

static int parse(int argc, char **argv, struct copts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"idp-metadata", required_argument, NULL, O_MD},
        {"idp-metadata-url", required_argument, NULL, O_MDURL},
        {"email-attribute", required_argument, NULL, O_EMAIL},
        {"allow-idp-initiated", no_argument, NULL, O_IDPINIT},
        {"allow-sha1", no_argument, NULL, O_SHA1},
        {"clock-skew", required_argument, NULL, O_SKEW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->skew = -1;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'c': o->config = optarg; break;
        case O_MD: o->metadata = optarg; break;
        case O_MDURL: o->metadata_url = optarg; break;
        case O_EMAIL: o->email_attr = optarg; break;
        case O_IDPINIT: o->idp_init = 1; break;
        case O_SHA1: o->sha1 = 1; break;
        case O_SKEW:
            o->skew = (int)strtol(optarg, &end, 10);
            if (*end || !*optarg || o->skew < 0 || o->skew > 600) {
                fprintf(stderr, "ssogate: --clock-skew must be 0..600\n");
                return -1;
            }
            break;
        default: return -1;
        }
    }
    return 0;
}

static int setup(const char *path, struct config *cfg)
{
    int rc = cli_org_setup(path, cfg);
    if (rc != 0)
        return rc;
    struct err e;
    err_clear(&e);
    if (saml_init(&e) < 0 || connection_configure(cfg, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        connection_shutdown();
        saml_shutdown();
        store_shutdown();
        config_free(cfg);
        return 2;
    }
    return 0;
}

/* The metadata document from --idp-metadata FILE or --idp-metadata-url URL. */
static char *read_metadata(const struct copts *o, int timeout_ms, size_t *len, struct err *e)
{
    char *md = NULL;
    if (o->metadata_url) {
        mdurl_fetch(o->metadata_url, timeout_ms, CONNECTION_MAX_METADATA, &md, len, e);
        return md;
    }
    md = util_read_file(o->metadata, CONNECTION_MAX_METADATA, len);
    if (!md)
        err_set(e, "saml_metadata_invalid", "cannot read %s (missing, or over %d bytes)", o->metadata,
                CONNECTION_MAX_METADATA);
    return md;
}

static int run(const char *sub, const char *slug, const struct copts *o, const struct config *cfg)
{
    struct err e;
    err_clear(&e);
    struct org_info org;
    if (org_lookup(slug, &org, &e) < 0)
        return cli_fail_json(&e);
    json_t *out = NULL;
    if (!strcmp(sub, "refresh") && connection_refresh(&org, cfg->saml_metadata_timeout_ms, &e) < 0)
        return cli_fail_json(&e);
    if (!strcmp(sub, "show") || !strcmp(sub, "refresh")) {
        out = connection_show(&org, &e);
        if (!out)
            return cli_fail_json(&e);
        cli_print_json(out);
        return 0;
    }
    size_t len = 0;
    char *md = read_metadata(o, cfg->saml_metadata_timeout_ms, &len, &e);
    if (!md)
        return cli_fail_json(&e);
    struct connection_input in = {
        .idp_metadata = md, .idp_metadata_len = len, .idp_metadata_url = o->metadata_url,
        .email_attribute = o->email_attr,
        .allow_idp_initiated = o->idp_init, .allow_sha1 = o->sha1, .clock_skew_s = o->skew,
    };
    int rc = connection_set(&cli_actor, &org, &in, &out, &e);
    free(md);
    if (rc < 0 || !out)
        return cli_fail_json(&e);
    cli_print_json(out);
    return 0;
}

int cli_connection(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "set") && strcmp(argv[1], "show") && strcmp(argv[1], "refresh"))) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    const char *slug = argv[2];
    struct copts o;
    if (slug[0] == '-' || parse(argc - 2, argv + 2, &o) < 0 || optind != argc - 2 ||
        (!strcmp(sub, "set") && !o.metadata == !o.metadata_url)) {
        fputs(usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = setup(o.config, &cfg);
    if (rc)
        return rc;
    rc = run(sub, slug, &o, &cfg);
    connection_shutdown();
    store_shutdown();
    saml_shutdown();
    config_free(&cfg);
    return rc;
}
