#!/usr/bin/env node
/**
 * Bots that reply (issue 9): how fast an echo bot drains a backlog after downtime — the case
 * unlost exists for — under unlost with its default durability (every acknowledgement after
 * an fsync), under grammY's `bot.start()` and under @grammyjs/runner, side by side.
 *
 * Three kinds of process, as in production: the emulator (`bench/echo-emulator-server.mjs`,
 * flood limits off), the bot under test (`bench/echo-bot.mjs`, a fresh process per run) and
 * this one, which directs them over stdin/stdout.
 *
 * Each run: the emulator creates a fresh bot token and pre-fills `--n` texts (`e <seq>`) spread
 * round robin over `--users` users; the bot process is spawned; the run ends when the emulator
 * has accepted a reply to every text. Measured from the spawn (what a restarted bot's users
 * see): the first reply and the last one (the drain). The bot's CPU time and peak RSS come
 * from the bot process; duplicates (a seq answered twice) and lost replies from the emulator.
 * The kinds alternate, their order rotating from round to round; medians over `--rounds`.
 *
 * Usage: npm run bench:echo [-- --rounds 3 --n 100000 --users 1000 --variants --baseline <dist dir>]
 * `--variants` adds `unlost-process` (`durability: "process"`: what the fsync costs) and
 * `unlost-heap256` and `grammy-heap256` (each in `node --max-old-space-size=256`: what V8's heap
 * sizing costs each);
 * `--baseline <dir>` adds unlost from another build's dist/ (a copy inside the repository, e.g.
 * `cp -r dist bench/.before`), to measure a change side by side.
 *
 * `--profile` adds one extra unlost run under `node --cpu-prof` (not counted) and prints where
 * the bot process spends its time.
 *
 * Output: progress lines, then as the last line one JSON object
 * `{"bench":"echo","unlost_drain_s":…,"grammy_drain_s":…,"runner_drain_s":…,"ratio_vs_grammy":…,"ratio_vs_runner":…,
 *   "unlost_first_reply_ms":…,"grammy_first_reply_ms":…,"unlost_peak_rss_mb":…,"grammy_peak_rss_mb":…,"duplicates":…,"lost":…}`
 * (ratio = the peer's drain time / unlost's: above 1, unlost is faster; duplicates and lost are
 * unlost's, summed over its runs). Exit code 1 when a run is invalid (a process failed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdirSync, readdirSync } from "node:fs";
import { summarizeProfile } from "./profile-summary.mjs";
import { startProcess as startChild } from "./lib/child.mjs";
import { fmt, median } from "./lib/stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const options = parseArgs(process.argv.slice(2), { rounds: 3, n: 100_000, users: 1_000, variants: false, baseline: "", timeoutS: 600, profile: false, only: "" });
const BASELINE = options.baseline === "" ? undefined : options.baseline;
// `--only <kind>` (diagnosis): runs that kind alone; the result line then has no comparison.
const KINDS = options.only !== "" ? [options.only] : ["unlost", "grammy", "runner", ...(options.variants ? ["unlost-process", "unlost-heap256", "grammy-heap256"] : []), ...(BASELINE === undefined ? [] : ["unlost-baseline"])];

const log = (line) => console.log(`[bench] ${line}`);
const problems = [];
const startProcess = (name, argv, readyEvent, extra = {}) => startChild(name, argv, readyEvent, { log, problems, ...extra });
const wallNow = () => performance.timeOrigin + performance.now();
const tmp = mkdtempSync(join(tmpdir(), "unlost-bench-echo-"));

log(`node ${process.version}, ${availableParallelism()} cpus, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
log(`${options.rounds} rounds of ${fmt(options.n)} texts from ${fmt(options.users)} users per bot; kinds ${KINDS.join(", ")}`);
const server = await startProcess("emulator", [join(here, "echo-emulator-server.mjs"), "--users", String(options.users)], "ready");
log(`emulator pid ${server.info.pid} at ${server.info.url}`);

const results = Object.fromEntries(KINDS.map((k) => [k, []]));
for (let round = 1; round <= options.rounds; round++) {
  const order = KINDS.map((_, i) => KINDS[(i + round - 1) % KINDS.length]);
  for (const kind of order) {
    const r = await runBot(kind, round);
    results[kind].push(r);
    log(`round ${round}/${options.rounds} ${kind.padEnd(15)}: drained in ${r.drainS.toFixed(2)} s (${fmt(options.n / r.drainS)} replies/s), first reply ${fmt(r.firstReplyMs)} ms, bot cpu ${fmt(r.cpuMs)} ms (${(r.cpuMs / r.drainS / 10).toFixed(0)}% of a core), peak rss ${r.peakRssMb} MB, emulator cpu ${fmt(r.emulatorCpuMs)} ms, duplicates ${r.duplicates}, lost ${r.lost}, strays ${r.strays}; at the end ${r.memory}`);
  }
}
if (options.profile) {
  const dir = join(here, "profiles", `echo-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  const r = await runBot("unlost", "profile", ["--cpu-prof", "--cpu-prof-dir", dir]);
  log(`profile run (unlost under --cpu-prof, not counted): drained in ${r.drainS.toFixed(2)} s`);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) problems.push("profile: no .cpuprofile was written");
  else for (const l of [`profile ${join(dir, file)}:`, ...summarizeProfile(join(dir, file), { top: 40 })]) log(l);
}
await server.stop();
rmSync(tmp, { recursive: true, force: true });

const med = (kind, key) => median(results[kind].map((r) => r[key]));
const sum = (kind, key) => results[kind].reduce((s, r) => s + r[key], 0);
const drain = (kind) => med(kind, "drainS");
for (const kind of KINDS) {
  log(`median ${kind.padEnd(15)}: drain ${drain(kind).toFixed(2)} s, first reply ${fmt(med(kind, "firstReplyMs"))} ms, cpu ${fmt(med(kind, "cpuMs"))} ms (${fmt(med(kind, "cpuMs") / options.n * 1000)} µs per reply), peak rss ${med(kind, "peakRssMb")} MB`);
}
if (options.variants) log(`unlost-process (no fsync before acknowledging) drains in ${drain("unlost-process").toFixed(2)} s; the fsync costs ${((drain("unlost") / drain("unlost-process") - 1) * 100).toFixed(1)}%`);
if (options.variants) log(`unlost-heap256 (node --max-old-space-size=256, a deployment setting): drains in ${drain("unlost-heap256").toFixed(2)} s with peak RSS ${med("unlost-heap256", "peakRssMb")} MB (${(med("unlost-heap256", "peakRssMb") / med("grammy-heap256", "peakRssMb")).toFixed(2)}× grammY's in the same node: ${med("grammy-heap256", "peakRssMb")} MB, drained in ${drain("grammy-heap256").toFixed(2)} s)`);
if (BASELINE !== undefined && options.only === "") log(`baseline build ${BASELINE}: ${drain("unlost-baseline").toFixed(2)} s; this build ${drain("unlost").toFixed(2)} s (${(drain("unlost-baseline") / drain("unlost")).toFixed(3)}× as fast)`);
if (options.only !== "") {
  console.log(JSON.stringify({ bench: "echo", only: options.only, drain_s: round2(drain(options.only)), peak_rss_mb: med(options.only, "peakRssMb"), cpu_ms: med(options.only, "cpuMs") }));
  process.exit(problems.length === 0 ? 0 : 1);
}
const result = {
  bench: "echo",
  unlost_drain_s: round2(drain("unlost")),
  grammy_drain_s: round2(drain("grammy")),
  runner_drain_s: round2(drain("runner")),
  ratio_vs_grammy: round3(drain("grammy") / drain("unlost")),
  ratio_vs_runner: round3(drain("runner") / drain("unlost")),
  unlost_first_reply_ms: Math.round(med("unlost", "firstReplyMs")),
  grammy_first_reply_ms: Math.round(med("grammy", "firstReplyMs")),
  unlost_peak_rss_mb: med("unlost", "peakRssMb"),
  grammy_peak_rss_mb: med("grammy", "peakRssMb"),
  duplicates: sum("unlost", "duplicates"),
  lost: sum("unlost", "lost"),
  runner_first_reply_ms: Math.round(med("runner", "firstReplyMs")),
  runner_peak_rss_mb: med("runner", "peakRssMb"),
  unlost_cpu_us_per_reply: Math.round((med("unlost", "cpuMs") / options.n) * 1000),
  grammy_cpu_us_per_reply: Math.round((med("grammy", "cpuMs") / options.n) * 1000),
  rss_vs_grammy: round3(med("unlost", "peakRssMb") / med("grammy", "peakRssMb")),
  rounds: options.rounds,
  n: options.n,
  valid: problems.length === 0,
};
for (const p of problems) log(`INVALID: ${p}`);
log(`targets: ratio_vs_grammy ≥ 1.0: ${result.ratio_vs_grammy >= 1 ? "met" : "MISSED"}; first reply ≤ 1000 ms: ${result.unlost_first_reply_ms <= 1000 ? "met" : "MISSED"}; peak RSS ≤ 1.5× grammY: ${result.rss_vs_grammy <= 1.5 ? "met" : "MISSED"}; 0 lost: ${result.lost === 0 ? "met" : "MISSED"}; 0 duplicates: ${result.duplicates === 0 ? "met" : "MISSED"}`);
console.log(JSON.stringify(result));
process.exit(problems.length === 0 ? 0 : 1);

/** One run of one kind: a fresh bot token and backlog, a fresh bot process, until every text is answered. */
async function runBot(kind, round, nodeFlags = []) {
  const { token } = await server.command("bot", "bot");
  await server.command(`prefill ${token} ${options.n}`, "prefilled", 120_000);
  const emulatorBefore = (await server.command(`tally ${token}`, "tally")).cpu_ms;
  const store = join(tmp, `${kind}-${round}.sqlite`);
  const spawnedAt = wallNow();
  const env = kind === "unlost-baseline" ? { UNLOST_BENCH_DIST: BASELINE } : {};
  // Diagnosis: UNLOST_BENCH_HEAP_SNAPSHOT=<dir> writes a heap snapshot of each bot after the drain (after a full GC).
  const snapshotDir = process.env.UNLOST_BENCH_HEAP_SNAPSHOT;
  if (snapshotDir !== undefined) nodeFlags = [...nodeFlags, "--expose-gc"];
  // Diagnosis: UNLOST_BENCH_NODE_FLAGS adds node flags to the unlost bots (e.g. "--trace-gc").
  if ((kind.startsWith("unlost") || process.env.UNLOST_BENCH_NODE_FLAGS_ALL !== undefined) && process.env.UNLOST_BENCH_NODE_FLAGS !== undefined) nodeFlags = [...nodeFlags, ...process.env.UNLOST_BENCH_NODE_FLAGS.split(" ")];
  // `unlost-heap256`: unlost as is, in a node with a 256 MB old-generation limit (V8 then grows
  // its heap by a smaller factor over the live set; see docs/operations.md, "Memory").
  const botKind = kind.endsWith("-heap256") ? kind.slice(0, -"-heap256".length) : kind;
  if (kind.endsWith("-heap256")) nodeFlags = [...nodeFlags, "--max-old-space-size=256"];
  const bot = await startProcess(kind, [...nodeFlags, join(here, "echo-bot.mjs"), "--kind", botKind, "--url", server.info.url, "--token", token, "--store", store], "started", { env });
  let replied;
  try {
    replied = await server.command(`wait ${token}`, "replied", options.timeoutS * 1000);
  } catch (error) {
    problems.push(`${kind} round ${round}: ${error.message}`);
    replied = await server.command(`tally ${token}`, "tally");
  }
  const report = await bot.command("report", "report");
  if (snapshotDir !== undefined) log(`heap snapshot: ${(await bot.command(`heap ${join(snapshotDir, `${kind}-${round}.heapsnapshot`)}`, "heap", 120_000)).file}`);
  await bot.stop();
  // Replies that came after "all replied" (a late duplicate) are counted too.
  const final = await server.command(`tally ${token}`, "tally");
  return {
    drainS: (replied.last_reply_at - spawnedAt) / 1000,
    firstReplyMs: replied.first_reply_at - spawnedAt,
    cpuMs: report.cpu_ms,
    peakRssMb: report.peak_rss_mb,
    emulatorCpuMs: Math.round(replied.cpu_ms - emulatorBefore),
    duplicates: final.duplicates,
    lost: options.n - final.distinct,
    strays: final.strays,
    memory: `await ctx.reply ${JSON.stringify(report.reply_wait_ms)} ms; rss at start ${bot.info.rss_mb} MB (heap ${bot.info.heap_total_mb} MB); rss ${report.rss_mb} MB, heap ${report.heap_used_mb}/${report.heap_total_mb} MB, external ${report.external_mb} MB, smaps ${JSON.stringify(report.rollup)}`,
  };
}

function round2(x) { return Number(x.toFixed(2)); }
function round3(x) { return Number(x.toFixed(3)); }

function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(name in defaults)) throw new Error(`unknown option ${argv[i]}; known: ${Object.keys(defaults).join(", ")}`);
    if (typeof defaults[name] === "boolean") out[name] = true;
    else out[name] = typeof defaults[name] === "number" ? Number(argv[++i]) : argv[++i];
  }
  return out;
}
