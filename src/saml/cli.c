/* `ssogate verify-response`: placeholder until the SAML validator lands. */
#include <stdio.h>

#include "cli.h"

int cli_verify_response(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "verify-response: not built yet\n");
    return 2;
}
