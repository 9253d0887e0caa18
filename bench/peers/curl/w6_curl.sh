#!/usr/bin/env bash
# W6's reference: the curl command line, N times one after the other.
#   bench/peers/curl/w6_curl.sh N WORKLOAD URL SIZE INFLIGHT MODE SRC
# MODE download (impl curl-o): `curl -sS -o <tmp> URL`;
# MODE upload (impl curl-T): `curl -sS -T SRC <URL's host>/upload/curl.bin`.
# Each transfer is checked (200; 201 or 204 and the stored size). Wall time
# and the CPU of the curl processes (user + system, from bash's `times`
# after they were waited for: the children's figures, which include curl's
# start-up, and the few small commands that check each run) cover the N
# runs.
set -euo pipefail
n=$1 workload=$2 url=$3 size=$4 mode=${6:-download} src=${7:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
host=$(printf '%s' "$url" | sed -E 's#^(https?://[^/]+).*#\1#')
stored="${src%/*}/upload/curl.bin"
ticks=$(getconf CLK_TCK)
child_ticks() { # user + system ticks of this shell's waited-for children
  awk '{print $16 + $17}' "/proc/$$/stat"
}
ok=0 bytes=0
c0=$(child_ticks)
t0=$(date +%s.%N)
for _ in $(seq "$n"); do
  if [ "$mode" = download ]; then
    code=$(curl -sS -o "$out" -w '%{http_code}' "$url")
    got=$(stat -c %s "$out")
    if [ "$code" = 200 ] && [ "$got" = "$size" ]; then ok=$((ok + 1)); fi
  else
    code=$(curl -sS -o /dev/null -w '%{http_code}' -T "$src" "$host/upload/curl.bin")
    got=$(stat -c %s "$stored")
    if { [ "$code" = 201 ] || [ "$code" = 204 ]; } && [ "$got" = "$size" ]; then ok=$((ok + 1)); fi
  fi
  bytes=$((bytes + got))
done
t1=$(date +%s.%N)
c1=$(child_ticks)
impl=curl-o
[ "$mode" = download ] || impl=curl-T
awk -v w="$workload" -v i="$impl" -v n="$n" -v ok="$ok" -v b="$bytes" -v t0="$t0" -v t1="$t1" \
  -v c0="$c0" -v c1="$c1" -v hz="$ticks" 'BEGIN {
    wall = t1 - t0
    printf "RESULT workload=%s impl=%s bytes=%.0f count=%d cpu_ms=%.6g mibps=%.6g n=%d wall_s=%.6g\n",
      w, i, b, ok, (c1 - c0) / hz * 1000 / n, b / 1048576 / wall, n, wall
  }'
