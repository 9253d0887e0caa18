/* http.c -- HTTP through libcurl's multi interface, driven by the tide loop.
 *
 * A client owns one CURLM (its connection pool). libcurl tells us which
 * sockets to watch (a uv_poll_t each) and when to time out (one uv_timer_t;
 * "now" becomes a one-shot idle handle, because a 0 ms timer re-armed from
 * its own callback would run again in the same loop iteration). Those
 * callbacks are C only: they call curl_multi_socket_action, curl calls our
 * write/header/progress callbacks, which fill C buffers, and a transfer
 * with news for Lua (headers, data, done, progress, room for upload data)
 * queues itself on the context's I/O list. The driver then settles the
 * promises (http_complete).
 *
 * Ownership: a buffered request is an operation (tide_op) whose promise
 * fulfils with the response, so cancelling its task, aborting its signal
 * or tide.timeout removes the transfer at once (the connection closes). A
 * streamed request hands its transfer to a tide.http.transfer userdata once
 * the headers are in; that object reads the body and stops the transfer
 * when it is closed or collected. The DNS cache and TLS sessions are
 * shared by all clients of a context (a CURLSH).
 *
 * The Lua layer (lua/tide/http.lua) checks and normalizes options into the
 * request spec read here, and wraps responses. */
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "tide.h"

#define CLIENT_MT "tide.http.client"
/* The most a Content-Length may make a buffered body reserve up front. */
#define BODY_RESERVE_MAX ((size_t)1 << 30)
/* The largest body buffer a client keeps for reuse. */
#define SPARE_BODY_MAX ((size_t)64 << 20)
#define TRANSFER_MT "tide.http.transfer"

/* Per-context HTTP state. */
typedef struct http_state {
  CURLSH *share;
  int response_mt; /* registry ref of the Lua layer's response metatable */
} http_state;

typedef struct http_req http_req;
typedef struct http_sock http_sock;

typedef struct http_client {
  tide_ctx *ctx;
  CURLM *multi;
  http_req *reqs;  /* every request of this client not yet freed */
  CURL *spare[32]; /* reset easy handles kept for the next requests */
  int nspare;
  http_sock **socks; /* watched sockets by descriptor (see http_sock) */
  size_t nsocks;
  tide_buf spare_body; /* the last large body buffer, for the next request:
                          fresh pages cost a page fault each */
  uv_timer_t *timer;   /* curl's timeout (malloc'ed: freed in its close cb) */
  uv_idle_t *kick;     /* curl's "time out now": one loop turn later */
  int transfers;       /* easy handles in the multi */
  int closed;
} http_client;

/* Events a transfer has for Lua (pending bits). */
enum { EV_HEADERS = 1, EV_DATA = 2, EV_DONE = 4, EV_PROGRESS = 8, EV_ROOM = 16 };

typedef struct http_op http_op;
typedef struct http_transfer http_transfer;

struct http_req {
  tide_io io;
  tide_ctx *ctx;
  http_client *client;   /* NULL once the client closed under it */
  http_req *prev, *next; /* in the client's list */
  CURL *easy;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  int lua_ref;             /* anchors a table of Lua values curl uses (body, ...) */
  http_op *op;             /* the request's promise while it is pending */
  http_transfer *transfer; /* streamed: its Lua owner once the headers are in */
  unsigned pending;        /* EV_* bits waiting for the driver */
  uint8_t queued;          /* on the context's I/O list */
  uint8_t in_multi;        /* added to the client's multi */
  uint8_t done;            /* curl finished it (result below) */
  uint8_t stream;          /* body read through a transfer, with back-pressure */
  uint8_t paused;          /* the body is paused because nobody reads */
  uint8_t headers_in;      /* the final response's headers are complete */
  uint8_t too_large;       /* stopped for exceeding max_body_size */
  uint8_t dead;            /* freed as soon as the driver reaches it */
  uint8_t completing;      /* in http_complete, which may run Lua code */
  uint8_t follow;
  uint8_t decompress;
  long buffer_size;
  CURLcode result;
  tide_buf head;      /* header lines of the latest response */
  tide_buf body;      /* buffered body */
  tide_chunks chunks; /* streamed body not read yet */
  size_t received, max_body, high_water;
  /* streaming upload */
  uint8_t uploading, upload_eof, upload_paused;
  tide_chunks upload;
  size_t upload_high;
  /* progress, as last reported by curl */
  curl_off_t dl_now, dl_total, ul_now, ul_total;
  uint64_t progress_at;
};

struct http_op {
  tide_op_promise base; /* UV 2: the client userdata */
  http_req *req;        /* NULL once settled or cancelled */
};

struct http_transfer {
  http_req *req; /* NULL once closed; UV 1: the client userdata */
};

/* A read or an upload write waiting on a streamed transfer. */
typedef struct wait_op {
  tide_op_promise base; /* UV 2: the transfer userdata */
  int is_write;
} wait_op;

#define REQ_OF_IO(i) ((http_req *)((char *)(i)-offsetof(http_req, io)))

static http_state *state_of(tide_ctx *ctx) { return ctx->http; }

/* ---------------------------------------------------------------------------
 * Errors */

/* The phase a failed transfer was in, for `err.phase`: "dns", "connect",
 * "tls", "send", "first_byte", "receive", "redirect" or "request". A
 * timeout says where it struck, from how far the transfer got. */
static const char *phase_of(http_req *q) {
  curl_off_t conn = 0, tls = 0, first = 0;
  char *scheme = NULL;
  if (!q->easy) return "receive";
  switch (q->result) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return "dns";
  case CURLE_COULDNT_CONNECT:
    return "connect";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
    return "tls";
  case CURLE_SEND_ERROR:
  case CURLE_READ_ERROR:
    return "send";
  case CURLE_TOO_MANY_REDIRECTS:
    return "redirect";
  case CURLE_URL_MALFORMAT:
    return "request";
  case CURLE_UNSUPPORTED_PROTOCOL: {
    /* A refused scheme (nothing sent), or an answer curl cannot parse. */
    long sent = 0;
    curl_easy_getinfo(q->easy, CURLINFO_REQUEST_SIZE, &sent);
    return sent > 0 ? "receive" : "request";
  }
  case CURLE_OPERATION_TIMEDOUT:
    curl_easy_getinfo(q->easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(q->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
    curl_easy_getinfo(q->easy, CURLINFO_STARTTRANSFER_TIME_T, &first);
    curl_easy_getinfo(q->easy, CURLINFO_SCHEME, &scheme);
    if (conn == 0) return "connect";
    if (scheme && strcmp(scheme, "HTTPS") == 0 && tls == 0) return "tls";
    return first == 0 ? "first_byte" : "receive";
  default:
    return "receive";
  }
}

/* Pushes the error a failed transfer rejects with. */
static void push_http_error(lua_State *L, http_req *q) {
  const char *url = NULL;
  const char *detail = q->errbuf[0] ? q->errbuf : curl_easy_strerror(q->result);
  if (q->easy) curl_easy_getinfo(q->easy, CURLINFO_EFFECTIVE_URL, &url);
  if (!url) url = "?";
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
  } else {
    tide_error_push(L, "network", "%s: %s", url, detail);
  }
  lua_pushinteger(L, (lua_Integer)q->result);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, curl_easy_strerror(q->result));
  lua_setfield(L, -2, "curl_message");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, phase_of(q));
  lua_setfield(L, -2, "phase");
}

/* ---------------------------------------------------------------------------
 * Responses */

static const char *version_name(long v) {
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
static void push_response(lua_State *L, http_req *q) {
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
  lua_pushstring(L, version_name(version));
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
  lua_rawgeti(L, LUA_REGISTRYINDEX, state_of(q->ctx)->response_mt);
  lua_setmetatable(L, -2);
}

/* ---------------------------------------------------------------------------
 * Requests: life cycle */

static void post(http_req *q, unsigned ev) {
  q->pending |= ev;
  if (!q->queued) {
    q->queued = 1;
    tide_io_done(q->ctx, &q->io);
  }
}

static void detach_from_multi(http_req *q) {
  if (q->in_multi && q->client) {
    /* Mid-transfer this closes the connection: nothing else may use it. */
    curl_multi_remove_handle(q->client->multi, q->easy);
    q->in_multi = 0;
    q->client->transfers--;
  }
}

static void unlink_req(http_req *q) {
  if (!q->client) return;
  if (q->prev)
    q->prev->next = q->next;
  else
    q->client->reqs = q->next;
  if (q->next) q->next->prev = q->prev;
  q->prev = q->next = NULL;
}

static void req_release(tide_ctx *ctx, http_req *q) {
  detach_from_multi(q);
  if (q->easy) {
    /* A reset handle is cheaper to reuse than a new one is to make; only
     * one whose transfer went well (after some failures curl keeps state
     * that a reset does not clear, and setup then fails). */
    if (q->client && !q->client->closed && q->done && q->result == CURLE_OK &&
        q->client->nspare < (int)(sizeof q->client->spare / sizeof q->client->spare[0])) {
      curl_easy_reset(q->easy);
      q->client->spare[q->client->nspare++] = q->easy;
    } else {
      curl_easy_cleanup(q->easy);
    }
  }
  unlink_req(q);
  curl_slist_free_all(q->headers);
  tide_buf_free(&q->head, ctx->alloc, ctx->alloc_ud);
  if (q->client && !q->client->closed && q->body.cap > q->client->spare_body.cap &&
      q->body.cap <= SPARE_BODY_MAX) {
    tide_buf_free(&q->client->spare_body, ctx->alloc, ctx->alloc_ud);
    q->client->spare_body = q->body;
    q->client->spare_body.len = 0;
    q->body.data = NULL;
  }
  tide_buf_free(&q->body, ctx->alloc, ctx->alloc_ud);
  tide_chunks_clear(&q->chunks, ctx->alloc, ctx->alloc_ud);
  tide_chunks_clear(&q->upload, ctx->alloc, ctx->alloc_ud);
  ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
}

/* Whether q may not be freed right now: it is on the I/O list, or its
 * completion is running (and may free it through Lua code it calls). */
static int req_busy(const http_req *q) { return q->queued || q->completing; }

static void settle_write(lua_State *L, tide_ctx *ctx, http_req *q, int more);

/* Frees q now, or once the driver is done with it. */
static void req_free(lua_State *L, tide_ctx *ctx, http_req *q) {
  detach_from_multi(q);
  /* An upload feeder waiting for room hears that nothing more is sent. */
  if (!ctx->closed && q->lua_ref != LUA_NOREF) settle_write(L, ctx, q, 0);
  tide_unanchor(L, ctx, q->lua_ref);
  q->lua_ref = LUA_NOREF;
  if (req_busy(q))
    q->dead = 1;
  else
    req_release(ctx, q);
}

static void req_discard(tide_ctx *ctx, tide_io *io) { req_release(ctx, REQ_OF_IO(io)); }

/* ---------------------------------------------------------------------------
 * curl callbacks (C only: no Lua here) */

static size_t header_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) q->head.len = 0; /* a new response */
  if (tide_buf_append(&q->head, p, len, q->ctx->alloc, q->ctx->alloc_ud) != 0) return 0;
  if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
    /* End of a response's headers: the final one unless curl follows it or
     * it is informational (100 Continue). */
    long status = 0;
    char *redirect = NULL;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(q->easy, CURLINFO_REDIRECT_URL, &redirect);
    if (status >= 200 && !(q->follow && status / 100 == 3 && redirect)) {
      curl_off_t length = -1;
      q->headers_in = 1;
      if (q->stream) post(q, EV_HEADERS);
      /* A buffered body of known length gets its room at once, instead of
       * growing through copies into fresh pages. */
      curl_easy_getinfo(q->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      if (!q->stream && length > 0 && (size_t)length <= BODY_RESERVE_MAX &&
          (!q->max_body || (size_t)length <= q->max_body)) {
        http_client *c = q->client;
        if (!q->body.data && c && c->spare_body.cap >= (size_t)length) {
          q->body = c->spare_body;
          c->spare_body.data = NULL;
          c->spare_body.cap = 0;
        }
        tide_buf_reserve(&q->body, (size_t)length, q->ctx->alloc, q->ctx->alloc_ud);
      }
    }
  }
  return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t len = size * n;
  tide_ctx *ctx = q->ctx;
  if (q->max_body && q->received + len > q->max_body) {
    q->too_large = 1;
    return 0; /* stops the transfer */
  }
  if (q->stream) {
    if (q->chunks.bytes >= q->high_water) {
      /* Back-pressure: curl keeps this data and asks again when resumed. */
      q->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (tide_chunks_push(&q->chunks, p, len, ctx->alloc, ctx->alloc_ud) != 0) return 0;
    post(q, EV_DATA);
  } else if (tide_buf_append(&q->body, p, len, ctx->alloc, ctx->alloc_ud) != 0) {
    return 0;
  }
  q->received += len;
  return len;
}

/* Streaming upload: hands curl what the Lua feeder wrote. */
static size_t read_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t room = size * n, done = 0;
  tide_chunk *c;
  while (done < room && (c = q->upload.head) != NULL) {
    size_t take = c->len < room - done ? c->len : room - done;
    memcpy(p + done, c->data, take);
    done += take;
    if (take == c->len) {
      tide_chunk_free(tide_chunks_shift(&q->upload), q->ctx->alloc, q->ctx->alloc_ud);
    } else {
      memmove(c->data, c->data + take, c->len - take);
      c->len -= take;
      q->upload.bytes -= take;
    }
  }
  if (done > 0) {
    if (q->upload.bytes < q->upload_high) post(q, EV_ROOM);
    return done;
  }
  if (q->upload_eof) return 0;
  q->upload_paused = 1;
  post(q, EV_ROOM);
  return CURL_READFUNC_PAUSE;
}

static int progress_cb(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
                       curl_off_t uln) {
  http_req *q = ud;
  if (dln != q->dl_now || dlt != q->dl_total || uln != q->ul_now || ult != q->ul_total) {
    uint64_t now = uv_now(&q->ctx->loop);
    q->dl_now = dln;
    q->dl_total = dlt;
    q->ul_now = uln;
    q->ul_total = ult;
    /* At most ten reports a second; the last one comes with the end. */
    if (now - q->progress_at >= 100) {
      q->progress_at = now;
      post(q, EV_PROGRESS);
    }
  }
  return 0;
}

/* Takes finished transfers from curl. */
static void check_done(http_client *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
    http_req *q = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
    q->result = msg->data.result;
    q->done = 1;
    post(q, EV_DONE | EV_PROGRESS);
  }
}

/* A socket libcurl asked us to watch. It lives until curl closes the
 * socket (closesocket_cb), not just until curl stops watching it: curl 7.88
 * drops an idle keep-alive connection from the watch list after every
 * transfer and adds it back for the next, and re-creating the poll handle
 * each time cost ~7 system calls per request. */
struct http_sock {
  uv_poll_t poll;
  http_client *client;
  curl_socket_t fd;
};

static void sock_close_cb(uv_handle_t *h) {
  tide_ctx *ctx = h->loop->data;
  ctx->alloc(ctx->alloc_ud, h, sizeof(http_sock), 0);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
  http_sock *s = (http_sock *)h;
  http_client *c = s->client;
  int running, flags = 0;
  /* On an error (POLLERR/POLLHUP) let curl read and write the socket: it
   * then finds the real cause (a reset, ...) and reports that. */
  if (status < 0) flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(c->multi, s->fd, flags, &running);
  check_done(c);
}

/* The client's sockets by descriptor (socks[fd]), kept across curl's
 * remove/add cycles. */
static http_sock *sock_of(http_client *c, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < c->nsocks ? c->socks[fd] : NULL;
}

static int sock_put(http_client *c, curl_socket_t fd, http_sock *s) {
  tide_ctx *ctx = c->ctx;
  if ((size_t)fd >= c->nsocks) {
    size_t n = c->nsocks ? c->nsocks : 64;
    http_sock **socks;
    while (n <= (size_t)fd)
      n *= 2;
    socks =
        ctx->alloc(ctx->alloc_ud, c->socks, c->nsocks * sizeof *socks, n * sizeof *socks);
    if (!socks) return -1;
    memset(socks + c->nsocks, 0, (n - c->nsocks) * sizeof *socks);
    c->socks = socks;
    c->nsocks = n;
  }
  c->socks[fd] = s;
  return 0;
}

static void sock_drop(http_client *c, http_sock *s) {
  c->socks[s->fd] = NULL;
  uv_close((uv_handle_t *)&s->poll, sock_close_cb);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp) {
  http_client *c = userp;
  http_sock *s = sockp ? sockp : sock_of(c, fd);
  tide_ctx *ctx = c->ctx;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    /* Stop watching, keep the handle: curl may add the socket back. */
    if (s) uv_poll_stop(&s->poll);
    return 0;
  }
  if (!s) {
    s = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *s);
    if (!s) return -1;
    if (uv_poll_init_socket(&ctx->loop, &s->poll, fd) != 0) {
      ctx->alloc(ctx->alloc_ud, s, sizeof *s, 0);
      return -1;
    }
    s->client = c;
    s->fd = fd;
    if (sock_put(c, fd, s) != 0) {
      uv_close((uv_handle_t *)&s->poll, sock_close_cb);
      return -1;
    }
  }
  curl_multi_assign(c->multi, fd, s);
  uv_poll_start(&s->poll,
                ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
                    ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0),
                poll_cb);
  return 0;
}

/* curl closes a socket: let go of its poll handle first (libuv must not
 * watch a closed descriptor). */
static int closesocket_cb(void *clientp, curl_socket_t fd) {
  http_client *c = clientp;
  http_sock *s = sock_of(c, fd);
  if (s) {
    uv_poll_stop(&s->poll);
    sock_drop(c, s);
  }
  return close(fd);
}

static void on_timeout(http_client *c) {
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(c);
}

static void timer_cb(uv_timer_t *h) { on_timeout(h->data); }

static void kick_cb(uv_idle_t *h) {
  uv_idle_stop(h);
  on_timeout(h->data);
}

static int timer_fn(CURLM *m, long ms, void *userp) {
  http_client *c = userp;
  (void)m;
  if (ms < 0) {
    uv_timer_stop(c->timer);
    uv_idle_stop(c->kick);
  } else if (ms == 0) {
    /* Not a 0 ms timer: from a timer callback it would run again in the
     * same iteration, before any I/O. The idle phase comes next instead. */
    uv_timer_stop(c->timer);
    uv_idle_start(c->kick, kick_cb);
  } else {
    uv_idle_stop(c->kick);
    uv_timer_start(c->timer, timer_cb, (uint64_t)ms, 0);
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * The driver's side: settle what waits on a transfer */

/* Pushes the body so far (streamed: what is queued, up to max bytes) as one
 * string, and resumes a paused transfer once enough was read. Returns 0 if
 * nothing is queued. */
/* Pushes the next piece of a streamed body (one chunk as curl delivered it,
 * copied once into a Lua string) and resumes a paused transfer once enough
 * was read. Returns 0 if nothing is queued. */
static int take_chunk(lua_State *L, http_req *q) {
  tide_ctx *ctx = q->ctx;
  tide_chunk *c = tide_chunks_shift(&q->chunks);
  if (!c) return 0;
  lua_pushlstring(L, c->data, c->len);
  tide_chunk_free(c, ctx->alloc, ctx->alloc_ud);
  if (q->paused && q->chunks.bytes < q->high_water / 2 && q->in_multi) {
    q->paused = 0;
    /* May call write_cb at once with the data curl held back. */
    curl_easy_pause(q->easy, CURLPAUSE_CONT);
  }
  return 1;
}

/* Settles the wait op at w (a read) with what the transfer has. Returns 1
 * if it did. */
static int satisfy_read(lua_State *L, tide_ctx *ctx, int w, http_req *q) {
  wait_op *op = lua_touserdata(L, w);
  if (take_chunk(L, q)) {
    tide_op_done(L, ctx, &op->base.op);
    tide_settle(L, ctx, w, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
    return 1;
  }
  if (q->done) {
    tide_op_done(L, ctx, &op->base.op);
    if (q->result == CURLE_OK) {
      lua_pushnil(L);
      tide_settle(L, ctx, w, TIDE_FULFILLED, -1);
    } else {
      push_http_error(L, q);
      tide_settle(L, ctx, w, TIDE_REJECTED, -1);
    }
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* Pushes the Lua table of the request's values (field k of it, if k). */
static int push_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k) {
  tide_push_anchored(L, ctx, q->lua_ref);
  if (!k) return LUA_TTABLE;
  lua_getfield(L, -1, k);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

static void clear_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k) {
  tide_push_anchored(L, ctx, q->lua_ref);
  lua_pushnil(L);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
}

/* Fulfils the upload write waiting for room, if any, with `more`: true
 * while the request takes data, false once it finished or was stopped. */
static void settle_write(lua_State *L, tide_ctx *ctx, http_req *q, int more) {
  if (push_lua(L, ctx, q, "write") == LUA_TUSERDATA) {
    wait_op *w = lua_touserdata(L, -1);
    clear_lua(L, ctx, q, "write");
    tide_op_done(L, ctx, &w->base.op);
    lua_pushboolean(L, more);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
  }
  lua_pop(L, 1);
}

static void report_progress(lua_State *L, tide_ctx *ctx, http_req *q) {
  if (push_lua(L, ctx, q, "on_progress") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)q->dl_now);
  lua_pushinteger(L, (lua_Integer)q->dl_total);
  lua_pushinteger(L, (lua_Integer)q->ul_now);
  lua_pushinteger(L, (lua_Integer)q->ul_total);
  tide_call_cb(L, ctx, 4);
}

static void push_transfer(lua_State *L, tide_ctx *ctx, http_req *q);

static void http_complete(lua_State *L, tide_ctx *ctx, tide_io *io) {
  http_req *q = REQ_OF_IO(io);
  unsigned ev = q->pending;
  int top = lua_gettop(L);
  q->pending = 0;
  q->queued = 0;
  /* Lua code runs below (on_progress, a task resumed at once) and may close
   * this request's client or transfer: freeing it then waits for `out`. */
  q->completing = 1;
  if (q->dead) goto out;
  if (q->done) {
    detach_from_multi(q);
    settle_write(L, ctx, q, 0);
  }
  if (ev & EV_PROGRESS) {
    report_progress(L, ctx, q);
    if (q->dead) goto out;
  }

  if (q->op && (ev & (EV_HEADERS | EV_DONE))) {
    /* The request's own promise: fulfils with the response once the
     * headers are in (streamed) or the transfer is done (buffered). */
    http_op *op = q->op;
    int p;
    tide_push_anchored(L, ctx, op->base.op.ref);
    p = lua_gettop(L);
    if (q->done && (q->result != CURLE_OK || !q->stream || !q->headers_in)) {
      int ok = q->result == CURLE_OK;
      op->req = NULL;
      q->op = NULL;
      tide_op_done(L, ctx, &op->base.op);
      if (ok) {
        push_response(L, q);
        lua_pushlstring(L, q->body.data ? q->body.data : "", q->body.len);
        lua_setfield(L, -2, "body");
      } else {
        push_http_error(L, q);
      }
      /* Done with q before the waiting task runs (it may run at once). */
      req_free(L, ctx, q);
      if (ok)
        tide_settle_direct(L, ctx, p, TIDE_FULFILLED, -1);
      else
        tide_settle(L, ctx, p, TIDE_REJECTED, -1);
      goto out;
    }
    if (q->stream && q->headers_in) {
      /* Streamed: the transfer goes on, owned by a tide.http.transfer. */
      op->req = NULL;
      q->op = NULL;
      tide_op_done(L, ctx, &op->base.op);
      push_response(L, q);
      lua_getiuservalue(L, p, 2); /* the client */
      push_transfer(L, ctx, q);
      lua_setfield(L, -3, "_transfer");
      lua_pop(L, 1);
      tide_settle(L, ctx, p, TIDE_FULFILLED, -1);
    }
    lua_settop(L, top);
  }

  if (q->transfer && (ev & (EV_DATA | EV_DONE))) {
    if (push_lua(L, ctx, q, "read") == LUA_TUSERDATA) {
      if (satisfy_read(L, ctx, lua_gettop(L), q)) clear_lua(L, ctx, q, "read");
    }
    lua_settop(L, top);
  }
  if ((ev & EV_ROOM) && q->upload.bytes < q->upload_high)
    settle_write(L, ctx, q, !q->done);
out:
  lua_settop(L, top);
  q->completing = 0;
  if (q->dead) req_release(ctx, q);
}

/* ---------------------------------------------------------------------------
 * Starting a request */

/* The options of a request spec, by name; X(name, lua type). */
/* clang-format off */
#define HTTP_OPTIONS(X) \
  X(url, LUA_TSTRING) \
  X(method, LUA_TSTRING) \
  X(headers, LUA_TTABLE) \
  X(body, LUA_TSTRING) \
  X(upload, LUA_TBOOLEAN) \
  X(timeout, LUA_TNUMBER) \
  X(connect_timeout, LUA_TNUMBER) \
  X(follow, LUA_TBOOLEAN) \
  X(max_redirects, LUA_TNUMBER) \
  X(verify, LUA_TBOOLEAN) \
  X(ca_file, LUA_TSTRING) \
  X(proxy, LUA_TSTRING) \
  X(username, LUA_TSTRING) \
  X(password, LUA_TSTRING) \
  X(aws_sigv4, LUA_TSTRING) \
  X(http_version, LUA_TSTRING) \
  X(decompress, LUA_TBOOLEAN) \
  X(stream, LUA_TBOOLEAN) \
  X(max_body_size, LUA_TNUMBER) \
  X(buffer_size, LUA_TNUMBER) \
  X(on_progress, LUA_TFUNCTION)
/* clang-format on */

#define AS_ENUM(name, type) OPT_##name,
#define AS_NAME(name, type) #name,
#define AS_TYPE(name, type) type,
enum { HTTP_OPTIONS(AS_ENUM) OPT_COUNT };
static const char *const opt_names[] = {HTTP_OPTIONS(AS_NAME)};
static const int opt_types[] = {HTTP_OPTIONS(AS_TYPE)};

static int opt_index(const char *k) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (strcmp(k, opt_names[i]) == 0) return i;
  return -1;
}

/* Seconds to curl's milliseconds: at least 1, and no more than INT_MAX
 * (about 25 days: "forever"), so a huge value cannot overflow. */
static long ms_of(double s) {
  double ms = s * 1000 + 0.5;
  if (!(ms >= 1)) return 1;
  return ms > (double)INT_MAX ? (long)INT_MAX : (long)ms;
}

/* A count from Lua, clamped to [lo, hi] (NaN gives lo). */
static long clamp_long(double n, long lo, long hi) {
  if (!(n >= (double)lo)) return lo;
  return n > (double)hi ? hi : (long)n;
}

#define SETOPT(e, o, v)                                                                  \
  do {                                                                                   \
    if (curl_easy_setopt((e), (o), (v)) != CURLE_OK)                                     \
      luaL_error(L, "libcurl refused option %s", #o);                                    \
  } while (0)

/* Applies one option of the spec (key at -2, value at -1). */
static void apply(lua_State *L, http_req *q, int opt) {
  CURL *e = q->easy;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  double n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  int b = lua_toboolean(L, -1);
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
  case OPT_headers: {
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= len; i++) {
      struct curl_slist *l;
      lua_rawgeti(L, -1, i);
      l = curl_slist_append(q->headers, lua_tostring(L, -1));
      lua_pop(L, 1);
      if (!l) luaL_error(L, "not enough memory");
      q->headers = l;
    }
    SETOPT(e, CURLOPT_HTTPHEADER, q->headers);
    break;
  }
  case OPT_body: {
    size_t len;
    const char *body = lua_tolstring(L, -1, &len);
    /* Not copied: the spec (anchored with the request) keeps the string. */
    SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(e, CURLOPT_POSTFIELDS, body);
    break;
  }
  case OPT_upload:
    if (b) {
      q->uploading = 1;
      q->upload_high = 256 * 1024;
      SETOPT(e, CURLOPT_POST, 1L);
      SETOPT(e, CURLOPT_READFUNCTION, read_cb);
      SETOPT(e, CURLOPT_READDATA, q);
    }
    break;
  case OPT_timeout:
    if (n > 0) SETOPT(e, CURLOPT_TIMEOUT_MS, ms_of(n));
    break;
  case OPT_connect_timeout:
    if (n > 0) SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, ms_of(n));
    break;
  case OPT_follow:
    q->follow = (uint8_t)b;
    break;
  case OPT_max_redirects:
    SETOPT(e, CURLOPT_MAXREDIRS, clamp_long(n, 0, 1000));
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
    q->buffer_size = clamp_long(n, 1024, CURL_MAX_READ_SIZE);
    break;
  case OPT_on_progress:
    SETOPT(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
    SETOPT(e, CURLOPT_XFERINFODATA, q);
    SETOPT(e, CURLOPT_NOPROGRESS, 0L);
    break;
  }
}

/* Sets up q's easy handle from the spec at index spec: only the options it
 * holds are looked at (the Lua layer leaves out what is not given). */
static void configure(lua_State *L, http_req *q, int spec) {
  CURL *e = q->easy;
  int have_url = 0;
  q->follow = 1;
  q->decompress = 1;
  q->buffer_size = 100 * 1024;
  SETOPT(e, CURLOPT_PRIVATE, (char *)q);
  SETOPT(e, CURLOPT_ERRORBUFFER, q->errbuf);
  SETOPT(e, CURLOPT_NOSIGNAL, 1L);
  SETOPT(e, CURLOPT_SHARE, state_of(q->ctx)->share);
  /* Debian's libcurl sets a CA directory besides the CA bundle; with one
   * set, libcurl rebuilds the certificate store from the bundle for every
   * new TLS connection (~30 ms on the loop). Without it the store is built
   * once per client and cached (CURLOPT_CA_CACHE_TIMEOUT). */
  SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
  /* Secure by default: only http and https, also when following redirects. */
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SETOPT(e, CURLOPT_MAXREDIRS, 10L);
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    int opt = lua_type(L, -2) == LUA_TSTRING ? opt_index(lua_tostring(L, -2)) : -1;
    if (opt < 0) {
      luaL_error(L, "unknown request option '%s'", luaL_tolstring(L, -2, NULL));
      return;
    }
    if (lua_type(L, -1) != opt_types[opt])
      luaL_error(L, "bad option '%s' (%s expected, got %s)", opt_names[opt],
                 lua_typename(L, opt_types[opt]), luaL_typename(L, -1));
    if (opt == OPT_url) have_url = 1;
    apply(L, q, opt);
    lua_pop(L, 1);
  }
  if (!have_url) luaL_error(L, "bad option 'url' (string expected, got nil)");
  SETOPT(e, CURLOPT_FOLLOWLOCATION, (long)q->follow);
  if (q->decompress) SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
  /* A larger receive buffer than curl's 16 KiB: measured +20% on big
   * bodies. Not fatal if refused: the default still works. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, q->buffer_size);
  q->high_water = (size_t)q->buffer_size * 4;
  SETOPT(e, CURLOPT_HEADERFUNCTION, header_cb);
  SETOPT(e, CURLOPT_HEADERDATA, q);
  SETOPT(e, CURLOPT_WRITEFUNCTION, write_cb);
  SETOPT(e, CURLOPT_WRITEDATA, q);
  SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);
  SETOPT(e, CURLOPT_CLOSESOCKETDATA, q->client);
}

static int configure_protected(lua_State *L) {
  configure(L, lua_touserdata(L, 1), 2);
  return 0;
}

static void op_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  http_op *op = lua_touserdata(L, p);
  http_req *q = op->req;
  tide_op_done(L, ctx, &op->base.op);
  if (q) {
    op->req = NULL;
    q->op = NULL;
    req_free(L, ctx, q); /* removes the transfer: its connection closes */
  }
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static const tide_op_class http_class = {"http", op_cancel};

static http_client *check_client(lua_State *L, int idx) {
  http_client *c = luaL_checkudata(L, idx, CLIENT_MT);
  if (c->closed) tide_usage_error(L, "attempt to use a closed %s", CLIENT_MT);
  return c;
}

/* core.http_request(client, spec) -> promise of a response. spec: url,
 * method, headers (list of "Name: value"), body, upload, timeout,
 * connect_timeout, follow, max_redirects, verify, ca_file, proxy, username,
 * password, aws_sigv4, http_version, decompress, stream, max_body_size,
 * buffer_size, on_progress. */
static int l_request(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_client *c = check_client(L, 1);
  http_req *q;
  http_op *op;
  CURLMcode mrc;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  q = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *q);
  if (!q) luaL_error(L, "not enough memory");
  memset(q, 0, sizeof *q);
  q->io.complete = http_complete;
  q->io.discard = req_discard;
  q->ctx = ctx;
  q->client = c;
  q->next = c->reqs;
  if (q->next) q->next->prev = q;
  c->reqs = q;
  q->lua_ref = LUA_NOREF;
  /* The spec table doubles as the request's Lua values (body, callbacks). */
  lua_pushvalue(L, 2);
  q->lua_ref = tide_anchor(L, ctx);
  q->easy = c->nspare ? c->spare[--c->nspare] : curl_easy_init();
  if (!q->easy) {
    req_free(L, ctx, q);
    luaL_error(L, "libcurl could not create a transfer");
  }
  /* configure raises on a malformed spec (the Lua layer checks options
   * first, so that is a bug there): free q before passing the error on. */
  lua_pushcfunction(L, configure_protected);
  lua_pushlightuserdata(L, q);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    req_free(L, ctx, q);
    return lua_error(L);
  }
  op = (http_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 2, NULL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, 2);
  op->req = q;
  q->op = op;
  tide_op_start(L, ctx, 3, &op->base.op, &http_class);
  mrc = curl_multi_add_handle(c->multi, q->easy);
  if (mrc != CURLM_OK) {
    op->req = NULL;
    q->op = NULL;
    tide_op_done(L, ctx, &op->base.op);
    req_free(L, ctx, q);
    tide_error_push(L, "network", "libcurl could not start the request: %s",
                    curl_multi_strerror(mrc));
    tide_settle(L, ctx, 3, TIDE_REJECTED, -1);
    lua_pop(L, 1);
    return 1;
  }
  q->in_multi = 1;
  c->transfers++;
  return 1;
}

/* ---------------------------------------------------------------------------
 * Streamed transfers */

static void push_transfer(lua_State *L, tide_ctx *ctx, http_req *q) {
  /* stack: client */
  http_transfer *t = lua_newuserdatauv(L, sizeof *t, 1);
  (void)ctx;
  t->req = q;
  q->transfer = t;
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, TRANSFER_MT);
}

static http_req *check_transfer(lua_State *L, int idx) {
  http_transfer *t = luaL_checkudata(L, idx, TRANSFER_MT);
  return t->req;
}

/* Sets *q to the request behind the value at idx (a request's promise or
 * its transfer; NULL once finished). Returns 0 if it is neither. */
static int request_of(lua_State *L, tide_ctx *ctx, int idx, http_req **q) {
  tide_promise *p = tide_topromise(L, ctx, idx);
  *q = NULL;
  if (p && p->kind == TIDE_K_OP && tide_promise_op(p)->cls == &http_class) {
    *q = ((http_op *)p)->req;
    return 1;
  }
  if (luaL_testudata(L, idx, TRANSFER_MT)) {
    *q = ((http_transfer *)lua_touserdata(L, idx))->req;
    return 1;
  }
  return 0;
}

static void wait_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  wait_op *w = lua_touserdata(L, p);
  http_transfer *t;
  tide_op_done(L, ctx, &w->base.op);
  /* A reader that gives up stops the transfer: its task's I/O. A writer
   * waits on the request (or its transfer) and only stops waiting: its
   * feeder's failure is what cancels the request. */
  lua_getiuservalue(L, p, 2);
  if (w->is_write) {
    http_req *q;
    t = NULL;
    if (request_of(L, ctx, lua_gettop(L), &q) && q) clear_lua(L, ctx, q, "write");
  } else {
    t = luaL_testudata(L, -1, TRANSFER_MT);
  }
  lua_pop(L, 1);
  if (t && t->req) {
    http_req *q = t->req;
    t->req = NULL;
    q->transfer = NULL;
    req_free(L, ctx, q);
  }
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static const tide_op_class wait_class = {"http.read", wait_cancel};

/* Pushes a new wait op on the transfer at idx and records it under k. */
static wait_op *new_wait(lua_State *L, tide_ctx *ctx, int idx, http_req *q,
                         const char *k) {
  wait_op *w = (wait_op *)tide_promise_new(L, ctx, sizeof *w, TIDE_K_OP, 2, NULL);
  int p = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, p, 2);
  tide_op_start(L, ctx, p, &w->base.op, &wait_class);
  push_lua(L, ctx, q, NULL);
  lua_pushvalue(L, p);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
  return w;
}

/* core.http_read(transfer) -> promise of the next piece of the body (a
 * string), nil at its end; rejects if the transfer failed. */
static int l_read(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_req *q = check_transfer(L, 1);
  lua_settop(L, 1);
  if (!q) {
    /* Closed: the stream has ended. */
    tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
    lua_pushnil(L);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
    return 1;
  }
  if (push_lua(L, ctx, q, "read") == LUA_TUSERDATA)
    return luaL_error(L, "this response body is already being read by another task");
  lua_pop(L, 1);
  new_wait(L, ctx, 1, q, "read");
  if (satisfy_read(L, ctx, lua_gettop(L), q)) clear_lua(L, ctx, q, "read");
  return 1;
}

/* transfer:close() and its __gc/__close: stops the transfer. */
static int m_transfer_close(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_transfer *t = luaL_checkudata(L, 1, TRANSFER_MT);
  if (t->req) {
    http_req *q = t->req;
    t->req = NULL;
    q->transfer = NULL;
    if (ctx->closed) return 0; /* the state is closing: the context cleans up */
    if (push_lua(L, ctx, q, "read") == LUA_TUSERDATA) {
      /* A reader waiting on it sees the end. */
      wait_op *w = lua_touserdata(L, -1);
      tide_op_done(L, ctx, &w->base.op);
      lua_pushnil(L);
      tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    req_free(L, ctx, q);
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * Upload feeding */

/* core.http_write(request, chunk | nil) -> promise of true once there is
 * room for more, or of false when the request finished or was stopped and
 * takes no more (nil marks the end of the upload). request: the pending
 * request's promise, or its transfer. */

/* The request behind the value at idx. */
static http_req *upload_req(lua_State *L, tide_ctx *ctx, int idx) {
  http_req *q;
  if (!request_of(L, ctx, idx, &q)) luaL_typeerror(L, idx, "HTTP request");
  return q;
}

static int l_write(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_req *q = upload_req(L, ctx, 1);
  size_t len = 0;
  const char *data = NULL;
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) data = luaL_checklstring(L, 2, &len);
  if (!q || q->done || !q->uploading) {
    /* Finished or stopped: nothing more is sent. */
    tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
    lua_pushboolean(L, 0);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
    return 1;
  }
  if (data == NULL)
    q->upload_eof = 1;
  else if (len && tide_chunks_push(&q->upload, data, len, ctx->alloc, ctx->alloc_ud) != 0)
    return luaL_error(L, "not enough memory");
  if (q->upload_paused && q->in_multi) {
    q->upload_paused = 0;
    curl_easy_pause(q->easy, CURLPAUSE_CONT);
  }
  if (q->upload.bytes < q->upload_high || data == NULL) {
    tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
    lua_pushboolean(L, 1);
    tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
    lua_pop(L, 1);
    return 1;
  }
  /* Full: wait until curl has taken some. */
  new_wait(L, ctx, 1, q, "write")->is_write = 1;
  return 1;
}

/* ---------------------------------------------------------------------------
 * Clients */

static void handle_free_cb(uv_handle_t *h) {
  tide_ctx *ctx = h->loop->data;
  ctx->alloc(ctx->alloc_ud, h,
             h->type == UV_TIMER ? sizeof(uv_timer_t) : sizeof(uv_idle_t), 0);
}

static void client_close(http_client *c) {
  http_req *q;
  if (c->closed) return;
  c->closed = 1;
  /* Only when the state closes can requests still be in flight (they keep
   * their client alive otherwise): stop them and let them go. */
  while ((q = c->reqs) != NULL) {
    detach_from_multi(q);
    unlink_req(q);
    q->client = NULL;
    if (q->easy) curl_easy_cleanup(q->easy);
    q->easy = NULL;
    /* A streamed response whose body came in may still be read: its
     * transfer owns the request now, and frees it. */
    if (q->transfer) continue;
    if (!req_busy(q))
      req_release(c->ctx, q);
    else
      q->dead = 1;
  }
  while (c->nspare)
    curl_easy_cleanup(c->spare[--c->nspare]);
  /* Closes pooled connections (closesocket_cb lets their handles go). */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  for (size_t fd = 0; fd < c->nsocks; fd++)
    if (c->socks[fd]) sock_drop(c, c->socks[fd]);
  c->ctx->alloc(c->ctx->alloc_ud, c->socks, c->nsocks * sizeof *c->socks, 0);
  c->socks = NULL;
  c->nsocks = 0;
  tide_buf_free(&c->spare_body, c->ctx->alloc, c->ctx->alloc_ud);
  uv_close((uv_handle_t *)c->timer, handle_free_cb);
  uv_close((uv_handle_t *)c->kick, handle_free_cb);
}

/* core.http_client([{max_connections=, max_per_host=}]) -> client */
static int l_client(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  http_client *c;
  long max_total = 0, max_host = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "max_connections") == LUA_TNUMBER)
      max_total = clamp_long(lua_tonumber(L, -1), 0, 1000000);
    if (lua_getfield(L, 1, "max_per_host") == LUA_TNUMBER)
      max_host = clamp_long(lua_tonumber(L, -1), 0, 1000000);
    lua_pop(L, 2);
  }
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->closed = 1; /* until fully set up: safe to finalize */
  luaL_setmetatable(L, CLIENT_MT);
  c->ctx = ctx;
  c->timer = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *c->timer);
  c->kick = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *c->kick);
  c->multi = curl_multi_init();
  if (!c->timer || !c->kick || !c->multi) {
    if (c->timer) ctx->alloc(ctx->alloc_ud, c->timer, sizeof *c->timer, 0);
    if (c->kick) ctx->alloc(ctx->alloc_ud, c->kick, sizeof *c->kick, 0);
    if (c->multi) curl_multi_cleanup(c->multi);
    return luaL_error(L, "not enough memory for an HTTP client");
  }
  uv_timer_init(&ctx->loop, c->timer);
  uv_idle_init(&ctx->loop, c->kick);
  c->timer->data = c;
  c->kick->data = c;
  c->closed = 0;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  if (max_total > 0)
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
  if (max_host > 0) curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  return 1;
}

/* client:close(), __gc and __close: closes its pooled connections. A client
 * with transfers in flight is kept alive by them. */
static int m_client_close(lua_State *L) {
  http_client *c = luaL_checkudata(L, 1, CLIENT_MT);
  if (!c->closed && c->ctx->closed) return 0; /* the context cleans up */
  if (c->transfers > 0 && !lua_toboolean(L, 2))
    return tide_usage_error(L,
                            "cannot close an HTTP client with %d transfer(s) in flight: "
                            "await or cancel them first",
                            c->transfers);
  client_close(c);
  return 0;
}

static int m_client_gc(lua_State *L) {
  http_client *c = luaL_checkudata(L, 1, CLIENT_MT);
  if (!c->closed && !c->ctx->closed) client_close(c);
  return 0;
}

/* core.http_set_response_mt(mt): from the Lua layer. */
static int l_set_response_mt(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, 1);
  lua_rawseti(L, LUA_REGISTRYINDEX, state_of(ctx)->response_mt);
  return 0;
}

/* core.http_escape(s) -> percent-encoded s (RFC 3986 unreserved kept) */
static int l_escape(lua_State *L) {
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

static void http_close(tide_ctx *ctx) {
  http_state *hs = ctx->http;
  if (!hs) return;
  if (hs->share) curl_share_cleanup(hs->share);
  ctx->alloc(ctx->alloc_ud, hs, sizeof *hs, 0);
  ctx->http = NULL;
  curl_global_cleanup();
}

static const tide_module http_module = {"http", http_close, NULL};

void tide_http_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"http_client", l_client},
                                   {"http_request", l_request},
                                   {"http_read", l_read},
                                   {"http_write", l_write},
                                   {"http_set_response_mt", l_set_response_mt},
                                   {"http_escape", l_escape},
                                   {NULL, NULL}};
  static const luaL_Reg client_methods[] = {{"close", m_client_close}, {NULL, NULL}};
  static const luaL_Reg transfer_methods[] = {{"close", m_transfer_close}, {NULL, NULL}};
  http_state *hs;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    luaL_error(L, "tide: libcurl could not be initialized");
  hs = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *hs);
  if (!hs) luaL_error(L, "not enough memory");
  memset(hs, 0, sizeof *hs);
  ctx->http = hs;
  tide_module_register(ctx, &http_module);
  hs->share = curl_share_init();
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  lua_newtable(L);
  hs->response_mt = luaL_ref(L, LUA_REGISTRYINDEX);

  luaL_newmetatable(L, CLIENT_MT);
  lua_newtable(L);
  tide_setfuncs(L, ctx, client_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, m_client_gc);
  lua_setfield(L, -2, "__gc");
  tide_push_ctx(L, ctx);
  lua_pushcclosure(L, m_client_close, 1);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);

  luaL_newmetatable(L, TRANSFER_MT);
  lua_newtable(L);
  tide_setfuncs(L, ctx, transfer_methods);
  lua_setfield(L, -2, "__index");
  tide_push_ctx(L, ctx);
  lua_pushcclosure(L, m_transfer_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__gc");
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  tide_setfuncs(L, ctx, funcs);
}
