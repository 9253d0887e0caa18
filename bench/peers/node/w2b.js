// W2b for Node: the ping-pong of bench/tide/w2b_pingpong.lua with async
// functions: on its turn a side creates a promise, publishes its resolver,
// calls the one the other side published and awaits its own promise.
//   node bench/peers/node/w2b.js N
'use strict';
const { argInt, now, result } = require('./common');

const n = argInt(1, 1000000);
if (n % 2 !== 0) throw new Error('N must be even: each side takes half the hops');
const slot = {}; // slot[side] = the resolver that side is waiting on
let hops = 0;

function wake(side) {
  const resolve = slot[side];
  if (resolve) {
    slot[side] = undefined;
    resolve(hops);
  }
}

async function player(me, other, turns) {
  for (let i = 0; i < turns; i++) {
    let resolve;
    const p = new Promise((r) => { resolve = r; });
    slot[me] = resolve;
    wake(other);
    await p;
    hops++;
  }
  wake(other); // the other side's last await ends here
}

async function game(count) {
  const t0 = now();
  const a = player('a', 'b', count / 2);
  const b = player('b', 'a', count / 2);
  await a;
  await b;
  return now() - t0;
}

(async () => {
  await game(2 * Math.floor(n / 20) + 2); // warm-up, as every W2b program does
  hops = 0;
  const ns = ((await game(n)) * 1e9) / n;
  result('W2b', 'node', { n, count: hops, ns });
})();
