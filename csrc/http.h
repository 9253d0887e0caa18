/* http.h -- private header of the http_*.c files: HTTP through libcurl's
 * multi interface, driven by the tide loop.
 *
 * The files, lowest first (a file calls only files listed above it):
 *   http_multi.c    a pool (one CURLM) and its curl<->uv glue: sockets,
 *                   curl's timer, finished transfers. No Lua.
 *   http_file.c     bodies between a file descriptor and curl: output =
 *                   (through libuv's fs) and body = a file (pread).
 *   http_easy.c     one transfer's curl callbacks: header/body/upload
 *                   buffers, back-pressure, progress. No Lua.
 *   http_options.c  the one table of request options (HTTP_OPTIONS), the
 *                   spec checks and the easy handle's configuration.
 *   http_request.c  a request's life cycle (http_req_state), its promise,
 *                   responses and errors, and the driver's completion.
 *   http_stream.c   streamed bodies (tide.http.transfer) and uploads.
 *   http_client.c   the pool userdata (tide.http.pool), starting requests,
 *                   and the module's opening and closing.
 *
 * The first part of this header needs no Lua, so that http_easy.c and
 * http_multi.c do not include lua.h; the part after `#ifdef TIDE_H` is for
 * the files that do (include tide.h before this header). */
#ifndef TIDE_HTTP_H
#define TIDE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "buf.h"
#include "heap.h" /* tide_alloc_fn */

/* Metatable names. The pool is the C side of a Lua tide.http.client. */
#define HTTP_POOL_MT "tide.http.pool"
#define HTTP_TRANSFER_MT "tide.http.transfer"
#define HTTP_RESPONSE_MT "tide.http.response"

/* The most a Content-Length may make a buffered body reserve up front. */
#define HTTP_BODY_RESERVE_MAX ((size_t)1 << 30)
/* The largest body buffer a pool keeps for reuse. */
#define HTTP_SPARE_BODY_MAX ((size_t)64 << 20)
/* A streamed body with a max_body_size up to this is read without pauses
 * (http_easy.c's write callback says why). */
#define HTTP_UNPAUSED_MAX ((size_t)8 << 20)
/* Reset easy handles a pool keeps for the next requests. */
#define HTTP_SPARE_EASY 32

typedef struct http_pool http_pool;
typedef struct http_req http_req;
typedef struct http_sock http_sock;     /* http_multi.c's */
typedef struct http_clock http_clock;   /* http_multi.c's */
typedef struct http_sink http_sink;     /* http_file.c's */
typedef struct http_source http_source; /* http_file.c's */

/* Events a request has for the driver (bits of http_req.pending). */
enum {
  HTTP_EV_HEADERS = 1,
  HTTP_EV_DATA = 2,
  HTTP_EV_DONE = 4,
  HTTP_EV_PROGRESS = 8,
  HTTP_EV_ROOM = 16
};

/* A request's life cycle. It only moves down this list:
 *   NEW      set up, not yet handed to curl
 *   ACTIVE   in its pool's multi: curl moves it
 *   DONE     curl finished it (`result` says how); out of the multi
 *   STOPPED  taken out of the multi unfinished (given up, pool closed)
 *   DEAD     nobody owns it: freed as soon as the driver lets go of it
 * Besides the state, the driver may hold it: while `pending` has bits it
 * is on the context's I/O list, and while `held` its completion runs (and
 * may call Lua code that gives it up). A held request is never freed. */
typedef enum http_req_state {
  HTTP_REQ_NEW,
  HTTP_REQ_ACTIVE,
  HTTP_REQ_DONE,
  HTTP_REQ_STOPPED,
  HTTP_REQ_DEAD
} http_req_state;

/* A pool: one CURLM (connections, HTTP/2 streams) and what drives it. */
struct http_pool {
  uv_loop_t *loop;
  tide_alloc_fn alloc;
  void *alloc_ud;
  CURLM *multi;
  http_req *reqs; /* every request of this pool not yet freed */
  CURL *spare[HTTP_SPARE_EASY];
  int nspare;
  http_sock **socks; /* watched sockets by descriptor (see http_multi.c) */
  size_t nsocks;
  tide_buf spare_body; /* the last large body buffer, for the next request:
                          fresh pages cost a page fault each */
  http_clock *clock;   /* curl's timer (http_multi.c; freed in its
                            close callbacks, which may outlive the pool) */
  CURLSH *cookies;     /* the client's own cookie jar (NULL: none) */
  char *cookie_jar;    /* where the jar is saved on close (NULL: nowhere) */
  int transfers;       /* requests ACTIVE in the multi */
  int closed;          /* 1 until set up, and once closed */
};

/* One request: the C state its transfer uses. The Lua side adds its own
 * (see `#ifdef TIDE_H` below). */
struct http_req {
  struct tide_ctx *ctx;
  tide_alloc_fn alloc;
  void *alloc_ud;
  uv_loop_t *loop;
  http_pool *pool;       /* NULL once the pool closed under it */
  http_req *prev, *next; /* in the pool's list */
  /* Called (C only, from libuv callbacks) when q has news for the
   * driver; set by the Lua side. */
  void (*notify)(http_req *q);
  CURL *easy;
  struct curl_slist *headers, *proxy_headers;
  curl_mime *mime; /* a multipart/form-data body (freed after the handle) */
  char errbuf[CURL_ERROR_SIZE];
  http_req_state state;
  unsigned pending;   /* HTTP_EV_* bits waiting for the driver (queued) */
  uint8_t held;       /* its completion is running */
  uint8_t stream;     /* body read through a transfer, with back-pressure */
  uint8_t paused;     /* the body is paused because nobody reads */
  uint8_t resuming;   /* curl hands over what it held back while paused */
  uint8_t headers_in; /* the final response's headers are complete */
  uint8_t too_large;  /* stopped for exceeding max_body_size */
  uint8_t oom;        /* stopped because memory ran out */
  uint8_t follow;
  uint8_t decompress;
  uint8_t cookies; /* the cookie engine is on (its list of files to drop) */
  uint8_t to_file; /* output =: the final response is a 2xx, its body goes there */
  long buffer_size;
  CURLcode result;    /* how curl finished it; CURLE_FAILED_INIT until then */
  tide_buf head;      /* header lines of the latest response */
  tide_buf body;      /* buffered body */
  tide_chunks chunks; /* streamed body not read yet */
  size_t received, max_body, high_water;
  /* streaming upload */
  uint8_t uploading, upload_eof, upload_paused;
  tide_chunks upload;
  size_t upload_high;
  /* bodies from and to files (http_file.c; NULL: none) */
  http_sink *sink;
  http_source *source;
  /* progress, as last reported by curl */
  curl_off_t dl_now, dl_total, ul_now, ul_total;
  uint64_t progress_at;
  /* The Lua side's (opaque here). */
  struct http_op *op;             /* the request's promise while it is pending */
  struct http_transfer *transfer; /* streamed: its Lua owner once the headers are in */
  int lua_ref;                    /* anchors a table of Lua values curl uses */
};

/* ---------------------------------------------------------------------------
 * http_multi.c */

/* Sets up p (zeroed by the caller). Returns 0, or -1 when out of memory
 * (p is then closed and holds nothing). */
int http_multi_open(http_pool *p, uv_loop_t *loop, tide_alloc_fn alloc, void *ud,
                    long max_total, long max_host);
/* Closes p's connections and handles (the requests left in it are the
 * caller's business: see http_client.c). Idempotent. */
void http_multi_close(http_pool *p);
/* Adds q (NEW) to its pool's multi: q becomes ACTIVE. */
CURLMcode http_multi_add(http_req *q);
/* Takes an ACTIVE q out of the multi (mid-transfer its connection closes):
 * it becomes `to` (DONE or STOPPED). Does nothing in other states. */
void http_multi_remove(http_req *q, http_req_state to);
/* Links q into / out of its pool's list of requests. */
void http_multi_link(http_pool *p, http_req *q);
void http_multi_unlink(http_req *q);
/* For CURLOPT_CLOSESOCKETFUNCTION (data: the pool). */
int http_multi_closesocket_cb(void *pool, curl_socket_t fd);
/* Queues q for the driver with the events in ev. */
void http_multi_post(http_req *q, unsigned ev);

/* ---------------------------------------------------------------------------
 * http_file.c */

/* output =: a 2xx response's body goes to a duplicate of fd, at offset
 * (-1: the descriptor's position); with truncate, the file is cut at
 * offset before the first byte of such a body goes in (or when one ends
 * empty), never for another status. Returns 0 or a libuv error code. */
int http_file_sink_open(http_req *q, int fd, int64_t offset, int truncate);
/* At the end of the final response's headers: whether its body goes to
 * the file (a 2xx) rather than to the request's buffer. */
int http_file_sink_begin(http_req *q, long status);
/* For curl's write callback: takes len bytes, or pauses (see the file). */
size_t http_file_sink_write(http_req *q, const char *p, size_t len);
/* body = a file: size bytes of a duplicate of fd from offset, read by curl
 * (sets the easy handle's upload options). Returns 0, a libuv error code,
 * or -1 if curl refused an option. */
int http_file_source_open(http_req *q, int fd, int64_t offset, int64_t size);
/* Once curl is done: whether everything is written (else starts the last
 * write; the request hears again when it ends). */
int http_file_settled(http_req *q);
/* Whether a file failed the request (a write or a read). */
int http_file_failed(const http_req *q);
/* Bytes the sink wrote. */
uint64_t http_file_written(const http_req *q);
/* Lets go of q's files (a write in flight frees its sink when it ends).
 * Idempotent. */
void http_file_release(http_req *q);

/* ---------------------------------------------------------------------------
 * http_easy.c */

/* Points q's easy handle at q's buffers and callbacks. Returns CURLE_OK or
 * what curl refused. */
CURLcode http_easy_setup(http_req *q);
/* Streams an upload from q->upload (fed by http_easy_upload_push). */
CURLcode http_easy_setup_upload(http_req *q);
/* Reports progress (HTTP_EV_PROGRESS, at most ten a second). */
CURLcode http_easy_setup_progress(http_req *q);
/* Detaches the next piece of a streamed body (NULL if none), and resumes a
 * paused transfer once enough was read. Free it with tide_chunk_free. */
tide_chunk *http_easy_shift(http_req *q);
/* Queues upload data (data NULL: the end) and resumes a paused upload.
 * Returns 0, or -1 when out of memory. */
int http_easy_upload_push(http_req *q, const char *data, size_t len);
/* Whether the upload queue has room for more. */
int http_easy_upload_room(const http_req *q);
/* The phase a failed transfer was in, for `err.phase`. */
const char *http_easy_phase(http_req *q);
/* Frees q's buffers and its easy handle (kept by its pool for reuse when
 * the transfer went well), then q itself. q is out of the multi and out of
 * its pool's list. */
void http_easy_release(http_req *q);

/* ---------------------------------------------------------------------------
 * The Lua side */
#ifdef TIDE_H

/* Per-context HTTP state. */
typedef struct http_retired http_retired; /* http_client.c's */
typedef struct http_state {
  CURLSH *share;
  http_retired *retired; /* cookie jars of closed pools still in use */
  int response_mt;       /* registry ref of the response class (HTTP_RESPONSE_MT) */
} http_state;

static inline http_state *http_state_of(tide_ctx *ctx) { return ctx->http; }

/* A request's promise (an operation: cancelling it stops the transfer).
 * User value HTTP_OP_POOL: the pool userdata, kept alive while pending. */
typedef struct http_op {
  tide_op_promise base;
  http_req *req; /* NULL once settled or cancelled */
} http_op;
enum { HTTP_OP_POOL = 2 };

/* A streamed body's reader. User value HTTP_TRANSFER_POOL: the pool. */
typedef struct http_transfer {
  http_req *req; /* NULL once closed */
} http_transfer;
enum { HTTP_TRANSFER_POOL = 1 };

/* A read or an upload write waiting on a streamed transfer. User value
 * HTTP_WAIT_TARGET: the transfer (read) or the request (write) waited on. */
typedef struct http_wait {
  tide_op_promise base;
  int is_write;
} http_wait;
enum { HTTP_WAIT_TARGET = 2 };

/* http_options.c */
/* Sets up q's easy handle from the spec table at index spec (raises on a
 * malformed spec: a `usage` error for a string curl must not see). */
void http_options_configure(lua_State *L, http_req *q, int spec);
/* Sets core.http_options (public option -> type) and
 * core.http_passthrough (those copied into the spec as given) in the table
 * on top. */
void http_options_export(lua_State *L);
long http_clamp_long(double n, long lo, long hi);
/* Writes to buf (cap bytes) url without its user name, password and login
 * options, and with the values of the query parameters that are secrets
 * (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token) replaced:
 * fit to be shown. Returns its length, or 0 if url cannot be parsed, the
 * result does not fit, or memory ran out. */
size_t http_url_redacted(const char *url, char *buf, size_t cap);

/* http_request.c */
extern const tide_op_class http_request_class;
/* Makes a NEW request of pool p for the spec at index spec (anchored as
 * its Lua values). Raises (freeing it) if it cannot be set up. */
http_req *http_request_new(lua_State *L, tide_ctx *ctx, http_pool *p, int spec);
/* Gives q up: out of the multi, waits settled, freed now or once the
 * driver lets go of it. Safe from Lua code the driver runs for q. */
void http_request_free(lua_State *L, tide_ctx *ctx, http_req *q);
/* The pool closes under q: q keeps its easy handle (its response may
 * still be read) but loses the pool; q is freed unless something owns it.
 */
void http_request_orphan(http_req *q);
/* Sets *q to the request behind the value at idx (a request's promise or
 * its transfer; NULL once finished). Returns 0 if it is neither. */
int http_request_of(lua_State *L, tide_ctx *ctx, int idx, http_req **q);
/* Pushes field k of the request's Lua table (the table itself if k is
 * NULL); returns its type. */
int http_request_push_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k);
void http_request_clear_lua(lua_State *L, tide_ctx *ctx, http_req *q, const char *k);
/* Settles the read waiting at index w with what q has; returns 1 if so. */
int http_request_satisfy_read(lua_State *L, tide_ctx *ctx, int w, http_req *q);
/* Fulfils a waiting upload write, if any, with `more`. */
void http_request_settle_write(lua_State *L, tide_ctx *ctx, http_req *q, int more);
const char *http_request_state_name(const http_req *q);
/* Makes the response class (its methods: http.lua, by core.interpose) and
 * sets core.http_response_mt in the table on top. */
void http_response_open(lua_State *L, tide_ctx *ctx);
void http_request_notify(http_req *q);

/* http_file.c: pushes the `fs` error of a failed file and returns 1, or
 * returns 0 if no file failed. */
int http_file_push_error(lua_State *L, http_req *q);

/* http_stream.c */
void http_stream_open(lua_State *L, tide_ctx *ctx);
int http_stream_read(lua_State *L);
int http_stream_write(lua_State *L);

#endif /* TIDE_H */
#endif
