/* http_request.c -- a request's life cycle, from its spec to the settling
 * of what waits on it.
 *
 * A request (http_req) moves through http_req_state (see http.h) and has
 * one owner at a time: its promise (an http_op) while that is pending; then,
 * for a streamed response, its transfer object (http_stream.c); then
 * nobody (DEAD). Whoever gives it up calls http_request_free. The driver
 * may hold it meanwhile (queued, or completing): a held request is freed
 * only once the driver lets go, so Lua code the completion runs
 * (on_progress, a task resumed at once, an upload body function) can give
 * it up, close its transfer or its client, and nothing it still uses is
 * freed under it.
 *
 * Cancelling the promise (its task cancelled, a signal aborted,
 * tide.timeout) removes the transfer at once: its connection closes.
 *
 * Owns: http_req's memory (with its tide_io), its Lua values (the spec
 * table, anchored), the request's promise, responses and errors.
 * May call: tide.h, http_easy.c, http_file.c, http_multi.c, http_options.c. */
#include <stdio.h>
#include <string.h>

#include "tide.h"

#include "http.h"

/* The request with the I/O record the driver queues. */
typedef struct request_box {
  tide_io io;
  http_req q;
} request_box;

#define REQUEST_BOX(q) ((request_box *)((char *)(q)-offsetof(request_box, q)))
#define REQUEST_OF_IO(i) (&((request_box *)(i))->q)

const char *http_request_state_name(const http_req *q) {
  switch (q->state) {
  case HTTP_REQ_NEW:
    return "new";
  case HTTP_REQ_ACTIVE:
    return "active";
  case HTTP_REQ_DONE:
    return "done";
  case HTTP_REQ_STOPPED:
    return "stopped";
  default:
    return "dead";
  }
}

/* ---------------------------------------------------------------------------
 * Errors */

/* curl's name of a result code ("CURLE_COULDNT_CONNECT"). */
static const char *request_curl_name(CURLcode rc) {
#define N(x) [CURLE_##x] = "CURLE_" #x
  // clang-format off
  static const char *const names[CURL_LAST] = {
    N(OK), N(UNSUPPORTED_PROTOCOL), N(FAILED_INIT), N(URL_MALFORMAT), N(NOT_BUILT_IN),
    N(COULDNT_RESOLVE_PROXY), N(COULDNT_RESOLVE_HOST), N(COULDNT_CONNECT),
    N(WEIRD_SERVER_REPLY), N(REMOTE_ACCESS_DENIED), N(FTP_ACCEPT_FAILED),
    N(FTP_WEIRD_PASS_REPLY), N(FTP_ACCEPT_TIMEOUT), N(FTP_WEIRD_PASV_REPLY),
    N(FTP_WEIRD_227_FORMAT), N(FTP_CANT_GET_HOST), N(HTTP2), N(FTP_COULDNT_SET_TYPE),
    N(PARTIAL_FILE), N(FTP_COULDNT_RETR_FILE), N(QUOTE_ERROR), N(HTTP_RETURNED_ERROR),
    N(WRITE_ERROR), N(UPLOAD_FAILED), N(READ_ERROR), N(OUT_OF_MEMORY), N(OPERATION_TIMEDOUT),
    N(FTP_PORT_FAILED), N(FTP_COULDNT_USE_REST), N(RANGE_ERROR), N(HTTP_POST_ERROR),
    N(SSL_CONNECT_ERROR), N(BAD_DOWNLOAD_RESUME), N(FILE_COULDNT_READ_FILE),
    N(LDAP_CANNOT_BIND), N(LDAP_SEARCH_FAILED), N(FUNCTION_NOT_FOUND), N(ABORTED_BY_CALLBACK),
    N(BAD_FUNCTION_ARGUMENT), N(INTERFACE_FAILED), N(TOO_MANY_REDIRECTS), N(UNKNOWN_OPTION),
    N(SETOPT_OPTION_SYNTAX), N(GOT_NOTHING), N(SSL_ENGINE_NOTFOUND), N(SSL_ENGINE_SETFAILED),
    N(SEND_ERROR), N(RECV_ERROR), N(SSL_CERTPROBLEM), N(SSL_CIPHER),
    N(PEER_FAILED_VERIFICATION), N(BAD_CONTENT_ENCODING), N(FILESIZE_EXCEEDED),
    N(USE_SSL_FAILED), N(SEND_FAIL_REWIND), N(SSL_ENGINE_INITFAILED), N(LOGIN_DENIED),
    N(TFTP_NOTFOUND), N(TFTP_PERM), N(REMOTE_DISK_FULL), N(TFTP_ILLEGAL), N(TFTP_UNKNOWNID),
    N(REMOTE_FILE_EXISTS), N(TFTP_NOSUCHUSER), N(SSL_CACERT_BADFILE), N(REMOTE_FILE_NOT_FOUND),
    N(SSH), N(SSL_SHUTDOWN_FAILED), N(AGAIN), N(SSL_CRL_BADFILE), N(SSL_ISSUER_ERROR),
    N(FTP_PRET_FAILED), N(RTSP_CSEQ_ERROR), N(RTSP_SESSION_ERROR), N(FTP_BAD_FILE_LIST),
    N(CHUNK_FAILED), N(NO_CONNECTION_AVAILABLE), N(SSL_PINNEDPUBKEYNOTMATCH),
    N(SSL_INVALIDCERTSTATUS), N(HTTP2_STREAM), N(RECURSIVE_API_CALL), N(AUTH_ERROR), N(HTTP3),
    N(QUIC_CONNECT_ERROR), N(PROXY), N(SSL_CLIENTCERT), N(UNRECOVERABLE_POLL)};
  // clang-format on
#undef N
  return (unsigned)rc < CURL_LAST ? names[rc] : NULL;
}

/* Whether a failure with curl's result rc comes from a system call (so
 * CURLINFO_OS_ERRNO names it). */
static int request_os_error_result(CURLcode rc) {
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR ||
         rc == CURLE_RECV_ERROR || rc == CURLE_OPERATION_TIMEDOUT;
}

/* Pushes the error a failed transfer rejects with. */
static void request_push_error(lua_State *L, http_req *q) {
  const char *url = NULL, *name;
  long os_errno = 0;
  const char *detail = q->errbuf[0] ? q->errbuf : curl_easy_strerror(q->result);
  if (q->easy) curl_easy_getinfo(q->easy, CURLINFO_EFFECTIVE_URL, &url);
  if (!url) url = "?";
  if (http_file_push_error(L, q)) {
    /* The file failed (a full disk): an `fs` error, the transfer stopped. */
    lua_pushstring(L, url);
    lua_setfield(L, -2, "url");
    return;
  }
  if (q->too_large || q->result == CURLE_FILESIZE_EXCEEDED) {
    tide_error_push(L, "body_too_large",
                    "the response body of %s is larger than %I bytes", url,
                    (lua_Integer)q->max_body);
    lua_pushinteger(L, (lua_Integer)q->max_body);
    lua_setfield(L, -2, "limit");
  } else if (q->result == CURLE_OPERATION_TIMEDOUT) {
    tide_error_push(L, "timeout", "%s: %s", url, detail);
  } else if (q->result == CURLE_TOO_MANY_REDIRECTS) {
    tide_error_push(L, "too_many_redirects", "%s: %s", url, detail);
  } else if (q->result == CURLE_OUT_OF_MEMORY && q->paused && !q->oom) {
    /* curl keeps what arrives while nobody reads, up to a cap: a body that
     * decompresses faster than it is read (a compression bomb) hits it. */
    tide_error_push(L, "network",
                    "%s: the response body piled up faster than it was read "
                    "(more than libcurl keeps for a paused transfer; a "
                    "compression bomb?)",
                    url);
  } else if (q->oom || q->result == CURLE_OUT_OF_MEMORY) {
    tide_error_push(L, "network", "%s: not enough memory for the response", url);
  } else {
    tide_error_push(L, "network", "%s: %s", url, detail);
  }
  /* `code`: the system's name of the error curl met when it has one
   * ("ECONNREFUSED"), else curl's ("CURLE_OPERATION_TIMEDOUT");
   * `curl_code`: curl's number. curl keeps the last system error of a
   * reused handle or connection, so it is taken only for the failures a
   * system error causes (a TLS pin mismatch once came out as "EPIPE"). */
  if (request_os_error_result(q->result) && q->easy &&
      curl_easy_getinfo(q->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
      os_errno > 0)
    lua_pushstring(L, uv_err_name(-(int)os_errno));
  else if ((name = request_curl_name(q->result)) != NULL)
    lua_pushstring(L, name);
  else
    lua_pushfstring(L, "CURLE_%d", (int)q->result);
  lua_setfield(L, -2, "code");
  lua_pushinteger(L, (lua_Integer)q->result);
  lua_setfield(L, -2, "curl_code");
  lua_pushstring(L, curl_easy_strerror(q->result));
  lua_setfield(L, -2, "curl_message");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, http_easy_phase(q));
  lua_setfield(L, -2, "phase");
}

/* ---------------------------------------------------------------------------
 * Responses */

static const char *request_version_name(long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0:
    return "1.0";
  case CURL_HTTP_VERSION_1_1:
    return "1.1";
  case CURL_HTTP_VERSION_2_0:
    return "2";
  case CURL_HTTP_VERSION_3:
    return "3";
  default:
    return "?";
  }
}

/* Pushes the response object for q (without its body). Its headers and
 * timings are built by the Lua layer on first use, from `_raw` (the header
 * block of the final response) and `_t` (curl's times since the start, in
 * microseconds: name lookup, connect, TLS, first byte, total): most
 * callers never look at them, and tables cost. */
static void request_push_response(lua_State *L, http_req *q) {
  static const CURLINFO times[] = {CURLINFO_NAMELOOKUP_TIME_T, CURLINFO_CONNECT_TIME_T,
                                   CURLINFO_APPCONNECT_TIME_T,
                                   CURLINFO_STARTTRANSFER_TIME_T, CURLINFO_TOTAL_TIME_T};
  long status = 0, version = 0;
  const char *url = NULL;
  curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(q->easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(q->easy, CURLINFO_EFFECTIVE_URL, &url);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  lua_pushstring(L, url ? url : "");
  lua_setfield(L, -2, "url");
  lua_pushstring(L, request_version_name(version));
  lua_setfield(L, -2, "http_version");
  lua_pushlstring(L, q->head.data ? q->head.data : "", q->head.len);
  lua_setfield(L, -2, "_raw");
  lua_createtable(L, 5, 0);
  for (int i = 0; i < 5; i++) {
    curl_off_t us = 0;
    curl_easy_getinfo(q->easy, times[i], &us);
    lua_pushinteger(L, (lua_Integer)us);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "_t");
  lua_rawgeti(L, LUA_REGISTRYINDEX, http_state_of(q->ctx)->response_mt);
  lua_setmetatable(L, -2);
}

/* The response class's __index (upvalue 1: its methods): a method, else a
 * field built on first use (headers, timings: most callers never look) by
 * the Lua layer's loader, the method `_load(res, k)` it adds through
 * core.interpose. */
static int response_index(lua_State *L) {
  int ok = lua_getmetatable(L, 1);
  luaL_getmetatable(L, HTTP_RESPONSE_MT);
  if (!ok || !lua_rawequal(L, -1, -2)) return luaL_typeerror(L, 1, HTTP_RESPONSE_MT);
  lua_settop(L, 2);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  if (lua_getfield(L, lua_upvalueindex(1), "_load") != LUA_TFUNCTION) return 0;
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

void http_response_open(lua_State *L, tide_ctx *ctx) {
  tide_class_new(L, ctx, HTTP_RESPONSE_MT, NULL, NULL, NULL);
  /* __index: the methods table stays where core.interpose adds methods
   * (__methods), behind a function that also builds the lazy fields. */
  lua_getfield(L, -1, "__index");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");
  lua_pushcclosure(L, response_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -1);
  http_state_of(ctx)->response_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "http_response_mt");
}

/* ---------------------------------------------------------------------------
 * The request's Lua values */

int http_request_push_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k) {
  tide_push_anchored(L, ctx, q->lua_ref);
  if (!k) return LUA_TTABLE;
  lua_getfield(L, -1, k);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

void http_request_clear_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k) {
  tide_push_anchored(L, ctx, q->lua_ref);
  lua_pushnil(L);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * Life cycle */

void http_request_notify(http_req *q) { tide_io_done(q->ctx, &REQUEST_BOX(q)->io); }

/* Frees q: its state is DEAD and the driver does not hold it. */
static void request_release(http_req *q) {
  tide_ctx *ctx = q->ctx;
  http_multi_remove(q, HTTP_REQ_STOPPED);
  http_multi_unlink(q);
  http_easy_release(q);
  ctx->alloc(ctx->alloc_ud, REQUEST_BOX(q), sizeof(request_box), 0);
}

/* The upload's feeder task hears that nothing more is sent: a write that
 * waits for room gets false; a feeder busy elsewhere (in the body function
 * it pulls from) is cancelled, so that it does not outlive its request. */
static void request_stop_feeder(lua_State *L, tide_ctx *ctx, http_req *q) {
  int top = lua_gettop(L);
  if (!q->uploading) return;
  if (http_request_push_lua(L, ctx, q, "write") == LUA_TUSERDATA) {
    lua_settop(L, top);
    http_request_settle_write(L, ctx, q, 0);
    return;
  }
  lua_settop(L, top);
  if (!q->upload_eof && http_request_push_lua(L, ctx, q, "feeder") == LUA_TUSERDATA) {
    http_request_clear_lua(L, ctx, q, "feeder");
    tide_error_push(L, "cancelled", "the request this upload was for has ended");
    tide_cancel(L, ctx, top + 1, top + 2);
  }
  lua_settop(L, top);
}

static int request_held(const http_req *q) { return q->pending != 0 || q->held; }

void http_request_free(lua_State *L, tide_ctx *ctx, http_req *q) {
  if (q->state == HTTP_REQ_DEAD) return;
  http_multi_remove(q, HTTP_REQ_STOPPED);
  if (!ctx->closed && q->lua_ref != LUA_NOREF) request_stop_feeder(L, ctx, q);
  tide_unanchor(L, ctx, q->lua_ref);
  q->lua_ref = LUA_NOREF;
  q->state = HTTP_REQ_DEAD;
  if (!request_held(q)) request_release(q);
}

void http_request_orphan(http_req *q) {
  if (q->state == HTTP_REQ_ACTIVE) {
    /* Stopped mid-transfer: a reader of its body hears why. */
    http_multi_remove(q, HTTP_REQ_STOPPED);
    q->result = CURLE_RECV_ERROR;
    snprintf(q->errbuf, sizeof q->errbuf,
             "the HTTP client was closed during the transfer");
  }
  http_multi_unlink(q);
  q->pool = NULL;
  /* Its easy handle stays (the response may still be read from it), but
   * must no longer tell the pool about sockets. */
  if (q->easy) curl_easy_setopt(q->easy, CURLOPT_CLOSESOCKETDATA, NULL);
  if (!q->op && !q->transfer) {
    q->state = HTTP_REQ_DEAD;
    if (!request_held(q)) request_release(q);
  }
}

/* The state is closing: frees q without Lua (its Lua values go with the
 * state). */
static void request_discard(tide_ctx *ctx, tide_io *io) {
  http_req *q = REQUEST_OF_IO(io);
  (void)ctx;
  q->pending = 0;
  q->held = 0;
  request_release(q); /* out of the multi first, if still in it */
}

/* ---------------------------------------------------------------------------
 * Waits on a request: reads of a streamed body, upload writes */

int http_request_satisfy_read(lua_State *L, tide_ctx *ctx, int w, http_req *q) {
  http_wait *op = lua_touserdata(L, w);
  tide_chunk *c = http_easy_shift(q);
  if (c) {
    lua_pushlstring(L, c->data, c->len);
    tide_chunks_recycle(&q->chunks, c, q->alloc, q->alloc_ud);
    tide_op_done(L, ctx, &op->base.op);
    tide_settle(L, ctx, w, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
    return 1;
  }
  if (q->state == HTTP_REQ_DONE || q->state == HTTP_REQ_STOPPED) {
    tide_op_done(L, ctx, &op->base.op);
    if (q->result == CURLE_OK) {
      lua_pushnil(L);
      tide_settle(L, ctx, w, TIDE_FULFILLED, -1);
    } else {
      request_push_error(L, q);
      tide_settle(L, ctx, w, TIDE_REJECTED, -1);
    }
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

void http_request_settle_write(lua_State *L, tide_ctx *ctx, http_req *q, int more) {
  if (http_request_push_lua(L, ctx, q, "write") == LUA_TUSERDATA) {
    http_wait *w = lua_touserdata(L, -1);
    http_request_clear_lua(L, ctx, q, "write");
    tide_op_done(L, ctx, &w->base.op);
    lua_pushboolean(L, more);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
  }
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * The driver's side */

static void request_report_progress(lua_State *L, tide_ctx *ctx, http_req *q) {
  if (http_request_push_lua(L, ctx, q, "on_progress") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)q->dl_now);
  lua_pushinteger(L, (lua_Integer)q->dl_total);
  lua_pushinteger(L, (lua_Integer)q->ul_now);
  lua_pushinteger(L, (lua_Integer)q->ul_total);
  tide_call_cb(L, ctx, 4);
}

/* Settles the request's own promise (at p): with the response once the
 * headers are in (streamed) or the transfer is done (buffered). */
/* Pushes a new transfer object owning q (its body is read through it);
 * the pool userdata is on top. */
static void request_push_transfer(lua_State *L, http_req *q) {
  http_transfer *t = lua_newuserdatauv(L, sizeof *t, 1);
  t->req = q;
  q->transfer = t;
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, HTTP_TRANSFER_POOL);
  luaL_setmetatable(L, HTTP_TRANSFER_MT);
}

static void request_settle_op(lua_State *L, tide_ctx *ctx, http_req *q, int p) {
  http_op *op = q->op;
  if (q->state == HTTP_REQ_DONE &&
      (q->result != CURLE_OK || !q->stream || !q->headers_in)) {
    int ok;
    /* output =: not before the last bytes are in the file (a failed
     * transfer too: it leaves what arrived). */
    if (!http_file_settled(q)) return;
    ok = q->result == CURLE_OK && !http_file_failed(q);
    op->req = NULL;
    q->op = NULL;
    tide_op_done(L, ctx, &op->base.op);
    if (ok) {
      request_push_response(L, q);
      if (q->to_file) {
        lua_pushinteger(L, (lua_Integer)http_file_written(q));
        lua_setfield(L, -2, "bytes");
      } else {
        lua_pushlstring(L, q->body.data ? q->body.data : "", q->body.len);
        lua_setfield(L, -2, "body");
      }
    } else {
      request_push_error(L, q);
    }
    /* The files are closed before anyone hears of the outcome. */
    http_file_release(q);
    /* Done with q before the waiting task runs (it may run at once). */
    http_request_free(L, ctx, q);
    if (ok)
      tide_settle_direct(L, ctx, p, TIDE_FULFILLED, -1);
    else
      tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    return;
  }
  if (q->stream && q->headers_in) {
    /* Streamed: the transfer goes on, owned by a tide.http.transfer. */
    op->req = NULL;
    q->op = NULL;
    tide_op_done(L, ctx, &op->base.op);
    request_push_response(L, q);
    lua_getiuservalue(L, p, HTTP_OP_POOL);
    request_push_transfer(L, q);
    lua_setfield(L, -3, "_transfer");
    lua_pop(L, 1);
    tide_settle(L, ctx, p, TIDE_FULFILLED, -1);
  }
}

static void request_complete(lua_State *L, tide_ctx *ctx, tide_io *io) {
  http_req *q = REQUEST_OF_IO(io);
  unsigned ev = q->pending;
  int top = lua_gettop(L);
  q->pending = 0;
  /* Lua code runs below and may give q up: it stays until `out`. */
  q->held = 1;
  if (q->state == HTTP_REQ_DEAD) goto out;
  if (q->state == HTTP_REQ_DONE) http_request_settle_write(L, ctx, q, 0);
  if (ev & HTTP_EV_PROGRESS) {
    request_report_progress(L, ctx, q);
    if (q->state == HTTP_REQ_DEAD) goto out;
  }
  if (q->op && (ev & (HTTP_EV_HEADERS | HTTP_EV_DONE))) {
    tide_push_anchored(L, ctx, q->op->base.op.ref);
    request_settle_op(L, ctx, q, lua_gettop(L));
    lua_settop(L, top);
    if (q->state == HTTP_REQ_DEAD) goto out;
  }
  if (q->transfer && (ev & (HTTP_EV_DATA | HTTP_EV_DONE))) {
    if (http_request_push_lua(L, ctx, q, "read") == LUA_TUSERDATA) {
      if (http_request_satisfy_read(L, ctx, lua_gettop(L), q))
        http_request_clear_lua(L, ctx, q, "read");
    }
    lua_settop(L, top);
    if (q->state == HTTP_REQ_DEAD) goto out;
  }
  if ((ev & HTTP_EV_ROOM) && http_easy_upload_room(q))
    http_request_settle_write(L, ctx, q, q->state != HTTP_REQ_DONE);
out:
  lua_settop(L, top);
  q->held = 0;
  if (q->state == HTTP_REQ_DEAD && !request_held(q)) request_release(q);
}

/* ---------------------------------------------------------------------------
 * The request's promise */

static void request_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  http_op *op = lua_touserdata(L, p);
  http_req *q = op->req;
  tide_op_done(L, ctx, &op->base.op);
  if (q) {
    op->req = NULL;
    q->op = NULL;
    http_request_free(L, ctx, q); /* removes the transfer: its connection closes */
  }
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

/* tide.handles: the request's method and URL, without its credentials. */
static void request_describe(lua_State *L, tide_ctx *ctx, int p, int e) {
  http_op *op = lua_touserdata(L, p);
  size_t len, cap;
  char *buf;
  if (!op->req) return;
  if (http_request_push_lua(L, ctx, op->req, "method") == LUA_TSTRING)
    lua_setfield(L, e, "method");
  else
    lua_pop(L, 1);
  if (http_request_push_lua(L, ctx, op->req, "url") != LUA_TSTRING) {
    lua_pop(L, 1);
    return;
  }
  /* A Lua buffer: nothing leaks if pushing the result raises. Room for
   * what libcurl adds (a "/" for an empty path) and short secret values
   * that become "REDACTED". */
  cap = lua_rawlen(L, -1) * 2 + 32;
  buf = lua_newuserdatauv(L, cap, 0);
  len = http_url_redacted(lua_tostring(L, -2), buf, cap);
  /* Unparsable (it was checked at the call: out of memory, then): no URL
   * rather than one that may show a password. */
  if (len) {
    lua_pushlstring(L, buf, len);
    lua_setfield(L, e, "url");
  }
  lua_pop(L, 2);
}

const tide_op_class http_request_class = {"http", request_cancel, request_describe, 1};

int http_request_of(lua_State *L, tide_ctx *ctx, int idx, http_req **q) {
  tide_promise *p = tide_topromise(L, ctx, idx);
  *q = NULL;
  if (p && p->kind == TIDE_K_OP && tide_promise_op(p)->cls == &http_request_class) {
    *q = ((http_op *)p)->req;
    return 1;
  }
  if (luaL_testudata(L, idx, HTTP_TRANSFER_MT)) {
    *q = ((http_transfer *)lua_touserdata(L, idx))->req;
    return 1;
  }
  return 0;
}

static int request_configure(lua_State *L) {
  http_options_configure(L, lua_touserdata(L, 1), 2);
  return 0;
}

http_req *http_request_new(lua_State *L, tide_ctx *ctx, http_pool *p, int spec) {
  request_box *box = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *box);
  http_req *q;
  if (!box) luaL_error(L, "not enough memory");
  memset(box, 0, sizeof *box);
  box->io.complete = request_complete;
  box->io.discard = request_discard;
  q = &box->q;
  q->ctx = ctx;
  q->alloc = ctx->alloc;
  q->alloc_ud = ctx->alloc_ud;
  q->loop = &ctx->loop;
  q->notify = http_request_notify;
  q->state = HTTP_REQ_NEW;
  q->result = CURLE_FAILED_INIT;
  q->lua_ref = LUA_NOREF;
  http_multi_link(p, q);
  /* The spec table doubles as the request's Lua values (body, callbacks). */
  lua_pushvalue(L, spec);
  q->lua_ref = tide_anchor(L, ctx);
  q->easy = p->nspare ? p->spare[--p->nspare] : curl_easy_init();
  if (!q->easy) {
    http_request_free(L, ctx, q);
    luaL_error(L, "libcurl could not create a transfer");
  }
  /* configure raises on a malformed spec: free q before passing the error
   * on. */
  lua_pushcfunction(L, request_configure);
  lua_pushlightuserdata(L, q);
  lua_pushvalue(L, spec);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    http_request_free(L, ctx, q);
    lua_error(L);
  }
  return q;
}
