/* dnsmasq for the domain-verification tests; see ts_dnsmasq.h. */
#include "ts_dnsmasq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"

static int dnsmasq_spawn(struct ts_dnsmasq *d)
{
    char port[32], pidf[512];
    const char *argv[16 + TS_DNSMASQ_MAX_TXT];
    char *txtargs[TS_DNSMASQ_MAX_TXT];
    int n = 0;
    snprintf(port, sizeof port, "--port=%d", d->port);
    snprintf(pidf, sizeof pidf, "--pid-file=%s/dnsmasq.pid", d->dir);
    argv[n++] = "dnsmasq";
    argv[n++] = "--no-daemon";
    argv[n++] = "--conf-file=/dev/null";
    argv[n++] = port;
    argv[n++] = "--listen-address=127.0.0.1";
    argv[n++] = "--bind-interfaces";
    argv[n++] = "--no-resolv";
    argv[n++] = "--no-hosts";
    argv[n++] = "--local=/test/";
    argv[n++] = "--cache-size=0";
    argv[n++] = pidf;
    for (int i = 0; i < d->ntxt; i++)
        if (asprintf(&txtargs[i], "--txt-record=%s", d->txt[i]) < 0)
            abort();
        else
            argv[n++] = txtargs[i];
    argv[n] = NULL;
    d->pid = ts_spawn(argv, NULL, d->log);
    for (int i = 0; i < d->ntxt; i++)
        free(txtargs[i]);
    if (d->pid < 0) {
        d->pid = 0;
        return ts_fail("dnsmasq could not be started (is dnsmasq-base installed?)");
    }
    if (ts_wait_tcp("127.0.0.1", d->port, d->pid, 10000) < 0) {
        ts_dump_log(d->log, 2000);
        ts_kill(d->pid, 1000);
        d->pid = 0;
        return ts_fail("dnsmasq did not start listening on 127.0.0.1:%d", d->port);
    }
    return 0;
}

int ts_dnsmasq_start(struct ts_dnsmasq *d)
{
    memset(d, 0, sizeof *d);
    char *bin = ts_which("dnsmasq");
    if (!bin)
        return ts_fail("dnsmasq not found in PATH (install dnsmasq-base)");
    free(bin);
    d->dir = ts_mkdtemp("ssogate-dnsmasq");
    if (!d->dir)
        return -1;
    d->log = ts_path(d->dir, "dnsmasq.log");
    d->port = ts_free_port();
    snprintf(d->resolvers, sizeof d->resolvers, "127.0.0.1:%d", d->port);
    return dnsmasq_spawn(d);
}

int ts_dnsmasq_set(struct ts_dnsmasq *d, const char *const txt[])
{
    ts_dnsmasq_stop(d);
    for (int i = 0; i < d->ntxt; i++)
        free(d->txt[i]);
    d->ntxt = 0;
    for (int i = 0; txt && txt[i]; i++) {
        if (d->ntxt == TS_DNSMASQ_MAX_TXT)
            return ts_fail("too many TXT records");
        d->txt[d->ntxt++] = strdup(txt[i]);
    }
    return dnsmasq_spawn(d);
}

void ts_dnsmasq_stop(struct ts_dnsmasq *d)
{
    if (d->pid > 0)
        ts_kill(d->pid, 2000);
    d->pid = 0;
}

void ts_dnsmasq_free(struct ts_dnsmasq *d)
{
    ts_dnsmasq_stop(d);
    for (int i = 0; i < d->ntxt; i++)
        free(d->txt[i]);
    d->ntxt = 0;
    if (d->dir && !ts_keep_files())
        ts_rm_rf(d->dir);
    free(d->dir);
    free(d->log);
    d->dir = d->log = NULL;
}
