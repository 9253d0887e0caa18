// W2 for Node: create + resolve + await, N times in one async function.
//   node bench/peers/node/w2.js N resolve    `await Promise.resolve(i)`
//   node bench/peers/node/w2.js N deferred   `new Promise(r => res = r); res(i); await p`
'use strict';
const { argInt, argStr, now, result } = require('./common');

const n = argInt(1, 1000000);
const variant = argStr(2, 'resolve');

const loops = {
  async resolve(count) {
    let sum = 0;
    for (let i = 1; i <= count; i++) sum += await Promise.resolve(i);
    return sum;
  },
  async deferred(count) {
    let sum = 0;
    for (let i = 1; i <= count; i++) {
      let res;
      const p = new Promise((r) => { res = r; });
      res(i);
      sum += await p;
    }
    return sum;
  },
};
const loop = loops[variant];
if (!loop) throw new Error('variant: resolve or deferred');

(async () => {
  await loop(Math.floor(n / 10) + 1); // warm-up, as every W2 program does
  const t0 = now();
  const sum = await loop(n);
  const ns = ((now() - t0) * 1e9) / n;
  result('W2', `node-${variant}`, { n, count: sum === (n * (n + 1)) / 2 ? n : -1, ns });
})();
