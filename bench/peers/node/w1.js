// W1 for Node: `await new Promise(r => setImmediate(r))` N times in one
// async function; setImmediate runs in libuv's check phase, one loop turn.
//   node bench/peers/node/w1.js N
'use strict';
const { argInt, now, result } = require('./common');

const n = argInt(1, 200000);

async function turns(count) {
  for (let i = 0; i < count; i++) await new Promise((r) => setImmediate(r));
  return count;
}

(async () => {
  await turns(Math.floor(n / 10) + 1); // warm-up, as every W1 program does
  const t0 = now();
  const count = await turns(n);
  result('W1', 'node', { n, count, ns: ((now() - t0) * 1e9) / n });
})();
