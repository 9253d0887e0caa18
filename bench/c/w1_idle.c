/* w1_idle.c -- the W1 floor: what one libuv loop turn costs from C.
 *
 * An idle handle keeps the loop from blocking in poll, and its callback
 * runs once per uv_run iteration, so counting callbacks counts turns. This
 * is the least work a loop-turn `sleep(0)` can be built on.
 *   w1_idle N      -> RESULT workload=W1 impl=c ... ns=<ns per turn> */
#include <uv.h>

#include "common.h"

static long turns, limit;

static void on_idle(uv_idle_t *h) {
  if (++turns == limit) uv_idle_stop(h);
}

/* Runs `n` loop turns and returns the nanoseconds they took. */
static uint64_t spin(uv_loop_t *loop, uv_idle_t *idle, long n) {
  turns = 0;
  limit = n;
  uint64_t t0 = uv_hrtime();
  uv_idle_start(idle, on_idle);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_hrtime() - t0;
}

int main(int argc, char **argv) {
  long n = arg_long(argc, argv, 1, 200000);
  uv_loop_t *loop = uv_default_loop();
  uv_idle_t idle;
  uv_idle_init(loop, &idle);

  spin(loop, &idle, n / 10 + 1); /* warm-up, as every W1 program does */
  uint64_t ns = spin(loop, &idle, n);

  printf("RESULT workload=W1 impl=c n=%ld count=%ld ns=%.1f\n", n, turns, (double)ns / n);
  uv_close((uv_handle_t *)&idle, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
