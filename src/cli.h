/* Entry points of the sub-commands, one per module that owns the work.
 * Each takes argv with argv[0] = the command name and returns the exit code. */
#ifndef SSOGATE_CLI_H
#define SSOGATE_CLI_H

#define SSOGATE_VERSION "0.1.0"

int cli_serve(int argc, char **argv);            /* src/server.c */
int cli_verify_response(int argc, char **argv);  /* src/saml/cli.c */
int cli_keys(int argc, char **argv);             /* src/session/keys_cli.c */
int cli_org(int argc, char **argv);              /* src/org/cli.c */
int cli_domain(int argc, char **argv);           /* src/org/cli.c */
int cli_audit(int argc, char **argv);            /* src/org/cli.c */
int cli_member(int argc, char **argv);           /* src/org/cli.c */
int cli_invite(int argc, char **argv);           /* src/org/cli.c */
int cli_connection(int argc, char **argv);       /* src/saml/conncli.c */

/* Shared by the directory commands (src/org/cli.c, src/saml/conncli.c). */
struct config;
struct err;
typedef struct json_t json_t;
struct org_actor;
extern const struct org_actor cli_actor;  /* the operator, audited as "cli" */
/* Print o as one JSON object on stdout and release it. */
void cli_print_json(json_t *o);
/* {"error": code, "message": ...} on stdout; returns exit status 1. */
int cli_fail_json(const struct err *e);
/* Config (-c FILE, or defaults + SSOGATE_* env), org/ limits, then the store.
 * 2 on a configuration error (printed), 0 otherwise. */
int cli_org_setup(const char *path, struct config *cfg);

#endif
