/* Redis memory per live session: creates N sessions (with all their indexes)
 * for members of one org and prints used_memory before, after and per
 * session. Usage: bench_redis_per_session REDIS_URL KEYS_FILE N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/session.h"
#include "store/store.h"

static long long used_memory(void)
{
    struct err e;
    struct store_reply *r = store_cmdl(&e, "INFO", "memory", NULL);
    const char *s = r ? store_reply_str(r, NULL) : NULL;
    const char *p = s ? strstr(s, "used_memory:") : NULL;
    long long v = p ? atoll(p + 12) : -1;
    store_reply_free(r);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s REDIS_URL KEYS_FILE N\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[3]);
    struct err e;
    struct store_config sc = {.url = argv[1], .connect_timeout_ms = 2000, .command_timeout_ms = 5000,
                              .reconnect_max_backoff_ms = 500};
    struct keyring *ring = store_init(&sc, &e) == 0 ? keyring_load(argv[2], &e) : NULL;
    if (!ring) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    struct session_limits lim = {.max_age_s = 43200, .idle_timeout_s = 3600, .idle_refresh_s = 60};
    long long before = used_memory();
    for (int i = 0; i < n; i++) {
        struct session s = {0};
        snprintf(s.org, sizeof s.org, "o_00000000000000000001");
        snprintf(s.user_id, sizeof s.user_id, "u_%020d", i);
        snprintf(s.email, sizeof s.email, "user%d@acme.test", i);
        snprintf(s.name_id, sizeof s.name_id, "user%d@acme.test", i);
        snprintf(s.name_id_format, sizeof s.name_id_format, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
        snprintf(s.session_index, sizeof s.session_index, "_%032x", i);
        snprintf(s.issuer, sizeof s.issuer, "http://127.0.0.1:18200/saml2/idp/metadata.php");
        char tok[TOKEN_MAX_LEN + 1];
        if (session_create(ring, &lim, &s, tok, sizeof tok, &e) < 0) {
            fprintf(stderr, "session %d: %s\n", i, e.msg);
            return 1;
        }
    }
    long long after = used_memory();
    printf("redis used_memory: before %lld B, after %lld B, %d sessions: %.0f B per session (record + 4 indexes)\n",
           before, after, n, (double)(after - before) / n);
    keyring_free(ring);
    store_shutdown();
    return 0;
}
