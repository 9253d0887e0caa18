/* w3_timers.c -- the W3 floor: 100k concurrent 100 ms sleeps from C.
 *
 * What a C programmer would write: one array of uv_timer_t, every timer
 * started, one callback that counts. libuv keeps them in its own timer heap.
 * Wall time runs from before the first timer is started to the return of
 * uv_run; memory is the resident peak over that stretch minus the resident
 * size before it, per timer.
 *   w3_timers N [MS]  -> RESULT workload=W3 impl=c ... wall_s= rss_B= */
#include <uv.h>

#include "common.h"

static long done;

static void on_timer(uv_timer_t *t) {
  (void)t;
  done++;
}

int main(int argc, char **argv) {
  long n = arg_long(argc, argv, 1, 100000);
  long ms = arg_long(argc, argv, 2, 100);
  uv_loop_t *loop = uv_default_loop();

  reset_peak();
  long rss0 = proc_status("VmRSS");
  uint64_t t0 = uv_hrtime();

  uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
  if (!timers) return 1;
  uv_update_time(loop); /* sleeps start now, not at the loop's last tick */
  for (long i = 0; i < n; i++) {
    uv_timer_init(loop, &timers[i]);
    uv_timer_start(&timers[i], on_timer, (uint64_t)ms, 0);
  }
  uv_run(loop, UV_RUN_DEFAULT); /* returns once every timer has fired */

  double wall = (double)(uv_hrtime() - t0) / 1e9;
  long peak = proc_status("VmHWM");
  printf("RESULT workload=W3 impl=c n=%ld count=%ld wall_s=%.6f rss_B=%.1f "
         "timer_struct_B=%zu\n",
         n, done, wall, (double)(peak - rss0) / n, sizeof(uv_timer_t));
  fflush(stdout);
  /* Tidy up outside the measured stretch: handles are closed before their
   * memory goes. */
  for (long i = 0; i < n; i++)
    uv_close((uv_handle_t *)&timers[i], NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  free(timers);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
