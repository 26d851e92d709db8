#!/usr/bin/env node
/**
 * The bot side of `bench/inbound.mjs`, in its own process: one grammY bot with a no-op
 * handler, run by unlost (`createRuntime`, SQLite file store), by `bot.start()` or by
 * @grammyjs/runner (`run(bot)`), against the emulator.
 *
 * Usage: node bench/inbound-bot.mjs --kind unlost|grammy|runner --url <apiRoot> --token <t>
 *        --n <updates to drain> [--store <sqlite file>] [--concurrency <unlost inbox concurrency>]
 *
 * The handler (the same for all three) reads the creation time the emulator wrote into the
 * text (`p <ms>` / `s <ms>`, see inbound-emulator-server.mjs) and counts; for steady-load
 * updates (`s`) it keeps `handler start − creation` as the arrival-to-start latency.
 *
 * Protocol (one JSON object per line on stdout; stdin commands):
 * - `{"event":"started","pid"}` once the bot runs (unlost: after `runtime.start()`).
 * - `{"event":"drained","handled","first_fetch_at","last_handler_at","done_at","cpu_ms","event_loop_busy",…}`
 *   once `--n` updates are completed. For unlost "completed" means the runtime counts them as
 *   handled, i.e. their completions are committed to the store (`runtime.stats()`), and the
 *   line adds the inbox counts; for the others it means the handler returned. Times are
 *   wall-clock epoch ms (`performance.timeOrigin + performance.now()`).
 * - stdin `expect <total>`: answers `{"event":"steady","count","p50_ms","p90_ms","p99_ms","max_ms",…}`
 *   once `total` updates (backlog + steady) are completed.
 *   For unlost, `stored` adds the same quantiles for arrival → ingest committed.
 * - stdin `exit`: stops the bot (unlost: `runtime.stop()`) and exits.
 * Env `UNLOST_BENCH_WAL_AUTOCHECKPOINT=<pages>` (diagnosis; ignored by the other kinds) sets SQLite's
 * wal_autocheckpoint on the runtime's connection (0: no automatic checkpoints).
 * Env `UNLOST_BENCH_MEMORY_INBOX=1` (diagnosis): the inbox in memory, not durable (see
 * inbound-memory-inbox.mjs), to measure unlost's cost without the inbox's SQLite work.
 * Runtime logs are silenced (pino level "silent"); errors go to stderr.
 */
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { Bot } from "grammy";
import { run } from "@grammyjs/runner";
import pino from "pino";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
// UNLOST_BENCH_DIST: another build's dist/ folder (bench:inbound's `--baseline`).
const { createRuntime, openStore } = await import(
  process.env.UNLOST_BENCH_DIST === undefined ? "../dist/index.js" : pathToFileURL(resolve(process.env.UNLOST_BENCH_DIST, "index.js")).href
);
import { memoryInbox } from "./inbound-memory-inbox.mjs";

const args = parseArgs(process.argv.slice(2));
const kind = args.kind;
if (!["unlost", "unlost-rows", "unlost-grammy-client", "unlost-process", "unlost-baseline", "grammy", "runner"].includes(kind) || !args.url || !args.token || !(Number(args.n) > 0)) {
  throw new Error("usage: inbound-bot.mjs --kind unlost|grammy|runner --url U --token T --n N [--store FILE] [--concurrency C]");
}
const N = Number(args.n);
const wallNow = () => performance.timeOrigin + performance.now();
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const bot = new Bot(args.token, { client: { apiRoot: args.url } });
let firstFetchAt = null;
let cpuAtFirstFetch;
let eluAtFirstFetch;
let getUpdatesCalls = 0;
// For grammY and runner, a transformer sees the first getUpdates. unlost polls with its own
// client unless the bot has transformers of its own, so it gets none: its window starts
// when `runtime.start()` resolved (polling starts right then), and the bench prefers the
// emulator's own record of the first getUpdates anyway.
if (!kind.startsWith("unlost")) bot.api.config.use((prev, method, payload, signal) => {
  if (method === "getUpdates") {
    getUpdatesCalls++;
    if (firstFetchAt === null) {
      firstFetchAt = wallNow();
      cpuAtFirstFetch = process.cpuUsage();
      eluAtFirstFetch = performance.eventLoopUtilization();
    }
  }
  return prev(method, payload, signal);
});

let count = 0;
let lastHandlerAt = 0;
const steadyLatencies = [];
let onCount = () => undefined;
// The no-op handler: what every bot runs for every update.
bot.use((ctx) => {
  const started = wallNow();
  const text = ctx.message?.text;
  if (text !== undefined && text.charCodeAt(0) === 115 /* "s" */) steadyLatencies.push(started - Number(text.slice(2)));
  count++;
  lastHandlerAt = started;
  onCount();
});
bot.catch((err) => process.stderr.write(`handler error: ${String(err.error ?? err)}\n`));

let stopBot;
let completed; // () => Promise<number>: updates completed so far (for unlost: committed)
let runtime;
const storeOps = {};
const steadyStored = []; // unlost only: arrival → ingest committed, per steady update
if (kind.startsWith("unlost")) {
  let store = { path: args.store };
  if (process.env.UNLOST_BENCH_MEMORY_INBOX === "1") {
    // Diagnosis only: the real SQLite store for everything but the inbox, which lives in memory
    // (not durable): what unlost costs without SQLite work on the inbox.
    const sqlite = await openStore({ path: args.store });
    store = Object.assign(Object.create(Object.getPrototypeOf(sqlite)), sqlite, { inbox: memoryInbox() });
  }
  runtime = createRuntime(bot, {
    store,
    ...(kind === "unlost-process" ? { durability: "process" } : {}),
    polling: { timeoutSeconds: 30, client: kind === "unlost-grammy-client" ? "grammy" : "lean" },
    inbox: {
      journal: kind !== "unlost-rows",
      ...(args.concurrency === undefined ? {} : { concurrency: Number(args.concurrency) }),
      // Diagnosis: how much fetched work may wait in memory (see RuntimeOptions.inbox.maxBuffered).
      ...(process.env.UNLOST_BENCH_MAX_BUFFERED === undefined ? {} : { maxBuffered: Number(process.env.UNLOST_BENCH_MAX_BUFFERED) }),
    },
    shutdown: { handleSignals: false, deadlineMs: 5_000 },
    logger: pino({ level: "silent" }),
  });
  await runtime.start();
  firstFetchAt = wallNow();
  cpuAtFirstFetch = process.cpuUsage();
  eluAtFirstFetch = performance.eventLoopUtilization();
  instrumentInbox(runtime.store.inbox);
  if (process.env.UNLOST_BENCH_WAL_AUTOCHECKPOINT !== undefined) {
    // Diagnosis only (reaches into the SQLite store's internals): how much do WAL checkpoints,
    // which run inside a commit on the runtime's thread, cost? 0 turns them off.
    runtime.store.inbox.db.handle.pragma(`wal_autocheckpoint = ${Number(process.env.UNLOST_BENCH_WAL_AUTOCHECKPOINT)}`);
  }
  stopBot = () => runtime.stop();
  completed = async () => (await runtime.stats()).dispatcher.handled;
} else if (kind === "grammy") {
  await bot.init();
  void bot.start({ timeout: 30 });
  stopBot = () => bot.stop();
  completed = async () => count;
} else {
  await bot.init();
  const handle = run(bot);
  stopBot = () => handle.stop();
  completed = async () => count;
}
print({ event: "started", pid: process.pid, kind });

/** Resolves once the handler ran `total` times and `completed()` says they are all done. */
async function whenCompleted(total) {
  if (count < total) await new Promise((resolve) => { onCount = () => { if (count >= total) { onCount = () => undefined; resolve(); } }; });
  const handlerAt = lastHandlerAt;
  for (let i = 0; (await completed()) < total; i++) {
    if (i > 30_000) throw new Error(`handlers ran ${count} times but only ${await completed()} of ${total} completions were recorded`);
    await sleep(1);
  }
  return { handlerAt, doneAt: wallNow() };
}

const drained = await whenCompleted(N);
const cpu = process.cpuUsage(cpuAtFirstFetch); // from the first getUpdates on, like the throughput
const drainedEvent = {
  event: "drained",
  kind,
  handled: count,
  first_fetch_at: firstFetchAt,
  last_handler_at: drained.handlerAt,
  done_at: drained.doneAt,
  get_updates_calls: getUpdatesCalls,
  cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
  // Share of the window the event loop was busy (1: the main thread never waited for input).
  event_loop_busy: Number(performance.eventLoopUtilization(eluAtFirstFetch).utilization.toFixed(3)),
};
if (runtime !== undefined) {
  const stats = await runtime.stats();
  Object.assign(drainedEvent, { inbox: stats.inbox, dispatcher: stats.dispatcher, store_ops: storeOps });
}
print(drainedEvent);

const lines = createInterface({ input: process.stdin });
let exiting = false;
lines.on("line", (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === "expect") {
    const total = Number(arg);
    void whenCompleted(total).then(async () => {
      const quantiles = (values) => {
        const sorted = Float64Array.from(values).sort();
        const at = (q) => (sorted.length === 0 ? null : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2)));
        return { count: sorted.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: at(1) };
      };
      const event = { event: "steady", ...quantiles(steadyLatencies) };
      if (runtime !== undefined) {
        const stats = await runtime.stats();
        Object.assign(event, { inbox: stats.inbox, stored: quantiles(steadyStored) });
      }
      print(event);
    }, (error) => print({ event: "error", message: String(error) }));
  } else if (command === "exit") {
    void exit();
  }
});
lines.on("close", () => void exit());

async function exit() {
  if (exiting) return;
  exiting = true;
  await stopBot();
  process.exit(0);
}

/**
 * Counts the inbox operations the runtime performs (each one SQLite transaction) and the
 * synchronous time they take: wraps the methods of the store's inbox object, which the poller
 * and the dispatcher call. Bench-side only; nothing in unlost changes.
 */
function instrumentInbox(inbox) {
  // rows: updates written; claimed: updates claimed in the same transaction (fused claims).
  const rowsOf = {
    ingest: (args) => args[0].length,
    claim: (args, result) => result.length,
    settleMany: (args) => args[0].length,
    settleAndClaim: (args) => args[0].length,
    extendLease: () => 1,
  };
  const claimedOf = { ingest: (result) => result.claimed?.length ?? 0, settleAndClaim: (result) => result.claimed.length };
  // The journal fast path: one append per fetched batch, one complete per flush of completions.
  const journalRowsOf = {
    append: (args) => args[0].length,
    complete: (args) => args[0].done.length + (args[0].moved?.length ?? 0),
  };
  const wrap = (target, name, rows, storedFrom) => {
    const original = target[name].bind(target);
    const op = (storeOps[name] = { calls: 0, rows: 0, claimed: 0, ms: 0 });
    target[name] = (...a) => {
      const t = performance.now();
      const promise = original(...a); // better-sqlite3 is synchronous: the work is done here
      const end = performance.now();
      op.ms += end - t;
      op.calls++;
      if (storedFrom !== undefined) {
        // Arrival → committed to the inbox, for the steady-load updates (latency breakdown).
        const committedAt = performance.timeOrigin + end;
        for (const u of storedFrom(a)) {
          const text = u.message?.text;
          if (text !== undefined && text.charCodeAt(0) === 115) steadyStored.push(committedAt - Number(text.slice(2)));
        }
      }
      return promise.then((result) => {
        op.rows += rows(a, result);
        op.claimed += claimedOf[name]?.(result) ?? 0;
        return result;
      });
    };
  };
  for (const [name, rows] of Object.entries(rowsOf)) {
    if (typeof inbox[name] === "function") wrap(inbox, name, rows, name === "ingest" ? (a) => a[0] : undefined);
  }
  const journal = inbox.journal;
  if (journal !== undefined) {
    for (const [name, rows] of Object.entries(journalRowsOf)) wrap(journal, name, rows, name === "append" ? (a) => a[0] : undefined);
  }
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
