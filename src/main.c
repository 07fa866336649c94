/* ssogate: the command line. Each sub-command is one row of the table below;
 * the modules do the work, main only dispatches. Exit codes: 0 success,
 * 1 a refused or failed operation, 2 a usage or configuration error. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the command name */
    const char *summary;
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"serve", cli_serve, "run the HTTP server (-c FILE)"},
    {"verify-response", cli_verify_response, "validate one SAML Response offline"},
    {"org", cli_org, "create, list, show and delete organizations"},
    {"domain", cli_domain, "add, verify, remove, list and re-check verified domains"},
    {"member", cli_member, "add, change, remove and list an organization's members"},
    {"invite", cli_invite, "invite a person to an organization (prints the link)"},
    {"audit", cli_audit, "read an organization's audit log"},
    {"keys", cli_keys, "session signing keys: list, stage, rotate, retire KID"},
    {"connection", cli_connection, "set and show an organization's SAML connection"},
    {"help", cmd_help, "this list"},
    {NULL, NULL, NULL},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: ssogate COMMAND [OPTIONS]\n\ncommands:\n");
    for (const struct command *c = commands; c->name; c++)
        printf("  %-18s %s\n", c->name, c->summary);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(0, NULL);
    if (strcmp(argv[1], "--version") == 0) {
        printf("ssogate %s\n", SSOGATE_VERSION);
        return 0;
    }
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ssogate: unknown command '%s' (try 'ssogate help')\n", argv[1]);
    return 2;
}
