#!/usr/bin/env node
/**
 * What the admin server's per-update work costs (issue 15): when a handler run ends, the
 * runtime reads its clock once more and calls `HandlerTimings.ended` (two histogram
 * observations; the start is the clock read the runtime made anyway). Measured here against a
 * bare `Date.now()` and against prom-client's own `Histogram.observe`, which this replaces.
 *
 * Usage: npm run build && node bench/admin-timings.mjs [--n 5000000]
 * Output: ns per update for each variant, and as the last line one JSON object.
 */
import { Histogram, Registry } from "prom-client";
import { HandlerTimings } from "../dist/admin/handler-timings.js";
import { HANDLER_DURATION_BOUNDS_MS, UPDATE_LAG_BOUNDS_MS } from "../dist/admin/handler-timings.js";

const n = Number(process.argv[process.argv.indexOf("--n") + 1] || 5_000_000);

function time(label, body) {
  // Warm-up, then the best of 5 runs (the machine is shared).
  body(n / 10);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    body(n);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`${label.padEnd(48)} ${best.toFixed(1)} ns/update`);
  return best;
}

let sink = 0;
const empty = time("empty loop", (k) => { for (let i = 0; i < k; i++) sink += i & 1; });
const timings = new HandlerTimings();
const now = Date.now();
const clock = time("Date.now() alone", (k) => { for (let i = 0; i < k; i++) sink += Date.now() & 1; });
const light = time("unlost: ended(start, Date.now(), receivedAt)", (k) => {
  for (let i = 0; i < k; i++) timings.ended(now - (i & 7), Date.now(), now - (i & 1023));
});
const registry = new Registry();
const d = new Histogram({ name: "d", help: "d", buckets: HANDLER_DURATION_BOUNDS_MS.map((b) => b / 1000), registers: [registry] });
const l = new Histogram({ name: "l", help: "l", buckets: UPDATE_LAG_BOUNDS_MS.map((b) => b / 1000), registers: [registry] });
const prom = time("prom-client: same with Histogram.observe ×2", (k) => {
  for (let i = 0; i < k; i++) {
    const end = Date.now();
    d.observe((end - (now - (i & 7))) / 1000);
    l.observe((end - (now - (i & 1023))) / 1000);
  }
});
if (sink === -1) console.log(sink);
console.log(JSON.stringify({ bench: "admin-timings", n, clock_read_ns: +(clock - empty).toFixed(1), unlost_ns: +(light - empty).toFixed(1), unlost_without_clock_ns: +(light - clock).toFixed(1), prom_client_ns: +(prom - empty).toFixed(1) }));
