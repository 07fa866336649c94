/* Set-up for bench/authz: an org with two workspaces and N members, each an
 * editor in ws-a only, and one session per member, made with the same modules
 * the server uses. Prints one token per line. Usage: bench_authz_setup REDIS_URL KEYS_FILE N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "org/org.h"
#include "session/session.h"
#include "store/store.h"

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
    if (store_init(&sc, &e) < 0) {
        fprintf(stderr, "store: %s\n", e.msg);
        return 1;
    }
    struct keyring *ring = keyring_load(argv[2], &e);
    if (!ring) {
        fprintf(stderr, "keys: %s\n", e.msg);
        return 1;
    }
    struct org_actor op = {.operator = 1, .label = "bench"};
    struct org_info info;
    char *key = NULL;
    char wsa[ORG_ID_MAX], wsb[ORG_ID_MAX];
    if (org_create(&op, "acme", "Acme", "owner@acme.test", &info, &key, &e) < 0 ||
        org_ws_create(&op, info.id, "ws-a", "A", wsa, &e) < 0 || org_ws_create(&op, info.id, "ws-b", "B", wsb, &e) < 0) {
        fprintf(stderr, "directory: %s\n", e.msg);
        return 1;
    }
    free(key);
    struct session_limits lim = {.max_age_s = 43200, .idle_timeout_s = 3600, .idle_refresh_s = 60};
    for (int i = 0; i < n; i++) {
        char email[64], uid[ORG_ID_MAX];
        snprintf(email, sizeof email, "user%d@acme.test", i);
        if (org_member_add(&op, info.id, email, ORG_ROLE_MEMBER, uid, &e) < 0 ||
            org_ws_member_set(&op, info.id, wsa, uid, "editor", &e) < 0) {
            fprintf(stderr, "member %d: %s\n", i, e.msg);
            return 1;
        }
        struct session s = {0};
        snprintf(s.org, sizeof s.org, "%s", info.id);
        snprintf(s.user_id, sizeof s.user_id, "%s", uid);
        snprintf(s.email, sizeof s.email, "%s", email);
        snprintf(s.name_id, sizeof s.name_id, "%s", email);
        snprintf(s.session_index, sizeof s.session_index, "_s%d", i);
        snprintf(s.issuer, sizeof s.issuer, "https://idp.acme.test/saml2/idp/metadata.php");
        char tok[TOKEN_MAX_LEN + 1];
        if (session_create(ring, &lim, &s, tok, sizeof tok, &e) < 0) {
            fprintf(stderr, "session %d: %s\n", i, e.msg);
            return 1;
        }
        printf("%s\n", tok);
    }
    keyring_free(ring);
    store_shutdown();
    return 0;
}
