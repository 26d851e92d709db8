#!/usr/bin/env node
/**
 * The sending side of `bench/outbound.mjs`, in its own process (a fresh one per run): one
 * grammY bot that sends through
 * - `unlost`: `createRuntime(bot, { store: { path }, outbox: { limits } })`, SQLite file store,
 *   messages enqueued with `runtime.outbox.broadcast` / `runtime.outbox.sendText` and delivered
 *   by the runtime's delivery loop, paced to `outbox.limits`;
 * - `throttler`: grammY with @grammyjs/transformer-throttler (installed first) and
 *   @grammyjs/auto-retry (installed last, so it is the outermost transformer and every retry is
 *   throttled again), all sends started at once (`Promise.all`) as the throttler expects;
 * - `sequential`: grammY with nothing, `await bot.api.sendMessage(...)` in a loop; a failed send
 *   (e.g. 429) is counted and skipped.
 *
 * Usage: node bench/outbound-bot.mjs --kind unlost|throttler|sequential --url <apiRoot> --token <t>
 *        --first-chat <id> [--scale S | --unlimited] [--store <sqlite file>] [--concurrency C] [--idle-ms MS]
 * `--scale S`: Telegram's limits with every rate ×S (unlost's `outbox.limits`, the throttler's
 * options); `--unlimited`: unlost's pacing limits set far above anything reachable.
 *
 * Protocol (JSON lines on stdout, commands on stdin):
 * - `{"event":"started","pid"}` once the bot runs (unlost: after `runtime.start()`).
 * - `broadcast <n>`: one text to each of the n chats first-chat … first-chat+n−1; answers
 *   `{"event":"done","started_at","enqueued_at","done_at","errors","cpu_ms",…}` once every
 *   message is final (unlost: delivered or failed and committed; others: the call settled).
 *   Times are wall-clock epoch ms; `loop_delay_ms` {p99, max}: event-loop delay during the run.
 * - `e2e <n> <chats>` (unlost): n single `sendText` calls, each awaited (round robin over
 *   `chats` chats), then waits until all are final; the answer adds the enqueue latencies
 *   (`enqueue_ms`: p50, p90, p99, max) measured while the delivery loop is sending.
 * - `exit`: stops and exits.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Bot } from "grammy";
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import pino from "pino";
import { createRuntime } from "../dist/index.js";

const args = parseArgs(process.argv.slice(2));
const kind = args.kind;
if (!["unlost", "throttler", "sequential"].includes(kind) || !args.url || !args.token || !(Number(args["first-chat"]) > 0)) {
  throw new Error("usage: outbound-bot.mjs --kind unlost|throttler|sequential --url U --token T --first-chat ID [--scale S | --unlimited] [--store FILE] [--concurrency C]");
}
const firstChat = Number(args["first-chat"]);
const scale = args.unlimited ? 0 : Number(args.scale ?? 1);
const wallNow = () => performance.timeOrigin + performance.now();
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const TEXT = "Scheduled maintenance tonight from 02:00 to 03:00 UTC. Thank you for your patience!";

/** unlost's pacing limits: Telegram's with every rate ×S (bursts as unlost's defaults), or none. */
function unlostLimits() {
  if (scale === 0) {
    const huge = { perSecond: 1e9, burst: 1e6 };
    return { global: huge, paidBroadcast: huge, perChat: huge, group: { limit: 1e9, windowMs: 1 } };
  }
  return {
    global: { perSecond: 30 * scale, burst: 5 },
    paidBroadcast: { perSecond: 1000 * scale, burst: 50 },
    perChat: { perSecond: 1 * scale, burst: 2 },
    group: { limit: 20 * scale, windowMs: 61_000 },
  };
}

/** The throttler's defaults (30 per 1 000 ms globally, 1 per 1 000 ms per chat, 20 per minute per group) with every rate ×S. */
function throttlerOptions() {
  return {
    global: { reservoir: 30 * scale, reservoirRefreshAmount: 30 * scale, reservoirRefreshInterval: 1000 },
    group: { maxConcurrent: 1, minTime: 1000 / scale, reservoir: 20 * scale, reservoirRefreshAmount: 20 * scale, reservoirRefreshInterval: 60_000 },
    out: { maxConcurrent: 1, minTime: 1000 / scale },
  };
}

const bot = new Bot(args.token, { client: { apiRoot: args.url } });
let runtime;
let finals = 0;
let onFinal = () => undefined;
if (kind === "unlost") {
  runtime = createRuntime(bot, {
    store: { path: args.store },
    outbox: {
      limits: unlostLimits(),
      ...(args.concurrency ? { concurrency: Number(args.concurrency) } : {}),
      ...(args["idle-ms"] ? { idleMs: Number(args["idle-ms"]) } : {}),
    },
    shutdown: { handleSignals: false, deadlineMs: 5_000 },
    logger: pino({ level: "silent" }),
  });
  await runtime.start();
  // The delivery loop reports every job that reached a final state (after its commit) here.
  const outbox = runtime.outbox;
  const jobFinished = outbox.jobFinished.bind(outbox);
  outbox.jobFinished = (id) => {
    finals++;
    onFinal();
    jobFinished(id);
  };
} else {
  if (kind === "throttler") {
    bot.api.config.use(apiThrottler(throttlerOptions()));
    bot.api.config.use(autoRetry());
  }
  await bot.init();
}
print({ event: "started", pid: process.pid });

const untilFinals = (n) => new Promise((resolve) => {
  if (finals >= n) return resolve();
  onFinal = () => {
    if (finals >= n) {
      onFinal = () => undefined;
      resolve();
    }
  };
});

/** Event-loop delay (blocked or starved process) during a run: p99 and max, ms. */
function loopDelay() {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  return () => {
    h.disable();
    return { p99: Number((h.percentile(99) / 1e6).toFixed(1)), max: Number((h.max / 1e6).toFixed(1)) };
  };
}

async function broadcast(n) {
  const delay = loopDelay();
  const chats = Array.from({ length: n }, (_, i) => firstChat + i);
  let errors = 0;
  const errorKinds = {};
  const failed = (e) => {
    errors++;
    const key = String(e?.error_code ?? e?.name ?? "error");
    errorKinds[key] = (errorKinds[key] ?? 0) + 1;
  };
  const cpu0 = process.cpuUsage();
  const startedAt = wallNow();
  let enqueuedAt = null;
  if (kind === "unlost") {
    await runtime.outbox.broadcast(chats, "sendMessage", { text: TEXT });
    enqueuedAt = wallNow();
    await untilFinals(n);
    const stats = await runtime.outbox.stats();
    errors = stats.byState.failed ?? 0;
  } else if (kind === "throttler") {
    await Promise.all(chats.map((chat) => bot.api.sendMessage(chat, TEXT).catch(failed)));
  } else {
    for (const chat of chats) {
      try {
        await bot.api.sendMessage(chat, TEXT);
      } catch (e) {
        failed(e);
      }
    }
  }
  const doneAt = wallNow();
  const cpu = process.cpuUsage(cpu0);
  print({ event: "done", started_at: startedAt, enqueued_at: enqueuedAt, done_at: doneAt, errors, error_kinds: errorKinds, cpu_ms: (cpu.user + cpu.system) / 1000, loop_delay_ms: delay() });
}

async function e2e(n, chatCount) {
  if (kind !== "unlost") throw new Error("e2e is for unlost");
  const outbox = runtime.outbox;
  const latencies = new Float64Array(n);
  const before = finals;
  const cpu0 = process.cpuUsage();
  const startedAt = wallNow();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await outbox.sendText(firstChat + (i % chatCount), TEXT);
    latencies[i] = performance.now() - t;
  }
  const enqueuedAt = wallNow();
  await untilFinals(before + n);
  const doneAt = wallNow();
  const cpu = process.cpuUsage(cpu0);
  const stats = await outbox.stats();
  latencies.sort();
  const q = (p) => Number(latencies[Math.min(n - 1, Math.floor(p * n))].toFixed(4));
  print({
    event: "done", started_at: startedAt, enqueued_at: enqueuedAt, done_at: doneAt, errors: stats.byState.failed ?? 0,
    delivered: stats.byState.delivered ?? 0, cpu_ms: (cpu.user + cpu.system) / 1000,
    enqueue_ms: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: Number(latencies[n - 1].toFixed(3)) },
  });
}

const lines = createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on("line", (line) => {
  const [command, ...rest] = line.trim().split(/\s+/);
  chain = chain.then(async () => {
    try {
      if (command === "broadcast") await broadcast(Number(rest[0]));
      else if (command === "e2e") await e2e(Number(rest[0]), Number(rest[1] ?? rest[0]));
      else if (command === "exit") {
        if (runtime !== undefined) await runtime.stop();
        process.exit(0);
      } else if (command !== "") print({ event: "error", message: `unknown command ${JSON.stringify(line)}` });
    } catch (error) {
      print({ event: "error", message: error instanceof Error ? error.stack ?? error.message : String(error) });
    }
  });
});
lines.on("close", () => {
  void chain.then(async () => {
    if (runtime !== undefined) await runtime.stop().catch(() => undefined);
    process.exit(0);
  });
});

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]?.replace(/^--/, "");
    if (name === "unlimited") {
      out.unlimited = true;
      continue;
    }
    out[name] = argv[++i];
  }
  return out;
}
