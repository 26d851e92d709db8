#!/usr/bin/env node
/**
 * The bot side of `bench/background.mjs`, in its own process: a grammY bot run by unlost that
 * answers every text at once (`ctx.reply`), and — in `busy` mode — carries background work
 * beside it: 4 schedules and 1,000 durable tasks (I/O- and CPU-bound, mixed), as the seed
 * systems did (a discovery scan, an audience scan, a publisher, a continuous inviter; a
 * downloader's queue).
 *
 * Usage: node bench/background-bot.mjs --mode idle|busy --url <apiRoot> --token <t> --data <dir>
 *        --task-users <id,id,...> [--tasks 1000]
 *
 * Protocol (one JSON object per line on stdout; stdin commands):
 * - `{"event":"started"}` once the bot runs (in busy mode: after its tasks were added).
 * - stdin `report`: `{"event":"report","tasks_done","tasks_failed","violations","max_running","max_running_per_user","schedule_runs"}`.
 * - stdin `exit`: stops the runtime and exits.
 *
 * The limits are checked where they matter — inside the task functions: a kind running more
 * tries at once than its `concurrency`, or a user more than `perUser`, is a violation.
 */
import { createHash } from "node:crypto";
import { writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { Bot } from "grammy";
import pino from "pino";
import { createRuntime, runInWorker } from "../dist/index.js";
import { parseArgs } from "./lib/args.mjs";

const args = parseArgs(process.argv.slice(2), { mode: "idle", url: "", token: "", data: "", taskUsers: "", tasks: 1000 });
const busy = args.mode === "busy";
const taskUsers = args.taskUsers.split(",").filter((s) => s !== "").map(Number);
const taskCount = args.tasks;
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const bot = new Bot(args.token, { client: { apiRoot: args.url } });
// Answers the writing users' texts; the task users' "/start" (sent so that the bot may write
// to them) gets no answer, so no backlog of replies stands before the measured ones.
bot.on("message:text", (ctx) => (ctx.message.text.startsWith("/start") ? undefined : ctx.reply(ctx.message.text)));

const runtime = createRuntime(bot, {
  store: { path: join(args.data, "unlost.sqlite") },
  shutdown: { handleSignals: false, deadlineMs: 5_000 },
  logger: pino({ level: "warn" }, pino.destination(2)),
  tasks: { graceMs: 1_000 },
});

// Limits as the task functions see them.
const LIMITS = { io: { concurrency: 8, perUser: 1 }, cpu: { concurrency: 1, perUser: 1 } };
const running = { io: 0, cpu: 0 };
const runningPerUser = { io: new Map(), cpu: new Map() };
let violations = 0;
let maxRunning = 0;
let maxRunningPerUser = 0;
let scheduleRuns = 0;

/** Wraps a task function with the limit checks. */
function checked(kind, fn) {
  return async (run) => {
    const perUser = runningPerUser[kind];
    const mine = (perUser.get(run.userId) ?? 0) + 1;
    perUser.set(run.userId, mine);
    running[kind]++;
    maxRunning = Math.max(maxRunning, running[kind]);
    if (run.userId !== null) maxRunningPerUser = Math.max(maxRunningPerUser, mine);
    // A task without a user (the publisher's) is not limited per user.
    if (running[kind] > LIMITS[kind].concurrency || (run.userId !== null && mine > LIMITS[kind].perUser)) {
      violations++;
      process.stderr.write(`limit violation: kind ${kind} running ${running[kind]}, user ${run.userId} running ${mine} (task ${run.id}, attempt ${run.attempt}, recovered ${run.recovered})\n`);
    }
    try {
      return await fn(run);
    } finally {
      running[kind]--;
      perUser.set(run.userId, perUser.get(run.userId) - 1);
    }
  };
}

if (busy) {
  const cpuModule = new URL("./background-cpu.mjs", import.meta.url);
  // I/O-bound: a download-like wait, a file written to and read back from the task's own
  // folder, and a message to its user through the outbox.
  runtime.tasks.handle("io", checked("io", async ({ id, payload, tmpDir, chatId, api, signal }) => {
    await sleep(payload.ms, undefined, { signal });
    const file = join(tmpDir, "part.bin");
    await writeFile(file, Buffer.alloc(64 * 1024, id.length));
    await readFile(file);
    if (payload.notify) await api.sendMessage(chatId, `task ${payload.n} done`);
    return { n: payload.n };
  }), LIMITS.io);
  // CPU-bound: hashing in a worker thread, off the event loop that answers users.
  runtime.tasks.handle("cpu", checked("cpu", async ({ payload, signal }) => {
    return { digest: await runInWorker(cpuModule, { rounds: payload.rounds }, { signal }) };
  }), LIMITS.cpu);

  // Four services on schedules (seconds here, minutes and hours in production).
  const scan = async (ms) => {
    scheduleRuns++;
    await sleep(ms);
    // A little synchronous work, as a scan's bookkeeping would be.
    createHash("sha256").update(Buffer.alloc(256 * 1024)).digest();
  };
  runtime.schedule("discovery-scan", { every: "2s" }, () => scan(150));
  runtime.schedule("audience-scan", { every: "3s" }, () => scan(300));
  runtime.schedule("publisher", { every: "5s" }, async () => {
    scheduleRuns++;
    await runtime.tasks.add("io", { n: -1, ms: 20, notify: false });
  });
  runtime.schedule("inviter", { every: "1s" }, () => scan(50));
}

await runtime.start();

if (busy) {
  // 1,000 queued tasks: 4 in 5 I/O (50–250 ms), 1 in 5 CPU (a few ms to ~40 ms of hashing),
  // spread over the task users (so the per-user limit matters), 1 in 10 notifying its user.
  for (let n = 0; n < taskCount; n++) {
    const userId = taskUsers[n % taskUsers.length];
    const options = { userId, chatId: userId };
    if (n % 5 === 4) await runtime.tasks.add("cpu", { n, rounds: 2_000 + (n % 7) * 3_000 }, options);
    else await runtime.tasks.add("io", { n, ms: 50 + ((n * 37) % 200), notify: n % 10 === 0 }, options);
  }
}
print({ event: "started", pid: process.pid });

let exiting = false;
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const command = line.trim();
  if (command === "report") {
    const stats = busy ? await runtime.tasks.stats() : undefined;
    const done = Object.values(stats?.byKind ?? {}).reduce((sum, s) => sum + (s.done ?? 0), 0);
    const failed = Object.values(stats?.byKind ?? {}).reduce((sum, s) => sum + (s.failed ?? 0), 0);
    print({ event: "report", tasks_done: done, tasks_failed: failed, violations, max_running: maxRunning, max_running_per_user: maxRunningPerUser, schedule_runs: scheduleRuns });
  } else if (command === "exit") void exit();
});
lines.on("close", () => void exit());

async function exit() {
  if (exiting) return;
  exiting = true;
  await runtime.stop();
  process.exit(0);
}
