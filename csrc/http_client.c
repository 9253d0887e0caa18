/* http_client.c -- the pool userdata (tide.http.pool: the C side of a Lua
 * tide.http.client), starting requests, and the module's opening and
 * closing.
 *
 * A pool owns one CURLM (http_multi.c). A request in flight keeps its pool
 * alive (a user value of its promise or transfer), so a pool is collected
 * only once idle, or when the state closes. The DNS cache and TLS
 * sessions are shared by all pools of a context (a CURLSH).
 *
 * Owns: the pool userdata, the per-context http_state, core.http_client,
 * core.http_request, core.http_escape.
 * May call: tide.h, http_multi.c, http_options.c, http_request.c,
 * http_stream.c. */
#include <string.h>

#include "tide.h"

#include "http.h"

/* ---------------------------------------------------------------------------
 * Cookie jars
 *
 * A client made with `cookies` has its own CURLSH holding only its cookies
 * (and its own DNS cache and TLS sessions), never another client's. A jar
 * may outlive its pool while a finished request keeps its easy handle:
 * curl_share_cleanup refuses then, and the share waits on the context's
 * list of retired ones, tried again at every close and at teardown. */

struct http_retired {
  CURLSH *share;
  http_retired *next;
};

/* Frees the retired shares nothing uses any more. */
static void client_cookies_sweep(tide_ctx *ctx) {
  http_retired **at = &http_state_of(ctx)->retired;
  while (*at) {
    http_retired *r = *at;
    if (curl_share_cleanup(r->share) == CURLSHE_OK) {
      *at = r->next;
      ctx->alloc(ctx->alloc_ud, r, sizeof *r, 0);
    } else {
      at = &r->next;
    }
  }
}

/* A handle of p's jar for one call (NULL when out of memory). */
static CURL *client_cookies_easy(http_pool *p) {
  CURL *e = curl_easy_init();
  if (e && curl_easy_setopt(e, CURLOPT_SHARE, p->cookies) != CURLE_OK) {
    curl_easy_cleanup(e);
    e = NULL;
  }
  return e;
}

/* Saves p's jar where it was asked to (curl writes it at FLUSH). */
static void client_cookies_save(http_pool *p) {
  CURL *e;
  if (!p->cookie_jar || !(e = client_cookies_easy(p))) return;
  curl_easy_setopt(e, CURLOPT_COOKIEJAR, p->cookie_jar);
  curl_easy_setopt(e, CURLOPT_COOKIELIST, "FLUSH");
  curl_easy_cleanup(e);
}

/* Saves and lets go of p's jar (p is closed). */
static void client_cookies_close(tide_ctx *ctx, http_pool *p) {
  if (!p->cookies) return;
  client_cookies_save(p);
  if (curl_share_cleanup(p->cookies) != CURLSHE_OK) {
    http_retired *r = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *r);
    if (r) { /* else leaked: memory ran out at a close */
      r->share = p->cookies;
      r->next = http_state_of(ctx)->retired;
      http_state_of(ctx)->retired = r;
    }
  }
  p->cookies = NULL;
  if (p->cookie_jar)
    ctx->alloc(ctx->alloc_ud, p->cookie_jar, strlen(p->cookie_jar) + 1, 0);
  p->cookie_jar = NULL;
  client_cookies_sweep(ctx);
}

/* Gives p a jar of its own: in memory, or loaded from `path` (if given;
 * a missing file is an empty jar) and saved there on close. */
static int client_cookies_open(tide_ctx *ctx, http_pool *p, const char *path) {
  CURL *e;
  if (!(p->cookies = curl_share_init())) return -1;
  curl_share_setopt(p->cookies, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  curl_share_setopt(p->cookies, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(p->cookies, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (!path) return 0;
  size_t len = strlen(path);
  if (!(p->cookie_jar = ctx->alloc(ctx->alloc_ud, NULL, 0, len + 1))) return -1;
  memcpy(p->cookie_jar, path, len + 1);
  if (!(e = client_cookies_easy(p))) return -1;
  curl_easy_setopt(e, CURLOPT_COOKIEFILE, path);
  curl_easy_setopt(e, CURLOPT_COOKIELIST, "RELOAD");
  curl_easy_cleanup(e);
  return 0;
}

/* pool:cookies() -> list of the jar's cookies as Netscape cookie-file
 * lines (empty without a jar). */
static int client_pool_cookies(lua_State *L) {
  http_pool *p = luaL_checkudata(L, 1, HTTP_POOL_MT);
  struct curl_slist *list = NULL;
  CURL *e;
  int n = 0;
  lua_newtable(L);
  if (p->closed || !p->cookies) return 1;
  if (!(e = client_cookies_easy(p))) return luaL_error(L, "not enough memory");
  CURLcode rc = curl_easy_getinfo(e, CURLINFO_COOKIELIST, &list);
  curl_easy_cleanup(e);
  if (rc != CURLE_OK) return luaL_error(L, "libcurl could not list the cookies");
  for (struct curl_slist *l = list; l; l = l->next) {
    lua_pushstring(L, l->data);
    lua_rawseti(L, -2, ++n);
  }
  curl_slist_free_all(list);
  return 1;
}

/* ---------------------------------------------------------------------------
 * The pool object */

/* The pool at idx, open. */
static http_pool *client_check_pool(lua_State *L, int idx) {
  http_pool *p = luaL_checkudata(L, idx, HTTP_POOL_MT);
  if (p->closed) tide_usage_error(L, "attempt to use a closed %s", HTTP_POOL_MT);
  return p;
}

/* Closes p: its requests lose it (see http_request_orphan). A request
 * whose promise is pending and whose transfer did not finish is cancelled
 * (it rejects with `cancelled`, not reported if nobody awaits it: its
 * closer asked for it) when L is given, or just let go
 * (finalization: only a closing state collects a pool with requests, which
 * keep it alive otherwise). Idempotent; never raises. */
static void client_cleanup(lua_State *L, tide_ctx *ctx, http_pool *p) {
  http_req *q;
  if (p->closed) return;
  int top = L ? lua_gettop(L) : 0;
  while ((q = p->reqs) != NULL) {
    http_op *op = q->op;
    http_transfer *t;
    if (op && L && q->state != HTTP_REQ_DONE) {
      tide_push_anchored(L, ctx, op->base.op.ref);
      op->base.promise.flags |= TIDE_F_QUIET; /* the closer asked for it */
      lua_pushliteral(L, "the HTTP client was closed");
      tide_push_cancelled(L, top + 2);
      tide_cancel(L, ctx, top + 1, top + 3); /* frees q, or unlinks it */
      lua_settop(L, top);
      if (p->reqs == q && q->op == op) { /* not cancelled: let it go */
        op->req = NULL;
        q->op = NULL;
      }
      continue;
    }
    if (op && !L) {
      op->req = NULL;
      q->op = NULL;
    }
    t = q->transfer; /* if set, q outlives its orphaning */
    http_request_orphan(q);
    /* A streamed body's reader waiting on it hears that it stopped. */
    if (L && t && http_request_push_lua(L, ctx, q, "read") == LUA_TUSERDATA) {
      if (http_request_satisfy_read(L, ctx, lua_gettop(L), q))
        http_request_clear_lua(L, ctx, q, "read");
    }
    if (L) lua_settop(L, top);
  }
  http_multi_close(p);
  client_cookies_close(ctx, p);
}

/* pool:close() and its __close: cancels the transfers in flight (they
 * reject with `cancelled`) and closes the pooled connections. Never
 * raises: a `<close>` must let the error that unwinds it pass. */
static int client_pool_close(lua_State *L) {
  http_pool *p = luaL_checkudata(L, 1, HTTP_POOL_MT);
  tide_ctx *ctx = tide_ctx_get(L); /* NULL once the context is gone */
  if (ctx && !ctx->closed) client_cleanup(L, ctx, p);
  return 0;
}

/* __gc: nothing references the pool (or the state closes). */
static int client_pool_gc(lua_State *L) {
  http_pool *p = luaL_checkudata(L, 1, HTTP_POOL_MT);
  tide_ctx *ctx = tide_ctx_get(L); /* NULL once the context is gone */
  if (ctx && !ctx->closed) client_cleanup(NULL, ctx, p);
  return 0;
}

static int client_pool_tostring(lua_State *L) {
  http_pool *p = luaL_checkudata(L, 1, HTTP_POOL_MT);
  if (p->closed)
    lua_pushfstring(L, "%s (closed)", HTTP_POOL_MT);
  else
    lua_pushfstring(L, "%s (%d in flight)", HTTP_POOL_MT, p->transfers);
  return 1;
}

/* core.http_client([{max_connections=, max_per_host=}]) -> pool */
static int client_new(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_pool *p;
  long max_total = 0, max_host = 0;
  int cookies = 0;
  const char *jar = NULL;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "max_connections") == LUA_TNUMBER)
      max_total = http_clamp_long(lua_tonumber(L, -1), 0, 1000000);
    if (lua_getfield(L, 1, "max_per_host") == LUA_TNUMBER)
      max_host = http_clamp_long(lua_tonumber(L, -1), 0, 1000000);
    lua_pop(L, 2);
    /* cookies: true (in memory) or a path (kept on the stack below). */
    if (lua_getfield(L, 1, "cookies") == LUA_TSTRING) {
      size_t len;
      jar = lua_tolstring(L, -1, &len);
      if (strlen(jar) != len) tide_usage_error(L, "bad option 'cookies' (contains NUL)");
      cookies = 1;
    } else {
      cookies = lua_toboolean(L, -1);
    }
  }
  /* Safe to finalize at every step: closed until fully set up. */
  p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  p->closed = 1;
  luaL_setmetatable(L, HTTP_POOL_MT);
  if (http_multi_open(p, &ctx->loop, ctx->alloc, ctx->alloc_ud, max_total, max_host) != 0)
    return luaL_error(L, "not enough memory for an HTTP client");
  if (cookies && client_cookies_open(ctx, p, jar) != 0) {
    client_cleanup(NULL, ctx, p);
    return luaL_error(L, "not enough memory for an HTTP client's cookies");
  }
  return 1;
}

/* core.http_request(pool, spec) -> promise of a response. spec: the
 * options of HTTP_OPTIONS (http_options.c) that reach C, as the Lua layer
 * built them. */
static int client_request(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_pool *p = client_check_pool(L, 1);
  http_req *q;
  http_op *op;
  CURLMcode mrc;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  q = http_request_new(L, ctx, p, 2);
  op = (http_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 2, NULL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, HTTP_OP_POOL);
  op->req = q;
  q->op = op;
  tide_op_start(L, ctx, 3, &op->base.op, &http_request_class);
  mrc = http_multi_add(q);
  if (mrc != CURLM_OK) {
    op->req = NULL;
    q->op = NULL;
    tide_op_done(L, ctx, &op->base.op);
    http_request_free(L, ctx, q);
    tide_error_push(L, "network", "libcurl could not start the request: %s",
                    curl_multi_strerror(mrc));
    tide_settle(L, ctx, 3, TIDE_REJECTED, -1);
    lua_pop(L, 1);
  }
  return 1;
}

/* ---------------------------------------------------------------------------
 * Module functions */

/* core.http_escape(s) -> percent-encoded s (RFC 3986 unreserved kept) */
static int client_escape(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  static const char hex[] = "0123456789ABCDEF";
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      luaL_addchar(&b, (char)ch);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[ch >> 4]);
      luaL_addchar(&b, hex[ch & 15]);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* The module's teardown hook (after the loop stopped; no Lua). */
static void client_module_close(tide_ctx *ctx) {
  http_state *hs = ctx->http;
  if (!hs) return;
  if (hs->share) curl_share_cleanup(hs->share);
  client_cookies_sweep(ctx);
  ctx->alloc(ctx->alloc_ud, hs, sizeof *hs, 0);
  ctx->http = NULL;
  curl_global_cleanup();
}

void tide_http_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {
      {"http_client", client_new},     {"http_request", client_request},
      {"http_read", http_stream_read}, {"http_write", http_stream_write},
      {"http_escape", client_escape},  {NULL, NULL}};
  static const luaL_Reg pool_methods[] = {
      {"close", client_pool_close}, {"cookies", client_pool_cookies}, {NULL, NULL}};
  static const luaL_Reg pool_meta[] = {{"__gc", client_pool_gc},
                                       {"__close", client_pool_close},
                                       {"__tostring", client_pool_tostring},
                                       {NULL, NULL}};
  static const tide_module module = {"http", client_module_close, NULL, NULL};
  http_state *hs;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    luaL_error(L, "tide: libcurl could not be initialized");
  hs = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *hs);
  if (!hs) luaL_error(L, "not enough memory");
  memset(hs, 0, sizeof *hs);
  ctx->http = hs;
  tide_module_register(ctx, &module);
  hs->share = curl_share_init();
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

  tide_class_new(L, ctx, HTTP_POOL_MT, NULL, pool_methods, pool_meta);
  lua_pop(L, 1);
  http_stream_open(L, ctx);
  tide_setfuncs(L, ctx, funcs);
  http_response_open(L, ctx);
  http_options_export(L);
  /* Which resolver libcurl uses ("threaded", "c-ares" or "blocking"): what
   * giving up during a lookup costs depends on it. */
  {
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, v->ares                                  ? "c-ares"
                      : (v->features & CURL_VERSION_ASYNCHDNS) ? "threaded"
                                                               : "blocking");
    lua_setfield(L, -2, "http_resolver");
  }
}
