/* Request counters by route and status, and a latency histogram per route,
 * in Prometheus text format. Lock-free: relaxed atomics. */
#ifndef SSOGATE_HTTP_METRICS_H
#define SSOGATE_HTTP_METRICS_H

#include "util/util.h"

struct metrics;

struct metrics *metrics_new(const char *const *route_names, int nroutes);
void metrics_free(struct metrics *m);
void metrics_observe(struct metrics *m, int route, int status, double ms);
void metrics_count_code(struct metrics *m, const char *code);
void metrics_render(const struct metrics *m, struct buf *out);

#endif
