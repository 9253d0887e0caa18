/* sigv4.h -- AWS Signature Version 4, shared by sigv4.c (the algorithm, no
 * Lua) and sigv4_lua.c (its binding into tide.core). Private to them. */
#ifndef TIDE_SIGV4_H
#define TIDE_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct sigv4_str {
  const char *p;
  size_t n;
} sigv4_str;

typedef struct sigv4_header {
  sigv4_str name, value; /* name in any case; value untrimmed */
} sigv4_header;

/* What is signed. `url` is absolute and as sent (already percent-encoded);
 * `headers` are the ones to sign besides host (which comes from the URL
 * unless a header named host is given); `extra_query` is appended to the
 * URL's query (presigning: the X-Amz-* parameters, encoded). With `s3` the
 * path is signed as sent; otherwise dot segments and repeated slashes are
 * removed and it is encoded once more, as every other service expects. */
typedef struct sigv4_input {
  sigv4_str method, url;
  const sigv4_header *headers;
  size_t nheaders;
  sigv4_str payload_hash;
  sigv4_str extra_query;
  int s3;
} sigv4_input;

/* Hashing state and scratch buffers, reused from call to call: one per Lua
 * state. Memory comes from `alloc` (lua_Alloc's signature). */
typedef struct sigv4_ctx sigv4_ctx;

/* NULL when out of memory or libcrypto has no SHA-256. */
sigv4_ctx *sigv4_new(tide_alloc_fn alloc, void *ud);
void sigv4_free(sigv4_ctx *s);

/* hex (65 bytes, NUL-terminated) = lowercase hex SHA-256 of data. */
void sigv4_sha256_hex(sigv4_ctx *s, const void *data, size_t len, char hex[65]);
/* The SHA-256 of data given in pieces: begin, add each piece, end_hex
 * (which the next begin, or any other hash of s, may follow). */
void sigv4_sha256_begin(sigv4_ctx *s);
void sigv4_sha256_add(sigv4_ctx *s, const void *data, size_t len);
void sigv4_sha256_end_hex(sigv4_ctx *s, char hex[65]);

/* The signing key for (secret, date "YYYYMMDD", region, service), from a
 * small cache. Returns 0, or -1 when out of memory. */
int sigv4_signing_key(sigv4_ctx *s, sigv4_str secret, sigv4_str date, sigv4_str region,
                      sigv4_str service, uint8_t key[32]);

/* Writes "YYYYMMDDTHHMMSSZ" (17 bytes with the NUL) for Unix time t. */
void sigv4_amz_date(int64_t t, char out[17]);

/* Builds the canonical request of `in` (and its signed-header list) in the
 * context's buffers. Returns 0, -1 when out of memory, -2 for a URL that is
 * not absolute http(s). */
int sigv4_canonical(sigv4_ctx *s, const sigv4_input *in);
/* The canonical request and the signed headers ("host;x-amz-date") that the
 * last sigv4_canonical built (valid until the next call). */
sigv4_str sigv4_canonical_request(const sigv4_ctx *s);
sigv4_str sigv4_signed_headers(const sigv4_ctx *s);

/* sig (65 bytes) = hex HMAC of the string to sign of the last canonical
 * request, for `amz_date` and `scope` ("date/region/service/aws4_request"). */
void sigv4_signature(sigv4_ctx *s, const uint8_t key[32], sigv4_str amz_date,
                     sigv4_str scope, char sig[65]);

/* Appends the SigV4 encoding of p (every byte but A-Z a-z 0-9 - _ . ~ as
 * %XX) to b; with keep_slash, '/' is kept too. Returns 0 or -1. */
int sigv4_encode(sigv4_ctx *s, tide_buf *b, sigv4_str p, int keep_slash);

/* A scratch buffer of the context for callers (the binding's output). */
tide_buf *sigv4_out(sigv4_ctx *s);

/* Buffers larger than this are given back after a call (sigv4_trim): one
 * huge URL does not keep its memory for the life of the state. */
#define SIGV4_KEEP_BYTES (64 * 1024)
void sigv4_trim(sigv4_ctx *s);

#endif
