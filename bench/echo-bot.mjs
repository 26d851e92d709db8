#!/usr/bin/env node
/**
 * The bot side of `bench/echo.mjs`, in its own process: one grammY echo bot (`ctx.reply` of
 * the text it got), run by unlost (`createRuntime`, SQLite file store, default durability:
 * fsync before anything is acknowledged), by grammY's `bot.start()` or by @grammyjs/runner
 * (`run(bot)`), against the emulator.
 *
 * unlost's pacing limits are raised far above anything reachable (the emulator's flood limits
 * are off too): the bench measures the work per reply, not Telegram's rates, which would make a
 * 100,000-reply backlog take an hour for any bot that respects them.
 *
 * Usage: node bench/echo-bot.mjs --kind unlost|unlost-process|unlost-baseline|grammy|runner
 *        --url <apiRoot> --token <t> [--store <sqlite file>]
 * `unlost-process` acknowledges without waiting for the fsync (`durability: "process"`);
 * `unlost-baseline` is unlost from another build (env UNLOST_BENCH_DIST, see echo.mjs --baseline).
 *
 * Protocol (one JSON object per line on stdout; stdin commands):
 * - `{"event":"started","pid","kind"}` once the bot runs.
 * - stdin `report`: `{"event":"report","cpu_ms","peak_rss_mb","handled"}` (peak RSS: the
 *   process's high-water mark so far, from `process.resourceUsage().maxRSS`).
 * - stdin `exit`: stops the bot and exits.
 */
import { createInterface } from "node:readline";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Bot } from "grammy";
import { run } from "@grammyjs/runner";
import pino from "pino";

const args = parseArgs(process.argv.slice(2));
const kind = args.kind;
const KINDS = ["unlost", "unlost-process", "unlost-baseline", "grammy", "runner"];
if (!KINDS.includes(kind) || !args.url || !args.token) {
  throw new Error(`usage: echo-bot.mjs --kind ${KINDS.join("|")} --url U --token T [--store FILE]`);
}
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const bot = new Bot(args.token, { client: { apiRoot: args.url } });
let handled = 0;
// The echo handler, the same for every bot.
// How long `await ctx.reply` takes (a sample of every 64th), for diagnosis: what a reply's
// objects live through decides how much of them V8 promotes to its old generation.
const replyWaits = [];
bot.on("message:text", async (ctx) => {
  const sampled = (handled & 63) === 0;
  const t0 = sampled ? performance.now() : 0;
  await ctx.reply(ctx.message.text);
  if (sampled) replyWaits.push(performance.now() - t0);
  handled++;
});
bot.catch((err) => process.stderr.write(`handler error: ${String(err.error ?? err)}\n`));

// Diagnosis: UNLOST_BENCH_ALLOC_PROFILE=<file> samples every allocation (collected ones too)
// from here until `report`, and writes the profile there (see bench/profile-summary.mjs).
// With UNLOST_BENCH_ALLOC_PROMOTED=1, only allocations that survived the young generation
// (promoted to the old one: what makes the heap grow between full GCs).
let allocSession;
if (process.env.UNLOST_BENCH_ALLOC_PROFILE !== undefined) {
  const { Session } = await import("node:inspector/promises");
  allocSession = new Session();
  allocSession.connect();
  await allocSession.post("HeapProfiler.startSampling", { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.UNLOST_BENCH_ALLOC_PROMOTED === undefined });
}

let stopBot;
if (kind.startsWith("unlost")) {
  const dist = kind === "unlost-baseline" ? process.env.UNLOST_BENCH_DIST : undefined;
  if (kind === "unlost-baseline" && dist === undefined) throw new Error("unlost-baseline needs UNLOST_BENCH_DIST");
  const { createRuntime } = await import(dist === undefined ? "../dist/index.js" : pathToFileURL(resolve(dist, "index.js")).href);
  const huge = { perSecond: 1e9, burst: 1e6 };
  const runtime = createRuntime(bot, {
    store: { path: args.store },
    ...(kind === "unlost-process" ? { durability: "process" } : {}),
    outbox: {
      limits: { global: huge, paidBroadcast: huge, perChat: huge, group: { limit: 1e9, windowMs: 1 } },
      // Diagnosis (not used by bench:echo's own runs): the outbox's requests in flight.
      ...(process.env.UNLOST_BENCH_OUTBOX_CONCURRENCY === undefined ? {} : { concurrency: Number(process.env.UNLOST_BENCH_OUTBOX_CONCURRENCY) }),
    },
    // Diagnosis: handlers in flight.
    inbox: {
      ...(process.env.UNLOST_BENCH_CONCURRENCY === undefined ? {} : { concurrency: Number(process.env.UNLOST_BENCH_CONCURRENCY) }),
      // Diagnosis: how much fetched work may wait in memory (RuntimeOptions.inbox.maxBuffered).
      ...(process.env.UNLOST_BENCH_MAX_BUFFERED === undefined ? {} : { maxBuffered: Number(process.env.UNLOST_BENCH_MAX_BUFFERED) }),
    },
    shutdown: { handleSignals: false, deadlineMs: 5_000 },
    logger: pino({ level: "silent" }),
  });
  await runtime.start();
  stopBot = () => runtime.stop();
} else if (kind === "grammy") {
  await bot.init();
  void bot.start({ timeout: 30 });
  stopBot = () => bot.stop();
} else {
  await bot.init();
  const handle = run(bot);
  stopBot = () => handle.stop();
}
// Diagnosis: UNLOST_BENCH_MIDRUN_SNAPSHOT=<file>:<ms> writes a heap snapshot (after a full GC) <ms> after start.
if (process.env.UNLOST_BENCH_MIDRUN_SNAPSHOT !== undefined) {
  const [file, ms] = process.env.UNLOST_BENCH_MIDRUN_SNAPSHOT.split(":");
  setTimeout(() => void import("node:v8").then((v8) => process.stderr.write(`mid-run heap snapshot: ${v8.writeHeapSnapshot(file)}\n`)), Number(ms)).unref();
}
print({ event: "started", pid: process.pid, kind, rss_mb: Math.round(process.memoryUsage().rss / 1048576), heap_total_mb: Math.round(process.memoryUsage().heapTotal / 1048576) });

let exiting = false;
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const command = line.trim();
  if (command === "report" && allocSession !== undefined) {
    void allocSession.post("HeapProfiler.stopSampling").then(async ({ profile }) => {
      (await import("node:fs")).writeFileSync(process.env.UNLOST_BENCH_ALLOC_PROFILE, JSON.stringify(profile));
      allocSession = undefined;
      lines.emit("line", "report");
    });
  } else if (command === "report") {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    // Where the resident memory is (Linux): anonymous (heaps) vs file-backed (code, mapped files).
    let rollup = {};
    try {
      const text = (await import("node:fs")).readFileSync("/proc/self/smaps_rollup", "utf8");
      for (const key of ["Rss", "Anonymous", "Shared_Clean", "Private_Clean", "Private_Dirty"]) rollup[key] = Math.round(Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0) / 1024);
    } catch { rollup = {}; }
    const mb = (x) => Math.round(x / 1048576);
    const waits = replyWaits.sort((a, b) => a - b);
    const pct = (p) => Math.round((waits[Math.floor(p * (waits.length - 1))] ?? 0) * 10) / 10;
    print({ event: "report", reply_wait_ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) }, cpu_ms: Math.round((cpu.user + cpu.system) / 1000), peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024), handled, rss_mb: mb(mem.rss), heap_total_mb: mb(mem.heapTotal), heap_used_mb: mb(mem.heapUsed), external_mb: mb(mem.external), array_buffers_mb: mb(mem.arrayBuffers), rollup });
  } else if (command.startsWith("heap ")) {
    // Diagnosis: a heap snapshot (after a full GC when node runs with --expose-gc).
    globalThis.gc?.();
    import("node:v8").then((v8) => print({ event: "heap", file: v8.writeHeapSnapshot(command.slice(5)) }));
  } else if (command === "exit") void exit();
});
lines.on("close", () => void exit());

async function exit() {
  if (exiting) return;
  exiting = true;
  await stopBot();
  process.exit(0);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "");
    if (name === undefined || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    out[name] = argv[i + 1];
  }
  return out;
}
