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

#endif
