#!/usr/bin/env node
/**
 * Inbound throughput and latency (issue 3): updates/s from fetch to a completed no-op handler,
 * for three bots side by side against the emulator with flood limits off:
 * - unlost: `createRuntime(bot, { store: { path: <temp file> } })` — SQLite file store, every
 *   update written to the durable inbox before it is confirmed, and its completion committed;
 * - a plain grammY bot, `bot.start()`;
 * - a @grammyjs/runner bot, `run(bot)`.
 *
 * Three kinds of process, as in production: the emulator (`bench/inbound-emulator-server.mjs`),
 * the bot under test (`bench/inbound-bot.mjs`, a fresh process per run) and this one, which
 * directs them over stdin/stdout.
 *
 * Throughput. Each round, for each bot (the order rotates from round to round): the emulator
 * creates a fresh bot token and pre-fills `--n` updates spread round robin over `--users`
 * users (so per-chat order is not the limit); the bot process starts and drains them. The
 * default backlog, 100,000 updates (a 1–2 s drain), measures sustained throughput: every run
 * is a fresh process, and with 30,000 updates the JIT warm-up of the first batches is a visible
 * share of the window (it costs unlost, with more code to warm up, more than the others).
 * throughput = n / (done − the bot's first getUpdates as the emulator saw it), where "done" is
 * when the last handler returned (grammY, runner) or when the runtime counts the last update as
 * handled, i.e. its completion is committed to SQLite (unlost). Start-up (getMe, opening the
 * store) is outside the window; fetching, storing, claiming, handling and settling are inside.
 * Medians over `--rounds` rounds are reported, after one unmeasured warm-up run per bot.
 *
 * Latency. A pre-filled backlog measures queueing, not latency, so after draining, the same
 * unlost (and runner) process gets a steady load: the emulator creates updates at a fixed rate
 * (`--steady-fraction` of unlost's warm-up throughput, or `--rate`) for `--steady-seconds`, and
 * the handler records `handler start − creation time` (the creation time travels in the text;
 * both processes read the same wall clock). p50/p99 over all steady updates of all rounds.
 *
 * Usage: npm run bench:inbound [-- --rounds 5 --n 100000 --users 1000 --steady-seconds 4
 *        --steady-fraction 0.5 --rate <updates/s> --concurrency <unlost inbox concurrency>
 *        --warmup-n 10000 --profile]
 * `--variants` adds unlost's diagnosis variants to every round (see VARIANTS).
 * `--baseline <dir>` adds unlost run from another build's dist/ folder ("unlost-baseline"), to
 * measure a change side by side: `cp -r dist /tmp/before`, change, build, `--baseline /tmp/before`.
 * `--profile` adds one extra unlost run under `node --cpu-prof` (not counted in the results)
 * and prints where the unlost bot process spends its time; `--profile-runner` does the same
 * for the runner bot, for comparison.
 *
 * Output: progress lines, then as the last line one JSON object
 * `{"bench":"inbound","unlost_updates_per_s":…,"runner_updates_per_s":…,"grammy_start_updates_per_s":…,"ratio_vs_runner":…,"p99_start_latency_ms":…,…}`.
 * Exit code 1 when a measurement is invalid (an update missing or handled twice, a process failed).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stageTimes, summarizeProfile } from "./profile-summary.mjs";
import { startProcess as startChild } from "./lib/child.mjs";
import { fmt, median } from "./lib/stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const TARGET_RATIO_VS_RUNNER = 1.0;
const TARGET_UPDATES_PER_S = 10_000;
const BASE_KINDS = ["unlost", "grammy", "runner"];
/**
 * Diagnosis variants of unlost (`--variants`), measured in the same rounds: `unlost-rows` stores
 * one inbox row per update (`inbox.journal: false`, the path before the journal);
 * `unlost-grammy-client` polls through grammY's client (`polling.client: "grammy"`);
 * `unlost-process` acknowledges without waiting for the flush (`durability: "process"`): the
 * cost of "acknowledged means on disk" is the difference to `unlost`.
 */
const VARIANTS = ["unlost-rows", "unlost-grammy-client", "unlost-process"];

const options = parseArgs(process.argv.slice(2), {
  rounds: 5,
  n: 100_000,
  users: 1_000,
  warmupN: 10_000,
  steadySeconds: 4,
  steadyFraction: 0.5,
  rate: 0,
  concurrency: 0,
  profile: false,
  profileRunner: false,
  variants: false,
  baseline: "",
});
// `--baseline <dist dir>`: also runs unlost from another build (e.g. a copy of dist/ made before
// a change), as "unlost-baseline", in the same rounds: a change measured side by side.
const BASELINE = typeof options.baseline === "string" && options.baseline !== "" ? options.baseline : undefined;
const KINDS = [...BASE_KINDS, ...(options.variants ? VARIANTS : []), ...(BASELINE === undefined ? [] : ["unlost-baseline"])];

const log = (line) => console.log(`[bench] ${line}`);
const problems = [];
/** A child process of this bench (see lib/child.mjs): its stray lines are logged, its errors are problems. */
const startProcess = (name, argv, readyEvent, extra = {}) => startChild(name, argv, readyEvent, { log, problems, ...extra });
const tmp = mkdtempSync(join(tmpdir(), "unlost-bench-inbound-"));
const load = [loadavg()[0]];

log(`node ${process.version}, ${availableParallelism()} cpus, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
log(`${options.rounds} rounds of ${options.n} updates over ${options.users} users per bot; steady load ${options.steadySeconds} s; unlost inbox concurrency ${options.concurrency || "default"}`);

const server = await startProcess("emulator", [join(here, "inbound-emulator-server.mjs"), "--users", String(options.users)], "ready");
log(`emulator pid ${server.info.pid} at ${server.info.url}`);

// --- warm-up: one unmeasured run per bot; sizes the steady load -----------------------------
const warm = {};
for (const kind of KINDS) {
  const r = await runBot(kind, { n: options.warmupN, label: "warm-up" });
  warm[kind] = r.perSecond;
  log(`warm-up ${kind}: ${fmt(r.perSecond)} updates/s (${options.warmupN} updates)`);
}
const rate = options.rate > 0 ? options.rate : Math.max(100, Math.round((warm.unlost * options.steadyFraction) / 100) * 100);
log(`steady load: ${fmt(rate)} updates/s for ${options.steadySeconds} s (${options.rate > 0 ? "--rate" : `${options.steadyFraction} × unlost's warm-up throughput`})`);

// --- rounds --------------------------------------------------------------------------------
const results = Object.fromEntries(KINDS.map((k) => [k, []]));
const steady = { unlost: [], runner: [] };
for (let round = 1; round <= options.rounds; round++) {
  const order = KINDS.map((_, i) => KINDS[(i + round - 1) % KINDS.length]);
  for (const kind of order) {
    const r = await runBot(kind, { n: options.n, label: `round ${round}`, steadyRate: kind in steady ? rate : 0 });
    results[kind].push(r);
    let line = `round ${round}/${options.rounds} ${kind.padEnd(kind.startsWith("unlost-") ? 18 : 6)}: ${fmt(r.perSecond).padStart(6)} updates/s (${r.handled}/${options.n} in ${r.seconds.toFixed(2)} s, ${r.getUpdatesCalls} getUpdates, bot cpu ${fmt(r.cpuMs)} ms = ${(r.cpuMs / r.seconds / 10).toFixed(0)}% of a core, event loop busy ${(r.eventLoopBusy * 100).toFixed(0)}%, emulator ≤ ${(r.emulatorCpuMs / r.seconds / 10).toFixed(0)}%${r.commitLagMs === undefined ? "" : `, last commit ${r.commitLagMs.toFixed(1)} ms after last handler`})`;
    if (r.steady !== undefined) {
      steady[kind].push(r.steady);
      line += `; steady ${fmt(r.steady.producedRate)}/s × ${r.steady.count}: start latency p50 ${r.steady.p50_ms} ms, p99 ${r.steady.p99_ms} ms, max ${r.steady.max_ms} ms${r.steady.stored === undefined ? "" : ` (arrival → stored: p50 ${r.steady.stored.p50_ms} ms, p99 ${r.steady.stored.p99_ms} ms)`} (producer lag ≤ ${r.steady.producerMaxLagMs} ms)`;
    }
    log(line);
    if (r.storeOps !== undefined) log(`  unlost store transactions: ${storeOpsLine(r.storeOps, r.handled)}`);
    load.push(loadavg()[0]);
  }
}

// --- profile (extra run, not counted) ------------------------------------------------------
let profileLines = [];
if (options.profile) {
  const dir = join(here, "profiles", `inbound-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  const r = await runBot("unlost", { n: options.n, label: "profile", cpuProfileDir: dir });
  log(`profile run (unlost under --cpu-prof, not counted): ${fmt(r.perSecond)} updates/s`);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) problems.push("profile: no .cpuprofile was written");
  else {
    profileLines = [`profile ${join(dir, file)}:`, ...unlostProfile(join(dir, file))];
    for (const l of profileLines) log(l);
  }
}
if (options.profileRunner) {
  // The same profile of the runner bot, for comparison (where does the baseline spend its time?).
  const dir = join(here, "profiles", `inbound-runner-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  const r = await runBot("runner", { n: options.n, label: "profile-runner", cpuProfileDir: dir });
  log(`profile run (runner under --cpu-prof, not counted): ${fmt(r.perSecond)} updates/s`);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file !== undefined) for (const l of [`profile ${join(dir, file)}:`, ...summarizeProfile(join(dir, file), { top: 30 })]) log(l);
}

await server.stop();
rmSync(tmp, { recursive: true, force: true });

// --- result --------------------------------------------------------------------------------
const med = (kind) => median(results[kind].map((r) => r.perSecond));
const unlostPerS = med("unlost");
const runnerPerS = med("runner");
const grammyPerS = med("grammy");
const ratio = runnerPerS > 0 ? unlostPerS / runnerPerS : 0;
const latency = (kind) => ({
  p50: median(steady[kind].map((s) => s.p50_ms)),
  p99: median(steady[kind].map((s) => s.p99_ms)),
  max: Math.max(...steady[kind].map((s) => s.max_ms)),
});
const unlostLatency = latency("unlost");
const runnerLatency = latency("runner");
const spread = (kind) => {
  const v = results[kind].map((r) => r.perSecond);
  return Number(((Math.max(...v) - Math.min(...v)) / median(v)).toFixed(3));
};
const valid = problems.length === 0;
for (const p of problems) log(`INVALID: ${p}`);
const meetsRatio = ratio >= TARGET_RATIO_VS_RUNNER;
const meetsAbsolute = unlostPerS >= TARGET_UPDATES_PER_S;
log(`medians: unlost ${fmt(unlostPerS)}/s, runner ${fmt(runnerPerS)}/s, grammY bot.start() ${fmt(grammyPerS)}/s; unlost/runner ${ratio.toFixed(2)}×`);
log(`steady start latency at ${fmt(rate)}/s: unlost p50 ${unlostLatency.p50} ms p99 ${unlostLatency.p99} ms; runner p50 ${runnerLatency.p50} ms p99 ${runnerLatency.p99} ms`);
{
  const perCpu = (k) => median(results[k].map((r) => r.handled / (r.cpuMs / 1000)));
  log(`per second of the bot process's own CPU (robust to a shared machine): unlost ${fmt(perCpu("unlost"))}, runner ${fmt(perCpu("runner"))}, grammY ${fmt(perCpu("grammy"))}; unlost/runner ${(perCpu("unlost") / perCpu("runner")).toFixed(2)}×`);
}
if (BASELINE !== undefined) {
  log(`baseline build ${BASELINE}: ${fmt(med("unlost-baseline"))}/s; this build ${fmt(unlostPerS)}/s (${(unlostPerS / med("unlost-baseline")).toFixed(3)}×); per bot CPU second ${(median(results.unlost.map((r) => r.handled / r.cpuMs)) / median(results["unlost-baseline"].map((r) => r.handled / r.cpuMs))).toFixed(3)}×`);
}
if (options.variants) {
  log(`variants (same rounds): ${VARIANTS.map((k) => `${k} ${fmt(med(k))}/s (${(med(k) / runnerPerS).toFixed(2)}× runner)`).join(", ")}; unlost ${fmt(unlostPerS)}/s`);
}
log(`noise: (max − min) / median over rounds: unlost ${spread("unlost")}, runner ${spread("runner")}, grammy ${spread("grammy")}; 1-min load average ${load.map((l) => l.toFixed(2)).join(" → ")} on ${availableParallelism()} cpus`);
log(`targets: unlost ≥ ${TARGET_RATIO_VS_RUNNER}× runner: ${meetsRatio ? "met" : "MISSED"}; unlost ≥ ${fmt(TARGET_UPDATES_PER_S)}/s: ${meetsAbsolute ? "met" : "MISSED"}`);

const result = {
  bench: "inbound",
  unlost_updates_per_s: Math.round(unlostPerS),
  runner_updates_per_s: Math.round(runnerPerS),
  grammy_start_updates_per_s: Math.round(grammyPerS),
  ratio_vs_runner: Number(ratio.toFixed(3)),
  p99_start_latency_ms: unlostLatency.p99,
  p50_start_latency_ms: unlostLatency.p50,
  max_start_latency_ms: unlostLatency.max,
  runner_p50_start_latency_ms: runnerLatency.p50,
  runner_p99_start_latency_ms: runnerLatency.p99,
  steady_rate_per_s: rate,
  steady_seconds: options.steadySeconds,
  steady_rate_vs_unlost_median: Number((rate / unlostPerS).toFixed(2)),
  targets: { ratio_vs_runner: TARGET_RATIO_VS_RUNNER, updates_per_s: TARGET_UPDATES_PER_S },
  meets_ratio_target: valid && meetsRatio,
  meets_throughput_target: valid && meetsAbsolute,
  valid,
  rounds: options.rounds,
  n: options.n,
  users: options.users,
  unlost_rounds_per_s: results.unlost.map((r) => Math.round(r.perSecond)),
  runner_rounds_per_s: results.runner.map((r) => Math.round(r.perSecond)),
  grammy_start_rounds_per_s: results.grammy.map((r) => Math.round(r.perSecond)),
  unlost_rounds_p99_ms: steady.unlost.map((s) => s.p99_ms),
  unlost_stored_p50_ms: median(steady.unlost.map((s) => s.stored.p50_ms)),
  unlost_stored_p99_ms: median(steady.unlost.map((s) => s.stored.p99_ms)),
  runner_rounds_p99_ms: steady.runner.map((s) => s.p99_ms),
  // Robust to a shared machine: updates per second of the bot process's own CPU time.
  updates_per_bot_cpu_s: Object.fromEntries(KINDS.map((k) => [k, Math.round(median(results[k].map((r) => r.handled / (r.cpuMs / 1000))))])),
  bot_cpu_pct_of_core: Object.fromEntries(KINDS.map((k) => [k, Math.round(median(results[k].map((r) => r.cpuMs / r.seconds / 10)))])),
  emulator_cpu_pct_of_core_at_most: Object.fromEntries(KINDS.map((k) => [k, Math.round(median(results[k].map((r) => r.emulatorCpuMs / r.seconds / 10)))])),
  unlost_sqlite_us_per_update: Number(median(results.unlost.map((r) => Object.values(r.storeOps).reduce((ms, o) => ms + o.ms, 0) * 1000 / r.handled)).toFixed(1)),
  noise_spread: { unlost: spread("unlost"), runner: spread("runner"), grammy: spread("grammy") },
  load_average_1m: load.map((l) => Number(l.toFixed(2))),
  unlost_concurrency: options.concurrency || "default",
  profiled: options.profile,
  ...(options.variants ? { variants_updates_per_s: Object.fromEntries(VARIANTS.map((k) => [k, Math.round(med(k))])) } : {}),
  node: process.version,
  cpus: availableParallelism(),
};
console.log(JSON.stringify(result));
process.exitCode = valid ? 0 : 1;

// --- one run of one bot --------------------------------------------------------------------

/**
 * A fresh token with `n` pre-filled updates, a bot process that drains them, then (when
 * `steadyRate` > 0) a steady load on the same process. Returns the measurement.
 */
async function runBot(kind, { n, label, steadyRate = 0, cpuProfileDir }) {
  const { token } = await server.command("bot", "bot");
  await server.command(`prefill ${token} ${n}`, "prefilled");
  const emuBefore = await server.command(`stats ${token}`, "stats");
  const store = join(tmp, `${kind}-${label.replace(/\W+/g, "-")}.sqlite`);
  const botArgs = ["--kind", kind, "--url", server.info.url, "--token", token, "--n", String(n), "--store", store];
  if (options.concurrency > 0) botArgs.push("--concurrency", String(options.concurrency));
  const execArgv = cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir];
  // Diagnosis: extra node flags for the bot processes (e.g. `--heap-prof`, `--trace-gc`).
  if (process.env.UNLOST_BENCH_NODE_ARGS) execArgv.push(...process.env.UNLOST_BENCH_NODE_ARGS.split(/\s+/).filter(Boolean));
  const bot = await startProcess(`${kind} bot`, [...execArgv, join(here, "inbound-bot.mjs"), ...botArgs], "started", kind === "unlost-baseline" ? { env: { UNLOST_BENCH_DIST: BASELINE } } : {});
  const drained = await bot.next("drained", 180_000);
  const emu = await server.command(`stats ${token}`, "stats");
  const firstFetch = emu.first_get_updates_at ?? drained.first_fetch_at;
  const seconds = (drained.done_at - firstFetch) / 1000;
  const result = {
    kind,
    handled: drained.handled,
    seconds,
    perSecond: n / seconds,
    botSidePerSecond: n / ((drained.done_at - drained.first_fetch_at) / 1000),
    getUpdatesCalls: emu.get_updates_calls,
    cpuMs: drained.cpu_ms,
    eventLoopBusy: drained.event_loop_busy,
    // From before the bot process starts to the end of the drain: a slight overestimate of the window.
    emulatorCpuMs: emu.cpu_ms - emuBefore.cpu_ms,
    commitLagMs: kind.startsWith("unlost") ? drained.done_at - drained.last_handler_at : undefined,
    storeOps: drained.store_ops,
  };
  if (drained.handled !== n) problems.push(`${label} ${kind}: the handler ran ${drained.handled} times for ${n} updates`);
  if (kind.startsWith("unlost")) {
    const { inbox } = drained;
    if (inbox.done !== n || inbox.pending !== 0 || inbox.inflight !== 0 || inbox.dead !== 0) {
      problems.push(`${label} unlost: inbox after draining ${JSON.stringify(inbox)}, expected ${n} done and nothing else`);
    }
  }
  if (steadyRate > 0) {
    const produced = await server.command(`steady ${token} ${steadyRate} ${options.steadySeconds}`, "steady-done", (options.steadySeconds + 60) * 1000);
    const s = await bot.command(`expect ${n + produced.count}`, "steady", 60_000);
    if (s.count !== produced.count) problems.push(`${label} ${kind}: ${s.count} steady updates handled, ${produced.count} produced`);
    if (kind.startsWith("unlost") && s.inbox.done !== n + produced.count) problems.push(`${label} unlost: inbox after the steady load ${JSON.stringify(s.inbox)}`);
    result.steady = { ...s, producedRate: produced.rate, producerMaxLagMs: produced.max_lag_ms };
  }
  await bot.stop();
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${store}${suffix}`, { force: true });
  return result;
}

/**
 * Starts a node child process speaking JSON lines on stdout / commands on stdin, and waits for
 * its first `readyEvent`. Returns `{ info, next(event, timeoutMs), command(line, event, timeoutMs), stop() }`.
 */

// --- profile of the unlost bot process ------------------------------------------------------

/**
 * Where the unlost bot process spends its time: inclusive time of the pipeline's stages
 * (a sample counts once per stage on its stack), then self time by file and function.
 */
function unlostProfile(path) {
  const stages = [
    ["poller: getUpdates with unlost's client (HTTP/1.1 connection, JSON parse of the answer)", (f) => f.functionName === "fetch" && f.url.includes("intake/get-updates-client")],
    ["poller: getUpdates HTTP call (grammY client, fetch, JSON parse of the answer)", (f) => f.functionName === "callApi" && f.url.includes("grammy")],
    ["poller: inbox.ingest (JSON.stringify + INSERT + chat_queue, one transaction)", (f) => f.functionName === "ingest" && f.url.includes("store/sqlite/inbox")],
    ["dispatcher: inbox.claim (head scan + UPDATE…RETURNING per update + JSON.parse)", (f) => f.functionName === "claim" && f.url.includes("store/sqlite/inbox")],
    ["  claims of any operation (takeHeads: UPDATE…RETURNING per head)", (f) => f.functionName === "takeHeads"],
    ["  of which parseRaw (JSON.parse of the stored update)", (f) => f.functionName === "parseRaw"],
    ["dispatcher: inbox.settleMany / settleAndClaim (UPDATE done + refreshHead per update, + claim)", (f) => (f.functionName === "settleMany" || f.functionName === "settleAndClaim") && f.url.includes("store/sqlite/inbox")],
    ["  of which refreshHead (next head of the chat)", (f) => f.functionName === "refreshHead"],
    ["poller: journal.append (JSON.stringify + one record per batch + offset, one transaction)", (f) => f.functionName === "append" && f.url.includes("store/sqlite/journal")],
    ["journal dispatcher: journal.complete (one transaction per flush of completions)", (f) => f.functionName === "complete" && f.url.includes("store/sqlite/journal")],
    ["journal dispatcher: accept (per-chat queues of a fetched batch)", (f) => f.functionName === "accept" && f.url.includes("journal-dispatcher")],
    ["runtime handleUpdate (catch-up facts, update info, grammY)", (f) => f.functionName === "handleUpdate" && f.url.includes("runtime/runtime")],
    ["  of which grammY bot.handleUpdate (Context, middleware)", (f) => f.functionName === "handleUpdate" && f.url.includes("grammy/out/bot")],
    ["SQLite BEGIN/COMMIT (self time of better-sqlite3's sqliteTransaction: the commit's WAL writes)", (f) => f.functionName === "sqliteTransaction", true],
    ["bench: runtime.stats() polling at the end of a drain", (f) => f.functionName === "stats" && f.url.includes("runtime/runtime")],
    ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  ];
  const { inclusive, busy } = stageTimes(path, stages);
  const lines = ["inclusive time of the pipeline's stages (% of busy time):"];
  stages.forEach(([label], s) => lines.push(`${((100 * inclusive[s]) / Math.max(busy, 1e-9)).toFixed(1).padStart(5)}% ${inclusive[s].toFixed(0).padStart(7)} ms  ${label}`));
  const summary = summarizeProfile(path, { top: 30 });
  const cut = summary.findIndex((l) => l.startsWith("total (inclusive) time of emulator"));
  return [...lines, ...(cut >= 0 ? summary.slice(0, cut) : summary)];
}

// --- helpers -------------------------------------------------------------------------------

/** `ingest 301 txns × 99.7 rows, 0.9 ms/txn, 270 ms; …` and the total per update. */
function storeOpsLine(ops, handled) {
  let ms = 0;
  let calls = 0;
  const parts = Object.entries(ops).filter(([, o]) => o.calls > 0).map(([name, o]) => {
    ms += o.ms;
    calls += o.calls;
    const claimed = o.claimed > 0 ? ` (+ ${(o.claimed / o.calls).toFixed(1)} claimed)` : "";
    return `${name} ${o.calls} × ${(o.rows / o.calls).toFixed(1)} rows${claimed}, ${(o.ms / o.calls).toFixed(2)} ms each, ${o.ms.toFixed(0)} ms`;
  });
  return `${parts.join("; ")} — ${(calls / handled).toFixed(3)} txns and ${((1000 * ms) / handled).toFixed(1)} µs of SQLite per update`;
}

/** `--name value` / `--flag` arguments over defaults (camelCase names, kebab-case accepted). */
function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? "";
    const name = raw.replace(/^--/, "").replace(/-([a-z])/g, (_m, c) => c.toUpperCase());
    if (!raw.startsWith("--") || !(name in defaults)) {
      throw new Error(`unknown argument ${raw}; options: ${Object.keys(defaults).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(" ")}`);
    }
    if (typeof defaults[name] === "boolean") {
      out[name] = true;
      continue;
    }
    if (typeof defaults[name] === "string") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new Error(`${raw} takes a value`);
      out[name] = value;
      continue;
    }
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${raw} takes a positive number`);
    out[name] = value;
  }
  return out;
}
