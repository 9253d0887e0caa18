/* http_options.c -- the options of a request, in one table (HTTP_OPTIONS),
 * and the configuration of an easy handle from a request spec.
 *
 * The Lua layer (lua/tide/http.lua) checks the user's options against the
 * list exported from this table (core.http_options), builds the spec, and
 * C reads only what the spec holds. Every string that reaches curl is
 * checked here once more: one with CR, LF or NUL would start a new header
 * line or cut the request short, and is refused with a `usage` error
 * before anything is sent.
 *
 * Owns: HTTP_OPTIONS and the request's easy-handle options.
 * May call: tide.h (errors), http_easy.c (callbacks), libcurl. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tide.h"

#include "http.h"

/* The options, by name:
 *   X(name, spec type, public type, passed, text)
 * spec type: the Lua type core.http_request reads (LUA_TNONE: the option
 *   never reaches C; the Lua layer turns it into others);
 * public type: the type a user gives (NULL: built by the Lua layer only;
 *   "any": the Lua layer checks it);
 * passed: copied from the user's options into the spec as given;
 * text: a string that must hold no CR, LF or NUL (0: bytes, as the body). */
/* clang-format off */
#define HTTP_OPTIONS(X) \
  X(url,             LUA_TSTRING,   "string",   0, 1) \
  X(method,          LUA_TSTRING,   "string",   0, 1) \
  X(query,           LUA_TNONE,     "table",    0, 0) \
  X(headers,         LUA_TTABLE,    "table",    0, 0) \
  X(body,            LUA_TSTRING,   "any",      0, 0) \
  X(json,            LUA_TNONE,     "any",      0, 0) \
  X(form,            LUA_TNONE,     "table",    0, 0) \
  X(upload,          LUA_TBOOLEAN,  NULL,       0, 0) \
  X(body_fd,         LUA_TNUMBER,   NULL,       0, 0) \
  X(body_offset,     LUA_TNUMBER,   NULL,       0, 0) \
  X(body_size,       LUA_TNUMBER,   NULL,       0, 0) \
  X(output,          LUA_TNONE,     "any",      0, 0) \
  X(output_fd,       LUA_TNUMBER,   NULL,       0, 0) \
  X(output_offset,   LUA_TNUMBER,   NULL,       0, 0) \
  X(output_truncate, LUA_TBOOLEAN,  NULL,       0, 0) \
  X(content_length,  LUA_TNUMBER,   "number",   0, 0) \
  X(timeout,         LUA_TNUMBER,   "number",   1, 0) \
  X(connect_timeout, LUA_TNUMBER,   "number",   1, 0) \
  X(follow,          LUA_TBOOLEAN,  "boolean",  1, 0) \
  X(max_redirects,   LUA_TNUMBER,   "number",   1, 0) \
  X(verify,          LUA_TBOOLEAN,  "boolean",  1, 0) \
  X(ca_file,         LUA_TSTRING,   "string",   1, 1) \
  X(proxy,           LUA_TSTRING,   "string",   1, 1) \
  X(auth,            LUA_TNONE,     "table",    0, 0) \
  X(username,        LUA_TSTRING,   NULL,       0, 1) \
  X(password,        LUA_TSTRING,   NULL,       0, 1) \
  X(aws_sigv4,       LUA_TSTRING,   "table",    0, 1) \
  X(http_version,    LUA_TSTRING,   "string",   1, 1) \
  X(signal,          LUA_TNONE,     "any",      0, 0) \
  X(stream,          LUA_TBOOLEAN,  "boolean",  1, 0) \
  X(on_progress,     LUA_TFUNCTION, "function", 1, 0) \
  X(max_body_size,   LUA_TNUMBER,   "number",   1, 0) \
  X(buffer_size,     LUA_TNUMBER,   "number",   1, 0) \
  X(decompress,      LUA_TBOOLEAN,  "boolean",  1, 0) \
  X(retry,           LUA_TNONE,     "table",    0, 0) \
  X(multipart,       LUA_TTABLE,    "table",    0, 0) \
  X(unix_socket,     LUA_TSTRING,   "string",   1, 1) \
  X(cert,            LUA_TSTRING,   "string",   1, 1) \
  X(key,             LUA_TSTRING,   "string",   1, 1) \
  X(key_password,    LUA_TSTRING,   "string",   1, 1) \
  X(pinned_pubkey,   LUA_TSTRING,   "string",   1, 1)
/* clang-format on */

#define OPTIONS_AS_ENUM(name, spec, pub, passed, text) OPT_##name,
#define OPTIONS_AS_ROW(name, spec, pub, passed, text) {#name, spec, pub, passed, text},
enum { HTTP_OPTIONS(OPTIONS_AS_ENUM) OPT_COUNT };

static int options_check_url(lua_State *L);

static const struct options_row {
  const char *name;
  int spec_type;
  const char *public_type;
  int passed, text;
} options_rows[] = {HTTP_OPTIONS(OPTIONS_AS_ROW)};

static int options_index(const char *k) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (options_rows[i].spec_type != LUA_TNONE && strcmp(k, options_rows[i].name) == 0)
      return i;
  return -1;
}

void http_options_export(lua_State *L) {
  int n = 0;
  lua_createtable(L, 0, OPT_COUNT);
  for (int i = 0; i < OPT_COUNT; i++) {
    if (!options_rows[i].public_type) continue;
    lua_pushstring(L, options_rows[i].public_type);
    lua_setfield(L, -2, options_rows[i].name);
  }
  lua_setfield(L, -2, "http_options");
  lua_createtable(L, OPT_COUNT, 0);
  for (int i = 0; i < OPT_COUNT; i++) {
    if (!options_rows[i].passed) continue;
    lua_pushstring(L, options_rows[i].name);
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "http_passthrough");
  lua_pushcfunction(L, options_check_url);
  lua_setfield(L, -2, "http_check_url");
}

/* core.http_check_url(url) -> nil, or why url is malformed (and true when
 * it is for its scheme): parsed by libcurl's URL API as the transfer will
 * be, refusing spaces and control characters, a missing scheme, schemes
 * other than http and https, and an empty host. The Lua layer raises it as
 * a `usage` error at the call: retrying a malformed URL cannot help. */
static int options_check_url(lua_State *L) {
  size_t len;
  const char *url = luaL_checklstring(L, 1, &len);
  const char *why = NULL;
  char *scheme = NULL, *host = NULL;
  int bad_scheme = 0;
  CURLU *h;
  CURLUcode rc;
  for (size_t i = 0; i < len && !why; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c == ' ')
      why = "it contains a space: percent-encode it as %20";
    else if (c < 0x20 || c == 0x7f)
      why = "it contains a control character";
  }
  if (!why) {
    const char *sep = strstr(url, "://");
    /* libcurl reads "http:///x" as "http://x/": not the URL written. */
    size_t n = sep ? (size_t)(sep - url) : 0;
    if (!sep)
      why = "it has no scheme: http:// or https://";
    else if (!((n == 4 && strncasecmp(url, "http", 4) == 0) ||
               (n == 5 && strncasecmp(url, "https", 5) == 0)))
      bad_scheme = 1;
    else if (strchr("/?#", sep[3]))
      why = "it has no host";
  }
  if (bad_scheme) why = "only http and https URLs are supported";
  if (why) {
    lua_pushstring(L, why);
    lua_pushboolean(L, bad_scheme);
    return 2;
  }
  h = curl_url();
  if (!h) return luaL_error(L, "not enough memory");
  rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
  if (rc == CURLUE_OK) rc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
  if (rc == CURLUE_OK && strcasecmp(scheme, "http") != 0 &&
      strcasecmp(scheme, "https") != 0) {
    why = "only http and https URLs are supported";
    bad_scheme = 1;
  } else {
    if (rc == CURLUE_OK) rc = curl_url_get(h, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OK && host[0] == '\0') rc = CURLUE_NO_HOST;
    if (rc == CURLUE_NO_HOST)
      why = "it has no host";
    else if (rc != CURLUE_OK)
      why = curl_url_strerror(rc);
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(h);
  if (!why) return 0;
  lua_pushstring(L, why);
  lua_pushboolean(L, bad_scheme);
  return 2;
}

static int options_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The query parameters whose values are secrets (a presigned S3 URL's). */
static int options_secret_param(const char *name, size_t len) {
  static const char *const names[] = {"X-Amz-Signature", "X-Amz-Credential",
                                      "X-Amz-Security-Token", NULL};
  char plain[32];
  size_t n = 0;
  /* Compared decoded and without case: "X%2DAmz-Signature" is one too. */
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    int hi, lo;
    if (c == '%' && i + 2 < len && (hi = options_hex(name[i + 1])) >= 0 &&
        (lo = options_hex(name[i + 2])) >= 0) {
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (n == sizeof plain - 1) return 0;
    plain[n++] = c;
  }
  plain[n] = '\0';
  for (int i = 0; names[i]; i++)
    if (strcasecmp(plain, names[i]) == 0) return 1;
  return 0;
}

size_t http_url_redacted(const char *url, char *buf, size_t cap) {
  CURLU *h = curl_url();
  char *query = NULL, *out = NULL, *q = NULL;
  size_t n = 0;
  if (!h) return 0;
  if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    goto done;
  curl_url_set(h, CURLUPART_USER, NULL, 0);
  curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
  curl_url_set(h, CURLUPART_OPTIONS, NULL, 0);
  if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query) {
    size_t len = strlen(query), k = 0;
    const char *p = query;
    /* A secret parameter ("X-Amz-Signature=" at least: 16 bytes) grows
     * by at most 8 bytes (an empty value becomes "REDACTED"). */
    q = malloc(len + 8 * (len / 16 + 1) + 1);
    if (!q) goto done;
    while (*p) {
      size_t plen = strcspn(p, "&"), klen = strcspn(p, "=&");
      memcpy(q + k, p, klen);
      k += klen;
      if (klen < plen && options_secret_param(p, klen)) {
        memcpy(q + k, "=REDACTED", 9);
        k += 9;
      } else {
        memcpy(q + k, p + klen, plen - klen);
        k += plen - klen;
      }
      p += plen;
      if (*p == '&') q[k++] = *p++;
    }
    q[k] = '\0';
    if (curl_url_set(h, CURLUPART_QUERY, q, 0) != CURLUE_OK) goto done;
  }
  if (curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK && strlen(out) < cap) {
    n = strlen(out);
    memcpy(buf, out, n + 1);
  }
done:
  free(q);
  curl_free(out);
  curl_free(query);
  curl_url_cleanup(h);
  return n;
}

/* ---------------------------------------------------------------------------
 * Values */

/* Seconds to curl's milliseconds: at least 1, and no more than INT_MAX
 * (about 25 days: "forever"), so a huge value cannot overflow. */
static long options_ms(double s) {
  double ms = s * 1000 + 0.5;
  if (!(ms >= 1)) return 1;
  return ms > (double)INT_MAX ? (long)INT_MAX : (long)ms;
}

/* A count from Lua, clamped to [lo, hi] (NaN gives lo). */
long http_clamp_long(double n, long lo, long hi) {
  if (!(n >= (double)lo)) return lo;
  return n > (double)hi ? hi : (long)n;
}

/* The string at idx, refused (usage error naming `what`) if it holds CR,
 * LF or NUL: it would end the line it goes into, or be cut short there. */
static const char *options_text(lua_State *L, int idx, const char *what) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len || strpbrk(s, "\r\n"))
    tide_usage_error(L, "bad option '%s' (contains CR, LF or NUL)", what);
  return s;
}

#define SETOPT(e, o, v)                                                                  \
  do {                                                                                   \
    if (curl_easy_setopt((e), (o), (v)) != CURLE_OK)                                     \
      luaL_error(L, "libcurl refused option %s", #o);                                    \
  } while (0)

/* Headers that carry credentials for a proxy, not for the server. */
static int options_for_proxy(const char *line) {
  static const char name[] = "Proxy-Authorization:";
  return strncasecmp(line, name, sizeof name - 1) == 0;
}

/* The spec's header lines (list at -1) into q->headers; those meant for a
 * proxy go into q->proxy_headers instead, so that they reach a proxy only
 * and never a server (not even one a redirect leads to). */
static void options_headers(lua_State *L, http_req *q) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= len; i++) {
    struct curl_slist **to, *l;
    const char *line;
    lua_rawgeti(L, -1, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "bad option 'headers' (list of strings expected)");
    line = options_text(L, -1, "headers");
    to = options_for_proxy(line) ? &q->proxy_headers : &q->headers;
    l = curl_slist_append(*to, line);
    lua_pop(L, 1);
    if (!l) luaL_error(L, "not enough memory");
    *to = l;
  }
  SETOPT(q->easy, CURLOPT_HTTPHEADER, q->headers);
  SETOPT(q->easy, CURLOPT_PROXYHEADER, q->proxy_headers);
  /* The default since curl 7.42.1, said once more: server headers and
   * proxy headers go separate ways. */
  SETOPT(q->easy, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
}

/* The string field k of the table at -1 (NULL if absent), checked as text. */
static const char *options_field(lua_State *L, const char *k, const char *what) {
  const char *s = NULL;
  if (lua_getfield(L, -1, k) == LUA_TSTRING)
    s = options_text(L, -1, what);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "bad option '%s' (string expected)", what);
  lua_pop(L, 1); /* the spec (anchored with the request) keeps the string */
  return s;
}

/* The spec's multipart parts (list at -1: {name=, value=} or {name=,
 * file=, filename=, content_type=}) as a curl mime body. Values are
 * copied; files are read by libcurl as it sends them. */
static void options_multipart(lua_State *L, http_req *q) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
  if (!q->mime && !(q->mime = curl_mime_init(q->easy)))
    luaL_error(L, "not enough memory");
  for (lua_Integer i = 1; i <= len; i++) {
    curl_mimepart *part;
    const char *name, *file, *filename, *type;
    CURLcode rc;
    if (lua_rawgeti(L, -1, i) != LUA_TTABLE)
      luaL_error(L, "bad option 'multipart' (list of tables expected)");
    name = options_field(L, "name", "multipart.name");
    file = options_field(L, "file", "multipart.file");
    filename = options_field(L, "filename", "multipart.filename");
    type = options_field(L, "content_type", "multipart.content_type");
    if (!(part = curl_mime_addpart(q->mime))) luaL_error(L, "not enough memory");
    rc = curl_mime_name(part, name);
    if (rc == CURLE_OK && file) {
      rc = curl_mime_filedata(part, file);
    } else if (rc == CURLE_OK) {
      size_t vlen = 0;
      const char *v = NULL;
      if (lua_getfield(L, -1, "value") == LUA_TSTRING) v = lua_tolstring(L, -1, &vlen);
      rc = curl_mime_data(part, v ? v : "", vlen);
      lua_pop(L, 1);
    }
    if (rc == CURLE_OK && filename) rc = curl_mime_filename(part, filename);
    if (rc == CURLE_OK && type) rc = curl_mime_type(part, type);
    if (rc != CURLE_OK)
      luaL_error(L, "libcurl refused a multipart part: %s", curl_easy_strerror(rc));
    lua_pop(L, 1);
  }
  SETOPT(q->easy, CURLOPT_MIMEPOST, q->mime);
}

/* Applies one option of the spec (key at -2, value at -1). */
static void options_apply(lua_State *L, http_req *q, int opt) {
  CURL *e = q->easy;
  const char *s = NULL;
  double n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  int b = lua_toboolean(L, -1);
  if (options_rows[opt].text) s = options_text(L, -1, options_rows[opt].name);
  switch (opt) {
  case OPT_url:
    SETOPT(e, CURLOPT_URL, s);
    break;
  case OPT_method:
    if (strcmp(s, "HEAD") == 0)
      SETOPT(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(s, "GET") != 0)
      SETOPT(e, CURLOPT_CUSTOMREQUEST, s);
    break;
  case OPT_headers:
    options_headers(L, q);
    break;
  case OPT_body: {
    size_t len;
    const char *body = lua_tolstring(L, -1, &len);
    /* Not copied: the spec (anchored with the request) keeps the string. */
    SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(e, CURLOPT_POSTFIELDS, body);
    break;
  }
  case OPT_upload:
    if (b && http_easy_setup_upload(q) != CURLE_OK)
      luaL_error(L, "libcurl refused a streamed upload");
    break;
  case OPT_content_length:
    /* A streamed body's declared length (checked by the Lua layer, which
     * also makes the feeder send exactly that much): no chunked encoding. */
    SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE,
           (curl_off_t)(n < 0      ? -1
                        : n < 9e18 ? n
                                   : 9e18));
    break;
  case OPT_timeout:
    if (n > 0) SETOPT(e, CURLOPT_TIMEOUT_MS, options_ms(n));
    break;
  case OPT_connect_timeout:
    if (n > 0) SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, options_ms(n));
    break;
  case OPT_follow:
    q->follow = (uint8_t)b;
    break;
  case OPT_max_redirects:
    SETOPT(e, CURLOPT_MAXREDIRS, http_clamp_long(n, 0, 1000));
    break;
  case OPT_verify:
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, (long)b);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, b ? 2L : 0L);
    break;
  case OPT_ca_file:
    SETOPT(e, CURLOPT_CAINFO, s);
    break;
  case OPT_proxy:
    SETOPT(e, CURLOPT_PROXY, s);
    break;
  case OPT_username:
    SETOPT(e, CURLOPT_USERNAME, s);
    break;
  case OPT_password:
    SETOPT(e, CURLOPT_PASSWORD, s);
    break;
  case OPT_aws_sigv4:
    SETOPT(e, CURLOPT_AWS_SIGV4, s);
    break;
  case OPT_http_version: {
    long v = CURL_HTTP_VERSION_NONE;
    if (strcmp(s, "1.1") == 0)
      v = CURL_HTTP_VERSION_1_1;
    else if (strcmp(s, "1.0") == 0)
      v = CURL_HTTP_VERSION_1_0;
    else if (strcmp(s, "2") == 0)
      v = CURL_HTTP_VERSION_2TLS;
    else if (strcmp(s, "2-prior-knowledge") == 0)
      v = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    SETOPT(e, CURLOPT_HTTP_VERSION, v);
    break;
  }
  case OPT_decompress:
    q->decompress = (uint8_t)b;
    break;
  case OPT_stream:
    q->stream = (uint8_t)b;
    break;
  case OPT_max_body_size:
    if (n > 0) {
      /* Clamped below 2^62: a larger limit is no limit, and must not wrap. */
      double max = n < 4.6e18 ? n : 4.6e18;
      q->max_body = (size_t)max;
      SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    }
    break;
  case OPT_buffer_size:
    /* curl's own bounds for its receive buffer. */
    q->buffer_size = http_clamp_long(n, 1024, CURL_MAX_READ_SIZE);
    break;
  case OPT_cert:
    SETOPT(e, CURLOPT_SSLCERT, s);
    break;
  case OPT_key:
    SETOPT(e, CURLOPT_SSLKEY, s);
    break;
  case OPT_key_password:
    SETOPT(e, CURLOPT_KEYPASSWD, s);
    break;
  case OPT_pinned_pubkey:
    SETOPT(e, CURLOPT_PINNEDPUBLICKEY, s);
    break;
  case OPT_unix_socket:
    SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, s);
    break;
  case OPT_multipart:
    options_multipart(L, q);
    break;
  case OPT_on_progress:
    if (http_easy_setup_progress(q) != CURLE_OK)
      luaL_error(L, "libcurl refused a progress callback");
    break;
  }
}

/* An integer field of the spec (def if absent). */
static lua_Integer options_int(lua_State *L, int spec, const char *k, lua_Integer def) {
  lua_Integer v = def;
  if (lua_getfield(L, spec, k) == LUA_TNUMBER) {
    int isint;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint) luaL_error(L, "bad option '%s' (integer expected)", k);
  }
  lua_pop(L, 1);
  return v;
}

static int options_bool(lua_State *L, int spec, const char *k) {
  int v = lua_getfield(L, spec, k) == LUA_TBOOLEAN && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Bodies in files (the Lua layer opened them): output_fd with
 * output_offset, body_fd with body_offset and body_size. */
static void options_files(lua_State *L, http_req *q, int spec) {
  lua_Integer out = options_int(L, spec, "output_fd", -1);
  lua_Integer in = options_int(L, spec, "body_fd", -1);
  int rc;
  if (out > INT_MAX || in > INT_MAX) luaL_error(L, "bad option 'output_fd' or 'body_fd'");
  if (out >= 0) {
    rc = http_file_sink_open(q, (int)out,
                             (int64_t)options_int(L, spec, "output_offset", -1),
                             options_bool(L, spec, "output_truncate"));
    if (rc != 0) luaL_error(L, "cannot use the output file: %s", uv_strerror(rc));
  }
  if (in >= 0) {
    rc =
        http_file_source_open(q, (int)in, (int64_t)options_int(L, spec, "body_offset", 0),
                              (int64_t)options_int(L, spec, "body_size", 0));
    if (rc != 0)
      luaL_error(L, "cannot use the body file: %s",
                 rc == -1 ? "libcurl refused a file upload" : uv_strerror(rc));
  }
}

void http_options_configure(lua_State *L, http_req *q, int spec) {
  CURL *e = q->easy;
  int have_url = 0;
  q->follow = 1;
  q->decompress = 1;
  q->buffer_size = 100 * 1024;
  if (http_easy_setup(q) != CURLE_OK) luaL_error(L, "libcurl refused its callbacks");
  SETOPT(e, CURLOPT_NOSIGNAL, 1L);
  SETOPT(e, CURLOPT_SHARE,
         q->pool && q->pool->cookies ? q->pool->cookies : http_state_of(q->ctx)->share);
  /* A client with cookies: its own jar (in its share), engine on. */
  if (q->pool && q->pool->cookies) {
    SETOPT(e, CURLOPT_COOKIEFILE, "");
    q->cookies = 1;
  }
  /* Debian's libcurl sets a CA directory besides the CA bundle; with one
   * set, libcurl rebuilds the certificate store from the bundle for every
   * new TLS connection (~30 ms on the loop). Without it the store is built
   * once per client and cached (CURLOPT_CA_CACHE_TIMEOUT). */
  SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
  /* Secure by default: only http and https, also when following redirects. */
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SETOPT(e, CURLOPT_MAXREDIRS, 10L);
  /* Credentials (user and password, Authorization and Cookie headers) go
   * to the first host only, not to one a redirect leads to. */
  SETOPT(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  /* Giving up on a request while its name is resolved must not block the
   * loop: without this, taking the handle out of the multi joins libcurl's
   * resolver thread (until the lookup ends). The thread is left to finish
   * on its own, and frees what it holds then. */
  SETOPT(e, CURLOPT_QUICK_EXIT, 1L);
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    int opt = lua_type(L, -2) == LUA_TSTRING ? options_index(lua_tostring(L, -2)) : -1;
    if (opt < 0) {
      luaL_error(L, "unknown request option '%s'", luaL_tolstring(L, -2, NULL));
      return;
    }
    if (lua_type(L, -1) != options_rows[opt].spec_type)
      luaL_error(L, "bad option '%s' (%s expected, got %s)", options_rows[opt].name,
                 lua_typename(L, options_rows[opt].spec_type), luaL_typename(L, -1));
    if (opt == OPT_url) have_url = 1;
    options_apply(L, q, opt);
    lua_pop(L, 1);
  }
  if (!have_url) luaL_error(L, "bad option 'url' (string expected, got nil)");
  options_files(L, q, spec);
  SETOPT(e, CURLOPT_FOLLOWLOCATION, (long)q->follow);
  if (q->decompress) SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
  /* A larger receive buffer than curl's 16 KiB: measured +20% on big
   * bodies. Not fatal if refused: the default still works. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, q->buffer_size);
  q->high_water = (size_t)q->buffer_size * 4;
}
