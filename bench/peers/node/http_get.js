// W4 and W5 for Node: N GETs of URL, INFLIGHT at a time (INFLIGHT async
// workers, each requesting in a loop); every response must be a 200 with
// SIZE bytes. Bodies are dropped once their length is known.
//   node bench/peers/node/http_get.js N WORKLOAD URL SIZE INFLIGHT http|fetch
//   http   (impl node-http)   http.get with a keep-alive http.Agent, maxSockets INFLIGHT
//          (body read chunk by chunk from the 'data' events)
//   fetch  (impl node-fetch)  the built-in fetch (undici, its global dispatcher
//                             keeps connections alive), `await res.arrayBuffer()`
// Wall and CPU time (process.cpuUsage: getrusage, user + system, all threads)
// run from the first request to the last completion; peak RSS is VmHWM over
// that stretch (reset just before).
'use strict';
const http = require('http');
const { argInt, argStr, procStatus, resetPeak, now, result } = require('./common');

const n = argInt(1);
const workload = argStr(2);
const url = argStr(3);
const size = argInt(4);
const inflight = Math.min(argInt(5), n);
const variant = argStr(6, 'http');
if (variant !== 'http' && variant !== 'fetch') throw new Error(`variant: http or fetch, got ${variant}`);

const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });

// One request with http.get: resolves with [status, body length].
function getHttp() {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let len = 0;
      res.on('data', (chunk) => {
        len += chunk.length;
      });
      res.on('end', () => resolve([res.statusCode, len]));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function getFetch() {
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  return [res.status, body.byteLength];
}

(async () => {
  const get = variant === 'http' ? getHttp : getFetch;
  let ok = 0;
  let bytes = 0;
  let started = 0;
  async function worker() {
    while (started < n) {
      started++;
      const [status, len] = await get();
      if (status === 200 && len === size) ok++;
      bytes += len;
    }
  }
  resetPeak();
  const rss0 = procStatus('VmRSS');
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const workers = [];
  for (let k = 0; k < inflight; k++) workers.push(worker());
  await Promise.all(workers);
  const wall = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const peak = procStatus('VmHWM');
  result(workload, `node-${variant}`, {
    n,
    count: ok,
    bytes,
    wall_s: wall,
    rps: ok / wall,
    cpu_us: (cpu.user + cpu.system) / n,
    mibps: bytes / 1048576 / wall,
    rss_mib: peak / 1048576,
    rss0_mib: rss0 / 1048576,
  });
  agent.destroy();
  process.exit(0); // fetch's pooled connections would keep the process alive
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
