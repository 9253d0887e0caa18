/* slowdns.c -- an LD_PRELOAD shim for the specs: a resolver that is slow
 * on purpose, with no DNS traffic at all.
 *
 *   cc -shared -fPIC -o slowdns.so spec/support/slowdns.c -ldl
 *   LD_PRELOAD=./slowdns.so TIDE_SLOW_DNS_MS=3000 lua5.4 script.lua
 *
 * getaddrinfo of a name ending in ".slow" sleeps TIDE_SLOW_DNS_MS
 * milliseconds (default 3000), then answers 127.0.0.1; any other name goes
 * to the real getaddrinfo. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*slowdns_fn)(const char *, const char *, const struct addrinfo *,
                          struct addrinfo **);

static slowdns_fn slowdns_real;

__attribute__((constructor)) static void slowdns_init(void) {
  slowdns_real = (slowdns_fn)dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
  size_t n = node ? strlen(node) : 0;
  if (!slowdns_real) slowdns_init();
  if (n > 5 && strcmp(node + n - 5, ".slow") == 0) {
    const char *env = getenv("TIDE_SLOW_DNS_MS");
    long ms = env ? atol(env) : 3000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    struct addrinfo h;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    memset(&h, 0, sizeof h);
    if (hints) h = *hints;
    h.ai_family = AF_INET;
    h.ai_flags |= AI_NUMERICHOST;
    return slowdns_real("127.0.0.1", service, &h, res);
  }
  return slowdns_real(node, service, hints, res);
}
