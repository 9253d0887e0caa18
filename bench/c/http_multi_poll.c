/* http_multi_poll.c -- the W4/W5 floor: libcurl's multi interface driven
 * by curl_multi_poll, as a C programmer would write it.
 *
 * INFLIGHT easy handles are set up once (URL, a write callback that counts
 * the body's bytes and keeps nothing) and added to one multi handle; when
 * one finishes it is checked (200, SIZE bytes), removed and added again
 * for the next request, so its connection is reused from the multi's pool.
 * The loop is curl_multi_perform, curl_multi_info_read, curl_multi_poll.
 * Wall and CPU time (getrusage) run from the first add to the last
 * completion; peak RSS is VmHWM over that stretch (reset just before).
 *   http_multi_poll N WORKLOAD URL SIZE INFLIGHT [BUFFERSIZE]
 *   -> RESULT workload=W4 impl=c-poll (c-poll-100k with BUFFERSIZE 102400) ... */
#include "http_requests.h"

int main(int argc, char **argv) {
  http_args a = http_parse(argc, argv);
  long bufsize = argc > 6 ? arg_long(argc, argv, 6, 0) : 0;
  char impl[32];
  snprintf(impl, sizeof impl, bufsize ? "c-poll-%ldk" : "c-poll", bufsize / 1024);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  if (!multi) return 1;
  xfer *xs = http_make_handles(&a, bufsize);
  http_tally t = {0};
  reset_peak();
  long rss0 = proc_status("VmRSS");
  double t0 = mono_seconds(), cpu0 = cpu_seconds();
  double deadline = t0 + 120; /* a hang is a failure, not a figure */
  for (long i = 0; i < a.inflight; i++, t.started++)
    curl_multi_add_handle(multi, xs[i].easy);
  while (t.finished < a.n) {
    int running;
    curl_multi_perform(multi, &running);
    http_collect(multi, &a, &t);
    if (t.finished >= a.n) break;
    if (mono_seconds() > deadline) {
      fprintf(stderr, "gave up after 120 s with %ld of %ld done\n", t.finished, a.n);
      break;
    }
    curl_multi_poll(multi, NULL, 0, 1000, NULL);
  }
  double wall = mono_seconds() - t0, cpu = cpu_seconds() - cpu0;
  http_result(&a, impl, t.ok, t.bytes, wall, cpu, rss0, proc_status("VmHWM"));

  http_free_handles(multi, &a, xs);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return t.ok == a.n ? 0 : 1;
}
