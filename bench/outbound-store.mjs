#!/usr/bin/env node
/**
 * The outbox without a delivery loop, for `bench/outbound.mjs`: a SQLite file store and the
 * Outbox API (`new Outbox({ store: store.outbox, blobs, … })`), nothing sending, so every
 * enqueued job stays queued. Run with `node --expose-gc`.
 *
 * Modes (one JSON line on stdout per measurement, `{"event":"done"}` last):
 * - `--mode latency --store F [--n 10000] [--warmup 2000] [--bulk 10000] [--bulk-rounds 5]`:
 *   `{"event":"latency","n","p50_ms","p90_ms","p99_ms","max_ms"}` for n single awaited
 *   `outbox.sendText` calls (after a warm-up); then
 *   `{"event":"bulk","kind":"broadcast"|"parallel-sends","jobs","ms","jobs_per_s"}`: one
 *   `outbox.broadcast` to `--bulk` chats, and `--bulk` sends awaited together (`Promise.all`),
 *   each `--bulk-rounds` times.
 * - `--mode memory --store F [--sizes 100000,1000000] [--chunk 10000]`: RSS after a forced GC
 *   with the store and the outbox open and nothing queued (`{"event":"memory","queued":0,…}`),
 *   then after bulk-enqueueing up to each size (`outbox.broadcast` to `--chunk` distinct chats
 *   at a time, one text each), each again after a forced GC.
 * - `--mode single --store F [--n 1000000]`: RSS idle, then ONE `outbox.broadcast` to n chats:
 *   `{"event":"memory","queued",…,"peak_rss_mb","idle_rss_mb"}` (peak: the process's max RSS).
 * - `--mode hold --store F`: a fresh process opening a store that already holds queued jobs:
 *   RSS after a forced GC, once the store and the outbox are open and `outbox.stats()` has
 *   read the queue (`{"event":"memory","queued",…}`).
 */
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { openStore, silentLogger } from "../dist/index.js";
import { BlobStore } from "../dist/outbound/blobs.js";
import { Outbox } from "../dist/outbound/outbox.js";

const args = parseArgs(process.argv.slice(2));
if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const TEXT = "Scheduled maintenance tonight from 02:00 to 03:00 UTC. Thank you for your patience!";
const FIRST_CHAT = 10_000_000;

const store = await openStore({ path: args.store });
const blobs = await BlobStore.open(join(dirname(args.store), "blobs"));
const outbox = new Outbox({ store: store.outbox, blobs, clock: Date.now, logger: silentLogger() });

async function settle() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function memory(queued, extra = {}) {
  await settle();
  const m = process.memoryUsage();
  const mb = (b) => Number((b / 1048576).toFixed(1));
  let fileMb = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      fileMb += statSync(`${args.store}${suffix}`).size / 1048576;
    } catch { /* no file */ }
  }
  print({ event: "memory", queued, rss_mb: mb(m.rss), heap_total_mb: mb(m.heapTotal), heap_used_mb: mb(m.heapUsed), external_mb: mb(m.external), array_buffers_mb: mb(m.arrayBuffers), store_file_mb: Number(fileMb.toFixed(1)), ...extra });
}

if (args.mode === "latency") {
  const n = Number(args.n ?? 10_000);
  const warmup = Number(args.warmup ?? 2_000);
  for (let i = 0; i < warmup; i++) await outbox.sendText(FIRST_CHAT + (i % 1000), TEXT);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await outbox.sendText(FIRST_CHAT + (i % 1000), TEXT);
    lat[i] = performance.now() - t;
  }
  lat.sort();
  const q = (p) => Number(lat[Math.min(n - 1, Math.floor(p * n))].toFixed(4));
  print({ event: "latency", n, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: Number(lat[n - 1].toFixed(3)) });
  const bulk = Number(args.bulk ?? 10_000);
  let next = FIRST_CHAT + 1_000_000;
  for (let r = 0; r < Number(args["bulk-rounds"] ?? 5); r++) {
    const chats = Array.from({ length: bulk }, () => next++);
    let t = performance.now();
    const { jobs } = await outbox.broadcast(chats, "sendMessage", { text: TEXT });
    let ms = performance.now() - t;
    print({ event: "bulk", kind: "broadcast", jobs, ms: Number(ms.toFixed(1)), jobs_per_s: Math.round((jobs / ms) * 1000) });
    t = performance.now();
    await Promise.all(chats.map((chat) => outbox.sendText(chat, TEXT)));
    ms = performance.now() - t;
    print({ event: "bulk", kind: "parallel-sends", jobs: bulk, ms: Number(ms.toFixed(1)), jobs_per_s: Math.round((bulk / ms) * 1000) });
  }
} else if (args.mode === "memory") {
  await memory(0);
  const sizes = String(args.sizes ?? "100000,1000000").split(",").map(Number);
  const chunk = Number(args.chunk ?? 10_000);
  let queued = 0;
  let next = FIRST_CHAT;
  const started = performance.now();
  let enqueueMs = 0;
  for (const size of sizes) {
    while (queued < size) {
      const count = Math.min(chunk, size - queued);
      const chats = Array.from({ length: count }, () => next++);
      const t = performance.now();
      await outbox.broadcast(chats, "sendMessage", { text: TEXT });
      enqueueMs += performance.now() - t;
      queued += count;
    }
    const stats = await outbox.stats();
    await memory(queued, { queued_in_store: stats.byState.queued, enqueue_jobs_per_s: Math.round((queued / enqueueMs) * 1000), wall_s: Number(((performance.now() - started) / 1000).toFixed(1)) });
  }
} else if (args.mode === "single") {
  await settle();
  const idleRss = process.memoryUsage().rss / 1048576;
  const n = Number(args.n ?? 1_000_000);
  const chats = Array.from({ length: n }, (_, i) => FIRST_CHAT + i);
  const t = performance.now();
  await outbox.broadcast(chats, "sendMessage", { text: TEXT });
  const ms = performance.now() - t;
  await memory(n, { idle_rss_mb: Number(idleRss.toFixed(1)), peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)), enqueue_jobs_per_s: Math.round((n / ms) * 1000) });
} else if (args.mode === "hold") {
  const stats = await outbox.stats();
  await memory(stats.byState.queued);
} else {
  throw new Error("usage: outbound-store.mjs --mode latency|memory|single|hold --store FILE …");
}
await store.close();
print({ event: "done" });

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) out[argv[i].replace(/^--/, "")] = argv[++i];
  if (!out.store) throw new Error("outbound-store.mjs needs --store FILE");
  return out;
}
