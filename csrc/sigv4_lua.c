/* sigv4_lua.c -- binds sigv4.c into tide.core as core.sigv4_sign and
 * core.sigv4_sha256 (lua/tide/aws/sign.lua is the public side: it checks
 * the arguments and picks the payload hash). An I/O-free leaf.
 * May call: sigv4.c, buf.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sigv4.h"
#include "tide.h"

#define SIGV4_BOX_MT "tide.sigv4.box"

/* The state's hashing context and the array of headers being signed. */
typedef struct sigv4_box {
  sigv4_ctx *s;
  tide_buf headers; /* sigv4_header[] */
  tide_alloc_fn alloc;
  void *ud;
  int busy; /* a call is using it (a finalizer run by a Lua allocation may call again) */
} sigv4_box;

static int box_gc(lua_State *L) {
  sigv4_box *b = luaL_checkudata(L, 1, SIGV4_BOX_MT);
  if (b->s) sigv4_free(b->s);
  b->s = NULL;
  tide_buf_free(&b->headers, b->alloc, b->ud);
  return 0;
}

static sigv4_box *take_box(lua_State *L) {
  sigv4_box *b = lua_touserdata(L, lua_upvalueindex(1));
  if (!b->s) luaL_error(L, "tide.aws.sign: the state is closing");
  if (b->busy)
    luaL_error(L, "tide.aws.sign: called again while signing (from a finalizer?)");
  return b;
}

/* Whether name (any case) equals lower (lowercase). */
static int is_name(const char *name, size_t n, const char *lower) {
  size_t m = strlen(lower);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c != lower[i]) return 0;
  }
  return 1;
}

/* Raises a `usage` tide.error "tide.aws.sign: <message>". */
static void usage(lua_State *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void usage(lua_State *L, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tide_error_push(L, "usage", "tide.aws.sign: %s", msg);
  lua_error(L);
}

static sigv4_str arg_str(lua_State *L, int i) {
  sigv4_str r;
  r.p = luaL_checklstring(L, i, &r.n);
  return r;
}

/* core.sigv4_sign(method, url, headers, payload_hash, time, region,
 *   service, access_key_id, secret, token, content_sha, expires, debug)
 * Without `expires`: returns a new table with `headers` (nil: none) and
 * x-amz-date, authorization, x-amz-security-token (when token is a
 * string) and x-amz-content-sha256 (when content_sha) set; headers of those
 * names in any case are replaced. With `expires` (seconds): returns the
 * presigned URL. With `debug`, the canonical request too. */
static int sigv4_sign(lua_State *L) {
  sigv4_str method = arg_str(L, 1), url = arg_str(L, 2), payload = arg_str(L, 4);
  lua_Integer t = luaL_checkinteger(L, 5), expires = luaL_optinteger(L, 12, -1);
  sigv4_str region = arg_str(L, 6), service = arg_str(L, 7), akid = arg_str(L, 8);
  sigv4_str secret = arg_str(L, 9), token = {NULL, 0};
  int content_sha = lua_toboolean(L, 11), presign = !lua_isnoneornil(L, 12);
  int debug = lua_toboolean(L, 13), out_idx, part_idx, canon_idx, r;
  char amz[17], scope[200], sig[65];
  size_t scope_n, nh = 0;
  sigv4_input in;
  sigv4_box *b;
  sigv4_header *h;
  uint8_t key[32];

  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  if (!lua_isnoneornil(L, 10)) token = arg_str(L, 10);
  if (t < 0 || t > 253402300799) luaL_argerror(L, 5, "time out of range");
  if (presign && (expires < 1 || expires > 604800))
    luaL_argerror(L, 12, "expires must be from 1 to 604800 seconds");
  if (region.n == 0 || region.n > 64 || service.n == 0 || service.n > 64)
    usage(L, "region and service must be 1 to 64 bytes");
  b = take_box(L);
  sigv4_amz_date(t, amz);
  /* date/region/service/aws4_request (each part at most 64 bytes: fits) */
  memcpy(scope, amz, 8);
  scope[8] = '/';
  memcpy(scope + 9, region.p, region.n);
  scope_n = 9 + region.n;
  scope[scope_n++] = '/';
  memcpy(scope + scope_n, service.p, service.n);
  scope_n += service.n;
  memcpy(scope + scope_n, "/aws4_request", 13);
  scope_n += 13;

  /* Phase 1, Lua allocations: the output table, holding every string that
   * phase 2 points to. */
  lua_settop(L, 13);
  lua_createtable(L, 0, 8);
  out_idx = lua_gettop(L);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      size_t n;
      const char *name;
      if (lua_type(L, -2) != LUA_TSTRING)
        usage(L, "header names must be strings (got %s)", luaL_typename(L, -2));
      name = lua_tolstring(L, -2, &n);
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        usage(L, "header '%s' must be a string (got %s)", name, luaL_typename(L, -1));
      if (!presign &&
          (is_name(name, n, "authorization") || is_name(name, n, "x-amz-date") ||
           (token.p && is_name(name, n, "x-amz-security-token")) ||
           (content_sha && is_name(name, n, "x-amz-content-sha256")))) {
        lua_pop(L, 1);
        continue;
      }
      lua_tostring(L, -1);  /* a number becomes its string, in the table too */
      lua_pushvalue(L, -2); /* name, value -> out[name] = value */
      lua_insert(L, -2);
      lua_rawset(L, out_idx);
      nh++;
    }
  }
  if (!presign) {
    lua_pushlstring(L, amz, 16);
    lua_setfield(L, out_idx, "x-amz-date");
    nh++;
    if (token.p) {
      lua_pushlstring(L, token.p, token.n);
      lua_setfield(L, out_idx, "x-amz-security-token");
      nh++;
    }
    if (content_sha) {
      lua_pushlstring(L, payload.p, payload.n);
      lua_setfield(L, out_idx, "x-amz-content-sha256");
      nh++;
    }
  }

  /* Phase 2, no Lua allocation: the headers, the canonical request, the
   * signature. */
  b->busy = 1;
  b->headers.len = 0;
  if (tide_buf_reserve(&b->headers, (nh + 1) * sizeof(sigv4_header), b->alloc, b->ud)) {
    b->busy = 0;
    return luaL_error(L, "not enough memory");
  }
  h = (sigv4_header *)(void *)b->headers.data;
  nh = 0;
  lua_pushnil(L);
  while (lua_next(L, out_idx)) {
    h[nh].name.p = lua_tolstring(L, -2, &h[nh].name.n);
    h[nh].value.p = lua_tolstring(L, -1, &h[nh].value.n);
    nh++;
    lua_pop(L, 1);
  }
  memset(&in, 0, sizeof in);
  in.method = method;
  in.url = url;
  in.headers = h;
  in.nheaders = nh;
  in.payload_hash = payload;
  in.s3 = service.n == 2 && memcmp(service.p, "s3", 2) == 0;
  r = 0;
  if (presign) {
    /* The signed headers go into the query that is signed: find them first. */
    tide_buf *q = sigv4_out(b->s);
    sigv4_str sh, cred = {scope, scope_n};
    char num[32];
    r = sigv4_canonical(b->s, &in);
    q->len = 0;
    if (!r) {
      sh = sigv4_signed_headers(b->s);
      r = tide_buf_append(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=", 50,
                          b->alloc, b->ud) ||
          sigv4_encode(b->s, q, akid, 0) ||
          tide_buf_append(q, "%2F", 3, b->alloc, b->ud) ||
          sigv4_encode(b->s, q, cred, 0) ||
          tide_buf_append(q, "&X-Amz-Date=", 12, b->alloc, b->ud) ||
          tide_buf_append(q, amz, 16, b->alloc, b->ud) ||
          tide_buf_append(q, num,
                          (size_t)snprintf(num, sizeof num, "&X-Amz-Expires=%lld",
                                           (long long)expires),
                          b->alloc, b->ud) ||
          tide_buf_append(q, "&X-Amz-SignedHeaders=", 21, b->alloc, b->ud) ||
          sigv4_encode(b->s, q, sh, 0);
      if (!r && token.p)
        r = tide_buf_append(q, "&X-Amz-Security-Token=", 22, b->alloc, b->ud) ||
            sigv4_encode(b->s, q, token, 0);
      if (r) r = -1;
    }
    if (!r) {
      in.extra_query.p = q->data;
      in.extra_query.n = q->len;
      r = sigv4_canonical(b->s, &in);
    }
  } else {
    r = sigv4_canonical(b->s, &in);
  }
  if (!r) {
    sigv4_str date8 = {amz, 8}, amz_s = {amz, 16}, scope_s = {scope, scope_n};
    r = sigv4_signing_key(b->s, secret, date8, region, service, key);
    if (!r) sigv4_signature(b->s, key, amz_s, scope_s, sig);
    memset(key, 0, sizeof key);
  }
  if (!r) {
    /* What phase 3 needs, copied out of the box's buffers before they are
     * trimmed (lua_pushlstring copies before it may run the collector). */
    sigv4_str part = presign ? (sigv4_str){sigv4_out(b->s)->data, sigv4_out(b->s)->len}
                             : sigv4_signed_headers(b->s);
    lua_pushlstring(L, part.p, part.n);
    if (debug) {
      sigv4_str c = sigv4_canonical_request(b->s);
      lua_pushlstring(L, c.p, c.n);
    } else {
      lua_pushnil(L);
    }
  }
  sigv4_trim(b->s);
  if (b->headers.cap > SIGV4_KEEP_BYTES) tide_buf_free(&b->headers, b->alloc, b->ud);
  b->busy = 0;
  if (r == -2) usage(L, "url must be an absolute http or https URL");
  if (r) return luaL_error(L, "not enough memory");
  part_idx = lua_gettop(L) - 1; /* the query to add, or the signed headers */
  canon_idx = lua_gettop(L);    /* the canonical request (debug), or nil */

  /* Phase 3: the results. */
  if (presign) {
    const char *hash = memchr(url.p, '#', url.n);
    size_t base = hash ? (size_t)(hash - url.p) : url.n;
    const char *qm = memchr(url.p, '?', base);
    luaL_Buffer lb;
    luaL_buffinit(L, &lb);
    luaL_addlstring(&lb, url.p, base);
    if (!qm) {
      luaL_addchar(&lb, '?');
    } else if (url.p[base - 1] != '?' && url.p[base - 1] != '&') {
      luaL_addchar(&lb, '&');
    }
    lua_pushvalue(L, part_idx);
    luaL_addvalue(&lb);
    luaL_addstring(&lb, "&X-Amz-Signature=");
    luaL_addlstring(&lb, sig, 64);
    luaL_pushresult(&lb);
  } else {
    luaL_Buffer lb;
    luaL_buffinit(L, &lb);
    luaL_addstring(&lb, "AWS4-HMAC-SHA256 Credential=");
    luaL_addlstring(&lb, akid.p, akid.n);
    luaL_addchar(&lb, '/');
    luaL_addlstring(&lb, scope, scope_n);
    luaL_addstring(&lb, ", SignedHeaders=");
    lua_pushvalue(L, part_idx);
    luaL_addvalue(&lb);
    luaL_addstring(&lb, ", Signature=");
    luaL_addlstring(&lb, sig, 64);
    luaL_pushresult(&lb);
    lua_setfield(L, out_idx, "authorization");
    lua_pushvalue(L, out_idx);
  }
  if (debug) {
    lua_pushvalue(L, canon_idx);
    return 2;
  }
  return 1;
}

/* core.sigv4_sha256(data) -> lowercase hex SHA-256 of a string, or of the
 * strings of a list one after another (a body kept in pieces). */
static int sigv4_sha256(lua_State *L) {
  size_t n;
  const char *p;
  char hex[65];
  sigv4_box *b = take_box(L);
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, 1);
    /* Every piece is checked first: an error never leaves a digest open. */
    for (lua_Integer i = 1; i <= len; i++) {
      if (lua_geti(L, 1, i) != LUA_TSTRING)
        luaL_error(L, "bad argument #1 to 'sha256' (piece %d is not a string)", (int)i);
      lua_pop(L, 1);
    }
    sigv4_sha256_begin(b->s);
    for (lua_Integer i = 1; i <= len; i++) {
      lua_geti(L, 1, i);
      p = lua_tolstring(L, -1, &n);
      sigv4_sha256_add(b->s, p, n);
      lua_pop(L, 1);
    }
    sigv4_sha256_end_hex(b->s, hex);
  } else {
    p = luaL_checklstring(L, 1, &n);
    sigv4_sha256_hex(b->s, p, n, hex);
  }
  lua_pushlstring(L, hex, 64);
  return 1;
}

void tide_sigv4_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {
      {"sigv4_sign", sigv4_sign}, {"sigv4_sha256", sigv4_sha256}, {NULL, NULL}};
  sigv4_box *b;
  /* stack: module */
  b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_newmetatable(L, SIGV4_BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  b->alloc = lua_getallocf(L, &b->ud);
  b->s = sigv4_new(b->alloc, b->ud);
  if (!b->s) luaL_error(L, "tide.core: libcrypto has no SHA-256, or not enough memory");
  luaL_setfuncs(L, funcs, 1);
  tide_sigv4_file_open(L, ctx);
}
