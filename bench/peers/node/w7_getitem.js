// W7 for Node: N DynamoDB GetItem calls through the AWS SDK for JavaScript
// v3 (@aws-sdk/client-dynamodb, installed by bench/run from npm into
// .cache/npm), INFLIGHT async workers, SigV4 and the SDK's standard retries
// on, against the same local stub as tide (nginx answering a fixed item).
//   node bench/peers/node/w7_getitem.js N WORKLOAD URL SIZE INFLIGHT
// Wall and CPU time (process.cpuUsage) run from the first call to the last
// completion.
'use strict';
const path = require('path');
const http = require('http');
const { argInt, argStr, now, result } = require('./common');

const sdkDir = path.resolve(__dirname, '../../../.cache/npm/node_modules');
const { DynamoDBClient, GetItemCommand } = require(path.join(sdkDir, '@aws-sdk/client-dynamodb'));
const { NodeHttpHandler } = require(path.join(sdkDir, '@smithy/node-http-handler'));

const n = argInt(1);
const workload = argStr(2);
const url = argStr(3);
const size = argInt(4);
const inflight = Math.min(argInt(5), n);

const client = new DynamoDBClient({
  region: 'us-east-1',
  endpoint: url,
  credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' },
  maxAttempts: 3,
  requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: inflight }) }),
});

(async () => {
  let ok = 0;
  let started = 0;
  async function worker() {
    while (started < n) {
      started++;
      const res = await client.send(new GetItemCommand({ TableName: 'users', Key: { id: { N: '7' } } }));
      if (res.Item && res.Item.id.N === '7') ok++;
    }
  }
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const workers = [];
  for (let k = 0; k < inflight; k++) workers.push(worker());
  await Promise.all(workers);
  const wall = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  result(workload, 'node-sdk', { n, count: ok, bytes: ok * size, wall_s: wall, cps: ok / wall, cpu_us: (cpu.user + cpu.system) / n });
  client.destroy();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
