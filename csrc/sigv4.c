/* sigv4.c -- AWS Signature Version 4 (see sigv4.h): the canonical request,
 * the string to sign, the signing key and the signature. No Lua here
 * (sigv4_lua.c binds it). SHA-256 comes from OpenSSL's libcrypto, fetched
 * once per context; HMAC is built on it (libcrypto's own HMAC fetches its
 * algorithm on every call, which costs more than the hashing).
 * May call: buf.c. */
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

#define KEY_CACHE 4
#define KEY_ID_MAX 320

typedef struct key_entry {
  char id[KEY_ID_MAX]; /* date \n region \n service \n secret */
  size_t id_len;
  uint8_t key[32];
} key_entry;

typedef struct pair {
  size_t key, key_len, value, value_len; /* offsets into ctx->pairs_text */
} pair;

struct sigv4_ctx {
  tide_alloc_fn alloc;
  void *ud;
  EVP_MD *md;
  EVP_MD_CTX *mdctx;
  tide_buf canon;      /* the canonical request */
  tide_buf signed_hdr; /* "host;x-amz-date" */
  tide_buf pairs_text; /* encoded query keys and values */
  tide_buf pairs;      /* pair[] */
  tide_buf order;      /* size_t[]: header indexes, sorted */
  tide_buf scratch;    /* the normalized path */
  tide_buf out;        /* for the binding */
  key_entry keys[KEY_CACHE];
  unsigned next_key;
};

static const char HEX[] = "0123456789abcdef";
static const char HEX_UPPER[] = "0123456789ABCDEF";

sigv4_ctx *sigv4_new(tide_alloc_fn alloc, void *ud) {
  sigv4_ctx *s = alloc(ud, NULL, 0, sizeof *s);
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  s->alloc = alloc;
  s->ud = ud;
  s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
  s->mdctx = EVP_MD_CTX_new();
  if (!s->md || !s->mdctx) {
    sigv4_free(s);
    return NULL;
  }
  return s;
}

void sigv4_free(sigv4_ctx *s) {
  if (!s) return;
  if (s->mdctx) EVP_MD_CTX_free(s->mdctx);
  if (s->md) EVP_MD_free(s->md);
  tide_buf_free(&s->canon, s->alloc, s->ud);
  tide_buf_free(&s->signed_hdr, s->alloc, s->ud);
  tide_buf_free(&s->pairs_text, s->alloc, s->ud);
  tide_buf_free(&s->pairs, s->alloc, s->ud);
  tide_buf_free(&s->order, s->alloc, s->ud);
  tide_buf_free(&s->scratch, s->alloc, s->ud);
  tide_buf_free(&s->out, s->alloc, s->ud);
  memset(s->keys, 0, sizeof s->keys); /* no secret left behind in freed memory */
  s->alloc(s->ud, s, sizeof *s, 0);
}

tide_buf *sigv4_out(sigv4_ctx *s) { return &s->out; }

void sigv4_trim(sigv4_ctx *s) {
  tide_buf *all[] = {&s->canon, &s->signed_hdr, &s->pairs_text, &s->pairs,
                     &s->order, &s->scratch,    &s->out};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i]->cap > SIGV4_KEEP_BYTES) tide_buf_free(all[i], s->alloc, s->ud);
}

/* ---- hashing ---- */

static void sha256(sigv4_ctx *s, const void *a, size_t an, const void *b, size_t bn,
                   uint8_t out[32]) {
  unsigned int len = 32;
  EVP_DigestInit_ex2(s->mdctx, s->md, NULL);
  if (an) EVP_DigestUpdate(s->mdctx, a, an);
  if (bn) EVP_DigestUpdate(s->mdctx, b, bn);
  EVP_DigestFinal_ex(s->mdctx, out, &len);
}

static void to_hex(const uint8_t *d, size_t n, char *hex) {
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = HEX[d[i] >> 4];
    hex[2 * i + 1] = HEX[d[i] & 15];
  }
  hex[2 * n] = '\0';
}

void sigv4_sha256_hex(sigv4_ctx *s, const void *data, size_t len, char hex[65]) {
  uint8_t d[32];
  sha256(s, data, len, NULL, 0, d);
  to_hex(d, 32, hex);
}

void sigv4_sha256_begin(sigv4_ctx *s) { EVP_DigestInit_ex2(s->mdctx, s->md, NULL); }

void sigv4_sha256_add(sigv4_ctx *s, const void *data, size_t len) {
  if (len) EVP_DigestUpdate(s->mdctx, data, len);
}

void sigv4_sha256_end_hex(sigv4_ctx *s, char hex[65]) {
  uint8_t d[32];
  unsigned int len = 32;
  EVP_DigestFinal_ex(s->mdctx, d, &len);
  to_hex(d, 32, hex);
}

/* HMAC-SHA256 (RFC 2104) over SHA-256 with a 64-byte block. */
static void hmac(sigv4_ctx *s, const void *key, size_t key_len, const void *msg,
                 size_t msg_len, uint8_t out[32]) {
  uint8_t k[64], pad[64], inner[32];
  memset(k, 0, sizeof k);
  if (key_len > 64) {
    sha256(s, key, key_len, NULL, 0, k);
  } else {
    memcpy(k, key, key_len);
  }
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x36;
  sha256(s, pad, 64, msg, msg_len, inner);
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x5c;
  sha256(s, pad, 64, inner, 32, out);
  memset(k, 0, sizeof k);
  memset(pad, 0, sizeof pad);
}

int sigv4_signing_key(sigv4_ctx *s, sigv4_str secret, sigv4_str date, sigv4_str region,
                      sigv4_str service, uint8_t key[32]) {
  char id[KEY_ID_MAX];
  size_t n = date.n + region.n + service.n + secret.n + 3;
  int cacheable = n <= KEY_ID_MAX;
  if (cacheable) {
    char *p = id;
    memcpy(p, date.p, date.n), p += date.n, *p++ = '\n';
    memcpy(p, region.p, region.n), p += region.n, *p++ = '\n';
    memcpy(p, service.p, service.n), p += service.n, *p++ = '\n';
    memcpy(p, secret.p, secret.n);
    for (int i = 0; i < KEY_CACHE; i++) {
      key_entry *e = &s->keys[i];
      if (e->id_len == n && memcmp(e->id, id, n) == 0) {
        memcpy(key, e->key, 32);
        return 0;
      }
    }
  }
  {
    tide_buf *b = &s->scratch;
    uint8_t k[32];
    b->len = 0;
    if (tide_buf_append(b, "AWS4", 4, s->alloc, s->ud) ||
        tide_buf_append(b, secret.p, secret.n, s->alloc, s->ud))
      return -1;
    hmac(s, b->data, b->len, date.p, date.n, k);
    memset(b->data, 0, b->len);
    hmac(s, k, 32, region.p, region.n, k);
    hmac(s, k, 32, service.p, service.n, k);
    hmac(s, k, 32, "aws4_request", 12, key);
    memset(k, 0, sizeof k);
  }
  if (cacheable) {
    key_entry *e = &s->keys[s->next_key++ % KEY_CACHE];
    memcpy(e->id, id, n);
    e->id_len = n;
    memcpy(e->key, key, 32);
  }
  memset(id, 0, sizeof id);
  return 0;
}

static void put_digits(char *p, int v, int n) {
  while (n-- > 0) {
    p[n] = (char)('0' + v % 10);
    v /= 10;
  }
}

void sigv4_amz_date(int64_t t, char out[17]) {
  struct tm tm;
  time_t tt = (time_t)t;
  gmtime_r(&tt, &tm);
  /* "%Y%m%dT%H%M%SZ" by hand: strftime costs more than the rest of it */
  put_digits(out, tm.tm_year + 1900, 4);
  put_digits(out + 4, tm.tm_mon + 1, 2);
  put_digits(out + 6, tm.tm_mday, 2);
  out[8] = 'T';
  put_digits(out + 9, tm.tm_hour, 2);
  put_digits(out + 11, tm.tm_min, 2);
  put_digits(out + 13, tm.tm_sec, 2);
  out[15] = 'Z';
  out[16] = '\0';
}

/* ---- encoding ---- */

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int put(sigv4_ctx *s, tide_buf *b, const char *p, size_t n) {
  return tide_buf_append(b, p, n, s->alloc, s->ud);
}

static int put_escaped(sigv4_ctx *s, tide_buf *b, unsigned char c) {
  char e[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
  return put(s, b, e, 3);
}

int sigv4_encode(sigv4_ctx *s, tide_buf *b, sigv4_str p, int keep_slash) {
  size_t i = 0;
  while (i < p.n) {
    size_t j = i;
    while (j < p.n &&
           (unreserved((unsigned char)p.p[j]) || (keep_slash && p.p[j] == '/')))
      j++;
    if (j > i && put(s, b, p.p + i, j - i)) return -1;
    if (j < p.n && put_escaped(s, b, (unsigned char)p.p[j])) return -1;
    i = j + 1;
  }
  return 0;
}

/* A query component as sent, in the canonical encoding: what a server gets
 * by decoding it and encoding it again ('+' is a plus, not a space). */
static int put_component(sigv4_ctx *s, tide_buf *b, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    int r;
    if (unreserved(c)) {
      r = put(s, b, (const char *)&c, 1);
    } else if (c == '%' && i + 2 < n && hexval((unsigned char)p[i + 1]) >= 0 &&
               hexval((unsigned char)p[i + 2]) >= 0) {
      unsigned char d = (unsigned char)(hexval((unsigned char)p[i + 1]) * 16 +
                                        hexval((unsigned char)p[i + 2]));
      r = unreserved(d) ? put(s, b, (const char *)&d, 1) : put_escaped(s, b, d);
      i += 2;
    } else {
      r = put_escaped(s, b, c);
    }
    if (r) return -1;
  }
  return 0;
}

/* ---- the URL ---- */

typedef struct url_parts {
  sigv4_str host; /* as in the URL (case kept); without userinfo */
  sigv4_str port; /* empty, or the port when it is not the scheme's default */
  sigv4_str path, query;
} url_parts;

static int ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

static int split_url(sigv4_str url, url_parts *u) {
  const char *p = url.p, *end = url.p + url.n, *auth, *a_end, *at, *colon = NULL;
  const char *def;
  if (url.n >= 7 && ieq(p, "http://", 7)) {
    auth = p + 7, def = "80";
  } else if (url.n >= 8 && ieq(p, "https://", 8)) {
    auth = p + 8, def = "443";
  } else {
    return -2;
  }
  a_end = auth;
  while (a_end < end && *a_end != '/' && *a_end != '?' && *a_end != '#')
    a_end++;
  at = auth; /* after the userinfo, if any */
  for (const char *c = auth; c < a_end; c++)
    if (*c == '@') at = c + 1;
  for (const char *c = a_end; c > at; c--) {
    if (c[-1] == ':') {
      colon = c - 1;
      break;
    }
    if (c[-1] == ']') break; /* an IPv6 literal has no port after it here */
  }
  u->host.p = at;
  u->host.n = (size_t)((colon ? colon : a_end) - at);
  u->port.p = colon ? colon + 1 : a_end;
  u->port.n = colon ? (size_t)(a_end - colon - 1) : 0;
  if (u->port.n == strlen(def) && memcmp(u->port.p, def, u->port.n) == 0) u->port.n = 0;
  if (u->host.n == 0) return -2;
  u->path.p = a_end;
  while (a_end < end && *a_end != '?' && *a_end != '#')
    a_end++;
  u->path.n = (size_t)(a_end - u->path.p);
  u->query.p = a_end < end && *a_end == '?' ? a_end + 1 : a_end;
  while (a_end < end && *a_end != '#')
    a_end++;
  u->query.n = (size_t)(a_end - u->query.p);
  if (u->query.p > a_end) u->query.n = 0;
  return 0;
}

/* ---- the canonical request ---- */

/* The path with dot segments and empty segments removed (RFC 3986 5.2.4, and
 * AWS's own rule for repeated slashes), into s->scratch. */
static int normalize_path(sigv4_ctx *s, sigv4_str path) {
  tide_buf *b = &s->scratch;
  const char *p = path.p, *end = path.p + path.n;
  b->len = 0;
  if (put(s, b, "/", 1)) return -1;
  while (p < end) {
    const char *seg = p;
    size_t n;
    while (p < end && *p != '/')
      p++;
    n = (size_t)(p - seg);
    if (p < end) p++; /* the slash */
    if (n == 0 || (n == 1 && seg[0] == '.')) continue;
    if (n == 2 && seg[0] == '.' && seg[1] == '.') {
      if (b->len > 1) { /* drop the last segment and its slash */
        b->len--;
        while (b->len > 1 && b->data[b->len - 1] != '/')
          b->len--;
      }
      continue;
    }
    if (put(s, b, seg, n) || put(s, b, "/", 1)) return -1;
  }
  /* A trailing slash stays only when the path had one and is not just "/". */
  if (b->len > 1 && !(path.n > 0 && path.p[path.n - 1] == '/')) b->len--;
  return 0;
}

static int add_pairs(sigv4_ctx *s, sigv4_str q) {
  const char *p = q.p, *end = q.p + q.n;
  while (p < end) {
    const char *item = p, *eq = NULL;
    pair pr;
    while (p < end && *p != '&') {
      if (*p == '=' && !eq) eq = p;
      p++;
    }
    { /* an empty item is an empty key, as botocore signs it */
      const char *kend = eq ? eq : p;
      pr.key = s->pairs_text.len;
      if (put_component(s, &s->pairs_text, item, (size_t)(kend - item))) return -1;
      pr.key_len = s->pairs_text.len - pr.key;
      pr.value = s->pairs_text.len;
      if (eq && put_component(s, &s->pairs_text, eq + 1, (size_t)(p - eq - 1))) return -1;
      pr.value_len = s->pairs_text.len - pr.value;
      if (put(s, &s->pairs, (const char *)&pr, sizeof pr)) return -1;
    }
    if (p < end && ++p == end) { /* a trailing '&': one more empty item */
      pair e = {s->pairs_text.len, 0, s->pairs_text.len, 0};
      if (put(s, &s->pairs, (const char *)&e, sizeof e)) return -1;
    }
  }
  return 0;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c;
  return an < bn ? -1 : an > bn;
}

static int pair_less(const sigv4_ctx *s, const pair *a, const pair *b) {
  const char *t = s->pairs_text.data;
  int c = cmp_bytes(t + a->key, a->key_len, t + b->key, b->key_len);
  if (!c) c = cmp_bytes(t + a->value, a->value_len, t + b->value, b->value_len);
  return c < 0;
}

static int canonical_query(sigv4_ctx *s, sigv4_str query, sigv4_str extra) {
  pair *v;
  size_t n;
  s->pairs_text.len = s->pairs.len = 0;
  if (add_pairs(s, query) || add_pairs(s, extra)) return -1;
  v = (pair *)(void *)s->pairs.data;
  n = s->pairs.len / sizeof(pair);
  for (size_t i = 1; i < n; i++) { /* insertion sort: queries are short */
    pair x = v[i];
    size_t j = i;
    while (j > 0 && pair_less(s, &x, &v[j - 1])) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
  for (size_t i = 0; i < n; i++) {
    const char *t = s->pairs_text.data;
    if ((i && put(s, &s->canon, "&", 1)) ||
        put(s, &s->canon, t + v[i].key, v[i].key_len) || put(s, &s->canon, "=", 1) ||
        put(s, &s->canon, t + v[i].value, v[i].value_len))
      return -1;
  }
  return 0;
}

/* Headers never signed (they change on the way, as botocore's list). */
static int unsigned_header(sigv4_str name) {
  static const char *const skip[] = {"connection",
                                     "expect",
                                     "keep-alive",
                                     "proxy-authenticate",
                                     "proxy-authorization",
                                     "te",
                                     "trailer",
                                     "transfer-encoding",
                                     "upgrade",
                                     "user-agent",
                                     "x-amzn-trace-id",
                                     NULL};
  for (int i = 0; skip[i]; i++)
    if (strlen(skip[i]) == name.n && ieq(skip[i], name.p, name.n)) return 1;
  return 0;
}

static int name_cmp(sigv4_str a, sigv4_str b) {
  size_t n = a.n < b.n ? a.n : b.n;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.n < b.n ? -1 : a.n > b.n;
}

static int put_lower(sigv4_ctx *s, tide_buf *b, sigv4_str p) {
  char *d;
  if (tide_buf_reserve(b, b->len + p.n, s->alloc, s->ud)) return -1;
  d = b->data + b->len;
  for (size_t i = 0; i < p.n; i++) {
    char c = p.p[i];
    d[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
  }
  b->len += p.n;
  return 0;
}

/* The value with leading and trailing white space removed and every run
 * inside turned into one space (the spec's Trimall). */
static int put_trimmed(sigv4_ctx *s, tide_buf *b, sigv4_str v) {
  size_t i = 0;
  int first = 1;
  while (i < v.n) {
    size_t j;
    while (i < v.n && (v.p[i] == ' ' || (v.p[i] >= '\t' && v.p[i] <= '\r')))
      i++;
    j = i;
    while (j < v.n && !(v.p[j] == ' ' || (v.p[j] >= '\t' && v.p[j] <= '\r')))
      j++;
    if (j > i) {
      if ((!first && put(s, b, " ", 1)) || put(s, b, v.p + i, j - i)) return -1;
      first = 0;
    }
    i = j;
  }
  return 0;
}

static int canonical_headers(sigv4_ctx *s, const sigv4_input *in, const url_parts *u) {
  static const sigv4_str host_name = {"host", 4};
  sigv4_header host;
  const sigv4_header *h = in->headers;
  size_t n = 0, *ord, total = in->nheaders + 1;
  int have_host = 0;
  s->order.len = 0;
  if (tide_buf_reserve(&s->order, total * sizeof(size_t), s->alloc, s->ud)) return -1;
  ord = (size_t *)(void *)s->order.data;
  for (size_t i = 0; i < in->nheaders; i++) {
    if (unsigned_header(h[i].name)) continue;
    if (name_cmp(h[i].name, host_name) == 0) have_host = 1;
    ord[n++] = i;
  }
  if (!have_host) ord[n++] = in->nheaders; /* the host from the URL */
  host.name = host_name;
  host.value = u->host;
#define HDR(i) ((i) == in->nheaders ? &host : &h[i])
  for (size_t i = 1; i < n; i++) { /* stable: repeated names keep their order */
    size_t x = ord[i], j = i;
    while (j > 0 && name_cmp(HDR(x)->name, HDR(ord[j - 1])->name) < 0) {
      ord[j] = ord[j - 1];
      j--;
    }
    ord[j] = x;
  }
  s->signed_hdr.len = 0;
  for (size_t i = 0; i < n; i++) {
    const sigv4_header *x = HDR(ord[i]);
    int same = i > 0 && name_cmp(x->name, HDR(ord[i - 1])->name) == 0;
    if (same) {
      if (put(s, &s->canon, ",", 1)) return -1;
    } else {
      if (i > 0 && put(s, &s->canon, "\n", 1)) return -1;
      if ((i > 0 && put(s, &s->signed_hdr, ";", 1)) ||
          put_lower(s, &s->signed_hdr, x->name) || put_lower(s, &s->canon, x->name) ||
          put(s, &s->canon, ":", 1))
        return -1;
    }
    if (ord[i] == in->nheaders) { /* lowercase host, the port unless default */
      if (put_lower(s, &s->canon, u->host) ||
          (u->port.n &&
           (put(s, &s->canon, ":", 1) || put(s, &s->canon, u->port.p, u->port.n))))
        return -1;
    } else if (put_trimmed(s, &s->canon, x->value)) {
      return -1;
    }
  }
#undef HDR
  return put(s, &s->canon, "\n\n", 2) ||
         put(s, &s->canon, s->signed_hdr.data, s->signed_hdr.len);
}

int sigv4_canonical(sigv4_ctx *s, const sigv4_input *in) {
  url_parts u;
  tide_buf *c = &s->canon;
  int r = split_url(in->url, &u);
  if (r) return r;
  c->len = 0;
  for (size_t i = 0; i < in->method.n; i++) {
    char ch = in->method.p[i];
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
    if (put(s, c, &ch, 1)) return -1;
  }
  if (put(s, c, "\n", 1)) return -1;
  if (in->s3) {
    if (put(s, c, u.path.n ? u.path.p : "/", u.path.n ? u.path.n : 1)) return -1;
  } else {
    sigv4_str norm;
    if (normalize_path(s, u.path)) return -1;
    norm.p = s->scratch.data;
    norm.n = s->scratch.len;
    if (sigv4_encode(s, c, norm, 1)) return -1;
  }
  if (put(s, c, "\n", 1) || canonical_query(s, u.query, in->extra_query) ||
      put(s, c, "\n", 1) || canonical_headers(s, in, &u) || put(s, c, "\n", 1) ||
      put(s, c, in->payload_hash.p, in->payload_hash.n))
    return -1;
  return 0;
}

sigv4_str sigv4_canonical_request(const sigv4_ctx *s) {
  sigv4_str r = {s->canon.data, s->canon.len};
  return r;
}

sigv4_str sigv4_signed_headers(const sigv4_ctx *s) {
  sigv4_str r = {s->signed_hdr.data, s->signed_hdr.len};
  return r;
}

void sigv4_signature(sigv4_ctx *s, const uint8_t key[32], sigv4_str amz_date,
                     sigv4_str scope, char sig[65]) {
  /* "AWS4-HMAC-SHA256\n" date "\n" scope "\n" hex(sha256(canonical)) */
  char sts[17 + 32 + 1 + 256 + 1 + 64];
  size_t n = 0;
  uint8_t d[32];
  memcpy(sts, "AWS4-HMAC-SHA256\n", 17), n = 17;
  memcpy(sts + n, amz_date.p, amz_date.n), n += amz_date.n;
  sts[n++] = '\n';
  memcpy(sts + n, scope.p, scope.n), n += scope.n;
  sts[n++] = '\n';
  sigv4_sha256_hex(s, s->canon.data, s->canon.len, sts + n);
  n += 64;
  hmac(s, key, 32, sts, n, d);
  to_hex(d, 32, sig);
}
