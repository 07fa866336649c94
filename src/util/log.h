/* One JSON object per line on stderr, built with jansson. The level is checked
 * before anything is formatted. Never pass tokens, secrets or assertions. */
#ifndef SSOGATE_UTIL_LOG_H
#define SSOGATE_UTIL_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

int log_set_level(const char *name);   /* -1 when unknown */
int log_enabled(enum log_level lvl);
/* Write fields (stolen reference; may be NULL) with time and level added. */
void log_json(enum log_level lvl, json_t *fields);
/* A plain event: {"time","level","msg", ...}. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where lines go (default stderr); for tests. */
void log_set_stream(FILE *f);

#endif
