/* common.h -- shared by the C floor programs: the command line, memory
 * figures from /proc/self/status, clocks, and the RESULT line format that
 * bench/driver.lua parses (the same one every benchmark program prints). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Positional argument i as a long, or def when absent. */
static inline long arg_long(int argc, char **argv, int i, long def) {
  if (argc <= i || argv[i][0] == '\0') return def;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end != '\0' || v <= 0) {
    fprintf(stderr, "argument #%d: positive integer expected, got '%s'\n", i, argv[i]);
    exit(2);
  }
  return v;
}

/* A field of /proc/self/status ("VmRSS", "VmHWM") in bytes, -1 if absent. */
static inline long proc_status(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t len = strlen(field);
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = strtol(line + len + 1, NULL, 10);
      break;
    }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* Resets VmHWM to the current VmRSS, so that a later VmHWM is the peak of
 * the measured stretch alone. */
static inline void reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return;
  fputs("5", f);
  fclose(f);
}

/* Monotonic seconds. */
static inline double mono_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds this process has used, user + system, all threads. */
static inline double cpu_seconds(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* The HTTP workloads (W4, W5): every program takes
 *   N WORKLOAD URL SIZE INFLIGHT
 * (N requests of URL, whose body must be SIZE bytes, INFLIGHT at a time) and
 * prints every figure of both workloads; the report picks its own. */
typedef struct http_args {
  long n;
  const char *workload, *url;
  long size, inflight;
} http_args;

static inline http_args http_parse(int argc, char **argv) {
  http_args a;
  if (argc < 6) {
    fprintf(stderr, "usage: %s N WORKLOAD URL SIZE INFLIGHT\n", argv[0]);
    exit(2);
  }
  a.n = arg_long(argc, argv, 1, 0);
  a.workload = argv[2];
  a.url = argv[3];
  a.size = arg_long(argc, argv, 4, 0);
  a.inflight = arg_long(argc, argv, 5, 0);
  if (a.inflight > a.n) a.inflight = a.n;
  return a;
}

/* count: requests that got a 200 with SIZE bytes; bytes: body bytes of all;
 * wall and cpu: seconds of the measured stretch; rss0: VmRSS before it,
 * peak: VmHWM over it, in bytes. */
static inline void http_result(const http_args *a, const char *impl, long count,
                               long long bytes, double wall, double cpu, long rss0,
                               long peak) {
  printf("RESULT workload=%s impl=%s n=%ld count=%ld bytes=%lld wall_s=%.6f rps=%.1f "
         "cpu_us=%.3f "
         "mibps=%.1f rss_mib=%.2f rss0_mib=%.2f\n",
         a->workload, impl, a->n, count, bytes, wall, (double)count / wall,
         cpu * 1e6 / (double)a->n, (double)bytes / 1048576.0 / wall,
         (double)peak / 1048576.0, (double)rss0 / 1048576.0);
  fflush(stdout);
}

#endif
