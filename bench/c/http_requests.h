/* http_requests.h -- the request bookkeeping shared by the C HTTP floors
 * (http_multi_poll.c, http_multi_uv.c), so that they differ only in how
 * they drive libcurl: INFLIGHT easy handles set up once, a write callback
 * that counts the body's bytes and keeps nothing, and each handle re-added
 * for the next request once it finished (its connection reused). */
#ifndef BENCH_HTTP_REQUESTS_H
#define BENCH_HTTP_REQUESTS_H

#include <curl/curl.h>

#include "common.h"

typedef struct xfer {
  CURL *easy;
  long long bytes; /* of the current response's body */
} xfer;

typedef struct http_tally {
  long started, finished, ok; /* ok: a 200 with SIZE bytes */
  long long bytes;            /* body bytes of all responses */
} http_tally;

static size_t http_count_bytes(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p;
  ((xfer *)ud)->bytes += (long long)(size * nmemb);
  return size * nmemb;
}

/* INFLIGHT handles for a's URL (bufsize: CURLOPT_BUFFERSIZE, 0 for curl's
 * default); exits if curl cannot make them. */
static inline xfer *http_make_handles(const http_args *a, long bufsize) {
  xfer *xs = calloc((size_t)a->inflight, sizeof *xs);
  if (!xs) exit(1);
  for (long i = 0; i < a->inflight; i++) {
    CURL *e = curl_easy_init();
    if (!e) exit(1);
    xs[i].easy = e;
    curl_easy_setopt(e, CURLOPT_URL, a->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_count_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &xs[i]);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&xs[i]);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (bufsize) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, bufsize);
  }
  return xs;
}

/* Checks and counts every finished transfer, re-adding its handle for the
 * next request while some are left to start. */
static inline void http_collect(CURLM *multi, const http_args *a, http_tally *t) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
    xfer *x;
    long status = 0;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (msg->data.result != CURLE_OK)
      fprintf(stderr, "%s: %s\n", a->url, curl_easy_strerror(msg->data.result));
    else if (status == 200 && x->bytes == a->size)
      t->ok++;
    t->bytes += x->bytes;
    t->finished++;
    curl_multi_remove_handle(multi, x->easy);
    if (t->started < a->n) {
      x->bytes = 0;
      curl_multi_add_handle(multi, x->easy); /* the next request, same handle */
      t->started++;
    }
  }
}

static inline void http_free_handles(CURLM *multi, const http_args *a, xfer *xs) {
  for (long i = 0; i < a->inflight; i++) {
    curl_multi_remove_handle(multi, xs[i].easy);
    curl_easy_cleanup(xs[i].easy);
  }
  free(xs);
}

#endif
