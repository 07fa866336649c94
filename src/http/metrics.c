/* Prometheus metrics of the HTTP layer. Routes are known at start (the route
 * table) plus one "unmatched" row, statuses are folded into a fixed set, so
 * every counter is a preallocated atomic and nothing allocates per request. */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const int statuses[] = {200, 201, 204, 301, 302, 303, 304, 307, 400, 401, 403, 404,
                               405, 408, 409, 413, 414, 415, 422, 429, 431, 500, 502, 503};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]) + 1) /* + "other" */
static const double bounds_ms[] = {0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
#define NBOUNDS ((int)(sizeof bounds_ms / sizeof bounds_ms[0]))
#define NCODES 128

struct route_metrics {
    atomic_ullong by_status[NSTATUS];
    atomic_ullong buckets[NBOUNDS + 1];
    atomic_ullong count;
    atomic_ullong sum_us;
};

struct metrics {
    int nroutes;
    const char *const *names;
    struct route_metrics *routes; /* nroutes + 1: the last is "unmatched" */
    atomic_ullong codes[NCODES];
};

struct metrics *metrics_new(const char *const *route_names, int nroutes)
{
    struct metrics *m = util_xcalloc(1, sizeof *m);
    m->nroutes = nroutes;
    m->names = route_names;
    m->routes = util_xcalloc((size_t)nroutes + 1, sizeof *m->routes);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    free(m->routes);
    free(m);
}

static int status_index(int status)
{
    for (int i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_observe(struct metrics *m, int route, int status, double ms)
{
    if (route < 0 || route > m->nroutes)
        route = m->nroutes;
    struct route_metrics *rm = &m->routes[route];
    atomic_fetch_add_explicit(&rm->by_status[status_index(status)], 1, memory_order_relaxed);
    int b = 0;
    while (b < NBOUNDS && ms > bounds_ms[b])
        b++;
    atomic_fetch_add_explicit(&rm->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rm->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rm->sum_us, (unsigned long long)(ms * 1000.0), memory_order_relaxed);
}

void metrics_count_code(struct metrics *m, const char *code)
{
    for (int i = 0; i < NCODES && err_code_at(i); i++)
        if (strcmp(err_code_at(i), code) == 0) {
            atomic_fetch_add_explicit(&m->codes[i], 1, memory_order_relaxed);
            return;
        }
}

static const char *route_name(const struct metrics *m, int i)
{
    return i < m->nroutes ? m->names[i] : "unmatched";
}

void metrics_render(const struct metrics *m, struct buf *out)
{
    buf_appends(out, "# HELP ssogate_http_requests_total HTTP requests by route and status.\n"
                     "# TYPE ssogate_http_requests_total counter\n");
    for (int r = 0; r <= m->nroutes; r++)
        for (int s = 0; s < NSTATUS; s++) {
            unsigned long long v = atomic_load_explicit(&m->routes[r].by_status[s], memory_order_relaxed);
            if (!v)
                continue;
            if (s < NSTATUS - 1)
                buf_appendf(out, "ssogate_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                            route_name(m, r), statuses[s], v);
            else
                buf_appendf(out, "ssogate_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                            route_name(m, r), v);
        }
    buf_appends(out, "# HELP ssogate_http_request_duration_seconds Time from request start to response.\n"
                     "# TYPE ssogate_http_request_duration_seconds histogram\n");
    for (int r = 0; r <= m->nroutes; r++) {
        const struct route_metrics *rm = &m->routes[r];
        unsigned long long count = atomic_load_explicit(&rm->count, memory_order_relaxed);
        if (!count)
            continue;
        unsigned long long cum = 0;
        for (int b = 0; b <= NBOUNDS; b++) {
            cum += atomic_load_explicit(&rm->buckets[b], memory_order_relaxed);
            if (b < NBOUNDS)
                buf_appendf(out, "ssogate_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                            route_name(m, r), bounds_ms[b] / 1000.0, cum);
            else
                buf_appendf(out, "ssogate_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                            route_name(m, r), cum);
        }
        buf_appendf(out, "ssogate_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_name(m, r),
                    (double)atomic_load_explicit(&rm->sum_us, memory_order_relaxed) / 1e6);
        buf_appendf(out, "ssogate_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_name(m, r), count);
    }
    buf_appends(out, "# HELP ssogate_errors_total Refusals and failures by stable error code.\n"
                     "# TYPE ssogate_errors_total counter\n");
    for (int i = 0; i < NCODES && err_code_at(i); i++) {
        unsigned long long v = atomic_load_explicit(&m->codes[i], memory_order_relaxed);
        if (v)
            buf_appendf(out, "ssogate_errors_total{code=\"%s\"} %llu\n", err_code_at(i), v);
    }
}
