/* http_file.c -- request bodies that go between a file descriptor and
 * libcurl without becoming Lua strings: `output =` (the response body is
 * written to a file) and `body =` a file (the request body is read from
 * one).
 *
 * A sink (output) takes what curl's write callback hands over into one of
 * two buffers while libuv's thread pool writes the other (uv_fs_write): a
 * transfer whose buffers are both full is paused (CURL_WRITEFUNC_PAUSE)
 * until a write drains one. When curl has finished, the request settles
 * only once the last bytes are written (http_file_settled). A failed write
 * (a full disk) stops the transfer and the request rejects with an `fs`
 * error; a transfer that fails keeps what was written (a partial file)
 * and rejects as it would without a file.
 *
 * A source (body = a file) is read by curl's read callback with pread(2)
 * at the file's own offsets: no position is shared, and a rewind (a
 * redirect that resends the body, an authentication round) starts again
 * where the body started. Only regular files are read this way (the Lua
 * layer checks), so a read never waits on a pipe or a terminal.
 *
 * Each side works on its own duplicate of the descriptor the Lua layer
 * gives (dup), closed when the request lets go of it: the caller closes
 * its own whenever it likes, and a write still in libuv's pool when the
 * request is cancelled finishes on a descriptor nobody else can reuse
 * meanwhile; the sink is freed by that write's callback.
 *
 * Owns: http_sink and http_source, their buffers and descriptors.
 * May call: tide.h (errors), http_multi.c, libcurl, libuv. Called by
 * http_easy.c (write callback, release), http_options.c (setup) and
 * http_request.c (settling). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tide.h"

#include "http.h"

/* Each of a sink's two buffers; a write starts once one holds this much
 * (or the transfer has ended). */
#define SINK_BUF ((size_t)1 << 20)
#define SINK_FLUSH ((size_t)256 << 10)

struct http_sink {
  uv_fs_t req;
  http_req *q; /* NULL once the request let go: the write's callback frees it */
  tide_alloc_fn alloc;
  void *alloc_ud;
  uv_loop_t *loop;
  uv_file fd;
  int64_t offset;   /* where the next write goes; -1: the descriptor's position */
  char *fill, *out; /* collecting / being written */
  size_t fill_len, fill_cap, out_len, out_cap, out_done;
  uint64_t written;
  int err;        /* the first failure (a libuv error code), 0 if none */
  uint8_t busy;   /* a write is in libuv's pool */
  uint8_t paused; /* the transfer waits for room */
  uint8_t trunc;  /* cut the file at offset before the first write */
  uint8_t on;     /* the final response is a 2xx: its body comes here */
};

struct http_source {
  int fd;
  int64_t start, pos; /* where the body starts, where the next read goes */
  int64_t size, left; /* bytes of the body, bytes not read yet */
  int err;
  uint8_t shrank; /* the file ended before its size */
};

/* ---------------------------------------------------------------------------
 * Sink */

static void sink_free(http_sink *s) {
  uv_fs_t r;
  uv_fs_close(s->loop, &r, s->fd, NULL);
  uv_fs_req_cleanup(&r);
  if (s->fill) s->alloc(s->alloc_ud, s->fill, s->fill_cap, 0);
  if (s->out) s->alloc(s->alloc_ud, s->out, s->out_cap, 0);
  s->alloc(s->alloc_ud, s, sizeof *s, 0);
}

static void sink_cb(uv_fs_t *r);

/* Writes what is left of the buffer being written. */
static void sink_issue(http_sink *s) {
  uv_buf_t b = uv_buf_init(s->out + s->out_done, (unsigned)(s->out_len - s->out_done));
  int rc = uv_fs_write(s->loop, &s->req, s->fd, &b, 1, s->offset, sink_cb);
  if (rc < 0) {
    if (!s->err) s->err = rc;
  } else {
    s->busy = 1;
  }
}

/* Starts writing what was collected (nothing is in flight). */
static void sink_start(http_sink *s) {
  char *b = s->out;
  size_t cap = s->out_cap;
  s->out = s->fill;
  s->out_cap = s->fill_cap;
  s->out_len = s->fill_len;
  s->out_done = 0;
  s->fill = b;
  s->fill_cap = cap;
  s->fill_len = 0;
  if (s->trunc) {
    /* The file is cut only now that a 2xx body is certain (an error
     * answer leaves it as it was); its first bytes follow. */
    int rc =
        uv_fs_ftruncate(s->loop, &s->req, s->fd, s->offset < 0 ? 0 : s->offset, sink_cb);
    s->trunc = 0;
    if (rc < 0) {
      if (!s->err) s->err = rc;
    } else {
      s->busy = 1;
    }
    return;
  }
  if (s->out_len) sink_issue(s);
}

/* Stops q's transfer for the sink's failure (the request then rejects
 * with it), or tells the request a finished transfer may settle. */
static void sink_tell(http_req *q, int failed) {
  if (q->state == HTTP_REQ_ACTIVE && failed) {
    q->result = CURLE_WRITE_ERROR;
    http_multi_remove(q, HTTP_REQ_DONE);
    http_multi_post(q, HTTP_EV_DONE);
  } else if (q->state == HTTP_REQ_DONE) {
    http_multi_post(q, HTTP_EV_DONE);
  }
}

static void sink_cb(uv_fs_t *r) {
  http_sink *s = (http_sink *)((char *)r - offsetof(http_sink, req));
  ssize_t n = r->result;
  http_req *q = s->q;
  int cut = r->fs_type == UV_FS_FTRUNCATE;
  uv_fs_req_cleanup(r);
  s->busy = 0;
  if (n < 0) {
    if (!s->err) s->err = (int)n;
  } else if (cut) {
    if (s->out_done < s->out_len) {
      sink_issue(s);
      if (s->busy) return;
    }
  } else {
    s->written += (uint64_t)n;
    if (s->offset >= 0) s->offset += n;
    s->out_done += (size_t)n;
    if (s->out_done < s->out_len) {
      /* A short write: the rest (a write of nothing would never end). */
      if (n == 0 && !s->err) s->err = UV_EIO;
      if (!s->err) {
        sink_issue(s);
        if (s->busy) return;
      }
    }
  }
  if (!q) {
    sink_free(s);
    return;
  }
  if (q->ctx->closed) return; /* the module's close releases q, and s */
  if (!s->err && s->fill_len &&
      (s->fill_len >= SINK_FLUSH || q->state != HTTP_REQ_ACTIVE))
    sink_start(s);
  if (s->err) {
    sink_tell(q, 1);
    return;
  }
  if (s->paused && q->state == HTTP_REQ_ACTIVE) {
    /* curl hands over what it held back at once (into the emptied
     * buffer); a failure to resume is the transfer's. */
    CURLcode rc;
    s->paused = 0;
    rc = curl_easy_pause(q->easy, CURLPAUSE_CONT);
    if (rc != CURLE_OK && q->state == HTTP_REQ_ACTIVE) {
      q->result = rc;
      http_multi_remove(q, HTTP_REQ_DONE);
      http_multi_post(q, HTTP_EV_DONE);
    }
  } else if (!s->busy) {
    sink_tell(q, 0);
  }
}

int http_file_sink_open(http_req *q, int fd, int64_t offset, int truncate) {
  http_sink *s = q->alloc(q->alloc_ud, NULL, 0, sizeof *s);
  int dupfd;
  if (!s) return UV_ENOMEM;
  if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    int err = -errno;
    q->alloc(q->alloc_ud, s, sizeof *s, 0);
    return err;
  }
  memset(s, 0, sizeof *s);
  s->q = q;
  s->alloc = q->alloc;
  s->alloc_ud = q->alloc_ud;
  s->loop = q->loop;
  s->fd = dupfd;
  s->offset = offset < 0 ? -1 : offset;
  s->trunc = truncate && offset >= 0;
  q->sink = s;
  return 0;
}

int http_file_sink_begin(http_req *q, long status) {
  q->sink->on = status >= 200 && status < 300;
  return q->sink->on;
}

/* From curl's write callback: takes len bytes, or pauses the transfer. */
size_t http_file_sink_write(http_req *q, const char *p, size_t len) {
  http_sink *s = q->sink;
  if (s->err) return 0; /* stops the transfer */
  if (s->fill_cap - s->fill_len < len) {
    if (!s->busy && s->fill_len) {
      sink_start(s);
      if (s->err) return 0;
    }
    if (s->fill_cap - s->fill_len < len) {
      size_t cap;
      char *b;
      if (s->busy && s->fill_len) {
        s->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
      }
      /* An empty buffer that is too small (or none yet). */
      cap = len > SINK_BUF ? len : SINK_BUF;
      b = s->alloc(s->alloc_ud, s->fill, s->fill_cap, cap);
      if (!b) {
        q->oom = 1;
        return 0;
      }
      s->fill = b;
      s->fill_cap = cap;
    }
  }
  memcpy(s->fill + s->fill_len, p, len);
  s->fill_len += len;
  if (!s->busy && s->fill_len >= SINK_FLUSH) {
    sink_start(s);
    if (s->err) return 0;
  }
  return len;
}

/* ---------------------------------------------------------------------------
 * Source */

static size_t source_read_cb(char *p, size_t size, size_t n, void *ud) {
  http_source *s = ((http_req *)ud)->source;
  size_t room = size * n;
  ssize_t r;
  if (s->left == 0) return 0;
  if ((int64_t)room > s->left) room = (size_t)s->left;
  do
    r = pread(s->fd, p, room, (off_t)s->pos);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    s->err = -errno;
    return CURL_READFUNC_ABORT;
  }
  if (r == 0) {
    /* Cut while it was sent: what the server got is short. */
    s->err = UV_EIO;
    s->shrank = 1;
    return CURL_READFUNC_ABORT;
  }
  s->pos += r;
  s->left -= r;
  return (size_t)r;
}

/* A rewind: the body again from its start (curl asks for offset 0). */
static int source_seek_cb(void *ud, curl_off_t offset, int origin) {
  http_source *s = ((http_req *)ud)->source;
  if (origin != SEEK_SET || offset < 0 || offset > s->size) return CURL_SEEKFUNC_CANTSEEK;
  s->pos = s->start + offset;
  s->left = s->size - offset;
  return CURL_SEEKFUNC_OK;
}

#define FILE_SETOPT(e, o, v)                                                             \
  do {                                                                                   \
    CURLcode rc_ = curl_easy_setopt((e), (o), (v));                                      \
    if (rc_ != CURLE_OK) return -1;                                                      \
  } while (0)

int http_file_source_open(http_req *q, int fd, int64_t offset, int64_t size) {
  http_source *s = q->alloc(q->alloc_ud, NULL, 0, sizeof *s);
  int dupfd;
  if (!s) return UV_ENOMEM;
  if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    int err = -errno;
    q->alloc(q->alloc_ud, s, sizeof *s, 0);
    return err;
  }
  memset(s, 0, sizeof *s);
  s->fd = dupfd;
  s->start = s->pos = offset < 0 ? 0 : offset;
  s->size = s->left = size < 0 ? 0 : size;
  q->source = s;
  q->uploading = 0; /* not fed from Lua */
  FILE_SETOPT(q->easy, CURLOPT_POST, 1L);
  FILE_SETOPT(q->easy, CURLOPT_READFUNCTION, source_read_cb);
  FILE_SETOPT(q->easy, CURLOPT_READDATA, q);
  FILE_SETOPT(q->easy, CURLOPT_SEEKFUNCTION, source_seek_cb);
  FILE_SETOPT(q->easy, CURLOPT_SEEKDATA, q);
  FILE_SETOPT(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->size);
  /* Fewer, larger reads and sends than curl's 64 KiB (not fatal if
   * refused). */
  curl_easy_setopt(q->easy, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
  return 0;
}

/* ---------------------------------------------------------------------------
 * The request's side */

int http_file_settled(http_req *q) {
  http_sink *s = q->sink;
  if (!s || s->err) return 1;
  /* (an empty 2xx body still empties the file) */
  if (!s->busy && (s->fill_len || (s->trunc && s->on && q->result == CURLE_OK)))
    sink_start(s);
  return !s->busy;
}

int http_file_failed(const http_req *q) {
  return (q->sink && q->sink->err) || (q->source && q->source->err);
}

uint64_t http_file_written(const http_req *q) { return q->sink ? q->sink->written : 0; }

void http_file_release(http_req *q) {
  http_sink *s = q->sink;
  http_source *src = q->source;
  if (s) {
    q->sink = NULL;
    s->q = NULL;
    if (!s->busy) sink_free(s); /* else its write's callback does */
  }
  if (src) {
    uv_fs_t r;
    q->source = NULL;
    uv_fs_close(q->loop, &r, src->fd, NULL);
    uv_fs_req_cleanup(&r);
    q->alloc(q->alloc_ud, src, sizeof *src, 0);
  }
}

int http_file_push_error(lua_State *L, http_req *q) {
  int err;
  const char *call;
  if (q->sink && q->sink->err) {
    err = q->sink->err;
    call = "write";
  } else if (q->source && q->source->err) {
    err = q->source->err;
    call = "read";
    if (q->source->shrank) {
      tide_error_push(L, "fs",
                      "the body file ended before its size when the request "
                      "started (was it cut meanwhile?) (read)");
      lua_pushstring(L, "EIO");
      lua_setfield(L, -2, "code");
      lua_pushstring(L, call);
      lua_setfield(L, -2, "syscall");
      return 1;
    }
  } else {
    return 0;
  }
  tide_error_push_fs(L, err, call, NULL);
  return 1;
}
