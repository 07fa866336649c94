/* Sign-in outcome counters. The codes come from err.c's fixed table, so the
 * set of series is bounded; a short mutex-guarded table is cheaper than the
 * sign-in it counts by three orders of magnitude. */
#include "saml/signins.h"

#include <pthread.h>
#include <string.h>

#define SIGNINS_MAX 128

struct signins_slot {
    const char *code;      /* "" for a success; err.c table strings otherwise */
    unsigned long long n;
};

static pthread_mutex_t signins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct signins_slot slots[SIGNINS_MAX];
static int n_slots;

void signins_count(const struct err *e)
{
    const char *code = e && e->code ? e->code : "";
    pthread_mutex_lock(&signins_lock);
    int i = 0;
    while (i < n_slots && strcmp(slots[i].code, code) != 0)
        i++;
    if (i == n_slots && n_slots < SIGNINS_MAX)
        slots[n_slots++].code = code;
    if (i < n_slots)
        slots[i].n++;
    pthread_mutex_unlock(&signins_lock);
}

static const char *signins_outcome(const char *code)
{
    if (!*code)
        return "ok";
    return err_status(code) >= 500 ? "error" : "refused";
}

void signins_render(struct buf *out)
{
    buf_appends(out, "# HELP ssogate_signins_total SAML sign-ins at the ACS by outcome and error code.\n"
                     "# TYPE ssogate_signins_total counter\n");
    pthread_mutex_lock(&signins_lock);
    for (int i = 0; i < n_slots; i++)
        buf_appendf(out, "ssogate_signins_total{outcome=\"%s\",code=\"%s\"} %llu\n", signins_outcome(slots[i].code),
                    slots[i].code, slots[i].n);
    pthread_mutex_unlock(&signins_lock);
}
