/* The HTTP layer in-process: routing, limits (header, body, time), rate
 * limits, request ids, forms, trusted-proxy client address, graceful
 * shutdown. Spoken to over real sockets with libcurl and raw writes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "util/config.h"
#include "util/log.h"
#include "util/util.h"

static void h_echo(struct http_req *r)
{
    const char *v = http_query(r, "v");
    json_t *o = json_object();
    json_object_set_new(o, "v", json_string(v ? v : ""));
    json_object_set_new(o, "client", json_string(http_client_ip(r)));
    http_reply_json(r, 200, o);
}

static void h_form(struct http_req *r)
{
    const char *a = http_form(r, "a");
    const char *b = http_form(r, "b");
    char out[512];
    snprintf(out, sizeof out, "%s|%s", a ? a : "-", b ? b : "-");
    http_reply(r, 200, "text/plain", out, strlen(out));
}

static void h_param(struct http_req *r)
{
    const char *org = http_param(r, "org");
    http_reply(r, 200, "text/plain", org, strlen(org));
}

static void h_slow(struct http_req *r)
{
    usleep(700 * 1000);
    http_reply(r, 200, "text/plain", "slow", 4);
}

static void h_body(struct http_req *r)
{
    size_t n;
    http_body(r, &n);
    char out[32];
    snprintf(out, sizeof out, "%zu", n);
    http_reply(r, 200, "text/plain", out, strlen(out));
}

static const struct http_route routes[] = {
    {"echo", HTTP_GET, "/echo", h_echo, 0, 0, RL_NONE},
    {"form", HTTP_POST, "/form", h_form, 0, 0, RL_NONE},
    {"param", HTTP_GET, "/o/{org}/x", h_param, 0, 0, RL_NONE},
    {"slow", HTTP_GET, "/slow", h_slow, 0, 0, RL_NONE},
    {"small", HTTP_POST, "/small", h_body, 0, 2048, RL_NONE},
    {"limited", HTTP_GET, "/limited", h_echo, 0, 0, RL_LOGIN},
    {"prefix", HTTP_GET, "/p/*", h_echo, ROUTE_PREFIX, 0, RL_NONE},
    {NULL, 0, NULL, NULL, 0, 0, RL_NONE},
};

static struct config cfg;
static struct http_server *srv;
static int port;

static void start(void)
{
    struct err e;
    setenv("SSOGATE_LISTEN", "127.0.0.1:0", 1);
    setenv("SSOGATE_SERVER_MAX_HEADER_BYTES", "4096", 1);
    setenv("SSOGATE_SERVER_REQUEST_TIMEOUT_S", "1", 1);
    setenv("SSOGATE_SERVER_IDLE_TIMEOUT_S", "2", 1);
    setenv("SSOGATE_SERVER_WORKERS", "2", 1);
    setenv("SSOGATE_RATELIMIT_LOGIN_BURST", "3", 1);
    setenv("SSOGATE_RATELIMIT_LOGIN_PER_MINUTE", "1", 1);
    setenv("SSOGATE_SERVER_TRUSTED_PROXIES", "127.0.0.0/8", 1);
    cr_assert_eq(config_load(&cfg, NULL, &e), 0, "%s", e.msg);
    log_set_level("error");
    srv = http_server_start(&cfg, routes, &e);
    cr_assert_not_null(srv, "%s", e.msg);
    port = http_server_port(srv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void stop(void)
{
    if (srv)
        http_server_stop(srv, 2);
    srv = NULL;
    config_free(&cfg);
}

TestSuite(http, .init = start, .fini = stop);

struct resp {
    long status;
    struct buf body;
    struct buf headers;
};

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    buf_append(u, p, s * n);
    return s * n;
}

static void request(const char *method, const char *path, struct curl_slist *hdrs, const char *body, long body_len,
                    struct resp *out)
{
    buf_init(&out->body);
    buf_init(&out->headers);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    out->status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
}

static void resp_free(struct resp *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
}

Test(http, routes_get_with_query_and_json)
{
    struct resp r;
    request("GET", "/echo?v=hello%20world", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body.data, "\"v\":\"hello world\""), "%s", r.body.data);
    cr_assert(strcasestr(r.headers.data, "cache-control: no-store"));
    cr_assert(strcasestr(r.headers.data, "x-content-type-options: nosniff"));
    resp_free(&r);
}

Test(http, unknown_path_is_404_json_error)
{
    struct resp r;
    request("GET", "/nope", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 404);
    cr_assert(strstr(r.body.data, "\"error\":\"not_found\""), "%s", r.body.data);
    cr_assert(strstr(r.body.data, "\"message\":"));
    resp_free(&r);
}

Test(http, wrong_method_is_405)
{
    struct resp r;
    request("DELETE", "/echo", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 405);
    cr_assert(strstr(r.body.data, "method_not_allowed"));
    resp_free(&r);
}

Test(http, head_is_answered_like_get_without_body)
{
    struct resp r;
    request("HEAD", "/echo", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, 0);
    resp_free(&r);
}

Test(http, path_parameters_and_prefix_routes)
{
    struct resp r;
    request("GET", "/o/acme/x", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "acme");
    resp_free(&r);
    request("GET", "/o//x", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    request("GET", "/p/anything/below", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(http, form_fields_are_decoded)
{
    struct resp r;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    request("POST", "/form", h, "a=x%2By+z&b=%3D%26", -1, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "x+y z|=&");
    resp_free(&r);
    curl_slist_free_all(h);
}

Test(http, request_id_is_echoed_or_made)
{
    struct resp r;
    struct curl_slist *h = curl_slist_append(NULL, "X-Request-Id: abc-123");
    request("GET", "/echo", h, NULL, 0, &r);
    cr_assert(strcasestr(r.headers.data, "x-request-id: abc-123"), "%s", r.headers.data);
    resp_free(&r);
    curl_slist_free_all(h);
    /* An unsafe id (spaces, quotes) is replaced, never echoed. */
    h = curl_slist_append(NULL, "X-Request-Id: bad id\"");
    request("GET", "/echo", h, NULL, 0, &r);
    cr_assert_null(strstr(r.headers.data, "bad id"));
    cr_assert(strcasestr(r.headers.data, "x-request-id: "));
    resp_free(&r);
    curl_slist_free_all(h);
}

Test(http, body_at_limit_passes_over_limit_is_413)
{
    char *body = util_xmalloc(4096);
    memset(body, 'a', 4096);
    struct resp r;
    request("POST", "/small", NULL, body, 2048, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "2048");
    resp_free(&r);
    request("POST", "/small", NULL, body, 2049, &r);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body.data, "body_too_large"));
    resp_free(&r);
    free(body);
}

Test(http, chunked_body_over_limit_is_refused)
{
    char *body = util_xmalloc(8192);
    memset(body, 'a', 8192);
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    struct resp r;
    request("POST", "/small", h, body, 8192, &r);
    /* Either a 413 or the connection closed: never a 200 with a cut body. */
    cr_assert(r.status == 413 || r.status == -1, "status %ld", r.status);
    resp_free(&r);
    curl_slist_free_all(h);
    free(body);
}

Test(http, oversized_headers_are_refused)
{
    char *big = util_xmalloc(6000);
    strcpy(big, "X-Big: ");
    memset(big + 7, 'b', 5000);
    big[5007] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, big);
    struct resp r;
    request("GET", "/echo", h, NULL, 0, &r);
    cr_assert(r.status == 431 || r.status == 413, "status %ld", r.status);
    resp_free(&r);
    curl_slist_free_all(h);
    free(big);
    /* Just under the limit still works. */
    h = curl_slist_append(NULL, "X-Small: 1234567890");
    request("GET", "/echo", h, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    curl_slist_free_all(h);
}

Test(http, rate_limit_answers_429_with_retry_after)
{
    struct resp r;
    for (int i = 0; i < 3; i++) {
        request("GET", "/limited", NULL, NULL, 0, &r);
        cr_assert_eq(r.status, 200, "request %d", i);
        resp_free(&r);
    }
    request("GET", "/limited", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 429);
    cr_assert(strstr(r.body.data, "rate_limited"));
    cr_assert(strcasestr(r.headers.data, "retry-after: "), "%s", r.headers.data);
    resp_free(&r);
    /* Another client address (through the trusted proxy) has its own bucket. */
    struct curl_slist *h = curl_slist_append(NULL, "X-Forwarded-For: 203.0.113.9");
    request("GET", "/limited", h, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    curl_slist_free_all(h);
}

Test(http, client_address_from_trusted_proxy_is_rightmost_untrusted)
{
    struct curl_slist *h = curl_slist_append(NULL, "X-Forwarded-For: 198.51.100.7, 203.0.113.5, 127.0.0.9");
    struct resp r;
    request("GET", "/echo", h, NULL, 0, &r);
    cr_assert(strstr(r.body.data, "\"client\":\"203.0.113.5\""), "%s", r.body.data);
    resp_free(&r);
    curl_slist_free_all(h);
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

Test(http, slow_body_gets_408)
{
    int fd = raw_connect();
    const char *head = "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789";
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    usleep(1300 * 1000);
    cr_assert_eq(write(fd, "0123456789", 10), 10);
    char buf[1024] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    cr_assert_gt(n, 0);
    cr_assert(strncmp(buf, "HTTP/1.1 408", 12) == 0, "%s", buf);
}

Test(http, stalled_connection_is_closed)
{
    int fd = raw_connect();
    const char *part = "GET /echo HTTP/1.1\r\nHost: x\r\n";
    cr_assert_eq(write(fd, part, strlen(part)), (ssize_t)strlen(part));
    int64_t t0 = util_mono_ms();
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf); /* blocks until the server closes */
    int64_t waited = util_mono_ms() - t0;
    close(fd);
    cr_assert_leq(n, 0, "server answered a stalled request");
    cr_assert_lt(waited, 4000, "closed only after %lld ms", (long long)waited);
}

static void *slow_client(void *arg)
{
    struct resp *r = arg;
    request("GET", "/slow", NULL, NULL, 0, r);
    return NULL;
}

Test(http, graceful_shutdown_finishes_in_flight_requests)
{
    pthread_t t;
    struct resp r;
    pthread_create(&t, NULL, slow_client, &r);
    usleep(200 * 1000); /* the request is now inside the handler */
    http_server_stop(srv, 5);
    srv = NULL;
    pthread_join(t, NULL);
    cr_assert_eq(r.status, 200, "in-flight request got %ld", r.status);
    cr_assert_str_eq(r.body.data, "slow");
    resp_free(&r);
    /* No longer accepting. */
    request("GET", "/echo", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, -1);
    resp_free(&r);
}
