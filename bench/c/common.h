/* common.h -- shared by the C floor programs: the command line, memory
 * figures from /proc/self/status, and the RESULT line format that
 * bench/driver.lua parses (the same one every benchmark program prints). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
