/* Operator commands for the directory: `ssogate org`, `ssogate domain` and
 * `ssogate audit`. They call the same functions as the admin API, as the
 * operator actor ("cli"), and print one JSON object on stdout; errors are
 * {"error", "message"} with exit 1, usage errors exit 2. Like main.c, this is
 * the command layer: it also ends a removed member's sessions (session/). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "org/audit.h"
#include "org/domain.h"
#include "org/org.h"
#include "org/provision.h"
#include "session/session.h"
#include "store/store.h"
#include "util/config.h"
#include "util/util.h"

const struct org_actor cli_actor = {.operator = 1, .uid = "", .label = "cli"};

void cli_print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

int cli_fail_json(const struct err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(e->code ? e->code : "internal_error"));
    json_object_set_new(o, "message", json_string(e->msg));
    cli_print_json(o);
    return 1;
}

int cli_org_setup(const char *path, struct config *cfg)
{
    struct err e;
    err_clear(&e);
    if (config_load(cfg, path, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        config_free(cfg);
        return 2;
    }
    org_configure(cfg);
    if (store_init_from_config(cfg, &e) < 0) {
        fprintf(stderr, "ssogate: %s\n", e.msg);
        config_free(cfg);
        return 2;
    }
    return 0;
}

static void cli_teardown(struct config *cfg)
{
    store_shutdown();
    config_free(cfg);
}

/* Parsed options shared by the commands. */
struct opts {
    const char *config, *owner, *name, *cursor, *role;
    char workspaces[1024];   /* "slug=role ..." from repeated --workspace */
    int ttl;
    int verified, subdomains, limit, yes;
    char **pos;
    int npos;
};

enum { OPT_OWNER = 256, OPT_NAME, OPT_VERIFIED, OPT_SUBDOMAINS, OPT_LIMIT, OPT_CURSOR, OPT_YES, OPT_ROLE,
       OPT_WORKSPACE, OPT_TTL };

/* -1 on a usage error (printed). */
static int parse_opts(int argc, char **argv, struct opts *o, const char *usage)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"owner", required_argument, NULL, OPT_OWNER},
        {"name", required_argument, NULL, OPT_NAME}, {"verified", no_argument, NULL, OPT_VERIFIED},
        {"include-subdomains", no_argument, NULL, OPT_SUBDOMAINS},
        {"limit", required_argument, NULL, OPT_LIMIT}, {"cursor", required_argument, NULL, OPT_CURSOR},
        {"yes", no_argument, NULL, OPT_YES},        {"role", required_argument, NULL, OPT_ROLE},
        {"workspace", required_argument, NULL, OPT_WORKSPACE}, {"ttl", required_argument, NULL, OPT_TTL},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->limit = 50;
    optind = 1;
    opterr = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'c': o->config = optarg; break;
        case OPT_OWNER: o->owner = optarg; break;
        case OPT_NAME: o->name = optarg; break;
        case OPT_VERIFIED: o->verified = 1; break;
        case OPT_SUBDOMAINS: o->subdomains = 1; break;
        case OPT_CURSOR: o->cursor = optarg; break;
        case OPT_YES: o->yes = 1; break;
        case OPT_ROLE: o->role = optarg; break;
        case OPT_WORKSPACE: {
            size_t have = strlen(o->workspaces);
            if (have + strlen(optarg) + 2 > sizeof o->workspaces) {
                fputs(usage, stderr);
                return -1;
            }
            snprintf(o->workspaces + have, sizeof o->workspaces - have, "%s%s", have ? " " : "", optarg);
            break;
        }
        case OPT_TTL:
            o->ttl = (int)strtol(optarg, &end, 10);
            if (*end || o->ttl < 1) {
                fprintf(stderr, "ssogate: --ttl must be a positive number of seconds\n%s", usage);
                return -1;
            }
            break;
        case OPT_LIMIT:
            o->limit = (int)strtol(optarg, &end, 10);
            if (*end || o->limit < 1 || o->limit > 1000) {
                fprintf(stderr, "ssogate: --limit must be 1..1000\n%s", usage);
                return -1;
            }
            break;
        default: fputs(usage, stderr); return -1;
        }
    }
    o->pos = argv + optind;
    o->npos = argc - optind;
    return 0;
}

static json_t *org_json(const struct org_info *i)
{
    char t[32];
    util_format_time((time_t)(i->created_ms / 1000), t, sizeof t);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:b, s:s, s:b}}", "id", i->id, "slug", i->slug, "name",
                     i->name, "created", t, "settings", "max_session_s", i->settings.max_session_s,
                     "idle_timeout_s", i->settings.idle_timeout_s, "domain_capture", i->settings.domain_capture,
                     "default_role", org_role_name(i->settings.default_role), "require_sso",
                     i->settings.require_sso);
}

static const char org_usage[] =
    "usage: ssogate org create SLUG --owner EMAIL [--name NAME] [-c FILE]\n"
    "       ssogate org list [-c FILE]\n"
    "       ssogate org show SLUG [-c FILE]\n"
    "       ssogate org delete SLUG --yes [-c FILE]\n";

static int org_cmd_create(const struct opts *o)
{
    struct org_info info;
    char *key = NULL;
    struct err e;
    err_clear(&e);
    if (org_create(&cli_actor, o->pos[0], o->name, o->owner, &info, &key, &e) < 0)
        return cli_fail_json(&e);
    json_t *out = json_object();
    json_object_set_new(out, "org", json_string(info.slug));
    json_object_set_new(out, "owner_api_key", json_string(key));
    cli_print_json(out);
    memset(key, 0, strlen(key));
    free(key);
    return 0;
}

static int org_cmd_list(void)
{
    char **slugs;
    size_t n;
    struct err e;
    err_clear(&e);
    if (org_list(&slugs, &n, &e) < 0)
        return cli_fail_json(&e);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        struct org_info info;
        if (org_lookup(slugs[i], &info, &e) == 0)
            json_array_append_new(arr, org_json(&info));
    }
    org_strv_free(slugs);
    cli_print_json(json_pack("{s:o}", "orgs", arr));
    return 0;
}

static int org_cmd_delete(const char *slug)
{
    struct org_info info;
    struct err e;
    err_clear(&e);
    if (org_lookup(slug, &info, &e) < 0 || org_delete(&cli_actor, info.id, &e) < 0)
        return cli_fail_json(&e);
    session_revoke_org(info.id, &e);
    cli_print_json(json_pack("{s:s, s:s}", "org", info.slug, "status", "deleted"));
    return 0;
}

static int org_cmd_show(const char *slug)
{
    struct org_info info;
    struct err e;
    err_clear(&e);
    if (org_lookup(slug, &info, &e) < 0)
        return cli_fail_json(&e);
    cli_print_json(org_json(&info));
    return 0;
}

static char *slug_slot;

static int is_known_option(const char *a)
{
    static const char *const known[] = {"-c", "--config", "-h", "--help", "--owner", "--name", "--yes", NULL};
    for (const char *const *k = known; *k; k++) {
        size_t n = strlen(*k);
        if (strncmp(a, *k, n) == 0 && (a[n] == '\0' || a[n] == '='))
            return 1;
    }
    return strncmp(a, "-c", 2) == 0 && a[2]; /* -cFILE */
}

int cli_org(int argc, char **argv)
{
    struct opts o;
    if (argc < 2) {
        fputs(org_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    /* The word after create/show is the slug even when it starts with '-', so
     * that "-bad" is refused as a slug (exit 1), not as an option. */
    const char *slug = NULL;
    char **rest = argv + 1;
    int nrest = argc - 1;
    char *shifted[argc + 1];
    if ((!strcmp(sub, "create") || !strcmp(sub, "show") || !strcmp(sub, "delete")) && argc >= 3 && !is_known_option(argv[2])) {
        slug = argv[2];
        shifted[0] = argv[1];
        for (int i = 3; i <= argc; i++)
            shifted[i - 2] = argv[i];
        rest = shifted;
        nrest = argc - 2;
    }
    if (parse_opts(nrest, rest, &o, org_usage) < 0)
        return 2;
    if (slug) {
        o.pos = &slug_slot;
        slug_slot = (char *)slug;
        o.npos += 1;
        if (o.npos != 1) {
            fputs(org_usage, stderr);
            return 2;
        }
    }
    int ok = (!strcmp(sub, "create") && o.npos == 1 && o.owner) || (!strcmp(sub, "list") && o.npos == 0) ||
             (!strcmp(sub, "show") && o.npos == 1) || (!strcmp(sub, "delete") && o.npos == 1 && o.yes);
    if (!ok) {
        fputs(org_usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = cli_org_setup(o.config, &cfg);
    if (rc)
        return rc;
    if (!strcmp(sub, "create"))
        rc = org_cmd_create(&o);
    else if (!strcmp(sub, "list"))
        rc = org_cmd_list();
    else if (!strcmp(sub, "delete"))
        rc = org_cmd_delete(o.pos[0]);
    else
        rc = org_cmd_show(o.pos[0]);
    cli_teardown(&cfg);
    return rc;
}

/* ---- domains ------------------------------------------------------------ */

static const char domain_usage[] =
    "usage: ssogate domain add ORG DOMAIN [--include-subdomains] [--verified] [-c FILE]\n"
    "       ssogate domain verify ORG DOMAIN [-c FILE]\n"
    "       ssogate domain remove ORG DOMAIN [-c FILE]\n"
    "       ssogate domain list ORG [-c FILE]\n"
    "       ssogate domain recheck [-c FILE]\n";

static json_t *domain_json(const struct domain_info *d)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "domain", d->name, "status", d->verified ? "verified" : "pending",
                          "include_subdomains", d->include_subdomains);
    if (d->verified) {
        char t[32];
        util_format_time((time_t)(d->verified_ms / 1000), t, sizeof t);
        json_object_set_new(o, "method", json_string(d->method));
        json_object_set_new(o, "verified_at", json_string(t));
        json_object_set_new(o, "recheck_misses", json_integer(d->misses));
    } else {
        json_object_set_new(o, "txt_name", json_string(d->txt_name));
        json_object_set_new(o, "txt_value", json_string(d->token));
    }
    return o;
}

static int domain_run(const char *sub, const struct opts *o)
{
    struct err e;
    err_clear(&e);
    if (!strcmp(sub, "recheck")) {
        int checked, removed;
        if (domain_recheck_all(&checked, &removed, &e) < 0)
            return cli_fail_json(&e);
        cli_print_json(json_pack("{s:i, s:i}", "checked", checked, "removed", removed));
        return 0;
    }
    struct org_info org;
    if (org_lookup(o->pos[0], &org, &e) < 0)
        return cli_fail_json(&e);
    struct domain_info d;
    int rc = 0;
    if (!strcmp(sub, "add") && o->verified)
        rc = domain_add_verified(&cli_actor, org.id, o->pos[1], o->subdomains, &d, &e);
    else if (!strcmp(sub, "add"))
        rc = domain_add(&cli_actor, org.id, o->pos[1], o->subdomains, &d, &e);
    else if (!strcmp(sub, "verify"))
        rc = domain_verify(&cli_actor, org.id, o->pos[1], &d, &e);
    else if (!strcmp(sub, "remove")) {
        if (domain_remove(&cli_actor, org.id, o->pos[1], &e) < 0)
            return cli_fail_json(&e);
        cli_print_json(json_pack("{s:s, s:s}", "domain", o->pos[1], "status", "removed"));
        return 0;
    } else {
        struct domain_info *v;
        size_t n;
        if (domain_list(org.id, &v, &n, &e) < 0)
            return cli_fail_json(&e);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, domain_json(&v[i]));
        free(v);
        cli_print_json(json_pack("{s:s, s:o}", "org", org.slug, "domains", arr));
        return 0;
    }
    if (rc < 0)
        return cli_fail_json(&e);
    cli_print_json(domain_json(&d));
    return 0;
}

int cli_domain(int argc, char **argv)
{
    struct opts o;
    if (argc < 2) {
        fputs(domain_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (parse_opts(argc - 1, argv + 1, &o, domain_usage) < 0)
        return 2;
    int want = !strcmp(sub, "list") ? 1 : !strcmp(sub, "recheck") ? 0 : 2;
    int known = !strcmp(sub, "add") || !strcmp(sub, "verify") || !strcmp(sub, "remove") ||
                !strcmp(sub, "list") || !strcmp(sub, "recheck");
    if (!known || o.npos != want || (o.verified && strcmp(sub, "add") != 0)) {
        fputs(domain_usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = cli_org_setup(o.config, &cfg);
    if (rc)
        return rc;
    rc = domain_run(sub, &o);
    cli_teardown(&cfg);
    return rc;
}

/* ---- audit -------------------------------------------------------------- */

static const char audit_usage[] = "usage: ssogate audit ORG [--limit N] [--cursor ID] [-c FILE]\n";

int cli_audit(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o, audit_usage) < 0)
        return 2;
    if (o.npos != 1) {
        fputs(audit_usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = cli_org_setup(o.config, &cfg);
    if (rc)
        return rc;
    struct org_info org;
    struct err e;
    err_clear(&e);
    json_t *entries;
    char next[64];
    if (org_lookup(o.pos[0], &org, &e) < 0 || audit_read(org.id, o.cursor, o.limit, &entries, next, &e) < 0) {
        rc = cli_fail_json(&e);
    } else {
        cli_print_json(json_pack("{s:s, s:o, s:s?}", "org", org.slug, "entries", entries, "next",
                             next[0] ? next : NULL));
    }
    cli_teardown(&cfg);
    return rc;
}

/* ---- members and invitations ------------------------------------------- */

static const char member_usage[] =
    "usage: ssogate member add ORG EMAIL --role owner|admin|member|viewer [-c FILE]\n"
    "       ssogate member role ORG EMAIL --role ROLE [-c FILE]\n"
    "       ssogate member remove ORG EMAIL [-c FILE]\n"
    "       ssogate member list ORG [-c FILE]\n";

static int member_run(const char *sub, const struct opts *o, enum org_role role)
{
    struct org_info org;
    struct err e;
    err_clear(&e);
    char uid[ORG_ID_MAX];
    if (org_lookup(o->pos[0], &org, &e) < 0)
        return cli_fail_json(&e);
    if (!strcmp(sub, "list")) {
        json_t *members;
        if (org_members_json(org.id, &members, &e) < 0)
            return cli_fail_json(&e);
        cli_print_json(json_pack("{s:s, s:o}", "org", org.slug, "members", members));
        return 0;
    }
    int rc;
    if (!strcmp(sub, "add"))
        rc = org_member_add(&cli_actor, org.id, o->pos[1], role, uid, &e);
    else if ((rc = org_member_by_email(org.id, o->pos[1], uid, &e)) == 0)
        rc = !strcmp(sub, "role") ? org_member_set_role(&cli_actor, org.id, uid, role, &e)
                                  : org_member_remove(&cli_actor, org.id, uid, &e);
    if (rc < 0)
        return cli_fail_json(&e);
    /* like the admin API: end a removed member's sessions, flush access caches */
    struct err se;
    if (!strcmp(sub, "remove"))
        session_revoke_user(org.id, uid, &se);
    store_publish(SESSION_INVALIDATION_CHANNEL, org.id, strlen(org.id), &se);
    cli_print_json(json_pack("{s:s, s:s, s:s}", "id", uid, "email", o->pos[1], "role",
                         !strcmp(sub, "remove") ? "removed" : org_role_name(role)));
    return 0;
}

int cli_member(int argc, char **argv)
{
    struct opts o;
    if (argc < 2) {
        fputs(member_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (parse_opts(argc - 1, argv + 1, &o, member_usage) < 0)
        return 2;
    enum org_role role = ORG_ROLE_NONE;
    int needs_role = !strcmp(sub, "add") || !strcmp(sub, "role");
    int ok = (needs_role && o.npos == 2 && o.role && org_role_parse(o.role, &role) == 0) ||
             (!strcmp(sub, "remove") && o.npos == 2 && !o.role) || (!strcmp(sub, "list") && o.npos == 1);
    if (!ok) {
        fputs(member_usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = cli_org_setup(o.config, &cfg);
    if (rc)
        return rc;
    rc = member_run(sub, &o, role);
    cli_teardown(&cfg);
    return rc;
}

static const char invite_usage[] =
    "usage: ssogate invite ORG EMAIL --role ROLE [--workspace SLUG=ROLE]... [--ttl SECONDS] [-c FILE]\n";

int cli_invite(int argc, char **argv)
{
    struct opts o;
    enum org_role role;
    if (parse_opts(argc, argv, &o, invite_usage) < 0)
        return 2;
    if (o.npos != 2 || !o.role || org_role_parse(o.role, &role) < 0) {
        fputs(invite_usage, stderr);
        return 2;
    }
    struct config cfg;
    int rc = cli_org_setup(o.config, &cfg);
    if (rc)
        return rc;
    struct org_info org;
    struct err e;
    err_clear(&e);
    char *token = NULL, *link = NULL;
    if (org_lookup(o.pos[0], &org, &e) < 0 ||
        invite_create(&cli_actor, org.id, o.pos[1], role, o.workspaces, o.ttl, &token, &link, &e) < 0) {
        rc = cli_fail_json(&e);
    } else {
        cli_print_json(json_pack("{s:s, s:s, s:s}", "org", org.slug, "email", o.pos[1], "link", link));
    }
    free(token);
    free(link);
    cli_teardown(&cfg);
    return rc;
}
