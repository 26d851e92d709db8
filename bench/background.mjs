#!/usr/bin/env node
/**
 * Users first (issue 12): how much background work delays a user's reply. The same bot
 * (`bench/background-bot.mjs`, a fresh process per phase) answers users who write at a steady
 * rate, once with nothing else to do (`idle`) and once while 4 schedules run and 1,000 queued
 * tasks (4 in 5 I/O-bound with a temp file and some messages to their users, 1 in 5 CPU-bound
 * in a worker thread) are worked off within per-kind and per-user limits (`busy`). The phases
 * alternate, their order rotating from round to round; medians over `--rounds`.
 *
 * The emulator runs in this process with Telegram's flood limits on; the bot keeps unlost's
 * default pacing, so task messages and replies share the real 30/s budget. A reply's latency:
 * from the user's message entering the emulator to the bot's answer arriving there (the
 * emulator's own clock, both ends).
 *
 * Usage: npm run bench:background [-- --rounds 2 --seconds 20 --rate 20 --tasks 1000]
 *
 * Output: progress lines, then as the last line one JSON object
 * `{"bench":"background","reply_p99_ms_idle":…,"reply_p99_ms_with_background":…,"delta_p99_ms":…,
 *   "tasks_completed":…,"per_user_limit_violations":…}` (plus p50s and details). Exit code 1
 * when a run is invalid (a process failed, a reply or a task missing).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseArgs } from "./lib/args.mjs";
import { startProcess as startChild } from "./lib/child.mjs";
import { fmt, median } from "./lib/stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const options = parseArgs(process.argv.slice(2), { rounds: 2, seconds: 20, rate: 20, users: 40, taskUsers: 100, tasks: 1000, taskTimeoutS: 240 });
const log = (line) => console.log(`[bench] ${line}`);
const problems = [];
const startProcess = (name, argv, readyEvent, extra = {}) => startChild(name, argv, readyEvent, { log, problems, readyTimeoutMs: 120_000, ...extra });
const tmp = mkdtempSync(join(tmpdir(), "unlost-bench-background-"));

log(`node ${process.version}, ${availableParallelism()} cpus, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
log(`${options.rounds} rounds; each phase: ${options.users} users write ${options.rate} texts/s for ${options.seconds} s; busy: 4 schedules + ${fmt(options.tasks)} tasks for ${options.taskUsers} users`);

const emulator = createEmulator({ seed: 12 });
const server = await startEmulatorServer(emulator, { port: 0 });
const results = { idle: [], busy: [] };
for (let round = 1; round <= options.rounds; round++) {
  const order = round % 2 === 1 ? ["idle", "busy"] : ["busy", "idle"];
  for (const mode of order) {
    const r = await phase(mode, round);
    results[mode].push(r);
    log(`round ${round}/${options.rounds} ${mode.padEnd(4)}: ${r.replies} replies, latency p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms${mode === "busy" ? `; tasks done ${fmt(r.tasksDone)} (failed ${r.tasksFailed}) in ${(r.tasksMs / 1000).toFixed(1)} s, limit violations ${r.violations} (max running ${r.maxRunning}, per user ${r.maxRunningPerUser}), schedule runs ${r.scheduleRuns}` : ""}`);
  }
}
await server.close();
rmSync(tmp, { recursive: true, force: true });

const med = (mode, key) => median(results[mode].map((r) => r[key]));
const sum = (mode, key) => results[mode].reduce((s, r) => s + r[key], 0);
const result = {
  bench: "background",
  reply_p99_ms_idle: Math.round(med("idle", "p99")),
  reply_p99_ms_with_background: Math.round(med("busy", "p99")),
  delta_p99_ms: Math.round(med("busy", "p99") - med("idle", "p99")),
  tasks_completed: Math.round(med("busy", "tasksDone")),
  per_user_limit_violations: sum("busy", "violations"),
  reply_p50_ms_idle: Math.round(med("idle", "p50")),
  reply_p50_ms_with_background: Math.round(med("busy", "p50")),
  tasks_drain_s: Number((med("busy", "tasksMs") / 1000).toFixed(1)),
  rounds: options.rounds,
  valid: problems.length === 0,
};
for (const p of problems) log(`INVALID: ${p}`);
log(`target: background adds ≤ 50 ms to reply p99: ${result.delta_p99_ms <= 50 ? "met" : "MISSED"}; 0 limit violations: ${result.per_user_limit_violations === 0 ? "met" : "MISSED"}`);
console.log(JSON.stringify(result));
process.exit(problems.length === 0 ? 0 : 1);

/** One phase: a fresh bot (token, store, process), users writing for `seconds`, replies timed. */
async function phase(mode, round) {
  const token = `${7_100_000 + round * 10 + (mode === "busy" ? 1 : 0)}:bench-background-${mode}-${round}`;
  const sim = emulator.createBot({ token, username: `bg_${mode}_${round}_bot`, firstName: "bench" });
  const users = Array.from({ length: options.users }, (_, i) => emulator.createUser({ firstName: `u${i}` }));
  const taskUsers = Array.from({ length: options.taskUsers }, (_, i) => emulator.createUser({ firstName: `t${i}` }));
  // The task users started the bot once (a bot can only write to users who did).
  for (const u of taskUsers) u.sendText(sim, "/start");
  const data = join(tmp, `${mode}-${round}`);
  const bot = await startProcess(`${mode} bot`, [join(here, "background-bot.mjs"), "--mode", mode, "--url", server.url, "--token", token, "--data", data, "--task-users", taskUsers.map((u) => u.id).join(","), "--tasks", String(options.tasks)], "started");
  const tasksStartedAt = Date.now();

  // Users write at a steady rate, round robin (each user every users/rate seconds: within
  // Telegram's 1 message per second per chat).
  const sentAt = new Map();
  let seq = 0;
  const total = options.rate * options.seconds;
  const t0 = emulator.clock.now();
  while (seq < total) {
    const due = t0 + (seq * 1000) / options.rate;
    const wait = due - emulator.clock.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const text = `r ${seq}`;
    sentAt.set(text, emulator.clock.now());
    users[seq % users.length].sendText(sim, text);
    seq++;
  }
  const replies = () => sim.record.messages().filter((m) => m.text !== undefined && sentAt.has(m.text));
  await until(() => replies().length >= total, 30_000).catch(() => problems.push(`${mode} round ${round}: ${total - replies().length} replies missing`));
  const latencies = replies().map((m) => m.at - sentAt.get(m.text)).sort((a, b) => a - b);

  let report = await bot.command("report", "report");
  if (mode === "busy") {
    const deadline = Date.now() + options.taskTimeoutS * 1000;
    while (report.tasks_done < options.tasks && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      report = await bot.command("report", "report");
    }
    if (report.tasks_done < options.tasks) problems.push(`busy round ${round}: only ${report.tasks_done} of ${options.tasks} tasks done in ${options.taskTimeoutS} s`);
  }
  const tasksMs = Date.now() - tasksStartedAt;
  await bot.stop();
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    replies: latencies.length, p50: pct(0.5), p99: pct(0.99), max: latencies[latencies.length - 1] ?? NaN,
    tasksDone: report.tasks_done, tasksFailed: report.tasks_failed, tasksMs, violations: report.violations,
    maxRunning: report.max_running, maxRunningPerUser: report.max_running_per_user, scheduleRuns: report.schedule_runs,
  };
}

async function until(check, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
