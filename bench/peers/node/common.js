// Helpers shared by the Node benchmark programs: the command line, memory
// figures from /proc/self/status, and the RESULT line that bench/driver.lua
// parses (the same format every benchmark program prints).
'use strict';
const fs = require('fs');

// Positional argument i (1 = first after the script) as an integer.
function argInt(i, def) {
  const v = process.argv[i + 1];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`argument #${i}: integer expected, got ${v}`);
  return n;
}

function argStr(i, def) {
  const v = process.argv[i + 1];
  return v === undefined || v === '' ? def : v;
}

// A field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
function procStatus(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s*(\\d+) kB`));
  if (!m) throw new Error(`${field} not in /proc/self/status`);
  return Number(m[1]) * 1024;
}

// Resets VmHWM to the current VmRSS, so a later VmHWM is the measured peak.
function resetPeak() {
  fs.writeFileSync('/proc/self/clear_refs', '5');
}

// Monotonic seconds.
function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function result(workload, impl, fields) {
  const parts = ['RESULT', `workload=${workload}`, `impl=${impl}`];
  for (const k of Object.keys(fields).sort()) {
    const v = fields[k];
    parts.push(`${k}=${Number.isInteger(v) ? v : Number(v).toPrecision(6)}`);
  }
  process.stdout.write(parts.join(' ') + '\n');
}

module.exports = { argInt, argStr, procStatus, resetPeak, now, result };
