/* JSON log lines. Each line is written with one fwrite under the stream
 * lock, so lines from worker threads never interleave. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

static enum log_level log_min = LOG_INFO;
static FILE *log_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            log_min = (enum log_level)i;
            return 0;
        }
    return -1;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= log_min;
}

void log_set_stream(FILE *f)
{
    log_stream = f;
}

void log_json(enum log_level lvl, json_t *fields)
{
    if (!log_enabled(lvl)) {
        json_decref(fields);
        return;
    }
    json_t *line = json_object();
    int64_t ms = util_now_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(ms % 1000));
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[lvl]));
    if (fields) {
        json_object_update(line, fields);
        json_decref(fields);
    }
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!s)
        return;
    FILE *f = log_stream ? log_stream : stderr;
    size_t len = strlen(s);
    s[len] = '\n';
    flockfile(f);
    fwrite(s, 1, len + 1, f);
    fflush(f);
    funlockfile(f);
    free(s);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string(msg));
    log_json(lvl, o);
}
