/* http_multi.c -- a pool: one CURLM (its connections and HTTP/2 streams)
 * driven by the libuv loop.
 *
 * libcurl tells us which sockets to watch (a uv_poll_t each) and when to
 * time out (one uv_timer_t; "now" becomes a one-shot idle handle, because a
 * 0 ms timer re-armed from its own callback would run again in the same
 * loop iteration). Those callbacks are C only: they call
 * curl_multi_socket_action, curl calls http_easy.c's callbacks, and a
 * request with news for Lua (headers, data, done, progress, room for upload
 * data) is handed to its notify function, which queues it for the driver.
 *
 * Owns: the CURLM, the socket and timer handles, a request's ACTIVE state
 * (adding it to the multi, taking it out, finishing it) and the pool's list
 * of requests.
 * May call: libuv, libcurl, buf.c. No Lua here. */
#include <string.h>
#include <unistd.h>

#include "http.h"

/* A socket libcurl asked us to watch. It lives until curl closes the
 * socket (http_multi_closesocket_cb), not just until curl stops watching
 * it: curl 7.88 drops an idle keep-alive connection from the watch list
 * after every transfer and adds it back for the next, and re-creating the
 * poll handle each time cost ~7 system calls per request.
 *
 * Nor is a connection curl stops watching because back-pressure paused its
 * transfer taken out of epoll at once: it is usually resumed in the same
 * loop turn, and libuv's stop and start cost three epoll_ctl calls per
 * pause, one of them failing (uv_poll_start first removes the descriptor
 * again, which stop already took out). An event that comes meanwhile is
 * dropped: the loop iteration that paused the transfer ends with it (the
 * driver then runs, and resumes the transfer if its reader kept up). Only
 * a second one stops the handle, so that a paused socket cannot keep the
 * loop spinning. Nor does the handle keep the loop alive while curl does
 * not want it. */
struct http_sock {
  uv_poll_t poll;
  http_pool *pool;
  curl_socket_t fd;
  int want;     /* UV_READABLE/UV_WRITABLE: what curl wants to hear of */
  int watching; /* what the poll handle is started with (0: stopped) */
  int idle;     /* events that came while curl wanted none */
  tide_alloc_fn alloc;
  void *alloc_ud;
};

/* curl's timer: a uv timer, and "time out now" as a one-shot idle handle
 * (one loop turn later). Their memory goes back once both close callbacks
 * ran (libuv's rule), which may be after the pool's userdata is gone. */
struct http_clock {
  uv_timer_t timer;
  uv_idle_t kick;
  tide_alloc_fn alloc;
  void *alloc_ud;
  int open; /* handles not closed yet */
};

/* ---------------------------------------------------------------------------
 * Requests in the multi */

void http_multi_post(http_req *q, unsigned ev) {
  int queued = q->pending != 0;
  q->pending |= ev;
  if (!queued) q->notify(q);
}

void http_multi_link(http_pool *p, http_req *q) {
  q->pool = p;
  q->prev = NULL;
  q->next = p->reqs;
  if (q->next) q->next->prev = q;
  p->reqs = q;
}

void http_multi_unlink(http_req *q) {
  if (!q->pool) return;
  if (q->prev)
    q->prev->next = q->next;
  else
    q->pool->reqs = q->next;
  if (q->next) q->next->prev = q->prev;
  q->prev = q->next = NULL;
}

CURLMcode http_multi_add(http_req *q) {
  CURLMcode rc = curl_multi_add_handle(q->pool->multi, q->easy);
  if (rc == CURLM_OK) {
    q->state = HTTP_REQ_ACTIVE;
    q->pool->transfers++;
  }
  return rc;
}

void http_multi_remove(http_req *q, http_req_state to) {
  if (q->state != HTTP_REQ_ACTIVE) return;
  /* Mid-transfer this closes the connection: nothing else may use it. */
  curl_multi_remove_handle(q->pool->multi, q->easy);
  q->state = to;
  q->pool->transfers--;
}

/* Takes finished transfers from curl (never from inside a curl callback:
 * removing a handle is allowed here). */
static void multi_check_done(http_pool *p) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
    http_req *q = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
    q->result = msg->data.result;
    http_multi_remove(q, HTTP_REQ_DONE);
    http_multi_post(q, HTTP_EV_DONE | HTTP_EV_PROGRESS);
  }
}

/* ---------------------------------------------------------------------------
 * Sockets */

static void multi_sock_close_cb(uv_handle_t *h) {
  http_sock *s = (http_sock *)h;
  s->alloc(s->alloc_ud, s, sizeof *s, 0);
}

/* Starts or stops s's poll handle for what curl wants (nothing when it
 * already watches that). */
static void multi_sock_watch(http_sock *s, int events);

static void multi_poll_cb(uv_poll_t *h, int status, int events) {
  http_sock *s = (http_sock *)h;
  http_pool *p = s->pool;
  int running, flags = 0;
  if (!s->want) {
    /* curl stopped watching it (see http_sock). */
    if (s->idle++) multi_sock_watch(s, 0);
    return;
  }
  /* On an error (POLLERR/POLLHUP) let curl read and write the socket: it
   * then finds the real cause (a reset, ...) and reports that. */
  if (status < 0) flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  if (events & s->want & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & s->want & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  if (!flags) return; /* nothing curl asked for */
  curl_multi_socket_action(p->multi, s->fd, flags, &running);
  multi_check_done(p);
}

static void multi_sock_watch(http_sock *s, int events) {
  s->want = events;
  s->idle = 0;
  if (events && events == s->watching) {
    uv_ref((uv_handle_t *)&s->poll);
    return;
  }
  if (!events) {
    uv_poll_stop(&s->poll);
  } else {
    uv_poll_start(&s->poll, events, multi_poll_cb);
    uv_ref((uv_handle_t *)&s->poll);
  }
  s->watching = events;
}

/* The pool's sockets by descriptor (socks[fd]), kept across curl's
 * remove/add cycles. */
static http_sock *multi_sock_of(http_pool *p, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < p->nsocks ? p->socks[fd] : NULL;
}

static int multi_sock_put(http_pool *p, curl_socket_t fd, http_sock *s) {
  if ((size_t)fd >= p->nsocks) {
    size_t n = p->nsocks ? p->nsocks : 64;
    http_sock **socks;
    while (n <= (size_t)fd)
      n *= 2;
    socks = p->alloc(p->alloc_ud, p->socks, p->nsocks * sizeof *socks, n * sizeof *socks);
    if (!socks) return -1;
    memset(socks + p->nsocks, 0, (n - p->nsocks) * sizeof *socks);
    p->socks = socks;
    p->nsocks = n;
  }
  p->socks[fd] = s;
  return 0;
}

static void multi_sock_drop(http_pool *p, http_sock *s) {
  p->socks[s->fd] = NULL;
  uv_close((uv_handle_t *)&s->poll, multi_sock_close_cb);
}

static int multi_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp,
                           void *sockp) {
  http_pool *p = userp;
  http_sock *s = sockp ? sockp : multi_sock_of(p, fd);
  if (what == CURL_POLL_REMOVE) {
    /* Stop watching (lazily, see http_sock), keep the handle: curl may
     * add the socket back. */
    http_req *q = NULL;
    if (!s) return 0;
    /* Only a transfer's own connection when back-pressure paused it: a
     * socket curl closes without http_multi_closesocket_cb (its resolver's)
     * must leave epoll now, as its descriptor may come back as another. */
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
    if (q && q->paused) {
      s->want = 0;
      uv_unref((uv_handle_t *)&s->poll);
    } else {
      multi_sock_watch(s, 0);
    }
    return 0;
  }
  if (!s) {
    s = p->alloc(p->alloc_ud, NULL, 0, sizeof *s);
    if (!s) return -1;
    if (uv_poll_init_socket(p->loop, &s->poll, fd) != 0) {
      p->alloc(p->alloc_ud, s, sizeof *s, 0);
      return -1;
    }
    s->pool = p;
    s->fd = fd;
    s->want = s->watching = s->idle = 0;
    s->alloc = p->alloc;
    s->alloc_ud = p->alloc_ud;
    if (multi_sock_put(p, fd, s) != 0) {
      uv_close((uv_handle_t *)&s->poll, multi_sock_close_cb);
      return -1;
    }
  }
  if (!sockp) curl_multi_assign(p->multi, fd, s);
  multi_sock_watch(s, ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
                          ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0));
  return 0;
}

/* curl closes a socket: let go of its poll handle first (libuv must not
 * watch a closed descriptor). */
int http_multi_closesocket_cb(void *pool, curl_socket_t fd) {
  http_pool *p = pool;
  http_sock *s = p ? multi_sock_of(p, fd) : NULL;
  if (s) {
    uv_poll_stop(&s->poll);
    multi_sock_drop(p, s);
  }
  return close(fd);
}

/* ---------------------------------------------------------------------------
 * curl's timer */

static void multi_on_timeout(http_pool *p) {
  int running;
  curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  multi_check_done(p);
}

static void multi_timer_cb(uv_timer_t *h) { multi_on_timeout(h->data); }

static void multi_kick_cb(uv_idle_t *h) {
  uv_idle_stop(h);
  multi_on_timeout(h->data);
}

static int multi_timer_fn(CURLM *m, long ms, void *userp) {
  http_pool *p = userp;
  http_clock *k = p->clock;
  (void)m;
  if (ms < 0) {
    uv_timer_stop(&k->timer);
    uv_idle_stop(&k->kick);
  } else if (ms == 0) {
    /* Not a 0 ms timer: from a timer callback it would run again in the
     * same iteration, before any I/O. The idle phase comes next instead. */
    uv_timer_stop(&k->timer);
    uv_idle_start(&k->kick, multi_kick_cb);
  } else {
    uv_idle_stop(&k->kick);
    uv_timer_start(&k->timer, multi_timer_cb, (uint64_t)ms, 0);
  }
  return 0;
}

/* ---------------------------------------------------------------------------
 * The pool */

static void multi_clock_close_cb(uv_handle_t *h) {
  http_clock *k = h->data;
  if (--k->open == 0) k->alloc(k->alloc_ud, k, sizeof *k, 0);
}

int http_multi_open(http_pool *p, uv_loop_t *loop, tide_alloc_fn alloc, void *ud,
                    long max_total, long max_host) {
  p->closed = 1; /* until fully set up */
  p->loop = loop;
  p->alloc = alloc;
  p->alloc_ud = ud;
  p->clock = alloc(ud, NULL, 0, sizeof *p->clock);
  p->multi = curl_multi_init();
  if (!p->clock || !p->multi) {
    if (p->clock) alloc(ud, p->clock, sizeof *p->clock, 0);
    if (p->multi) curl_multi_cleanup(p->multi);
    p->clock = NULL;
    p->multi = NULL;
    return -1;
  }
  uv_timer_init(loop, &p->clock->timer);
  uv_idle_init(loop, &p->clock->kick);
  p->clock->timer.data = p;
  p->clock->kick.data = p;
  p->clock->alloc = alloc;
  p->clock->alloc_ud = ud;
  p->clock->open = 2;
  curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
  curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
  curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, multi_timer_fn);
  curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
  curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  if (max_total > 0)
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
  if (max_host > 0) curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  p->closed = 0;
  return 0;
}

void http_multi_close(http_pool *p) {
  if (p->closed) return;
  p->closed = 1;
  while (p->nspare)
    curl_easy_cleanup(p->spare[--p->nspare]);
  /* Closes pooled connections (http_multi_closesocket_cb lets their
   * handles go). */
  curl_multi_cleanup(p->multi);
  p->multi = NULL;
  for (size_t fd = 0; fd < p->nsocks; fd++)
    if (p->socks[fd]) multi_sock_drop(p, p->socks[fd]);
  p->alloc(p->alloc_ud, p->socks, p->nsocks * sizeof *p->socks, 0);
  p->socks = NULL;
  p->nsocks = 0;
  tide_buf_free(&p->spare_body, p->alloc, p->alloc_ud);
  p->clock->timer.data = p->clock;
  p->clock->kick.data = p->clock;
  uv_close((uv_handle_t *)&p->clock->timer, multi_clock_close_cb);
  uv_close((uv_handle_t *)&p->clock->kick, multi_clock_close_cb);
  p->clock = NULL;
}
