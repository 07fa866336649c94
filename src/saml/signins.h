/* Sign-in outcome counters for /metrics: ssogate_signins_total{outcome,code},
 * outcome "ok", "refused" (the response or the person was refused) or
 * "error" (we could not decide: store down, internal error); code is the
 * stable error code (err.c), "" on success. */
#ifndef SSOGATE_SAML_SIGNINS_H
#define SSOGATE_SAML_SIGNINS_H

#include "util/err.h"
#include "util/util.h"

/* Count one ACS outcome: e NULL (or without a code) for a success. */
void signins_count(const struct err *e);
/* Append the counters in Prometheus text format. */
void signins_render(struct buf *out);

#endif
