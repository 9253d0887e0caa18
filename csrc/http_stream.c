/* http_stream.c -- streamed bodies and streamed uploads.
 *
 * A streamed request hands its transfer to a tide.http.transfer userdata
 * once the headers are in; that object reads the body (core.http_read)
 * and stops the transfer when it is closed or collected. An upload's
 * feeder task writes with core.http_write and waits while the upload queue
 * is full. A read or write that waits is an operation (http_wait): its
 * task's cancellation stops the wait.
 *
 * Owns: the transfer object, the wait operations, core.http_read and
 * core.http_write.
 * May call: tide.h, http_easy.c, http_request.c. */
#include "tide.h"

#include "http.h"

/* ---------------------------------------------------------------------------
 * The transfer object */

static http_transfer *stream_check_transfer(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, HTTP_TRANSFER_MT);
}

/* Stops the transfer (its connection closes) and lets its request go;
 * a reader waiting on it sees the end. Idempotent; never raises. */
static void stream_transfer_cleanup(lua_State *L, tide_ctx *ctx, http_transfer *t) {
  http_req *q = t->req;
  if (!q) return;
  t->req = NULL;
  q->transfer = NULL;
  if (ctx->closed) return; /* the state is closing: the context cleans up */
  if (http_request_push_lua(L, ctx, q, "read") == LUA_TUSERDATA) {
    http_wait *w = lua_touserdata(L, -1);
    tide_op_done(L, ctx, &w->base.op);
    lua_pushnil(L);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  http_request_free(L, ctx, q);
}

/* transfer:close(), __close and __gc. Once tide's context is gone (a
 * finalizer that runs after its own) there is nothing left to stop. */
static int stream_transfer_close(lua_State *L) {
  http_transfer *t = stream_check_transfer(L, 1);
  tide_ctx *ctx = tide_ctx_get(L);
  if (ctx) stream_transfer_cleanup(L, ctx, t);
  return 0;
}

static int stream_transfer_tostring(lua_State *L) {
  http_transfer *t = stream_check_transfer(L, 1);
  lua_pushfstring(L, "%s (%s)", HTTP_TRANSFER_MT,
                  t->req ? http_request_state_name(t->req) : "closed");
  return 1;
}

/* ---------------------------------------------------------------------------
 * Waits */

static void stream_wait_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  http_wait *w = lua_touserdata(L, p);
  http_transfer *t = NULL;
  tide_op_done(L, ctx, &w->base.op);
  /* A reader that gives up stops the transfer: its task's I/O. A writer
   * waits on the request (or its transfer) and only stops waiting: its
   * feeder's failure is what cancels the request. */
  lua_getiuservalue(L, p, HTTP_WAIT_TARGET);
  if (w->is_write) {
    http_req *q;
    if (http_request_of(L, ctx, lua_gettop(L), &q) && q)
      http_request_clear_lua(L, ctx, q, "write");
  } else {
    t = luaL_testudata(L, -1, HTTP_TRANSFER_MT);
  }
  lua_pop(L, 1);
  if (t && t->req) {
    http_req *q = t->req;
    t->req = NULL;
    q->transfer = NULL;
    http_request_free(L, ctx, q);
  }
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static const tide_op_class stream_wait_class = {"http.read", stream_wait_cancel, NULL, 0};

/* Pushes a new wait op on the value at idx and records it under field k of
 * the request's Lua values. */
static http_wait *stream_new_wait(lua_State *L, tide_ctx *ctx, int idx, http_req *q,
                                  const char *k) {
  http_wait *w = (http_wait *)tide_promise_new(L, ctx, sizeof *w, TIDE_K_OP, 2, NULL);
  int p = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, p, HTTP_WAIT_TARGET);
  tide_op_start(L, ctx, p, &w->base.op, &stream_wait_class);
  http_request_push_lua(L, ctx, q, NULL);
  lua_pushvalue(L, p);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
  return w;
}

/* Pushes a promise already fulfilled with the value on top (popped). */
static void stream_push_settled(lua_State *L, tide_ctx *ctx) {
  tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
  lua_insert(L, -2);
  tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
  lua_pop(L, 1);
}

/* core.http_read(transfer) -> promise of the next piece of the body (a
 * string), nil at its end; rejects if the transfer failed. */
int http_stream_read(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_req *q = stream_check_transfer(L, 1)->req;
  lua_settop(L, 1);
  if (!q) {
    /* Closed: the stream has ended. */
    lua_pushnil(L);
    stream_push_settled(L, ctx);
    return 1;
  }
  if (http_request_push_lua(L, ctx, q, "read") == LUA_TUSERDATA)
    return luaL_error(L, "this response body is already being read by another task");
  lua_pop(L, 1);
  stream_new_wait(L, ctx, 1, q, "read");
  if (http_request_satisfy_read(L, ctx, lua_gettop(L), q))
    http_request_clear_lua(L, ctx, q, "read");
  return 1;
}

/* core.http_write(request, chunk | nil) -> promise of true once there is
 * room for more, or of false when the request finished or was stopped and
 * takes no more (nil marks the end of the upload). request: the pending
 * request's promise, or its transfer. */
int http_stream_write(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_req *q;
  size_t len = 0;
  const char *data = NULL;
  if (!http_request_of(L, ctx, 1, &q)) luaL_typeerror(L, 1, "HTTP request");
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) data = luaL_checklstring(L, 2, &len);
  if (!q || q->state != HTTP_REQ_ACTIVE || !q->uploading) {
    /* Finished or stopped: nothing more is sent. */
    lua_pushboolean(L, 0);
    stream_push_settled(L, ctx);
    return 1;
  }
  if (http_easy_upload_push(q, data, len) != 0) return luaL_error(L, "not enough memory");
  if (http_easy_upload_room(q) || data == NULL) {
    lua_pushboolean(L, 1);
    stream_push_settled(L, ctx);
    return 1;
  }
  /* Full: wait until curl has taken some. */
  stream_new_wait(L, ctx, 1, q, "write")->is_write = 1;
  return 1;
}

void http_stream_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg methods[] = {{"close", stream_transfer_close}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", stream_transfer_close},
                                  {"__close", stream_transfer_close},
                                  {"__tostring", stream_transfer_tostring},
                                  {NULL, NULL}};
  tide_class_new(L, ctx, HTTP_TRANSFER_MT, NULL, methods, meta);
  lua_pop(L, 1);
}
