#!/usr/bin/env node
/**
 * Scale-out on PostgreSQL (issue 14), side by side in one run on this machine:
 *
 * 1. Durable updates/s with per-chat FIFO: a backlog of `--n` updates over `--users` chats
 *    (round robin: each chat has n/users updates that must run in order) drained by
 *    - one `unlost run` process on SQLite (the comparison),
 *    - one `unlost run` process on PostgreSQL,
 *    - two `unlost run` processes on one PostgreSQL database (one polls, both handle).
 *    The handler is a no-op that records update_id, chat and start time (bench/postgres-bot.mjs).
 *    The processes start (and poll, or stand by) first; then the backlog arrives.
 *    throughput = n / (the store counts n updates done − the backlog fully created: the emulator
 *    answers no getUpdates while it creates it). The store is asked once the processes' handlers
 *    started n runs (asking it all along cost the server as much as the updates: see watchDone).
 *    Per run: CPU per 1000 updates of the bot processes, the database's backends, the emulator
 *    and the rest of the machine (it is shared: that is the noise), and when the last update was
 *    stored (the poller's part) against when all were done.
 *    Afterwards the handler starts of all processes are merged per chat by time:
 *    `order_violations` counts an update started before an older one of its chat, `lost` the
 *    updates never handled (and `duplicates` those handled twice). Each run uses a fresh bot
 *    and a fresh database (or data folder); the order of the three rotates per round; medians.
 * 2. Two senders under the emulator's real flood limits (30/s per bot, 1/s per chat): two
 *    `unlost run` processes on one database each broadcast to half of `--sends` chats;
 *    `sends_util_2senders` = the rate the emulator answered 200 (first to last) / 30, and
 *    `responses_429` its 429 answers.
 * 3. `failover_ms`: two processes on one database; the one that polls is killed with SIGKILL;
 *    the time until the emulator sees a getUpdates from the other. Median over the rounds.
 *
 * PostgreSQL: `--pg <url>` (default UNLOST_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test):
 * a user that may create databases; the bench creates one per run and drops it.
 *
 * Usage: npm run bench:postgres [-- --rounds 3 --n 30000 --users 1000 --sends 600 --pg <url>
 *        --phases inbound,senders,failover --journal --log-level info --kinds pg-1,pg-2
 *        --baseline <another checkout, built> --count-queries --watch counts|store]
 * `--kinds` runs only those inbound runs; `--baseline` adds pg-1@base and pg-2@base, the same
 * runs with another checkout's build, interleaved (a before/after on a noisy machine);
 * `--count-queries` prints each process's statements by kind with their round-trip time.
 * The PostgreSQL runs use its defaults (no inbox journal: a row per update, claimed by chat head
 * by every process). `--journal` adds `inbox.journal: true` on 1 and 2 processes (see KINDS);
 * the order check and the summary's violations and lost cover them too.
 * Output: progress lines, then as the last line one JSON object
 * `{"bench":"postgres","updates_per_s_1proc":…,"updates_per_s_2proc":…,"sqlite_updates_per_s":…,"order_violations":…,"lost":…,"sends_util_2senders":…,"responses_429":…,"failover_ms":…}`.
 * Exit code 1 when a run failed (a process error, a timeout).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { parseArgs } from "./lib/args.mjs";
import { startProcess as startChild } from "./lib/child.mjs";
import { fmt, median } from "./lib/stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const options = parseArgs(process.argv.slice(2), {
  rounds: 3,
  n: 30_000,
  users: 1_000,
  sends: 600,
  pg: process.env.UNLOST_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/test",
  phases: "inbound,senders,failover",
  logLevel: "error",
  journal: false,
  kinds: "",
  countQueries: false,
  baseline: "",
  watch: "counts",
});
const phases = new Set(options.phases.split(","));
// PostgreSQL's default is the inbox without a journal (a row per update, which every process
// claims by chat head). `--journal` adds it with the journal on one and two processes: the
// poller then handles what it fetched itself, so a second process only takes over (dead owner,
// retries): faster on one process, no faster on two.
// `--baseline <checkout>` adds pg-1@base and pg-2@base: the same runs with another checkout's
// build (its bin/unlost.js), interleaved with these, for a before/after on a noisy machine.
const ALL_KINDS = ["sqlite", "pg-1", "pg-2", ...(options.journal ? ["pg-1-journal", "pg-2-journal"] : []), ...(options.baseline === "" ? [] : ["pg-1@base", "pg-2@base"])];
// `--kinds pg-1,pg-2` runs only those (and their baselines): a quicker comparison.
const KINDS = options.kinds === "" ? ALL_KINDS : ALL_KINDS.filter((k) => options.kinds.split(",").includes(k.replace(/@base$/, "")));
const log = (line) => console.log(`[bench] ${line}`);
const problems = [];
// unlost's log lines (JSON without `event`) are not the bench's; with --log-level they are shown.
const startProcess = (name, argv, readyEvent, extra = {}) => startChild(name, argv, readyEvent, { log: options.logLevel === "error" ? () => undefined : log, problems, ...extra });
const tmp = mkdtempSync(join(tmpdir(), "unlost-bench-postgres-"));
const load = [loadavg()[0]];

log(`node ${process.version}, ${availableParallelism()} cpus, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
log(`${options.rounds} rounds of ${fmt(options.n)} updates over ${fmt(options.users)} chats (${fmt(options.n / options.users)} per chat, in order); ${options.sends} sends under real limits`);

// --- PostgreSQL: one fresh database per run ----------------------------------------------------
const databases = [];
async function admin(sql) {
  const client = new pg.Client({ connectionString: options.pg });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
/** Transactions and statements-ish counters of a bench database (pg_stat_database; read after its processes exited). */
async function databaseActivity(url) {
  const client = new pg.Client({ connectionString: options.pg });
  client.on("error", () => undefined);
  await client.connect();
  try {
    // Counters reach pg_stat_database when a backend ends or idles: give them a moment.
    await new Promise((r) => setTimeout(r, 1_200));
    const name = new URL(url).pathname.slice(1);
    const { rows } = await client.query("SELECT xact_commit::int AS commits, tup_inserted::int AS inserted, tup_updated::int AS updated, tup_deleted::int AS deleted FROM pg_stat_database WHERE datname = $1", [name]);
    return rows[0];
  } finally {
    await client.end();
  }
}

/** CPU time (user + system, ms) a process used so far; 0 once it is gone. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100;
/** The busy and total CPU time of the machine so far (ms, all cpus; /proc/stat). */
function machineMs() {
  try {
    const [, ...t] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    const idle = t[3] + t[4];
    return { busy: ((total - idle) * 1000) / CLOCK_TICKS, total: (total * 1000) / CLOCK_TICKS };
  } catch {
    return { busy: 0, total: 0 };
  }
}
/** The server processes (backends) of a bench database, by pg_stat_activity. */
async function backendPids(url) {
  const client = new pg.Client({ connectionString: options.pg });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query("SELECT pid FROM pg_stat_activity WHERE datname = $1", [new URL(url).pathname.slice(1)]);
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}
/**
 * CPU used between two snapshots by each group of processes (bots, emulator, the database's
 * backends) and by the whole machine (what else ran: the rest of `busy`).
 */
async function cpuSnapshot(procs, store) {
  const pids = store === undefined ? [] : await backendPids(store);
  return { bots: procs.map((p) => cpuMs(p.info.pid)), emulator: cpuMs(inboundServer.info.pid), backends: new Map(pids.map((pid) => [pid, cpuMs(pid)])), machine: machineMs() };
}
function cpuSince(before, after) {
  let backends = 0;
  for (const [pid, ms] of after.backends) backends += ms - (before.backends.get(pid) ?? 0);
  return {
    bots: after.bots.map((ms, i) => ms - before.bots[i]),
    emulator: after.emulator - before.emulator,
    backends,
    busy: after.machine.busy - before.machine.busy,
    total: after.machine.total - before.machine.total,
  };
}

async function freshDatabase() {
  const name = `unlost_bench_${randomBytes(5).toString("hex")}`;
  await admin(`CREATE DATABASE ${name}`);
  databases.push(name);
  const url = new URL(options.pg);
  url.pathname = `/${name}`;
  return url.toString();
}

/** An `unlost run` process of the bench's bot module. */
function unlostRun(name, { token, apiRoot, store, env = {}, config, base = false }) {
  const dataDir = mkdtempSync(join(tmp, "data-"));
  const configArgs = [];
  if (config !== undefined) {
    const file = join(dataDir, "unlost.config.json");
    writeFileSync(file, JSON.stringify(config));
    configArgs.push("--config", file);
  }
  const argv = [join(base ? options.baseline : root, "bin", "unlost.js"), "run", join(here, "postgres-bot.mjs"), "--api-root", apiRoot, "--data", dataDir, "--log-level", options.logLevel, ...configArgs, ...(store === undefined ? [] : ["--store", store])];
  return startProcess(name, argv, "ready", { env: { BOT_TOKEN: token, ...(options.countQueries ? { BENCH_COUNT_QUERIES: "1" } : {}), ...env } });
}

// --- 1. inbound: durable updates/s with per-chat FIFO ------------------------------------------
const inboundServer = await startProcess("emulator", [join(here, "postgres-emulator-server.mjs"), "--users", String(options.users), "--limits", "0"], "ready");

async function runInbound(kind) {
  const { token } = await inboundServer.command("bot", "bot");
  const store = kind === "sqlite" ? undefined : await freshDatabase();
  const count = kind.startsWith("pg-2") ? 2 : 1;
  const config = kind.endsWith("-journal") ? { inbox: { journal: true } } : undefined;
  // Every process is up (polling or standing by) before the backlog arrives: start-up (node,
  // modules, store, getMe) is outside the window, and a second process's start-up does not
  // compete with the first one's work inside it.
  const procs = await Promise.all(Array.from({ length: count }, (_, i) => unlostRun(`${kind}#${i}`, { token, apiRoot: inboundServer.info.url, store, config, base: kind.endsWith("@base") })));
  await new Promise((r) => setTimeout(r, 500));
  const watching = watchDone(procs);
  if (options.countQueries) await Promise.all(procs.map((p) => p.command("queries-reset", "queries-reset")));
  const cpuBefore = await cpuSnapshot(procs, store);
  const { at: startedAt } = await inboundServer.command(`prefill ${token} ${options.n}`, "prefilled");
  const done = await watching;
  const cpu = cpuSince(cpuBefore, await cpuSnapshot(procs, store));
  const reports = await Promise.all(procs.map((p) => p.command("report", "report")));
  for (const p of procs) await p.stop();
  const seconds = (done.done_at - startedAt) / 1000;
  const activity = store === undefined ? undefined : await databaseActivity(store);
  return { perSecond: options.n / seconds, seconds, timeline: timeline(reports, startedAt, done.done_at), ...checkOrder(reports), shares: reports.map((r) => r.ids.length), activity, cpu, queries: reports.map((r) => r.queries ?? {}) };
}

/**
 * Resolves with the `done` event of the first process: the moment the store counts all n
 * updates done. Asking the store (a count over the whole inbox, ~15 ms of server CPU at 30,000
 * rows) every 10 ms for the whole run cost the server as much as the updates did, the same per
 * second in every run; so, by default (`--watch counts`), the store is asked only once the
 * processes' handlers have started n runs (their in-memory counters, read over stdin every
 * 10 ms), shortly before the last completions commit. `--watch store`: asked from the start.
 */
async function watchDone(procs) {
  if (options.watch === "store") return procs[0].command(`watch ${options.n}`, "done", 300_000);
  const deadline = Date.now() + 300_000;
  for (;;) {
    const counts = await Promise.all(procs.map((p) => p.command("count", "count")));
    if (counts.reduce((sum, c) => sum + c.started, 0) >= options.n) break;
    if (Date.now() > deadline) throw new Error(`not all ${options.n} updates started within 300 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return procs[0].command(`watch ${options.n}`, "done", 300_000);
}

/**
 * Where the run's time went: when the last update was stored (the poller's part: it stores
 * them in batches of 100, one after the other), and how long the handlers took after that.
 */
function timeline(reports, startedAt, doneAt) {
  const received = reports.flatMap((r) => r.received ?? []);
  const lags = reports.flatMap((r) => (r.received ?? []).map((at, i) => r.starts[i] - at)).sort((a, b) => a - b);
  if (received.length === 0) return undefined;
  const lastStored = Math.max(...received);
  return { storedMs: lastStored - startedAt, tailMs: doneAt - lastStored, lagP50: lags[Math.floor(lags.length / 2)], lagP99: lags[Math.floor(lags.length * 0.99)] };
}

/** Handler starts of all processes merged per chat by time: out-of-order starts, missing and repeated updates. */
function checkOrder(reports) {
  const perChat = new Map();
  const seen = new Map();
  for (const r of reports) {
    for (let i = 0; i < r.ids.length; i++) {
      const list = perChat.get(r.chats[i]) ?? [];
      list.push([r.starts[i], r.ids[i]]);
      perChat.set(r.chats[i], list);
      seen.set(r.ids[i], (seen.get(r.ids[i]) ?? 0) + 1);
    }
  }
  let violations = 0;
  for (const list of perChat.values()) {
    list.sort((a, b) => a[0] - b[0]);
    let highest = -Infinity;
    for (const [, id] of list) {
      if (id < highest) violations++;
      highest = Math.max(highest, id);
    }
  }
  const duplicates = [...seen.values()].filter((c) => c > 1).length;
  return { violations, lost: options.n - seen.size, duplicates };
}

const results = Object.fromEntries(KINDS.map((k) => [k, []]));
for (let round = 1; round <= (phases.has("inbound") ? options.rounds : 0); round++) {
  const order = KINDS.map((_, i) => KINDS[(i + round - 1) % KINDS.length]);
  for (const kind of order) {
    const r = await runInbound(kind);
    results[kind].push(r);
    load.push(loadavg()[0]);
    log(`round ${round}/${options.rounds} ${kind.padEnd(9)}: ${fmt(r.perSecond).padStart(6)} updates/s (${options.n} in ${r.seconds.toFixed(2)} s; handled per process ${r.shares.join(" + ")}; order violations ${r.violations}, lost ${r.lost}, duplicates ${r.duplicates})`);
    if (r.timeline !== undefined) log(`  all stored after ${r.timeline.storedMs.toFixed(0)} ms, done ${r.timeline.tailMs.toFixed(0)} ms later; stored to handler start p50 ${r.timeline.lagP50.toFixed(0)} ms, p99 ${r.timeline.lagP99.toFixed(0)} ms`);
    const c = r.cpu;
    const per = (ms) => (ms / options.n * 1000).toFixed(0);
    log(`  CPU ms per 1000 updates (prefill to done): bots ${c.bots.map(per).join(" + ")}, PostgreSQL backends ${per(c.backends)}, emulator ${per(c.emulator)}, anything else ${per(c.busy - c.bots.reduce((a, b) => a + b, 0) - c.backends - c.emulator)}; machine busy ${(c.busy / c.total * 100).toFixed(0)}%`);
    if (options.countQueries) {
      r.queries.forEach((q, i) => {
        const top = Object.entries(q).sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
        log(`  statements of process ${i} (count, round-trip ms total): ${Object.values(q).reduce((s, x) => s + x.n, 0)}`);
        for (const [k, v] of top) log(`    ${String(v.n).padStart(6)} ${v.ms.toFixed(0).padStart(6)} ms  ${k}`);
      });
    }
    if (r.activity !== undefined) log(`  PostgreSQL: ${fmt(r.activity.commits)} transactions (${(r.activity.commits / options.n * 1000).toFixed(1)} per 1000 updates, start-up and stop included), rows inserted ${fmt(r.activity.inserted)}, updated ${fmt(r.activity.updated)}, deleted ${fmt(r.activity.deleted)}`);
  }
}
await inboundServer.stop();

// --- 2. two senders under the real limits ---------------------------------------------------------
const limitedServer = await startProcess("emulator-limited", [join(here, "postgres-emulator-server.mjs"), "--users", String(options.sends), "--limits", "1"], "ready");
let sendsUtil = 0;
let responses429 = 0;
if (phases.has("senders")) {
  const { token } = await limitedServer.command("bot", "bot");
  const store = await freshDatabase();
  const procs = [await unlostRun("sender#0", { token, apiRoot: limitedServer.info.url, store }), await unlostRun("sender#1", { token, apiRoot: limitedServer.info.url, store })];
  const { ids } = await limitedServer.command(`users ${options.sends}`, "users");
  const half = Math.ceil(ids.length / 2);
  await Promise.all([procs[0].command(`broadcast ${ids.slice(0, half).join(" ")}`, "broadcast"), procs[1].command(`broadcast ${ids.slice(half).join(" ")}`, "broadcast")]);
  const deadline = Date.now() + 120_000;
  let s;
  for (;;) {
    s = await limitedServer.command(`sends ${token}`, "sends");
    if (s.delivered >= ids.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (s.delivered < ids.length) problems.push(`senders: only ${s.delivered} of ${ids.length} messages delivered within 120 s`);
  const rate = (s.delivered - 1) / ((s.last_at - s.first_at) / 1000);
  sendsUtil = rate / 30;
  responses429 = s.responses_429;
  for (const p of procs) await p.stop();
  log(`two senders: ${s.delivered} messages at ${rate.toFixed(2)}/s = ${(sendsUtil * 100).toFixed(1)}% of 30/s, ${responses429} × 429`);
}
await limitedServer.stop();

// --- 3. failover: kill -9 the poller -------------------------------------------------------------
const failoverServer = await startProcess("emulator-failover", [join(here, "postgres-emulator-server.mjs"), "--users", "10", "--limits", "0"], "ready");
const failovers = [];
for (let round = 1; round <= (phases.has("failover") ? options.rounds : 0); round++) {
  const { token } = await failoverServer.command("bot", "bot");
  const store = await freshDatabase();
  const env = { BENCH_WATCH_POLLS: "1", UNLOST_POLLING_TIMEOUT: "1" };
  const procs = [await unlostRun("failover#0", { token, apiRoot: failoverServer.info.url, store, env }), await unlostRun("failover#1", { token, apiRoot: failoverServer.info.url, store, env })];
  // One waiter per process for its first getUpdates (the standby's resolves after the takeover).
  const polled = procs.map((p) => p.next("poll", 60_000));
  for (const p of polled) p.catch(() => undefined);
  const first = await Promise.race(polled.map((p, i) => p.then(() => i)));
  // Both are up (the standby stands by); then the poller dies without a word.
  // A random moment, so that the median covers where in the standby's check interval it falls.
  await new Promise((r) => setTimeout(r, 1_500 + Math.random() * 2_000));
  const poller = procs[first];
  const standby = procs[1 - first];
  const killedAt = performance.timeOrigin + performance.now();
  process.kill(poller.info.pid, "SIGKILL");
  // The emulator's record decides: the first getUpdates that arrived after the kill (only the
  // survivor can send one). Not the survivor's own "poll" line: a process may call getUpdates
  // once at start (its backlog at Telegram) while standing by.
  let polledAt = null;
  const deadline = Date.now() + 120_000;
  while (polledAt === null && Date.now() < deadline) {
    ({ first_after: polledAt } = await failoverServer.command(`polls ${token} ${killedAt}`, "polls"));
    if (polledAt === null) await new Promise((r) => setTimeout(r, 25));
  }
  if (polledAt === null) problems.push(`failover ${round}: no getUpdates within 120 s after the poller was killed`);
  const ms = (polledAt ?? Number.NaN) - killedAt;
  failovers.push(ms);
  log(`failover ${round}/${options.rounds}: the standby polled ${fmt(ms)} ms after the poller was killed`);
  await standby.stop();
}
await failoverServer.stop();

for (const name of databases) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => problems.push(`dropping ${name}: ${e.message}`));
rmSync(tmp, { recursive: true, force: true });

// --- summary ---------------------------------------------------------------------------------
const med = (kind) => median((results[kind] ?? []).map((r) => r.perSecond));
const all = Object.values(results).flat();
const summary = {
  bench: "postgres",
  updates_per_s_1proc: Math.round(med("pg-1")),
  updates_per_s_2proc: Math.round(med("pg-2")),
  sqlite_updates_per_s: Math.round(med("sqlite")),
  order_violations: all.reduce((s, r) => s + r.violations, 0),
  lost: all.reduce((s, r) => s + r.lost, 0),
  sends_util_2senders: Math.round(sendsUtil * 1000) / 1000,
  responses_429: responses429,
  failover_ms: Math.round(median(failovers)),
};
if (options.baseline !== "") log(`baseline ${options.baseline}: 1 process ${fmt(med("pg-1@base"))}/s, 2 processes ${fmt(med("pg-2@base"))}/s (2 / 1 = ${(med("pg-2@base") / med("pg-1@base")).toFixed(2)})`);
if (options.journal) log(`with the journal (--journal): 1 process ${fmt(med("pg-1-journal"))}/s, 2 processes ${fmt(med("pg-2-journal"))}/s (2 / 1 = ${(med("pg-2-journal") / med("pg-1-journal")).toFixed(2)})`);
// The ratio within each round (its runs ran minutes apart at most): less exposed to the load of
// the rest of the machine changing between rounds than the ratio of the medians.
const roundRatios = (two, one) => (results[two] ?? []).map((r, i) => r.perSecond / (results[one]?.[i]?.perSecond ?? Number.NaN));
// The same over the rounds where the rest of the machine (other processes than the bench's)
// used less than 10 % of its CPU during both runs: this machine is shared.
const otherShare = (r) => (r.cpu.busy - r.cpu.bots.reduce((a, b) => a + b, 0) - r.cpu.backends - r.cpu.emulator) / r.cpu.total;
const quietRatios = (two, one) => (results[two] ?? []).flatMap((r, i) => {
  const o = results[one]?.[i];
  return o !== undefined && otherShare(r) < 0.1 && otherShare(o) < 0.1 ? [r.perSecond / o.perSecond] : [];
});
log(`2 / 1 in quiet rounds (other processes < 10 % of the machine in both runs): ${quietRatios("pg-2", "pg-1").map((x) => x.toFixed(2)).join(" ") || "none"}${options.baseline === "" ? "" : `; baseline ${quietRatios("pg-2@base", "pg-1@base").map((x) => x.toFixed(2)).join(" ") || "none"}`}`);
log(`2 / 1 per round: ${roundRatios("pg-2", "pg-1").map((x) => x.toFixed(2)).join(" ")} (median ${median(roundRatios("pg-2", "pg-1")).toFixed(2)})${options.baseline === "" ? "" : `; baseline ${roundRatios("pg-2@base", "pg-1@base").map((x) => x.toFixed(2)).join(" ")} (median ${median(roundRatios("pg-2@base", "pg-1@base")).toFixed(2)})`}`);
log(`ratios: 2 processes / 1 = ${(summary.updates_per_s_2proc / summary.updates_per_s_1proc).toFixed(2)}, PostgreSQL 1 process / SQLite = ${(summary.updates_per_s_1proc / summary.sqlite_updates_per_s).toFixed(2)}; duplicates ${all.reduce((s, r) => s + r.duplicates, 0)}; failovers ${failovers.map((f) => Math.round(f)).join(", ")} ms`);
log(`targets: ≥ 5,000 updates/s on 1 process ${summary.updates_per_s_1proc >= 5000 ? "met" : "MISSED"}; 2 processes not slower ${summary.updates_per_s_2proc >= summary.updates_per_s_1proc ? "met" : "MISSED"}; pacing ≥ 97% with 0 × 429 ${summary.sends_util_2senders >= 0.97 && summary.responses_429 === 0 ? "met" : "MISSED"}; failover ≤ 5 s ${summary.failover_ms <= 5000 ? "met" : "MISSED"}`);
log(`load average during the runs: ${load.map((l) => l.toFixed(2)).join(" ")}`);
for (const p of problems) log(`problem: ${p}`);
console.log(JSON.stringify(summary));
process.exit(problems.length > 0 ? 1 : 0);
