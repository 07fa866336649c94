/* The per-org audit stream: appends outside the directory scripts (sign-in
 * attempts, DNS re-checks) and paged reads, newest first, with XREVRANGE and
 * an exclusive cursor. */
#include "org/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "org/org.h"
#include "store/store.h"
#include "util/util.h"

/* Appends only while the org exists, so a late record never resurrects the
 * keys of a deleted org. */
static const char lua_append[] =
    "if redis.call('EXISTS', k('org')) == 0 then return {'err', 'org_not_found', 'No such organization.'} end\n"
    "audit(ARGV[6], ARGV[7], ARGV[8], ARGV[9], '', '', ARGV[10])\n"
    "return {'ok'}\n";

int audit_append(const char *org_id, const char *actor, const char *action, const char *target,
                 const char *outcome, const char *code, const char *detail, struct err *e)
{
    struct org_actor a = {.label = actor ? actor : "system"};
    const char *args[] = {action, target ? target : "", outcome ? outcome : "ok", code ? code : "",
                          detail ? detail : ""};
    struct store_reply *r = org_script(lua_append, org_id, &a, 5, args, e);
    store_reply_free(r);
    return r ? 0 : -1;
}

int audit_signin(const char *org_id, const char *email, const char *issuer, const char *outcome,
                 const char *code, struct err *e)
{
    char *detail = util_xasprintf("issuer=%s", issuer ? issuer : "");
    int rc = audit_append(org_id, email && *email ? email : "anonymous", "signin", email, outcome, code,
                          detail, e);
    free(detail);
    return rc;
}

/* Stream ids are "<ms>-<seq>". */
static int cursor_valid(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n > 40)
        return 0;
    int dash = 0;
    for (const char *p = c; *p; p++) {
        if (*p == '-' && p != c && p[1])
            dash++;
        else if (*p < '0' || *p > '9')
            return 0;
    }
    return dash == 1;
}

static json_t *entry_json(const struct store_reply *ent)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(store_reply_str(store_reply_elem(ent, 0), NULL)));
    const struct store_reply *f = store_reply_elem(ent, 1);
    for (size_t i = 0; i + 1 < store_reply_len(f); i += 2) {
        const char *k = store_reply_str(store_reply_elem(f, i), NULL);
        const char *v = store_reply_str(store_reply_elem(f, i + 1), NULL);
        if (!k || !v || !*v)
            continue;
        if (strcmp(k, "time") == 0) {
            char t[32];
            util_format_time((time_t)(atoll(v) / 1000), t, sizeof t);
            json_object_set_new(o, "time", json_string(t));
        } else {
            json_object_set_new(o, k, json_string(v));
        }
    }
    return o;
}

int audit_read(const char *org_id, const char *cursor, int limit, json_t **entries, char next[64],
               struct err *e)
{
    *entries = NULL;
    next[0] = '\0';
    if (limit < 1 || limit > 1000)
        return err_set(e, "bad_request", "limit must be between 1 and 1000.");
    char end[64] = "+";
    if (cursor && *cursor) {
        if (!cursor_valid(cursor))
            return err_set(e, "bad_request", "The cursor is not valid.");
        snprintf(end, sizeof end, "(%s", cursor);
    }
    char *key = util_xasprintf("sg:{o:%s}:audit", org_id);
    char count[16];
    snprintf(count, sizeof count, "%d", limit);
    struct store_reply *r = store_cmdl(e, "XREVRANGE", key, end, "-", "COUNT", count, NULL);
    free(key);
    if (!r)
        return -1;
    if (store_reply_type(r) != STORE_ARRAY) {
        store_reply_free(r);
        return err_set(e, "internal_error", "unexpected XREVRANGE reply");
    }
    json_t *arr = json_array();
    size_t n = store_reply_len(r);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, entry_json(store_reply_elem(r, i)));
    if (n == (size_t)limit)
        snprintf(next, 64, "%s", store_reply_str(store_reply_elem(store_reply_elem(r, n - 1), 0), NULL));
    store_reply_free(r);
    *entries = arr;
    return 0;
}
