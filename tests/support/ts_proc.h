/* Test support: spawn a process with its output in a log file, kill it by
 * PID (SIGTERM, then SIGKILL). */
#ifndef SSOGATE_TESTS_SUPPORT_TS_PROC_H
#define SSOGATE_TESTS_SUPPORT_TS_PROC_H

#include <sys/types.h>

/* Absolute path of an executable found in $PATH (or the path itself when it
 * contains '/'), malloc'd; NULL when not found. */
char *ts_which(const char *name);
/* fork + execvp(argv[0], argv). env: extra "NAME=VALUE" strings (NULL-
 * terminated, may be NULL) set on top of the inherited environment. stdout
 * and stderr are appended to log_path (NULL: /dev/null); stdin is
 * /dev/null. The child gets its own process group and SIGKILL when the
 * spawning thread dies (spawn from the test's main thread), so a crashed
 * test leaves no servers behind. Returns the PID, or -1 when the binary is
 * missing or fork fails. */
pid_t ts_spawn(const char *const argv[], const char *const env[], const char *log_path);
/* SIGTERM, wait up to grace_ms, then SIGKILL; reaps the child. Returns its
 * wait status, or -1 if pid was not our child. */
int ts_kill(pid_t pid, int grace_ms);
/* Wait up to timeout_ms for the child to exit by itself (no signal).
 * Returns its wait status, or -1 on timeout (it keeps running). */
int ts_wait(pid_t pid, int timeout_ms);
/* SIGKILL at once (a crash) and reap. */
int ts_kill_hard(pid_t pid);
/* Send sig without reaping (e.g. SIGSTOP / SIGCONT to simulate a hang). */
int ts_signal(pid_t pid, int sig);
/* 1 while the child runs (reaps it, without blocking, once it has exited). */
int ts_alive(pid_t pid);

#endif
