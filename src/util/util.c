/* Shared helpers: allocation, encodings (OpenSSL), randomness, constant-time
 * comparison, time parsing and a byte buffer. Out-of-memory aborts, because
 * those paths are never tested and half-handled OOM is worse than a crash. */
#include "util/util.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void util_oom(void)
{
    fputs("ssogate: out of memory\n", stderr);
    abort();
}

void *util_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        util_oom();
    return p;
}

void *util_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        util_oom();
    return p;
}

void *util_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        util_oom();
    return q;
}

char *util_xstrdup(const char *s)
{
    return util_xstrndup(s, strlen(s));
}

char *util_xstrndup(const char *s, size_t n)
{
    char *p = util_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *util_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        util_oom();
    char *p = util_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int b64_is_space(char c)
{
    return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

unsigned char *util_b64_decode(const char *in, size_t in_len, size_t *out_len)
{
    /* Strip folding white space, then let OpenSSL decode whole blocks. */
    char *clean = util_xmalloc(in_len + 1);
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++)
        if (!b64_is_space(in[i]))
            clean[n++] = in[i];
    unsigned char *out = NULL;
    if (n == 0 || n % 4 != 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        char c = clean[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i >= n - 2 && (i == n - 1 || clean[n - 1] == '='))
            ok = 1;
        if (!ok)
            goto done;
    }
    out = util_xmalloc(n / 4 * 3 + 1);
    int r = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n);
    if (r < 0) {
        free(out);
        out = NULL;
        goto done;
    }
    size_t len = (size_t)r;
    if (clean[n - 1] == '=')
        len--;
    if (clean[n - 2] == '=')
        len--;
    out[len] = '\0';
    *out_len = len;
done:
    free(clean);
    return out;
}

char *util_b64_encode(const unsigned char *in, size_t in_len)
{
    char *out = util_xmalloc((in_len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)in_len);
    return out;
}

char *util_b64url_encode(const unsigned char *in, size_t in_len)
{
    char *s = util_b64_encode(in, in_len);
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            break;
        s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[j] = '\0';
    return s;
}

unsigned char *util_b64url_decode(const char *in, size_t in_len, size_t *out_len)
{
    if (in_len > ((size_t)1 << 30))
        return NULL;
    char *s = util_xmalloc(in_len + 4);
    for (size_t i = 0; i < in_len; i++) {
        char c = in[i];
        if (c == '+' || c == '/' || c == '=' || b64_is_space(c)) {
            free(s);
            return NULL;
        }
        s[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t n = in_len;
    if (n % 4 == 1) {
        free(s);
        return NULL;
    }
    while (n % 4)
        s[n++] = '=';
    unsigned char *out = util_b64_decode(s, n, out_len);
    free(s);
    return out;
}

size_t util_strlcpy(char *dst, const char *src, size_t n)
{
    if (!src)
        src = "";
    size_t len = strlen(src);
    size_t k = len < n ? len : n - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return len;
}

void util_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void util_random(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fputs("ssogate: RAND_bytes failed\n", stderr);
        abort();
    }
}

char *util_random_token(size_t n)
{
    unsigned char b[128];
    if (n > sizeof b)
        n = sizeof b;
    util_random(b, n);
    return util_b64url_encode(b, n);
}

int util_ct_eq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int util_ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the
 * implementation up (a lock and a hash table) on every digest. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void util_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || EVP_Digest(data, n, md, &mdlen, sha256_md, NULL) != 1 || mdlen != 32) {
        fputs("ssogate: SHA-256 unavailable\n", stderr);
        abort();
    }
    util_hex_encode(md, 32, out);
}

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect_char(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int days_from_civil(int y, int m, int d, int64_t *out)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic Gregorian. */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = (int64_t)era * 146097 + doe - 719468;
    return 0;
}

int util_parse_time(const char *s, time_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int Y, M, D, h, m, sec;
    if (!s || parse_digits(&p, 4, &Y) || expect_char(&p, '-') || parse_digits(&p, 2, &M) ||
        expect_char(&p, '-') || parse_digits(&p, 2, &D) || expect_char(&p, 'T') ||
        parse_digits(&p, 2, &h) || expect_char(&p, ':') || parse_digits(&p, 2, &m) ||
        expect_char(&p, ':') || parse_digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return -1;
    if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || expect_char(&p, ':') || parse_digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1; /* no zone: ambiguous, refused */
    }
    if (*p != '\0')
        return -1;
    int64_t days;
    days_from_civil(Y, M, D, &days);
    *out = (time_t)(days * 86400 + h * 3600 + m * 60 + (sec == 60 ? 59 : sec) - offset);
    return 0;
}

void util_format_time(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void buf_init(struct buf *b)
{
    b->cap = 256;
    b->len = 0;
    b->data = util_xmalloc(b->cap);
    b->data[0] = '\0';
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap *= 2;
        b->data = util_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_appends(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        while (b->len + (size_t)n + 1 > b->cap)
            b->cap *= 2;
        b->data = util_xrealloc(b->data, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *util_read_file(const char *path, size_t max, size_t *out_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b);
    char chunk[8192];
    size_t n;
    int over = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max) {
            over = 1;
            break;
        }
        buf_append(&b, chunk, n);
    }
    int failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (over || failed) {
        buf_free(&b);
        errno = over ? EFBIG : EIO;
        return NULL;
    }
    if (out_len)
        *out_len = b.len;
    return b.data;
}
