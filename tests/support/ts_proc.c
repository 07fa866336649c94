/* Test support: spawning servers and killing them by PID. Children are
 * remembered in a table so that a PID is only ever signalled while it is
 * still our unreaped child: a recycled PID is never hit. Everything the
 * child needs (path, environment, log fd) is prepared before fork, so the
 * child only calls async-signal-safe functions before exec. */
#include "ts_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_util.h"

extern char **environ;

#define TS_MAX_CHILDREN 256

static struct {
    pid_t pid;
    int reaped;
    int status;
} children[TS_MAX_CHILDREN];
static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;

/* Index of pid in the table, or -1. Caller holds the lock. */
static int child_find(pid_t pid)
{
    for (int i = 0; i < TS_MAX_CHILDREN; i++)
        if (children[i].pid == pid)
            return i;
    return -1;
}

static void child_add(pid_t pid)
{
    pthread_mutex_lock(&children_lock);
    int slot = child_find(pid); /* a recycled PID reuses its old slot */
    for (int i = 0; slot < 0 && i < TS_MAX_CHILDREN; i++)
        if (children[i].pid == 0 || children[i].reaped)
            slot = i;
    if (slot >= 0) {
        children[slot].pid = pid;
        children[slot].reaped = 0;
        children[slot].status = 0;
    }
    pthread_mutex_unlock(&children_lock);
}

/* waitpid with WNOHANG (block=0) or blocking; records the status. Returns
 * 1 when the child has been reaped (now or before), 0 if still running, -1
 * if pid is not ours. */
static int child_reap(pid_t pid, int block, int *status)
{
    pthread_mutex_lock(&children_lock);
    int i = child_find(pid), rc = -1;
    if (i >= 0 && children[i].reaped) {
        rc = 1;
    } else if (i >= 0) {
        int st = 0;
        pid_t w;
        do
            w = waitpid(pid, &st, block ? 0 : WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            children[i].reaped = 1;
            children[i].status = w == pid ? st : -1;
            rc = 1;
        } else {
            rc = 0;
        }
    }
    if (rc == 1 && status)
        *status = children[i].status;
    pthread_mutex_unlock(&children_lock);
    return rc;
}

char *ts_which(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    char *copy = strdup(path), *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *p = NULL;
        struct stat st;
        if (asprintf(&p, "%s/%s", *dir ? dir : ".", name) < 0)
            break;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

/* environ plus extra "NAME=VALUE" entries, which replace same-named ones. */
static char **build_env(const char *const extra[])
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **envp = calloc(n + m + 1, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t j = 0; j < m; j++)
            if (strncmp(extra[j], environ[i], nl + 1) == 0)
                replaced = 1;
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        envp[k++] = (char *)extra[j];
    envp[k] = NULL;
    return envp;
}

static void child_exec(const char *path, const char *const argv[], char **envp, int in_fd,
                       int log_fd, pid_t parent)
{
    /* Die with the spawning thread: no orphan servers after a crash. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    dup2(in_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(path, (char *const *)argv, envp);
    static const char msg[] = "test support: execve failed\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

pid_t ts_spawn(const char *const argv[], const char *const env[], const char *log_path)
{
    if (!argv || !argv[0])
        return ts_fail("ts_spawn: empty argv");
    char *path = ts_which(argv[0]);
    if (!path)
        return ts_fail("%s: not found in PATH (is the package installed?)", argv[0]);
    pid_t pid = -1;
    char **envp = build_env(env);
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (in_fd < 0 || log_fd < 0) {
        ts_fail("open %s: %s", log_path ? log_path : "/dev/null", strerror(errno));
        goto done;
    }
    pid_t parent = getpid();
    pid = fork();
    if (pid == 0)
        child_exec(path, argv, envp, in_fd, log_fd, parent);
    if (pid < 0)
        ts_fail("fork: %s", strerror(errno));
    else
        child_add(pid);
done:
    if (in_fd >= 0)
        close(in_fd);
    if (log_fd >= 0)
        close(log_fd);
    free(envp);
    free(path);
    return pid;
}

int ts_alive(pid_t pid)
{
    return pid > 0 && child_reap(pid, 0, NULL) == 0;
}

int ts_signal(pid_t pid, int sig)
{
    if (!ts_alive(pid))
        return ts_fail("pid %d is not a running child", (int)pid);
    return kill(pid, sig);
}

int ts_kill_hard(pid_t pid)
{
    int status = -1;
    if (pid <= 0)
        return -1;
    if (ts_alive(pid)) {
        kill(-pid, SIGKILL); /* its process group: workers too */
        kill(pid, SIGKILL);
    }
    if (child_reap(pid, 1, &status) < 0)
        return ts_fail("pid %d is not our child", (int)pid);
    return status;
}

int ts_kill(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return -1;
    if (ts_alive(pid)) {
        kill(pid, SIGCONT); /* a stopped process cannot act on SIGTERM */
        kill(pid, SIGTERM);
        long long deadline = ts_now_ms() + grace_ms;
        while (ts_alive(pid) && ts_now_ms() < deadline)
            ts_sleep_ms(10);
    }
    return ts_kill_hard(pid);
}

int ts_wait(pid_t pid, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    int status = -1;
    for (;;) {
        int rc = child_reap(pid, 0, &status);
        if (rc < 0)
            return ts_fail("pid %d is not our child", (int)pid);
        if (rc == 1)
            return status;
        if (ts_now_ms() >= deadline)
            return ts_fail("pid %d still running after %d ms", (int)pid, timeout_ms);
        ts_sleep_ms(5);
    }
}
