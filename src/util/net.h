/* IP addresses and CIDR lists (trusted proxies). Parsing by inet_pton only. */
#ifndef SSOGATE_UTIL_NET_H
#define SSOGATE_UTIL_NET_H

#include "util/err.h"

struct cidr_list;

/* "10.0.0.0/8, 127.0.0.1, ::1/128"; empty string = empty list. NULL + e on error. */
struct cidr_list *net_cidr_list_parse(const char *text, struct err *e);
void net_cidr_list_free(struct cidr_list *l);
/* 1 when the textual address is inside one of the ranges. */
int net_cidr_list_match(const struct cidr_list *l, const char *addr);
int net_cidr_list_empty(const struct cidr_list *l);

#endif
