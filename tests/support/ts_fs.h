/* Test support: temp dirs, files and logs. */
#ifndef SSOGATE_TESTS_SUPPORT_TS_FS_H
#define SSOGATE_TESTS_SUPPORT_TS_FS_H

#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp) named "<prefix>.XXXXXX"; malloc'd path. */
char *ts_mkdtemp(const char *prefix);
/* rm -rf path (does not follow symlinks). 0, or -1 on the first failure. */
int ts_rm_rf(const char *path);
/* dir + "/" + name, malloc'd. */
char *ts_path(const char *dir, const char *name);
int ts_write_file(const char *path, const char *content);
/* Whole file, malloc'd and NUL-terminated, or NULL. */
char *ts_read_file(const char *path, size_t *len);
/* Copy the last max_bytes of a log file to stderr, framed with its name
 * (call it when a test fails, so CI shows what the server said). */
void ts_dump_log(const char *path, size_t max_bytes);
/* $TS_KEEP set: temp dirs are kept (and printed) instead of removed. */
int ts_keep_files(void);

#endif
