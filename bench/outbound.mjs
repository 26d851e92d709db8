#!/usr/bin/env node
/**
 * Outbound benchmark (issue 4), one run, contenders side by side against the emulator.
 *
 * 1. Paced broadcast: `--n` (3 000) messages, one to each of `--n` private chats, under
 *    Telegram's flood limits time-scaled by `--scale` (default ×10: every *rate* ×10 in BOTH the
 *    emulator and the senders — 300/s per bot instead of 30/s, 10/s per chat, 200/min per group —
 *    so 3 000 messages take ~10 s instead of ~100 s; `--scale 1` runs in real time). The
 *    emulator adds `--rtt-ms`/scale ms (± 20 %) to every sendMessage (default 50 ms real ⇒ 5 ms),
 *    standing in for the network to Telegram. Contenders, in turn, each in a fresh process with a
 *    fresh bot token (so the emulator's buckets start full and its counters at zero):
 *    - unlost: `createRuntime(bot, { outbox: { limits } })` with a SQLite file store;
 *      `runtime.outbox.broadcast(chats, "sendMessage", …)`; pacer limits = Telegram's ×scale;
 *    - grammY + @grammyjs/transformer-throttler (its defaults with every rate ×scale) +
 *      @grammyjs/auto-retry, all sends started at once;
 *    - plain grammY, `await bot.api.sendMessage` in a loop (failures counted and skipped).
 *    Measured at the emulator (a wrapper around `emulator.handle` sees every answer):
 *    limit utilization = (accepted − 1) / (last accepted − first accepted) / (30·scale per s),
 *    the sustained rate as a fraction of the scaled global limit; the count of 429 answers;
 *    also end to end = accepted / (last accepted − the contender's start), which includes
 *    enqueueing and the first request's trip. Note: the emulator's global bucket holds one
 *    second of sends (30·scale), so a sender that bursts can exceed 1.0 by up to
 *    30·scale / n (0.1 at ×10 with 3 000; 0.01 in real time) — unlost's pacer bursts 5.
 * 2. Limits off (emulator without limits, no added latency, unlost's pacing limits far out of
 *    reach): unlost sends/s end to end (`--e2e-n` single `sendText` calls, each awaited, then
 *    until all are delivered and committed), the enqueue latency of those calls measured while
 *    the delivery loop is sending (p50/p99, targets ≤ 0.5 ms / ≤ 5 ms), and, in a process
 *    without a delivery loop, the same latency idle and bulk enqueue throughput
 *    (`outbox.broadcast` to 10 000 chats; 10 000 sends awaited together).
 * 3. Memory: RSS of a process holding a store and the Outbox API with no delivery loop, after a
 *    forced GC, with 0, 100 000 and 1 000 000 queued messages (bulk-enqueued with
 *    `outbox.broadcast`, 10 000 chats per call, every chat distinct), minus the same process's
 *    RSS idle (store and outbox open, nothing queued). Also a fresh process opening the 1M store,
 *    and the peak RSS of ONE `outbox.broadcast` call to 1M chats (the API allows it).
 *
 * Rounds: sections 1 and 2 run `--rounds` times (contender order rotating); medians reported,
 * with the spread. Section 3 runs once (`--no-memory` skips it; `--mem-n` sets the big size).
 *
 * Usage: npm run bench:outbound [-- --rounds 3 --scale 10 --n 3000 --rtt-ms 50 --e2e-n 20000
 *        --e2e-chats 1000 --concurrency <unlost outbox concurrency> --idle-ms <unlost outbox idleMs>
 *        --mem-n 1000000 --no-memory --kinds unlost,throttler,sequential --paced-only --profile]
 * `--profile` adds an unlost paced run and an unlost limits-off run under `node --cpu-prof`
 * (not counted) and prints where the sender spends its time. `--paced-only` runs section 1 only.
 * Diagnosis: for unlost, the pauses between accepted sends longer than 5 / limit (its pacer's
 * burst of 5 at the scaled rate) are printed: the time beyond that is capacity lost.
 *
 * Output: progress lines, then as the last line one JSON object
 * `{"bench":"outbound","limit_utilization":…,"responses_429":…,"autoretry_throttler_limit_utilization":…,"autoretry_throttler_responses_429":…,"sequential_limit_utilization":…,"sends_per_s_unlimited":…,"enqueue_p50_ms":…,"enqueue_p99_ms":…,"rss_mb_over_idle_1m":…,…}`.
 * Exit code 1 when a measurement is invalid (a message missing, delivered twice, a process failed).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stageTimes, summarizeProfile } from "./profile-summary.mjs";
import { startProcess as startChild } from "./lib/child.mjs";
import { fmt, median } from "./lib/stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const FIRST_CHAT = 1_000_000;
const TARGETS = { limit_utilization: 0.97, responses_429: 0, enqueue_p50_ms: 0.5, enqueue_p99_ms: 5, rss_mb_over_idle_1m: 100 };

const options = parseArgs(process.argv.slice(2), {
  rounds: 3,
  scale: 10,
  n: 3_000,
  rttMs: 50,
  e2eN: 20_000,
  e2eChats: 1_000,
  concurrency: 0,
  idleMs: 0,
  kinds: "unlost,throttler,sequential",
  pacedOnly: false,
  profile: false,
  memN: 1_000_000,
  noMemory: false,
});

const KINDS = options.kinds.split(",");
const log = (line) => console.log(`[bench] ${line}`);
const problems = [];
/** A child process of this bench (see lib/child.mjs): its stray lines are logged, its errors are problems. */
const startProcess = (name, argv, readyEvent, extra = {}) => startChild(name, argv, readyEvent, { log, problems, ...extra });
const tmp = mkdtempSync(join(tmpdir(), "unlost-bench-outbound-"));
const load = [loadavg()[0]];
const limitPerS = 30 * options.scale;
const latencyMs = options.rttMs / options.scale;

log(`node ${process.version}, ${availableParallelism()} cpus, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
log(`time scale ×${options.scale}: global limit ${limitPerS}/s (Telegram 30/s), per chat ${options.scale}/s, per group ${20 * options.scale}/min; emulator adds ${latencyMs} ms ± 20 % per sendMessage (${options.rttMs} ms real time ÷ ${options.scale})`);
log(`${options.rounds} rounds: broadcast of ${options.n} messages to ${options.n} chats per contender; limits off: ${options.e2eN} single sends over ${options.e2eChats} chats`);

const limited = await startProcess("emulator (limits ×scale)", [join(here, "outbound-emulator-server.mjs"), "--scale", String(options.scale), "--latency-ms", String(latencyMs), "--users", String(Math.max(options.n, options.e2eChats)), "--first-id", String(FIRST_CHAT)], "ready");
const unlimited = await startProcess("emulator (limits off)", [join(here, "outbound-emulator-server.mjs"), "--scale", "0", "--users", String(Math.max(options.n, options.e2eChats)), "--first-id", String(FIRST_CHAT)], "ready");
log(`emulators: pid ${limited.info.pid} (limits ×${options.scale}) at ${limited.info.url}, pid ${unlimited.info.pid} (limits off) at ${unlimited.info.url}`);

// --- 1 and 2: rounds ---------------------------------------------------------------------------
const paced = { unlost: [], throttler: [], sequential: [] };
const e2e = [];
for (let round = 1; round <= options.rounds; round++) {
  const order = KINDS.map((_, i) => KINDS[(i + round - 1) % KINDS.length]);
  for (const kind of order) {
    const r = await pacedRun(kind, `round ${round}`);
    paced[kind].push(r);
    log(`round ${round}/${options.rounds} ${kind.padEnd(10)}: utilization ${r.utilization.toFixed(3)} (end to end ${r.utilizationE2e.toFixed(3)}), ${r.responses429} × 429, ${r.ok}/${options.n} delivered${r.lost > 0 ? `, ${r.lost} LOST` : ""}${r.duplicates > 0 ? `, ${r.duplicates} duplicates` : ""}, ${r.seconds.toFixed(2)} s, ${Math.round(r.ratePerS)}/s at the emulator, sender cpu ${Math.round(r.cpuMs)} ms${kind === "unlost" ? `; pauses > ${((5 / limitPerS) * 1000).toFixed(1)} ms (unlost's burst of 5): ${r.gapsOver}, ${Math.round(r.gapExcessMs)} ms beyond (${((r.gapExcessMs / 1000 / r.seconds) * 100).toFixed(1)} % of the run), longest ${Math.round(r.maxGapMs)} ms; sender event-loop delay p99 ${r.loopDelay.p99} ms, max ${r.loopDelay.max} ms` : ""}`);
    load.push(loadavg()[0]);
  }
  if (options.pacedOnly) continue;
  const u = await unlimitedRun(`round ${round}`);
  e2e.push(u);
  log(`round ${round}/${options.rounds} limits off : ${Math.round(u.sendsPerS)} sends/s end to end (${options.e2eN} in ${u.seconds.toFixed(2)} s; enqueue phase ${u.enqueueSeconds.toFixed(2)} s), enqueue latency while delivering p50 ${u.enqueue.p50} ms p90 ${u.enqueue.p90} ms p99 ${u.enqueue.p99} ms max ${u.enqueue.max} ms, cpu ${Math.round(u.cpuMs)} ms`);
  load.push(loadavg()[0]);
}

// --- profile (extra runs, not counted) ------------------------------------------------------------
const profileLines = [];
if (options.profile) {
  const dir = join(here, "profiles", `outbound-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  const runs = [
    ["paced", () => pacedRun("unlost", "profile-paced", join(dir, "paced"))],
    ...(options.pacedOnly ? [] : [["limits-off", () => unlimitedRun("profile-unlimited", join(dir, "unlimited"))]]),
  ];
  for (const [name, run] of runs) {
    const r = await run();
    log(`profile run ${name} (unlost under --cpu-prof, not counted): ${r.utilization === undefined ? `${Math.round(r.sendsPerS)} sends/s` : `utilization ${r.utilization.toFixed(3)}`}, sender cpu ${Math.round(r.cpuMs)} ms`);
    const sub = join(dir, name === "paced" ? "paced" : "unlimited");
    const file = readdirSync(sub).find((f) => f.endsWith(".cpuprofile"));
    if (file === undefined) problems.push(`profile ${name}: no .cpuprofile was written`);
    else {
      profileLines.push(`profile ${name} ${join(sub, file)}:`, ...senderProfile(join(sub, file)));
    }
  }
  for (const l of profileLines) log(l);
}
await limited.stop();
await unlimited.stop();

// --- 2b: idle enqueue latency and bulk enqueue (no delivery loop) -------------------------------
const idle = { latency: [], broadcast: [], parallel: [] };
for (let round = 1; round <= (options.pacedOnly ? 0 : options.rounds); round++) {
  const events = await runStoreProcess(["--mode", "latency", "--store", join(tmp, `latency-${round}.sqlite`), "--bulk-rounds", "3"]);
  for (const e of events) {
    if (e.event === "latency") idle.latency.push(e);
    else if (e.event === "bulk") (e.kind === "broadcast" ? idle.broadcast : idle.parallel).push(e.jobs_per_s);
  }
  const l = events.find((e) => e.event === "latency");
  log(`round ${round}/${options.rounds} idle outbox: enqueue latency p50 ${l.p50_ms} ms p90 ${l.p90_ms} ms p99 ${l.p99_ms} ms max ${l.max_ms} ms (${l.n} sends); bulk: broadcast ${events.filter((e) => e.kind === "broadcast").map((e) => fmt(e.jobs_per_s)).join(", ")} jobs/s; 10 000 sends together ${events.filter((e) => e.kind === "parallel-sends").map((e) => fmt(e.jobs_per_s)).join(", ")} jobs/s`);
  load.push(loadavg()[0]);
}

// --- 3: memory ------------------------------------------------------------------------------------
let mem;
if (!options.noMemory && !options.pacedOnly) {
  const file = join(tmp, "memory.sqlite");
  const small = Math.min(100_000, options.memN);
  const events = await runStoreProcess(["--mode", "memory", "--store", file, "--sizes", [...new Set([small, options.memN])].join(",")], 30 * 60_000);
  const points = events.filter((e) => e.event === "memory");
  const idleRss = points[0].rss_mb;
  for (const p of points) log(`memory: ${fmt(p.queued).padStart(9)} queued: rss ${p.rss_mb} MB (+${(p.rss_mb - idleRss).toFixed(1)} over idle), V8 heap used ${p.heap_used_mb} MB of ${p.heap_total_mb} MB, store file ${p.store_file_mb} MB${p.enqueue_jobs_per_s ? `, bulk enqueue ${fmt(p.enqueue_jobs_per_s)} jobs/s` : ""}`);
  const [hold] = (await runStoreProcess(["--mode", "hold", "--store", file])).filter((e) => e.event === "memory");
  log(`memory: a fresh process opening the store with ${fmt(hold.queued)} queued: rss ${hold.rss_mb} MB (+${(hold.rss_mb - idleRss).toFixed(1)} over the idle process)`);
  // The same million in ONE broadcast call (the API allows it): what does the call itself hold?
  removeStore(file);
  const [single] = (await runStoreProcess(["--mode", "single", "--store", file, "--n", String(options.memN)], 30 * 60_000)).filter((e) => e.event === "memory");
  log(`memory: ONE outbox.broadcast to ${fmt(options.memN)} chats: peak rss ${single.peak_rss_mb} MB (+${(single.peak_rss_mb - single.idle_rss_mb).toFixed(1)} over its idle ${single.idle_rss_mb} MB), after the call and a forced GC +${(single.rss_mb - single.idle_rss_mb).toFixed(1)} MB, ${fmt(single.enqueue_jobs_per_s)} jobs/s`);
  removeStore(file);
  const at = (q) => points.find((p) => p.queued === q);
  mem = {
    idle: idleRss,
    small,
    over100k: Number((at(small).rss_mb - idleRss).toFixed(1)),
    over1m: Number((at(options.memN).rss_mb - idleRss).toFixed(1)),
    heap1m: at(options.memN).heap_used_mb,
    file1m: at(options.memN).store_file_mb,
    enqueueRate: at(options.memN).enqueue_jobs_per_s,
    holdOver: Number((hold.rss_mb - idleRss).toFixed(1)),
    singlePeakOver: Number((single.peak_rss_mb - single.idle_rss_mb).toFixed(1)),
    singleAfterOver: Number((single.rss_mb - single.idle_rss_mb).toFixed(1)),
  };
  if (at(options.memN).queued_in_store !== options.memN) problems.push(`memory: ${at(options.memN).queued_in_store} queued in the store, expected ${options.memN}`);
  load.push(loadavg()[0]);
}
rmSync(tmp, { recursive: true, force: true });

// --- result -----------------------------------------------------------------------------------
const med = (values) => median(values);
const spread = (values) => (values.length < 2 ? 0 : Number(((Math.max(...values) - Math.min(...values)) / Math.max(1e-9, median(values))).toFixed(3)));
const util = Object.fromEntries(KINDS.map((k) => [k, Number(med(paced[k].map((r) => r.utilization)).toFixed(3))]));
const utilE2e = Object.fromEntries(KINDS.map((k) => [k, Number(med(paced[k].map((r) => r.utilizationE2e)).toFixed(3))]));
const r429 = Object.fromEntries(KINDS.map((k) => [k, med(paced[k].map((r) => r.responses429))]));
const sendsPerS = Math.round(med(e2e.map((u) => u.sendsPerS)));
const enqP50 = Number(med(e2e.map((u) => u.enqueue.p50)).toFixed(4));
const enqP99 = Number(med(e2e.map((u) => u.enqueue.p99)).toFixed(4));
const idleP50 = Number(med(idle.latency.map((l) => l.p50_ms)).toFixed(4));
const idleP99 = Number(med(idle.latency.map((l) => l.p99_ms)).toFixed(4));
const valid = problems.length === 0;
for (const p of problems) log(`INVALID: ${p}`);
const met = {
  limit_utilization: util.unlost >= TARGETS.limit_utilization,
  responses_429: paced.unlost.every((r) => r.responses429 === 0),
  enqueue_p50_ms: enqP50 <= TARGETS.enqueue_p50_ms,
  enqueue_p99_ms: enqP99 <= TARGETS.enqueue_p99_ms,
  ...(mem ? { rss_mb_over_idle_1m: mem.over1m < TARGETS.rss_mb_over_idle_1m } : {}),
};
log(`medians (×${options.scale} time scale, limit ${limitPerS}/s): utilization unlost ${util.unlost} (${r429.unlost} × 429), auto-retry+throttler ${util.throttler} (${r429.throttler} × 429), sequential ${util.sequential} (${r429.sequential} × 429); end to end ${utilE2e.unlost} / ${utilE2e.throttler} / ${utilE2e.sequential}`);
log(`medians, limits off: ${fmt(sendsPerS)} sends/s end to end; enqueue latency while delivering p50 ${enqP50} ms p99 ${enqP99} ms; idle p50 ${idleP50} ms p99 ${idleP99} ms; bulk enqueue: broadcast ${fmt(med(idle.broadcast))} jobs/s, sends awaited together ${fmt(med(idle.parallel))} jobs/s`);
if (mem) log(`memory: +${mem.over100k} MB at ${fmt(mem.small)} queued, +${mem.over1m} MB at ${fmt(options.memN)} queued over idle ${mem.idle} MB (V8 heap used ${mem.heap1m} MB; store file ${mem.file1m} MB); fresh process holding ${fmt(options.memN)}: +${mem.holdOver} MB; one broadcast call to ${fmt(options.memN)} chats: peak +${mem.singlePeakOver} MB, after GC +${mem.singleAfterOver} MB`);
log(`noise: (max − min) / median over rounds: utilization unlost ${spread(paced.unlost.map((r) => r.utilization))}, throttler ${spread(paced.throttler.map((r) => r.utilization))}, sequential ${spread(paced.sequential.map((r) => r.utilization))}; sends/s ${spread(e2e.map((u) => u.sendsPerS))}; enqueue p99 ${spread(e2e.map((u) => u.enqueue.p99))}`);
log(`1-min load average ${load.map((l) => l.toFixed(2)).join(" → ")} on ${availableParallelism()} cpus`);
log(`targets: ${Object.entries(met).map(([k, ok]) => `${k} ${ok ? "met" : "MISSED"}`).join("; ")}`);

const result = {
  bench: "outbound",
  limit_utilization: util.unlost,
  responses_429: r429.unlost,
  autoretry_throttler_limit_utilization: util.throttler,
  autoretry_throttler_responses_429: r429.throttler,
  sequential_limit_utilization: util.sequential,
  sends_per_s_unlimited: sendsPerS,
  enqueue_p50_ms: enqP50,
  enqueue_p99_ms: enqP99,
  rss_mb_over_idle_1m: mem ? mem.over1m : null,
  sequential_responses_429: r429.sequential,
  sequential_delivered: med(paced.sequential.map((r) => r.ok)),
  limit_utilization_end_to_end: utilE2e,
  delivered: Object.fromEntries(KINDS.map((k) => [k, paced[k].map((r) => r.ok)])),
  rounds_limit_utilization: Object.fromEntries(KINDS.map((k) => [k, paced[k].map((r) => Number(r.utilization.toFixed(3)))])),
  rounds_responses_429: Object.fromEntries(KINDS.map((k) => [k, paced[k].map((r) => r.responses429)])),
  broadcast_seconds: Object.fromEntries(KINDS.map((k) => [k, Number(med(paced[k].map((r) => r.seconds)).toFixed(2))])),
  rounds_sends_per_s_unlimited: e2e.map((u) => Math.round(u.sendsPerS)),
  rounds_enqueue_p99_ms: e2e.map((u) => u.enqueue.p99),
  enqueue_idle_p50_ms: idleP50,
  enqueue_idle_p99_ms: idleP99,
  bulk_enqueue_broadcast_jobs_per_s: Math.round(med(idle.broadcast)),
  bulk_enqueue_parallel_sends_jobs_per_s: Math.round(med(idle.parallel)),
  rss_mb_over_idle_100k: mem ? mem.over100k : null,
  rss_mb_idle: mem ? mem.idle : null,
  rss_mb_over_idle_fresh_process_1m: mem ? mem.holdOver : null,
  rss_mb_peak_over_idle_one_broadcast_1m: mem ? mem.singlePeakOver : null,
  rss_mb_over_idle_after_one_broadcast_1m: mem ? mem.singleAfterOver : null,
  store_file_mb_1m: mem ? mem.file1m : null,
  memory_queued_big: options.noMemory ? null : options.memN,
  time_scale: options.scale,
  global_limit_per_s: limitPerS,
  emulator_added_latency_ms: latencyMs,
  n: options.n,
  e2e_n: options.e2eN,
  rounds: options.rounds,
  targets: TARGETS,
  targets_met: valid ? met : "invalid run",
  valid,
  noise_spread: {
    limit_utilization: spread(paced.unlost.map((r) => r.utilization)),
    autoretry_throttler_limit_utilization: spread(paced.throttler.map((r) => r.utilization)),
    sends_per_s_unlimited: spread(e2e.map((u) => u.sendsPerS)),
    enqueue_p99_ms: spread(e2e.map((u) => u.enqueue.p99)),
  },
  load_average_1m: load.map((l) => Number(l.toFixed(2))),
  node: process.version,
  cpus: availableParallelism(),
};
console.log(JSON.stringify(result));
process.exitCode = valid ? 0 : 1;

// --- runs -------------------------------------------------------------------------------------

/** One contender's paced broadcast in a fresh process, against a fresh bot of the limited emulator. */
async function pacedRun(kind, label, cpuProfileDir) {
  const { token } = await limited.command("bot", "bot");
  const store = join(tmp, `${kind}-${label.replace(/\W+/g, "-")}.sqlite`);
  const botArgs = ["--kind", kind, "--url", limited.info.url, "--token", token, "--first-chat", String(FIRST_CHAT), "--scale", String(options.scale), "--store", store];
  if (options.concurrency > 0) botArgs.push("--concurrency", String(options.concurrency));
  if (options.idleMs > 0) botArgs.push("--idle-ms", String(options.idleMs));
  const execArgv = cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir];
  const bot = await startProcess(`${kind} sender`, [...execArgv, join(here, "outbound-bot.mjs"), ...botArgs], "started");
  const done = await bot.command(`broadcast ${options.n}`, "done", (options.n / limitPerS) * 20_000 + 120_000);
  // unlost's pacer holds 5 sends (its global burst): a pause longer than 5 / limit wastes capacity.
  const emu = await limited.command(`stats ${token} ${(5 / limitPerS) * 1000}`, "stats");
  await bot.stop();
  removeStore(store);
  const seconds = (emu.last_ok_at - emu.first_ok_at) / 1000;
  const r = {
    ok: emu.ok,
    responses429: emu.responses_429,
    duplicates: emu.duplicates,
    lost: options.n - emu.chats,
    seconds,
    ratePerS: (emu.ok - 1) / seconds,
    utilization: (emu.ok - 1) / seconds / limitPerS,
    utilizationE2e: emu.ok / ((emu.last_ok_at - done.started_at) / 1000) / limitPerS,
    cpuMs: done.cpu_ms,
    errors: done.errors,
    maxGapMs: emu.max_gap_ms,
    gapsOver: emu.gaps_over,
    gapExcessMs: emu.gap_excess_ms,
    loopDelay: done.loop_delay_ms,
  };
  if (kind !== "sequential" && r.lost > 0) problems.push(`${label} ${kind}: ${r.lost} of ${options.n} chats got nothing`);
  if (r.duplicates > 0) problems.push(`${label} ${kind}: ${r.duplicates} messages delivered twice`);
  if (emu.other_errors > 0) log(`${label} ${kind}: ${emu.other_errors} answers other than 200/429 (${JSON.stringify(done.error_kinds ?? {})})`);
  return r;
}

/** unlost with limits off: `--e2e-n` awaited single sends, then until all are delivered. */
async function unlimitedRun(label, cpuProfileDir) {
  const { token } = await unlimited.command("bot", "bot");
  const store = join(tmp, `e2e-${label.replace(/\W+/g, "-")}.sqlite`);
  const botArgs = ["--kind", "unlost", "--url", unlimited.info.url, "--token", token, "--first-chat", String(FIRST_CHAT), "--unlimited", "--store", store];
  if (options.concurrency > 0) botArgs.push("--concurrency", String(options.concurrency));
  const execArgv = cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir];
  const bot = await startProcess("unlost sender (limits off)", [...execArgv, join(here, "outbound-bot.mjs"), ...botArgs], "started");
  const done = await bot.command(`e2e ${options.e2eN} ${options.e2eChats}`, "done", 300_000);
  const emu = await unlimited.command(`stats ${token}`, "stats");
  await bot.stop();
  removeStore(store);
  if (done.delivered !== options.e2eN || emu.ok !== options.e2eN) problems.push(`${label} limits off: ${done.delivered} delivered in the store, ${emu.ok} accepted by the emulator, expected ${options.e2eN}`);
  const seconds = (done.done_at - done.started_at) / 1000;
  return { sendsPerS: options.e2eN / seconds, seconds, enqueueSeconds: (done.enqueued_at - done.started_at) / 1000, enqueue: done.enqueue_ms, cpuMs: done.cpu_ms };
}

/** Runs `outbound-store.mjs` with --expose-gc to completion; returns its events. */
async function runStoreProcess(argv, timeoutMs = 300_000) {
  const p = await startProcess("outbox process", ["--expose-gc", join(here, "outbound-store.mjs"), ...argv], "done", { readyTimeoutMs: timeoutMs, keepAll: true });
  await p.stop();
  return p.all;
}

function removeStore(store) {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${store}${suffix}`, { force: true });
}

/**
 * Starts a node child process speaking JSON lines on stdout / commands on stdin, and waits for
 * its first `readyEvent`. Returns `{ info, all, next(event, timeoutMs), command(line, event, timeoutMs), stop() }`.
 */

// --- profile of the unlost sender process ---------------------------------------------------------

/**
 * Where the unlost sender spends its time: inclusive time of the outbound pipeline's stages
 * (a sample counts once per stage on its stack), then self time by file and function.
 */
function senderProfile(path) {
  const stages = [
    ["delivery loop: store.claim (SQLite: promote + pick heads + UPDATE … RETURNING)", (f) => f.functionName === "claim" && f.url.includes("store/sqlite/outbox")],
    ["delivery: store.isUnreachable (one SELECT per job)", (f) => f.functionName === "isUnreachable" && f.url.includes("store/sqlite/outbox")],
    ["delivery: pacer (reserve / globalCapacity / nextReadyInMs)", (f) => f.url.includes("outbound/pacing")],
    ["delivery: send (decode payload + grammY api.raw call: fetch, JSON)", (f) => f.functionName === "send" && f.url.includes("outbound/delivery")],
    ["  of which grammY callApi (HTTP request and answer)", (f) => f.functionName === "callApi" && f.url.includes("grammy")],
    ["delivery: store.settleMany (SQLite: outcome, audit, next head)", (f) => f.functionName === "settleMany" && f.url.includes("store/sqlite/outbox")],
    ["outbox API: enqueue (validate + encode + INSERT)", (f) => (f.functionName === "send" || f.functionName === "broadcast") && f.url.includes("outbound/outbox")],
    ["  of which store.enqueue (SQLite)", (f) => f.functionName === "enqueue" && f.url.includes("store/sqlite/outbox")],
    ["bench: outbox.stats()", (f) => f.functionName === "stats" && f.url.includes("store/sqlite/outbox")],
    ["runtime: polling (getUpdates) and housekeeping", (f) => f.url.includes("inbound/poller") || f.url.includes("inbound/dispatcher")],
    ["SQLite BEGIN/COMMIT (self time of better-sqlite3's sqliteTransaction)", (f) => f.functionName === "sqliteTransaction", true],
    ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  ];
  const { inclusive, busy } = stageTimes(path, stages);
  const lines = [`inclusive time of the outbound stages (% of ${busy.toFixed(0)} ms busy):`];
  stages.forEach(([label], s) => lines.push(`${((100 * inclusive[s]) / Math.max(busy, 1e-9)).toFixed(1).padStart(5)}% ${inclusive[s].toFixed(0).padStart(7)} ms  ${label}`));
  const summary = summarizeProfile(path, { top: 25 });
  const cut = summary.findIndex((l) => l.startsWith("total (inclusive) time of emulator"));
  return [...lines, ...(cut >= 0 ? summary.slice(0, cut) : summary)];
}

// --- helpers ----------------------------------------------------------------------------------

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
      out[name] = argv[++i] ?? "";
      continue;
    }
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || (value <= 0 && name !== "rttMs")) throw new Error(`${raw} takes a positive number`);
    out[name] = value;
  }
  return out;
}
