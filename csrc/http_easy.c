/* http_easy.c -- one transfer's side of libcurl: the callbacks curl calls
 * while it moves a request (header lines, body data, upload data,
 * progress), the buffers they fill, and back-pressure.
 *
 * Owns: http_req's C buffers (head, body, chunks, upload) and its easy
 * handle's callbacks; freeing them (http_easy_release).
 * May call: buf.c, libcurl, http_multi_post (http_multi.c) to tell the
 * driver a request has news, and http_file.c for bodies in files. No Lua
 * here: nothing in this file may run Lua code, so a curl callback can
 * never unwind through curl's frames. */
#include <string.h>

#include "http.h"

/* ---------------------------------------------------------------------------
 * Callbacks */

static size_t easy_header_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) q->head.len = 0; /* a new response */
  if (tide_buf_append(&q->head, p, len, q->alloc, q->alloc_ud) != 0) {
    q->oom = 1;
    return 0;
  }
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
      if (q->sink) q->to_file = (uint8_t)http_file_sink_begin(q, status);
      if (q->stream) http_multi_post(q, HTTP_EV_HEADERS);
      /* A buffered body of known length gets its room at once, instead of
       * growing through copies into fresh pages. */
      curl_easy_getinfo(q->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      if (!q->stream && !q->to_file && length > 0 &&
          (size_t)length <= HTTP_BODY_RESERVE_MAX &&
          (!q->max_body || (size_t)length <= q->max_body)) {
        http_pool *c = q->pool;
        if (!q->body.data && c && c->spare_body.cap >= (size_t)length) {
          q->body = c->spare_body;
          c->spare_body.data = NULL;
          c->spare_body.cap = 0;
        }
        tide_buf_reserve(&q->body, (size_t)length, q->alloc, q->alloc_ud);
      }
    }
  }
  return len;
}

/* The pause bits q wants now: receiving stops for back-pressure, sending
 * while the upload feeder has nothing queued. */
static int easy_pause_mask(const http_req *q) {
  return (q->paused ? CURLPAUSE_RECV : 0) | (q->upload_paused ? CURLPAUSE_SEND : 0);
}

static size_t easy_write_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t len = size * n;
  if (q->max_body && q->received + len > q->max_body) {
    q->too_large = 1;
    return 0; /* stops the transfer */
  }
  if (q->to_file) {
    /* output =: a 2xx body to the file (http_file.c), which may pause the transfer. */
    size_t took = http_file_sink_write(q, p, len);
    if (took == len) q->received += len;
    return took;
  }
  if (q->stream) {
    /* A body limited to HTTP_UNPAUSED_MAX is never paused: what it holds
     * is bounded by its limit, while a paused transfer lets curl keep all
     * that one read decompresses to, which the limit does not bound (a
     * compression bomb piles up there before it reaches the limit). */
    int limited = q->max_body && q->max_body <= HTTP_UNPAUSED_MAX;
    if (tide_chunks_push(&q->chunks, p, len, q->alloc, q->alloc_ud) != 0) {
      q->oom = 1;
      return 0;
    }
    q->received += len;
    http_multi_post(q, HTTP_EV_DATA);
    if (q->chunks.bytes >= q->high_water && !q->paused && !q->resuming && !limited) {
      /* Back-pressure: these bytes are taken, and curl reads no more until
       * resumed. Pausing here rather than returning CURL_WRITEFUNC_PAUSE
       * spares a copy: curl would keep this buffer in one of its own, and
       * hand it back on resume. (What one read decompresses to beyond this
       * call is still kept by curl, which caps it.) Not while curl hands
       * over what it held: it would copy what is left of it again at every
       * pause, and a body that decompresses to tens of MiB per read would
       * freeze the loop in those copies; that is taken whole instead. */
      q->paused = 1;
      if (curl_easy_pause(q->easy, easy_pause_mask(q)) != CURLE_OK) q->paused = 0;
    }
    return len;
  }
  if (tide_buf_append(&q->body, p, len, q->alloc, q->alloc_ud) != 0) {
    q->oom = 1;
    return 0;
  }
  q->received += len;
  return len;
}

/* Streaming upload: hands curl what the Lua feeder wrote. */
static size_t easy_read_cb(char *p, size_t size, size_t n, void *ud) {
  http_req *q = ud;
  size_t room = size * n, done = 0;
  tide_chunk *c;
  while (done < room && (c = q->upload.head) != NULL) {
    size_t take = c->len < room - done ? c->len : room - done;
    memcpy(p + done, c->data, take);
    done += take;
    if (take == c->len) {
      tide_chunk_free(tide_chunks_shift(&q->upload), q->alloc, q->alloc_ud);
    } else {
      memmove(c->data, c->data + take, c->len - take);
      c->len -= take;
      q->upload.bytes -= take;
    }
  }
  if (done > 0) {
    if (q->upload.bytes < q->upload_high) http_multi_post(q, HTTP_EV_ROOM);
    return done;
  }
  if (q->upload_eof) return 0;
  q->upload_paused = 1;
  http_multi_post(q, HTTP_EV_ROOM);
  return CURL_READFUNC_PAUSE;
}

static int easy_progress_cb(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
                            curl_off_t uln) {
  http_req *q = ud;
  if (dln != q->dl_now || dlt != q->dl_total || uln != q->ul_now || ult != q->ul_total) {
    uint64_t now = uv_now(q->loop);
    q->dl_now = dln;
    q->dl_total = dlt;
    q->ul_now = uln;
    q->ul_total = ult;
    /* At most ten reports a second; the last one comes with the end. */
    if (now - q->progress_at >= 100) {
      q->progress_at = now;
      http_multi_post(q, HTTP_EV_PROGRESS);
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * Setup */

#define EASY_SETOPT(e, o, v)                                                             \
  do {                                                                                   \
    CURLcode rc_ = curl_easy_setopt((e), (o), (v));                                      \
    if (rc_ != CURLE_OK) return rc_;                                                     \
  } while (0)

CURLcode http_easy_setup(http_req *q) {
  CURL *e = q->easy;
  EASY_SETOPT(e, CURLOPT_PRIVATE, (char *)q);
  EASY_SETOPT(e, CURLOPT_ERRORBUFFER, q->errbuf);
  EASY_SETOPT(e, CURLOPT_HEADERFUNCTION, easy_header_cb);
  EASY_SETOPT(e, CURLOPT_HEADERDATA, q);
  EASY_SETOPT(e, CURLOPT_WRITEFUNCTION, easy_write_cb);
  EASY_SETOPT(e, CURLOPT_WRITEDATA, q);
  EASY_SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, http_multi_closesocket_cb);
  EASY_SETOPT(e, CURLOPT_CLOSESOCKETDATA, q->pool);
  return CURLE_OK;
}

CURLcode http_easy_setup_upload(http_req *q) {
  q->uploading = 1;
  q->upload_high = 256 * 1024;
  EASY_SETOPT(q->easy, CURLOPT_POST, 1L);
  EASY_SETOPT(q->easy, CURLOPT_READFUNCTION, easy_read_cb);
  EASY_SETOPT(q->easy, CURLOPT_READDATA, q);
  return CURLE_OK;
}

CURLcode http_easy_setup_progress(http_req *q) {
  EASY_SETOPT(q->easy, CURLOPT_XFERINFOFUNCTION, easy_progress_cb);
  EASY_SETOPT(q->easy, CURLOPT_XFERINFODATA, q);
  EASY_SETOPT(q->easy, CURLOPT_NOPROGRESS, 0L);
  return CURLE_OK;
}

/* ---------------------------------------------------------------------------
 * Reading and feeding */

/* Resumes a transfer paused by back-pressure or for upload data (the
 * direction whose flag the caller cleared; the other stays as it is). curl may
 * fail here (what it held back while paused no longer fits: a compression
 * bomb): the transfer then ends with that failure, as if curl had reported
 * it, or it would wait forever. Not from inside a curl callback. */
static CURLcode easy_resume(http_req *q) {
  CURLcode rc;
  q->resuming = 1;
  rc = curl_easy_pause(q->easy, easy_pause_mask(q));
  q->resuming = 0;
  if (rc != CURLE_OK && q->state == HTTP_REQ_ACTIVE) {
    q->result = rc;
    http_multi_remove(q, HTTP_REQ_DONE);
    http_multi_post(q, HTTP_EV_DONE);
  }
  return rc;
}

tide_chunk *http_easy_shift(http_req *q) {
  tide_chunk *c = tide_chunks_shift(&q->chunks);
  if (c && q->paused && q->chunks.bytes < q->high_water / 2 &&
      q->state == HTTP_REQ_ACTIVE) {
    /* May call easy_write_cb at once with the data curl held back (and
     * pause again); a failure to resume is a failure of that data. */
    q->paused = 0;
    if (easy_resume(q) != CURLE_OK) q->paused = 1;
  }
  return c;
}

int http_easy_upload_push(http_req *q, const char *data, size_t len) {
  if (data == NULL)
    q->upload_eof = 1;
  else if (len && tide_chunks_push(&q->upload, data, len, q->alloc, q->alloc_ud) != 0)
    return -1;
  if (q->upload_paused && q->state == HTTP_REQ_ACTIVE) {
    q->upload_paused = 0;
    (void)easy_resume(q);
  }
  return 0;
}

int http_easy_upload_room(const http_req *q) { return q->upload.bytes < q->upload_high; }

/* ---------------------------------------------------------------------------
 * Errors */

/* "dns", "connect", "tls", "send", "first_byte", "receive", "redirect" or
 * "request". A timeout says where it struck, from how far the transfer
 * got. */
const char *http_easy_phase(http_req *q) {
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

/* ---------------------------------------------------------------------------
 * Release */

void http_easy_release(http_req *q) {
  http_pool *c = q->pool;
  int keep = c && !c->closed;
  http_file_release(q);
  if (q->easy) {
    /* A reset handle is cheaper to reuse than a new one is to make; only
     * one whose transfer went well (after some failures curl keeps state
     * that a reset does not clear, and setup then fails). */
    if (keep && q->result == CURLE_OK && c->nspare < HTTP_SPARE_EASY) {
      /* curl 7.88's reset keeps the list of cookie files (and leaks it):
       * emptied first (a shared jar stays as it is). */
      if (q->cookies) curl_easy_setopt(q->easy, CURLOPT_COOKIEFILE, (char *)NULL);
      curl_easy_reset(q->easy);
      c->spare[c->nspare++] = q->easy;
    } else {
      curl_easy_cleanup(q->easy);
    }
    q->easy = NULL;
  }
  curl_mime_free(q->mime);
  q->mime = NULL;
  curl_slist_free_all(q->headers);
  curl_slist_free_all(q->proxy_headers);
  q->headers = q->proxy_headers = NULL;
  tide_buf_free(&q->head, q->alloc, q->alloc_ud);
  if (keep && q->body.cap > c->spare_body.cap && q->body.cap <= HTTP_SPARE_BODY_MAX) {
    tide_buf_free(&c->spare_body, q->alloc, q->alloc_ud);
    c->spare_body = q->body;
    c->spare_body.len = 0;
    q->body.data = NULL;
    q->body.cap = 0;
  }
  tide_buf_free(&q->body, q->alloc, q->alloc_ud);
  tide_chunks_clear(&q->chunks, q->alloc, q->alloc_ud);
  tide_chunks_clear(&q->upload, q->alloc, q->alloc_ud);
}
