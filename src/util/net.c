/* CIDR lists for the trusted-proxy check. An IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d) is compared as IPv4, so a dual-stack listener cannot be
 * used to slip past an IPv4 range. */
#include "util/net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct cidr {
    int family;
    unsigned char addr[16];
    int bits;
};

struct cidr_list {
    size_t n;
    struct cidr *items;
};

static int parse_addr(const char *s, int *family, unsigned char out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out, mapped, 12) == 0) {
            memmove(out, out + 12, 4);
            memset(out + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static int parse_one(const char *tok, struct cidr *c, struct err *e)
{
    char buf[80];
    snprintf(buf, sizeof buf, "%s", tok);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (parse_addr(buf, &c->family, c->addr) < 0)
        return err_set(e, "config_invalid", "'%s' is not an IP address or CIDR", tok);
    int max = c->family == AF_INET ? 32 : 128;
    c->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > max)
            return err_set(e, "config_invalid", "'%s' has a bad prefix length", tok);
        c->bits = (int)b;
    }
    return 0;
}

struct cidr_list *net_cidr_list_parse(const char *text, struct err *e)
{
    struct cidr_list *l = util_xcalloc(1, sizeof *l);
    char *copy = util_xstrdup(text ? text : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        l->items = util_xrealloc(l->items, (l->n + 1) * sizeof *l->items);
        if (parse_one(tok, &l->items[l->n], e) < 0) {
            free(copy);
            net_cidr_list_free(l);
            return NULL;
        }
        l->n++;
    }
    free(copy);
    return l;
}

void net_cidr_list_free(struct cidr_list *l)
{
    if (!l)
        return;
    free(l->items);
    free(l);
}

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
    }
    return 1;
}

int net_cidr_list_match(const struct cidr_list *l, const char *addr)
{
    int family;
    unsigned char a[16];
    if (!l || !addr || parse_addr(addr, &family, a) < 0)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].family == family && prefix_match(a, l->items[i].addr, l->items[i].bits))
            return 1;
    return 0;
}

int net_cidr_list_empty(const struct cidr_list *l)
{
    return !l || l->n == 0;
}
