/**
 * The chaos run: everything that can go wrong at once, for minutes, against real bot processes.
 *
 * Two processes of one bot (`chaos-bot.mjs`, unlost on one SQLite store: one polls, the other
 * stands by; or, with `processes` and `store`, N processes on one PostgreSQL schema) take a continuous inbound load (simulated users write; every message is answered
 * from its handler with a keyed `ctx.reply`) and make outbound load of their own (sends and
 * broadcasts outside handlers, with idempotency keys, on timers), while
 *
 * - 20 % of the bot's network calls (getUpdates and sendMessage) meet a fault: connection resets,
 *   5xx, 429s, answers lost after delivery, hung sends;
 * - processes are killed with SIGKILL at seeded random moments: any moment, right after a
 *   handler began (mid-handler), or during start-up (the process just spawned); each is restarted
 *   at once, as a supervisor would;
 * - deploys replace a process: the replacement is started (and stands by) before the old one
 *   gets its SIGTERM; sometimes the old one is killed in the middle of its graceful stop.
 *
 * Then the load stops, the last processes drain everything (still under faults) and stop
 * gracefully, and the run is counted against the emulator's record and the store:
 *
 * - `lost_updates`: user messages whose update was never completed (its `completed:<id>`
 *   counter, committed with the completion, is 0);
 * - `lost_messages`: sends that were made (a job is in the store under their key) or
 *   acknowledged (`send`/`broadcast` resolved, or the handler completed after its reply), and
 *   never delivered;
 * - `duplicates`: extra deliveries of a made send (each reply, note and broadcast message is
 *   matched by chat and its unique text, so one kind is never counted as another's duplicate);
 * - `ambiguous_counted`: the outbox's `stats().ambiguousAttempts`, read from the store after the run;
 * - `order_violations`: updates that first started after a newer update of their chat, plus pairs
 *   of runs of one chat at once (across processes; a killed run lasts until its SIGKILL).
 *
 * The kill/deploy schedule (which step, which process slot, which mode, the delays) comes from
 * the seed; which handler a mid-handler kill hits, and the exact interleavings, depend on timing.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type FaultRule, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import type { Store, StoreOptions } from "../../src/store/index.js";
import { spawnBotProcess, type BotExit, type BotProcess } from "../e2e/helpers/bot-process.js";
import type { SentMessage } from "../e2e/helpers/emulator-probes.js";
import { prng, sleep } from "../e2e/helpers/outbox-probes.js";
import { chatOrderOf, makeTempDir, readCompletions, send, updateIdsOf, type OrderInversion, type RunOverlap } from "../e2e/helpers/unlost-bot.js";

/** The chaos run's bot. */
export const CHAOS_BOT = fileURLToPath(new URL("./chaos-bot.mjs", import.meta.url));

/** What to run. */
export interface ChaosOptions {
  /** Scheduled `kill -9`s (kills in the middle of a deploy's graceful stop come on top). */
  readonly kills: number;
  /** Deploy-style restarts (replacement first, then SIGTERM to the old process). */
  readonly deploys: number;
  /** How long the kills and deploys are spread over, ms (the drain comes after). */
  readonly durationMs: number;
  /** Seeds the schedule, the load's choice of users and the emulator's faults. */
  readonly seed: number;
  /** Bot processes running at once (one polls, all handle and send). Default 2. */
  readonly processes?: number;
  /**
   * A PostgreSQL store (URL and schema) shared by the processes; default a SQLite file in the
   * run's temp folder.
   */
  readonly store?: { readonly url: string; readonly schema: string };
  /** Simulated users writing to the bot (also the chats of the sends outside handlers). Default 30. */
  readonly users?: number;
  /** User messages per second over all users. Default 20. */
  readonly messagesPerSecond?: number;
  /** Share of the bot's getUpdates and sendMessage calls that meet a network fault. Default 0.2. */
  readonly faultRate?: number;
  /** Chats each broadcast goes to. Default 20. */
  readonly broadcastChats?: number;
  /** Each process sends one message outside handlers this often, ms. Default 250. */
  readonly noteEveryMs?: number;
  /** Each process broadcasts this often, ms. Default 2 000. */
  readonly broadcastEveryMs?: number;
  /** A handler's own work before it replies, ms (picked per update in this range). Default [10, 60]. */
  readonly handlerDelayMs?: readonly [number, number];
  /** How long the drain may take before the run is counted anyway, ms. Default 120 000. */
  readonly drainTimeoutMs?: number;
  /**
   * The bot's `polling.leaseTtlMs` and `downtime.heartbeatMs` (its worker lease is three
   * heartbeats); default the runtime's (60 s, 5 s). Shorter leases make a live process that is
   * slow for a moment (a poller backing off after network errors, a stop past its deadline) look
   * gone to the other one.
   */
  readonly pollerLeaseMs?: number;
  readonly heartbeatMs?: number;
  /** The inbox's `maxAttempts` / `maxRecoveries` in the bot; default the runtime's defaults. */
  readonly maxAttempts?: number;
  readonly maxRecoveries?: number;
  /** Progress lines (the CLI prints them to stderr); default none. */
  readonly progress?: (line: string) => void;
  /**
   * Keep the temp folder: the store (for a post-mortem with `unlost status`) and each process's
   * output (`<name>.out`); default false.
   */
  readonly keepData?: boolean;
}

/**
 * The figures of a run. The first eight fields are the bench line the issue asks for; the rest
 * explain them.
 */
export interface ChaosSummary {
  readonly bench: "chaos";
  readonly kills: number;
  readonly updates: number;
  readonly lost_updates: number;
  readonly lost_messages: number;
  readonly duplicates: number;
  readonly ambiguous_counted: number;
  readonly order_violations: number;
  readonly seed: number;
  readonly deploys: number;
  readonly kills_mid_handler: number;
  readonly kills_during_startup: number;
  readonly kills_during_graceful_stop: number;
  readonly kills_of_poller: number;
  /**
   * Failover after each kill of the poller: from its SIGKILL to the next "polling" line of any
   * process (the runtime's log time), ms; the longest, and the median.
   */
  readonly failover_ms_max: number;
  readonly failover_ms_median: number;
  /** Processes that exited without being killed or stopped (each restarted). */
  readonly crashes: number;
  readonly processes: number;
  /** Sends made: replies, notes (outside handlers), broadcast messages. */
  readonly replies: number;
  readonly notes: number;
  readonly broadcast_messages: number;
  readonly deliveries: number;
  /** Deliveries that match no send the run knows of. */
  readonly unexpected_deliveries: number;
  /** Messages delivered more often than their job counted ambiguous attempts. */
  readonly duplicates_unexplained: number;
  /** Updates whose completion was committed more than once (exactly-once broken). */
  readonly completed_twice: number;
  /** Handler runs begun (re-runs after kills included). */
  readonly handler_runs: number;
  readonly order_inversions: number;
  readonly same_chat_overlaps: number;
  /** Chats whose first replies did not come in message order. */
  readonly reply_order_violations: number;
  readonly inbox_dead_letters: number;
  readonly outbox_failed: number;
  readonly network_calls: number;
  readonly network_faults: number;
  /** Errors inside the emulator itself (a bug of the fake, not of unlost); 0 expected. */
  readonly emulator_errors: number;
  readonly drained: boolean;
  readonly duration_ms: number;
}

/** One kill, as it happened. */
export interface KillRecord {
  readonly n: number;
  readonly process: string;
  readonly mode: "any" | "handler" | "startup" | "graceful-stop";
  readonly role: "starting" | "poller" | "standby";
  /** Handler runs that had begun and not ended in that process when it was killed. */
  readonly inFlight: number[];
  /** ms since the process was spawned. */
  readonly ageMs: number;
  /** When the SIGKILL was sent (wall clock, ms). */
  readonly at: number;
}

/** What broke, item by item (empty when the run met its targets). */
export interface ChaosEvidence {
  readonly lostUpdates: Array<{ updateId: number; chatId: number; text: string; begunBy: string[]; deadLetter: { error: string; attempts: number; recoveries: number } | null }>;
  readonly lostMessages: Array<{ kind: "reply" | "note" | "broadcast"; key: string; chatId: number; text: string; acknowledged: boolean; job: { state: string; attempts: number; lastError: string | null } | null }>;
  readonly unexplainedDuplicates: Array<{ key: string; chatId: number; deliveries: number; ambiguousAttempts: number }>;
  readonly inversions: OrderInversion[];
  readonly overlaps: RunOverlap[];
  readonly replyOrder: string[];
  readonly completedTwice: Array<{ updateId: number; completions: number }>;
  readonly crashes: Array<{ process: string; exit: BotExit; stderr: string; lastLines: string[] }>;
  readonly kills: KillRecord[];
}

/** A run's figures, the evidence behind them, and whether the targets were met. */
export interface ChaosResult {
  readonly summary: ChaosSummary;
  readonly evidence: ChaosEvidence;
  /** 0 lost updates and messages, 0 order violations, duplicates ≤ ambiguous counted. */
  readonly ok: boolean;
  /** The temp folder, when kept. */
  readonly dataDir: string | undefined;
}

/** One step of the schedule. */
type Step =
  | { readonly kind: "kill"; readonly at: number; readonly slot: number; readonly mode: "any" | "handler" | "startup"; readonly delayMs: number }
  | { readonly kind: "deploy"; readonly at: number; readonly slot: number; readonly standbyMs: number; readonly killAfterMs: number | null };

/**
 * The seeded schedule: `kills + deploys` steps spread over `durationMs` (each at a jittered
 * even spacing), deploys at random positions. A kill is `any` (at its time), `handler` (right
 * after the next handler begins in either process, plus 0–40 ms; `slot` if none begins within
 * 3 s) or `startup` (the process spawned last, 20–1000 ms after its spawn: loading, store
 * recovery, the first polls; `at` and `slot` unused).
 */
export function chaosSchedule(options: Pick<ChaosOptions, "kills" | "deploys" | "durationMs" | "seed" | "processes">): Step[] {
  const random = prng(options.seed);
  const processes = options.processes ?? 2;
  const total = options.kills + options.deploys;
  const isDeploy = new Set<number>();
  while (isDeploy.size < options.deploys) isDeploy.add(Math.floor(random() * total));
  const spacing = options.durationMs / Math.max(1, total);
  const steps: Step[] = [];
  for (let i = 0; i < total; i++) {
    const at = Math.floor((i + random() * 0.8) * spacing);
    // For two processes the same draws as `random() < 0.5 ? 0 : 1`: seeds keep their schedules.
    const slot = Math.min(processes - 1, Math.floor(random() * processes));
    if (isDeploy.has(i)) {
      const killAfterMs = random() < 0.2 ? Math.floor(random() * 1_500) : null;
      steps.push({ kind: "deploy", at, slot, standbyMs: Math.floor(random() * 500), killAfterMs });
      continue;
    }
    const r = random();
    // A start-up kill hits the process the previous step spawned, so not as the first step.
    if (i > 0 && r < 0.2) steps.push({ kind: "kill", at, slot, mode: "startup", delayMs: 20 + Math.floor(random() * 980) });
    else if (r < 0.6) steps.push({ kind: "kill", at, slot, mode: "handler", delayMs: Math.floor(random() * 40) });
    else steps.push({ kind: "kill", at, slot, mode: "any", delayMs: 0 });
  }
  return steps;
}

/**
 * Fault rules that make `rate` of the bot's getUpdates and sendMessage calls fail. The plan
 * tries rules in order, each with its own draw, so each rule's probability is its share of what
 * the rules before it left. Hangs only for sends: a hung getUpdates stalls polling for its
 * long-poll timeout + 30 s (the lean client's silence limit), which would make the run about
 * waiting, not about faults.
 */
export function chaosFaults(rate: number): FaultRule[] {
  const rules: FaultRule[] = [];
  const add = (methods: string[], shares: Array<[FaultRule["fault"], number]>): void => {
    let left = 1;
    for (const [fault, share] of shares) {
      const p = (rate * share) / left;
      rules.push({ fault, probability: Math.min(1, p), methods });
      left -= rate * share;
    }
  };
  add(["sendMessage"], [
    [{ kind: "reset" }, 0.3],
    [{ kind: "server-error", status: 502 }, 0.25],
    [{ kind: "ambiguous" }, 0.2],
    [{ kind: "hang" }, 0.15],
    [{ kind: "flood", retryAfter: 1 }, 0.1],
  ]);
  add(["getUpdates"], [
    [{ kind: "reset" }, 0.4],
    [{ kind: "server-error", status: 502 }, 0.35],
    [{ kind: "ambiguous" }, 0.15],
    [{ kind: "flood", retryAfter: 1 }, 0.1],
  ]);
  return rules;
}

/** A bot process of the run, with what the driver knows about it. */
interface Proc {
  readonly p: BotProcess;
  readonly name: string;
  readonly spawnAt: number;
  /** What the driver did to it: nothing yet, SIGKILL, SIGTERM. */
  fate: "running" | "killed" | "stopping";
  /** When it could no longer run code: its SIGKILL was sent, or its exit seen. */
  diedAt: number | undefined;
}

const BEGIN = '"event":"begin"';

/** `promise`'s value, or undefined after `ms` (the timer is cleared either way, so it never holds the process open). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
const POLLING = /"msg":"(polling for updates|the instance that was polling is gone; taking over polling)"/;
const STANDBY = /"msg":"(another instance on this store is polling; standing by|lost the poller lease|another instance took over polling)/;

/** Runs the chaos scenario and counts it. Never throws for a broken invariant: it reports it. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const log = options.progress ?? ((): void => undefined);
  const users = options.users ?? 30;
  const rate = options.messagesPerSecond ?? 20;
  const [minDelay, maxDelay] = options.handlerDelayMs ?? [10, 60];
  const tmp = makeTempDir("unlost-chaos-");
  const processes = options.processes ?? 2;
  const where: StoreOptions = options.store === undefined ? { path: tmp.file("bot.sqlite") } : { url: options.store.url, schema: options.store.schema };
  const emulator: Emulator = createEmulator({ seed: options.seed, limits: false });
  const sim: SimBot = emulator.createBot({ username: "chaos_bot" });
  const server: EmulatorServer = await startEmulatorServer(emulator);
  const writers: SimUser[] = Array.from({ length: users }, (_, i) => emulator.createUser({ firstName: `U${i}` }));
  const recipients: SimUser[] = Array.from({ length: options.broadcastChats ?? 20 }, (_, i) => emulator.createUser({ firstName: `R${i}` }));
  writeFileSync(tmp.file("recipients.json"), JSON.stringify(recipients.map((r) => r.id)));
  const env: Record<string, string> = {
    API_ROOT: server.url, BOT_TOKEN: sim.token, LOG_LEVEL: "info",
    ...(options.store === undefined ? { DB_PATH: tmp.file("bot.sqlite") } : { STORE_URL: options.store.url, STORE_SCHEMA: options.store.schema }),
    HANDLER_DELAY_MIN_MS: String(minDelay), HANDLER_DELAY_MAX_MS: String(maxDelay),
    NOTE_EVERY_MS: String(options.noteEveryMs ?? 250), NOTE_CHATS: writers.map((u) => u.id).join(","),
    BROADCAST_EVERY_MS: String(options.broadcastEveryMs ?? 2_000), BROADCAST_FILE: tmp.file("recipients.json"),
    ...(options.pollerLeaseMs === undefined ? {} : { POLLER_LEASE_MS: String(options.pollerLeaseMs) }),
    ...(options.heartbeatMs === undefined ? {} : { HEARTBEAT_MS: String(options.heartbeatMs) }),
    SENDS_STOP_FILE: tmp.file("sends.stop"),
    ...(options.maxAttempts === undefined ? {} : { MAX_ATTEMPTS: String(options.maxAttempts) }),
    ...(options.maxRecoveries === undefined ? {} : { MAX_RECOVERIES: String(options.maxRecoveries) }),
  };

  let networkCalls = 0;
  const stopCounting = emulator.onCall((call) => {
    const m = call.method.toLowerCase();
    if (m === "getupdates" || m === "sendmessage") networkCalls++;
  });
  for (const rule of chaosFaults(options.faultRate ?? 0.2)) emulator.faults.add(rule);

  const procs: Proc[] = [];
  const slots: Array<Proc | undefined> = Array.from({ length: processes }, () => undefined);
  const kills: KillRecord[] = [];
  const crashes: ChaosEvidence["crashes"] = [];
  let seq = 0;
  let finished = false;
  /** The process spawned last: a start-up kill's victim. */
  let lastSpawned: Proc | undefined;

  const spawn = (slot: number): Proc => {
    const name = `p${++seq}`;
    const p = spawnBotProcess(CHAOS_BOT, { name, env: { ...env, NAME: name } });
    const proc: Proc = { p, name, spawnAt: Date.now(), fate: "running", diedAt: undefined };
    procs.push(proc);
    slots[slot] = proc;
    lastSpawned = proc;
    void p.exited.then((exit) => {
      proc.diedAt ??= Date.now();
      if (proc.fate !== "running") return;
      // Neither killed nor stopped by the driver: a crash. Restart it, as a supervisor would.
      crashes.push({ process: name, exit, stderr: p.stderr().slice(-2_000), lastLines: p.lines.slice(-5) });
      log(`${name} exited on its own (${exit.signal ?? `code ${exit.code}`}); restarting`);
      if (!finished && slots[slot] === proc) spawn(slot);
    });
    return proc;
  };
  const roleOf = (proc: Proc): KillRecord["role"] => {
    let role: KillRecord["role"] = "starting";
    for (const line of proc.p.lines) {
      if (line.includes('"event":"started"') && role === "starting") role = "standby";
      else if (POLLING.test(line)) role = "poller";
      else if (STANDBY.test(line)) role = "standby";
    }
    return role;
  };
  const inFlight = (proc: Proc): number[] => {
    const open = new Map<number, number>();
    for (const line of proc.p.lines) {
      const m = /"event":"(begin|handled|failed)","updateId":(\d+)/.exec(line);
      if (m === null) continue;
      const id = Number(m[2]);
      open.set(id, (open.get(id) ?? 0) + (m[1] === "begin" ? 1 : -1));
    }
    return [...open].filter(([, n]) => n > 0).map(([id]) => id);
  };
  const kill = async (proc: Proc, mode: KillRecord["mode"]): Promise<void> => {
    if (proc.p.hasExited()) return;
    kills.push({ n: kills.length + 1, process: proc.name, mode, role: roleOf(proc), inFlight: inFlight(proc), ageMs: Date.now() - proc.spawnAt, at: Date.now() });
    proc.fate = "killed";
    const exited = proc.p.kill9();
    // SIGKILL is sent: from here on the process runs no code of its own.
    proc.diedAt = Date.now();
    await exited;
  };
  const begins = (proc: Proc): number => proc.p.lines.reduce((n, l) => n + (l.includes(BEGIN) ? 1 : 0), 0);
  /** Resolves with the first process (of those given) that begins a new handler run, or undefined after `timeoutMs`. */
  const nextBegin = async (candidates: Proc[], timeoutMs: number): Promise<Proc | undefined> => {
    // Only lines printed from now on: scanning whole outputs every few ms would cost the CPU the bots need.
    const seen = candidates.map((c) => c.p.lines.length);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const [i, c] of candidates.entries()) {
        const lines = c.p.lines;
        for (let j = seen[i] ?? 0; j < lines.length; j++) if (!c.p.hasExited() && (lines[j] as string).includes(BEGIN)) return c;
        seen[i] = lines.length;
      }
      await sleep(2);
    }
    return undefined;
  };

  // The load: users write all the time (their own PRNG, so the schedule does not depend on how
  // many messages were sent before a step).
  const loadRandom = prng(options.seed ^ 0x5eed);
  const sent: SentMessage[] = [];
  const perUser = new Map<number, number>();
  let load: NodeJS.Timeout | undefined;

  let drained = false;
  try {
    // Start-up: one poller, the others standing by, then the load and the faults' effects begin.
    const first = spawn(0);
    await first.p.waitForEvent((e) => e["msg"] === "polling for updates", { timeoutMs: 60_000 });
    for (let slot = 1; slot < processes; slot++) spawn(slot);
    load = setInterval(() => {
      const user = writers[Math.floor(loadRandom() * writers.length)] as SimUser;
      const n = (perUser.get(user.id) ?? 0) + 1;
      perUser.set(user.id, n);
      sent.push(send(sim, user, `${user.user.first_name} #${n}`));
    }, Math.max(1, Math.round(1_000 / rate)));

    const steps = chaosSchedule(options);
    const chaosStart = Date.now();
    for (const [i, step] of steps.entries()) {
      if (step.kind === "kill" && step.mode === "startup") {
        // The process spawned last (by the previous step): loading, recovering, or polling for the first time.
        const victim = lastSpawned;
        if (victim !== undefined) {
          await sleep(Math.max(0, victim.spawnAt + step.delayMs - Date.now()));
          const slot = slots.indexOf(victim);
          if (slot >= 0) {
            await kill(victim, "startup");
            spawn(slot);
          }
        }
      } else {
        await sleep(Math.max(0, chaosStart + step.at - Date.now()));
        if (step.kind === "kill" && step.mode === "handler") {
          const live = slots.filter((s): s is Proc => s !== undefined);
          const victim = (await nextBegin(live, 3_000)) ?? slots[step.slot];
          if (victim !== undefined) {
            if (step.delayMs > 0) await sleep(step.delayMs);
            const slot = slots.indexOf(victim);
            await kill(victim, "handler");
            if (slot >= 0 && slots[slot] === victim) spawn(slot);
          }
        } else if (step.kind === "kill") {
          const victim = slots[step.slot];
          if (victim !== undefined) {
            await kill(victim, "any");
            spawn(step.slot);
          }
        } else {
          // A deploy: the replacement first (it stands by), then SIGTERM to the old process.
          const old = slots[step.slot];
          const next = spawn(step.slot);
          await next.p.waitForEvent((e) => e["event"] === "started", { timeoutMs: 30_000 }).catch(() => undefined);
          await sleep(step.standbyMs);
          if (old !== undefined && !old.p.hasExited()) {
            old.fate = "stopping";
            old.p.child.kill("SIGTERM");
            if (step.killAfterMs !== null) {
              await within(old.p.exited, step.killAfterMs);
              if (!old.p.hasExited()) await kill(old, "graceful-stop");
            }
            const exit = await within(old.p.exited, 30_000);
            if (exit === undefined) {
              log(`${old.name} did not stop within 30 s of its SIGTERM; killing it`);
              crashes.push({ process: old.name, exit: { code: null, signal: null }, stderr: "graceful stop hung for 30 s", lastLines: old.p.lines.slice(-5) });
              await kill(old, "graceful-stop");
            }
          }
        }
      }
      if ((i + 1) % 10 === 0 || i === steps.length - 1) {
        log(`step ${i + 1}/${steps.length}: ${kills.length} kills, ${sent.length} messages, ${sim.record.size} deliveries, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      }
    }

    // Drain: no more kills or messages; the last processes catch up (faults still on).
    clearInterval(load);
    load = undefined;
    writeFileSync(tmp.file("sends.stop"), "");
    log(`draining: ${sent.length} messages sent`);
    drained = await drain(where, sim, slots, options.drainTimeoutMs ?? 120_000, log);
    finished = true;
    // Stop gracefully: the standby first, so the poller's hand-over has nobody racing it.
    for (const proc of [...slots].sort((a, b) => Number(a !== undefined && roleOf(a) === "poller") - Number(b !== undefined && roleOf(b) === "poller"))) {
      if (proc === undefined || proc.p.hasExited()) continue;
      proc.fate = "stopping";
      proc.p.child.kill("SIGTERM");
      const exit = await within(proc.p.exited, 30_000);
      if (exit === undefined) {
        crashes.push({ process: proc.name, exit: { code: null, signal: null }, stderr: "final graceful stop hung for 30 s", lastLines: proc.p.lines.slice(-5) });
        await kill(proc, "graceful-stop");
      } else if (exit.code !== 0) {
        crashes.push({ process: proc.name, exit, stderr: proc.p.stderr().slice(-2_000), lastLines: proc.p.lines.slice(-5) });
      }
    }
  } finally {
    finished = true;
    clearInterval(load);
    for (const proc of procs) if (!proc.p.hasExited()) await kill(proc, "graceful-stop");
    emulator.faults.clear();
    stopCounting();
  }

  const deploys = options.deploys;
  try {
    const counted = await countRun(where, sim, sent, procs, recipients);
    const order = chatOrderOf(procs.map((p) => ({ name: p.name, events: p.p.events(), ...(p.diedAt === undefined ? {} : { diedAt: p.diedAt }) })));
    const replyOrder = writers.flatMap((u) => {
      const mine = sent.filter((m) => m.chatId === u.id).map((m) => m.messageId);
      const firsts: number[] = [];
      for (const d of sim.record.to(u.id)) if (d.replyToMessageId !== undefined && d.replyToMessageId !== null && !firsts.includes(d.replyToMessageId)) firsts.push(d.replyToMessageId);
      // Only the messages that were answered: a lost update is counted as lost, not as out of order.
      const answered = mine.filter((id) => firsts.includes(id));
      return firsts.join() === answered.join() ? [] : [`chat ${u.id}: replies to ${firsts.join(" ")}; messages ${answered.join(" ")}`];
    });
    const injected = emulator.faults.injected();
    const summary: ChaosSummary = {
      bench: "chaos",
      kills: kills.length,
      updates: sent.length,
      lost_updates: counted.lostUpdates.length,
      lost_messages: counted.lostMessages.length,
      duplicates: counted.duplicates,
      ambiguous_counted: counted.ambiguousCounted,
      order_violations: order.inversions.length + order.overlapPairs.length,
      seed: options.seed,
      deploys,
      kills_mid_handler: kills.filter((k) => k.inFlight.length > 0).length,
      kills_during_startup: kills.filter((k) => k.role === "starting").length,
      kills_during_graceful_stop: kills.filter((k) => k.mode === "graceful-stop").length,
      kills_of_poller: kills.filter((k) => k.role === "poller").length,
      ...failoverTimes(kills, procs),
      crashes: crashes.length,
      processes: procs.length,
      replies: counted.made.reply,
      notes: counted.made.note,
      broadcast_messages: counted.made.broadcast,
      deliveries: sim.record.size,
      unexpected_deliveries: counted.unexpectedDeliveries,
      duplicates_unexplained: counted.unexplainedDuplicates.length,
      completed_twice: counted.completedTwice.length,
      handler_runs: procs.reduce((n, p) => n + begins(p), 0),
      order_inversions: order.inversions.length,
      same_chat_overlaps: order.overlapPairs.length,
      reply_order_violations: replyOrder.length,
      inbox_dead_letters: counted.inboxDead,
      outbox_failed: counted.outboxFailed,
      network_calls: networkCalls,
      network_faults: Object.values(injected).reduce((s, n) => s + n, 0),
      emulator_errors: emulator.internalErrors.length,
      drained,
      duration_ms: Date.now() - t0,
    };
    const evidence: ChaosEvidence = {
      lostUpdates: counted.lostUpdates,
      lostMessages: counted.lostMessages,
      unexplainedDuplicates: counted.unexplainedDuplicates,
      inversions: order.inversions,
      overlaps: order.overlapPairs,
      replyOrder,
      completedTwice: counted.completedTwice,
      crashes,
      kills,
    };
    if (options.keepData === true) for (const p of procs) writeFileSync(tmp.file(`${p.name}.out`), `${p.p.lines.join("\n")}\n${p.p.stderr()}`);
    const ok = summary.lost_updates === 0 && summary.lost_messages === 0 && summary.order_violations === 0 && summary.duplicates <= summary.ambiguous_counted;
    return { summary, evidence, ok, dataDir: options.keepData === true ? tmp.path : undefined };
  } finally {
    await server.close();
    if (options.keepData !== true) tmp.remove();
  }
}

/** {@link ChaosSummary.failover_ms_max} and its median, from the kills of the poller and the processes' log lines. */
function failoverTimes(kills: readonly KillRecord[], procs: readonly Proc[]): { failover_ms_max: number; failover_ms_median: number } {
  const pollingSince: number[] = [];
  for (const proc of procs) {
    for (const e of proc.p.events()) if (typeof e["msg"] === "string" && POLLING.test(`"msg":"${e["msg"]}"`)) pollingSince.push(Number(e["time"]));
  }
  const times = kills
    .filter((k) => k.role === "poller")
    .map((k) => Math.min(...pollingSince.filter((t) => t >= k.at)) - k.at)
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  return { failover_ms_max: times.at(-1) ?? 0, failover_ms_median: times[Math.floor(times.length / 2)] ?? 0 };
}

/** What {@link countRun} found. */
interface Counted {
  readonly lostUpdates: ChaosEvidence["lostUpdates"];
  readonly lostMessages: ChaosEvidence["lostMessages"];
  readonly unexplainedDuplicates: ChaosEvidence["unexplainedDuplicates"];
  readonly completedTwice: ChaosEvidence["completedTwice"];
  readonly duplicates: number;
  readonly ambiguousCounted: number;
  readonly unexpectedDeliveries: number;
  readonly made: { reply: number; note: number; broadcast: number };
  readonly inboxDead: number;
  readonly outboxFailed: number;
}

/**
 * Waits until everything is handled and delivered: every process up, nothing left at the
 * emulator, no unfinished update in the inbox (journal included), no queued or sending job; three
 * checks in a row, since a retry may be between two states. False after `timeoutMs`.
 */
async function drain(where: StoreOptions, sim: SimBot, slots: ReadonlyArray<Proc | undefined>, timeoutMs: number, log: (line: string) => void): Promise<boolean> {
  const store: Store = await openStore(where);
  try {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    for (;;) {
      const up = slots.every((s) => s !== undefined && !s.p.hasExited() && s.p.lines.some((l) => l.includes('"event":"started"')));
      const inbox = await store.inbox.stats();
      const outbox = await store.outbox.stats();
      const open = { atTelegram: sim.updates.count(), inbox: inbox.pending + inbox.inflight, outbox: outbox.byState.queued + outbox.byState.sending };
      quiet = up && open.atTelegram + open.inbox + open.outbox === 0 ? quiet + 1 : 0;
      if (quiet >= 3) return true;
      if (Date.now() > deadline) {
        log(`the drain did not finish within ${timeoutMs} ms: ${JSON.stringify({ up, ...open })}; counting anyway`);
        return false;
      }
      await sleep(500);
    }
  } finally {
    await store.close();
  }
}

/** Counts the run against the emulator's record and the store (every process has exited). */
async function countRun(where: StoreOptions, sim: SimBot, sent: readonly SentMessage[], procs: readonly Proc[], recipients: readonly SimUser[]): Promise<Counted> {
  const ids = updateIdsOf(sim, sent);
  const completions = await readCompletions(where, ids);
  const events = procs.map((p) => ({ name: p.name, events: p.p.events() }));
  const store: Store = await openStore(where);
  try {
    // Each delivery belongs to at most one send (its chat and unique text), so a broadcast's
    // message is never taken for a duplicate reply; what no send claims is "unexpected".
    const claimed = new Set<number>();
    const deliveriesOf = (chatId: number, text: string): number => {
      const ds = sim.record.to(chatId).filter((d) => d.text === text);
      for (const d of ds) claimed.add(d.seq);
      return ds.length;
    };
    const lostMessages: Counted["lostMessages"] = [];
    const unexplainedDuplicates: Counted["unexplainedDuplicates"] = [];
    const made = { reply: 0, note: 0, broadcast: 0 };
    let duplicates = 0;
    /** One send: made if stored, acknowledged or delivered; then it must be delivered, and its extra deliveries explained. */
    const check = async (kind: keyof typeof made, key: string, chatId: number, text: string, acknowledged: boolean): Promise<void> => {
      const job = await store.outbox.getByKey(key);
      const deliveries = deliveriesOf(chatId, text);
      if (job === null && !acknowledged && deliveries === 0) return; // never made: the process died before storing it
      made[kind]++;
      if (deliveries === 0) {
        lostMessages.push({ kind, key, chatId, text, acknowledged, job: job === null ? null : { state: job.state, attempts: job.attempts, lastError: job.lastError } });
      }
      duplicates += Math.max(0, deliveries - 1);
      if (deliveries - 1 > (job?.ambiguousAttempts ?? 0)) unexplainedDuplicates.push({ key, chatId, deliveries, ambiguousAttempts: job?.ambiguousAttempts ?? 0 });
    };

    // Replies: the handler's first send has the update's deterministic key; a completed update
    // awaited its reply's delivery, so its reply was made.
    const lostUpdates: Counted["lostUpdates"] = [];
    const completedTwice: Counted["completedTwice"] = [];
    for (const [i, m] of sent.entries()) {
      const updateId = ids[i] as number;
      const completed = completions.get(updateId) ?? 0;
      await check("reply", `${sim.id}:${updateId}:0:sendMessage`, m.chatId, m.expectedReply, completed > 0);
      if (completed > 1) completedTwice.push({ updateId, completions: completed });
      if (completed === 0) {
        const dead = await store.inbox.deadLetters.get(updateId);
        lostUpdates.push({
          updateId, chatId: m.chatId, text: m.text,
          begunBy: events.filter((p) => p.events.some((e) => e["event"] === "begin" && e["updateId"] === updateId)).map((p) => p.name),
          deadLetter: dead === null ? null : { error: dead.error, attempts: dead.attempts, recoveries: dead.recoveries },
        });
      }
    }
    // Sends outside handlers: each `send` event is an attempt, `sent` its acknowledgement.
    for (const p of events) {
      const acked = new Set(p.events.filter((e) => e["event"] === "sent" || e["event"] === "broadcasted").map((e) => String(e["key"])));
      for (const e of p.events) {
        if (e["event"] === "send") await check("note", String(e["key"]), Number(e["chatId"]), String(e["text"]), acked.has(String(e["key"])));
        if (e["event"] === "broadcast") {
          // A broadcast's job keys are `<key>:<chat>`; acknowledged means every one of them is stored.
          for (const r of recipients) await check("broadcast", `${String(e["key"])}:${r.id}`, r.id, String(e["text"]), acked.has(String(e["key"])));
        }
      }
    }
    const outbox = await store.outbox.stats();
    const inbox = await store.inbox.stats();
    return {
      lostUpdates, lostMessages, unexplainedDuplicates, completedTwice, duplicates,
      ambiguousCounted: outbox.ambiguousAttempts,
      unexpectedDeliveries: sim.record.size - claimed.size,
      made, inboxDead: inbox.dead, outboxFailed: outbox.byState.failed,
    };
  } finally {
    await store.close();
  }
}
