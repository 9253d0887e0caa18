// W3 for Node: N async functions each awaiting a 100 ms setTimeout; the
// last one to finish reports. Wall time from the first call to the last
// completion; memory is the resident peak over that stretch minus the
// resident size before it, per task (run with --expose-gc so the baseline
// is taken after a full collection).
//   node --expose-gc bench/peers/node/w3.js N [seconds]
'use strict';
const { argInt, argStr, procStatus, resetPeak, now, result } = require('./common');

const n = argInt(1, 100000);
const ms = Math.round(Number(argStr(2, '0.1')) * 1000);
const sleep = (t) => new Promise((r) => setTimeout(r, t));
let done = 0;
let rss0;
let t0;

async function worker() {
  await sleep(ms);
  if (++done === n) {
    const wall = now() - t0;
    const rssB = (procStatus('VmHWM') - rss0) / n;
    result('W3', 'node', { n, count: done, wall_s: wall, rss_B: rssB });
  }
}

if (global.gc) global.gc();
resetPeak();
rss0 = procStatus('VmRSS');
t0 = now();
for (let i = 0; i < n; i++) worker();
