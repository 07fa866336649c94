/* libFuzzer target: the session token / cookie value parser on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session/token.h"

static struct keyring *ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring) {
        struct err e;
        ring = keyring_parse("k1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", &e);
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct token t;
    struct err e;
    token_verify(ring, s, &t, &e);
    free(s);
    return 0;
}
