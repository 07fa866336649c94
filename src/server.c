/* `ssogate serve`: placeholder until the HTTP server lands. */
#include <stdio.h>

#include "cli.h"

int cli_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "serve: not built yet\n");
    return 2;
}
