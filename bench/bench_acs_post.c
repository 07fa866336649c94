/* Load generator of bench/acs: posts DIR/valid-I.b64 (I in [0, N)), each
 * once, as SAMLResponse forms to the ACS URL over keep-alive connections,
 * CONCURRENCY at a time (libcurl multi, one thread), and prints one JSON
 * object: {"posted", "signed_in" (303), "refused", "seconds", "per_s"}.
 * usage: bench_acs_post ACS_URL DIR N CONCURRENCY */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

static char **load_bodies(const char *dir, int n)
{
    char **bodies = util_xcalloc((size_t)n, sizeof *bodies);
    CURL *c = curl_easy_init();
    for (int i = 0; i < n; i++) {
        char *path = util_xasprintf("%s/valid-%d.b64", dir, i);
        size_t len;
        char *b64 = util_read_file(path, 1 << 22, &len);
        if (!b64) {
            fprintf(stderr, "cannot read %s\n", path);
            exit(2);
        }
        char *enc = curl_easy_escape(c, b64, (int)len);
        bodies[i] = util_xasprintf("SAMLResponse=%s", enc);
        curl_free(enc);
        free(b64);
        free(path);
    }
    curl_easy_cleanup(c);
    return bodies;
}

static void add(CURLM *m, CURL *h, const char *url, const char *body, struct curl_slist *hdrs)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_multi_add_handle(m, h);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_acs_post ACS_URL DIR N CONCURRENCY\n");
        return 2;
    }
    const char *url = argv[1];
    int n = atoi(argv[3]), conc = atoi(argv[4]);
    if (n < 1 || conc < 1)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char **bodies = load_bodies(argv[2], n);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    hdrs = curl_slist_append(hdrs, "Expect:");
    CURL **handles = util_xcalloc((size_t)conc, sizeof *handles);
    int next = 0, running = 0, ok = 0, refused = 0;
    int64_t t0 = util_mono_us();
    for (int i = 0; i < conc && next < n; i++) {
        handles[i] = curl_easy_init();
        add(m, handles[i], url, bodies[next++], hdrs);
    }
    do {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && code == 303)
                ok++;
            else
                refused++;
            CURL *h = msg->easy_handle;
            curl_multi_remove_handle(m, h);
            if (next < n) {
                add(m, h, url, bodies[next++], hdrs);
                running++;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running || ok + refused < next);
    double secs = (double)(util_mono_us() - t0) / 1e6;
    printf("{\"posted\": %d, \"signed_in\": %d, \"refused\": %d, \"seconds\": %.3f, \"per_s\": %.1f}\n", next, ok,
           refused, secs, ok / secs);
    for (int i = 0; i < conc; i++)
        if (handles[i])
            curl_easy_cleanup(handles[i]);
    for (int i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(handles);
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
