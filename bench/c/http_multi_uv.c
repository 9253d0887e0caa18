/* http_multi_uv.c -- W4/W5 in C with libcurl driven by libuv: the classic
 * integration of curl's multi-uv.c example. curl_multi_socket_action is
 * called from a uv_poll_t per socket (CURLMOPT_SOCKETFUNCTION) and from one
 * uv_timer_t (CURLMOPT_TIMERFUNCTION; a 0 ms timeout becomes 1 ms, as in the
 * example, since libuv's 0 ms timer set from a timer callback runs again in
 * the same iteration). Finished transfers are collected after every action.
 *
 * Requests as in http_multi_poll.c: INFLIGHT easy handles, set up once,
 * each re-added for the next request once it finished (its connection is
 * reused), a write callback that counts the body's bytes.
 *   http_multi_uv N WORKLOAD URL SIZE INFLIGHT -> RESULT ... impl=c-uv ... */
#include <uv.h>

#include "http_requests.h"

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
} sock_ctx;

static uv_loop_t *loop;
static uv_timer_t timeout;
static CURLM *multi;
static http_args a;
static http_tally tally;

static void check_multi_info(void) {
  http_collect(multi, &a, &tally);
  if (tally.finished >= a.n) uv_stop(loop);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_ctx *s = h->data;
  int running, flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(multi, s->fd, flags, &running);
  check_multi_info();
}

static void on_timeout(uv_timer_t *t) {
  int running;
  (void)t;
  curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi_info();
}

static int start_timeout(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  (void)userp;
  if (timeout_ms < 0) {
    uv_timer_stop(&timeout);
  } else {
    if (timeout_ms == 0) timeout_ms = 1; /* "as soon as possible": next iteration */
    uv_timer_start(&timeout, on_timeout, (uint64_t)timeout_ms, 0);
  }
  return 0;
}

static void on_close(uv_handle_t *h) { free(h->data); }

static int handle_socket(CURL *e, curl_socket_t fd, int action, void *userp,
                         void *socketp) {
  sock_ctx *s = socketp;
  (void)e;
  (void)userp;
  if (action == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, on_close);
      curl_multi_assign(multi, fd, NULL);
    }
    return 0;
  }
  if (!s) {
    s = malloc(sizeof *s);
    if (!s) return -1;
    s->fd = fd;
    uv_poll_init_socket(loop, &s->poll, fd);
    s->poll.data = s;
    curl_multi_assign(multi, fd, s);
  }
  uv_poll_start(&s->poll,
                (action & CURL_POLL_IN ? UV_READABLE : 0) |
                    (action & CURL_POLL_OUT ? UV_WRITABLE : 0),
                on_poll);
  return 0;
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "gave up after 120 s with %ld of %ld done\n", tally.finished, a.n);
  uv_stop(loop);
}

int main(int argc, char **argv) {
  a = http_parse(argc, argv);
  loop = uv_default_loop();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi = curl_multi_init();
  if (!multi) return 1;
  xfer *xs = http_make_handles(&a, 0);
  uv_timer_init(loop, &timeout);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, handle_socket);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, start_timeout);
  uv_timer_t deadline; /* a hang is a failure, not a figure */
  uv_timer_init(loop, &deadline);
  uv_timer_start(&deadline, on_deadline, 120000, 0);
  uv_unref((uv_handle_t *)&deadline);

  reset_peak();
  long rss0 = proc_status("VmRSS");
  double t0 = mono_seconds(), cpu0 = cpu_seconds();
  for (long i = 0; i < a.inflight; i++, tally.started++)
    curl_multi_add_handle(multi, xs[i].easy);
  uv_run(loop, UV_RUN_DEFAULT); /* until the last one finished (uv_stop) */
  double wall = mono_seconds() - t0, cpu = cpu_seconds() - cpu0;
  http_result(&a, "c-uv", tally.ok, tally.bytes, wall, cpu, rss0, proc_status("VmHWM"));

  http_free_handles(multi, &a, xs);
  curl_multi_cleanup(multi); /* closes the connections: their polls are closed */
  uv_close((uv_handle_t *)&timeout, NULL);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  curl_global_cleanup();
  return tally.ok == a.n ? 0 : 1;
}
