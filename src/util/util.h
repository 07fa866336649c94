/* Small helpers every module shares: allocation that aborts on failure,
 * base64 and hex through OpenSSL, random bytes, constant-time comparison,
 * time in one tested place, and a growable byte buffer. */
#ifndef SSOGATE_UTIL_UTIL_H
#define SSOGATE_UTIL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

void *util_xmalloc(size_t n);
void *util_xcalloc(size_t nmemb, size_t size);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);
char *util_xstrndup(const char *s, size_t n);
char *util_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Base64 (RFC 4648, standard alphabet). decode skips CR, LF, space and tab
 * (wrapped input is accepted), refuses any other non-alphabet byte and bad
 * padding. Returns a malloc'd, NUL-terminated buffer and its length in *out_len,
 * or NULL on invalid input. */
unsigned char *util_b64_decode(const char *in, size_t in_len, size_t *out_len);
char *util_b64_encode(const unsigned char *in, size_t in_len);
/* base64url without padding (RFC 4648 section 5), for tokens. */
char *util_b64url_encode(const unsigned char *in, size_t in_len);
unsigned char *util_b64url_decode(const char *in, size_t in_len, size_t *out_len);

/* Copy src (NULL: "") into dst of n bytes (n > 0), cut to fit, always
 * NUL-terminated; the length of src. snprintf("%s") without the format machinery, for the
 * per-request path. */
size_t util_strlcpy(char *dst, const char *src, size_t n);
void util_hex_encode(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Cryptographically strong random bytes; aborts if the RNG fails. */
void util_random(void *buf, size_t n);
/* Random token: n random bytes as base64url in a malloc'd string. */
char *util_random_token(size_t n);
/* Constant-time equality of two buffers of the same length. */
int util_ct_eq(const void *a, const void *b, size_t n);
/* Constant-time equality of two strings (time depends on lengths only). */
int util_ct_streq(const char *a, const char *b);

/* SHA-256 of data as lower-case hex (65 bytes with NUL). */
void util_sha256_hex(const void *data, size_t n, char out[65]);

int64_t util_now_ms(void);       /* wall clock, ms since the epoch */
int64_t util_mono_ms(void);      /* monotonic, ms */
int64_t util_mono_us(void);      /* monotonic, microseconds */
/* RFC 3339 / xs:dateTime in UTC or with an offset, fractional seconds
 * allowed. Returns 0 and seconds since the epoch, or -1. */
int util_parse_time(const char *s, time_t *out);
/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void util_format_time(time_t t, char *out, size_t n);

/* Growable byte buffer; always NUL-terminated. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};
void buf_init(struct buf *b);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* Read a whole file (at most max bytes). Returns malloc'd data or NULL with
 * errno set (EFBIG when over max). */
char *util_read_file(const char *path, size_t max, size_t *out_len);

#endif
