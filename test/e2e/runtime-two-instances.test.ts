/**
 * Two instances of a bot run by unlost on one token.
 *
 * - Sharing one store (the supported setup): only the holder of the store's poller lease polls,
 *   the other stands by (and helps handling from the shared inbox); nobody crash-loops, no
 *   update is handled twice; when the poller is killed with `kill -9`, the standby takes over
 *   polling and handles the rest.
 * - With separate stores (unsupported: two bots that do not know each other): Telegram answers
 *   the competing long polls with 409; both log it, back off and stay alive. How many updates
 *   both of them handled is reported, not asserted.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import {
  countBy, handledEvents, isStarted, logLines, makeTempDir, readCompletions, send, startUnlostBot, stopGracefully, updateIdsOf,
  type TempDir,
} from "./helpers/unlost-bot.js";

const STANDBY = /another instance on this store is polling; standing by/;
const CONFLICT_409 = /another process is polling this bot \(409\)/;

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];
let load: NodeJS.Timeout | undefined;

beforeEach(async () => {
  tmp = makeTempDir("unlost-two-");
  emulator = createEmulator({ seed: 4, limits: false });
  sim = emulator.createBot({ username: "twin_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: 6 }, (_, i) => emulator.createUser({ firstName: `T${i}` }));
});

afterEach(async () => {
  clearInterval(load);
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

/** Users write in turn, one message every `intervalMs`, into `sent`, until stopped. */
function startLoad(sent: SentMessage[], label: string, intervalMs: number): () => void {
  let i = 0;
  load = setInterval(() => {
    const user = users[i % users.length]!;
    i++;
    sent.push(send(sim, user, `${user.user.first_name} ${label} ${i}`));
  }, intervalMs);
  return () => {
    clearInterval(load);
    load = undefined;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const alive = (...procs: BotProcess[]): boolean => procs.every((p) => !p.hasExited());
const answeredAll = (sent: readonly SentMessage[]) => () => tallyReplies(sim.record, sent).answered === sent.length;

describe("two unlost instances on one token", () => {
  it("sharing one store: one polls, the other stands by; no crash loop, nothing handled twice; the standby takes over after kill -9", async () => {
    const t0 = Date.now();
    const env = { DB_PATH: tmp.file("shared.sqlite"), POLLER_LEASE_MS: "1500", HANDLER_DELAY_MS: "2" };
    const a = startUnlostBot(server, sim, env, "instance A");
    await a.waitForEvent(isStarted);
    await a.waitForEvent((e) => e["msg"] === "polling for updates");
    const b = startUnlostBot(server, sim, env, "instance B");
    await b.waitForEvent(isStarted);
    await b.waitForEvent((e) => typeof e["msg"] === "string" && STANDBY.test(e["msg"]));

    // Phase 1: both alive under load for a while; A polls.
    const phase1: SentMessage[] = [];
    const stop1 = startLoad(phase1, "phase 1", 20);
    await sleep(2_000);
    stop1();
    await waitFor(answeredAll(phase1), { timeoutMs: 15_000, what: "phase 1 answered" });
    expect(alive(a, b)).toBe(true);
    expect(logLines(b, /^polling for updates/)).toHaveLength(0); // B never polled while A was alive
    const handledBeforeKill = countBy(handledEvents(a, b).map((h) => h.updateId));
    expect([...handledBeforeKill.values()].every((n) => n === 1)).toBe(true);
    const byB = handledEvents(b).length; // B handles from the shared inbox too
    // Idle means every completion is committed, not just every reply seen: a handler's
    // completion is written a moment after its reply reaches Telegram, and a kill inside that
    // moment rightly makes the update run again (exactly-once completion, not handling).
    const phase1Ids = updateIdsOf(sim, phase1);
    for (const deadline = Date.now() + 10_000; ; await sleep(20)) {
      if ([...(await readCompletions(env.DB_PATH, phase1Ids)).values()].every((n) => n === 1)) break;
      if (Date.now() > deadline) throw new Error("phase 1 completions were not all committed within 10 s");
    }

    // Phase 2: kill -9 the poller; the standby takes over and handles the rest.
    const killedAt = Date.now();
    await a.kill9();
    const phase2: SentMessage[] = [];
    const stop2 = startLoad(phase2, "phase 2", 20);
    await b.waitForEvent((e) => e["msg"] === "polling for updates", { timeoutMs: 10_000 });
    const tookOverAfterMs = Date.now() - killedAt;
    expect(logLines(b, /the instance that was polling is gone; taking over polling/)).toHaveLength(1);
    await sleep(1_000);
    stop2();
    await waitFor(answeredAll(phase2), { timeoutMs: 15_000, what: "phase 2 answered by B" });
    expect(alive(b)).toBe(true);
    expect(await stopGracefully(b)).toEqual({ code: 0, signal: null });

    const sent = [...phase1, ...phase2];
    const ids = updateIdsOf(sim, sent);
    const handled = countBy(handledEvents(a, b).map((h) => h.updateId));
    const twice = ids.filter((id) => (handled.get(id) ?? 0) > 1);
    expect(ids.filter((id) => !handled.has(id))).toEqual([]);
    expect(twice).toEqual([]); // A was idle when killed: nothing was in flight
    expect([...(await readCompletions(env.DB_PATH, ids)).values()].every((n) => n === 1)).toBe(true);
    expect(tallyReplies(sim.record, sent)).toMatchObject({ lost: 0, duplicates: 0 });
    // Every phase-2 update was handled by B; no 409 ever (only one of them polled at a time).
    const handledByB = new Set(handledEvents(b).map((h) => h.updateId));
    expect(updateIdsOf(sim, phase2).every((id) => handledByB.has(id))).toBe(true);
    expect([...logLines(a, CONFLICT_409), ...logLines(b, CONFLICT_409)]).toEqual([]);
    expect(a.events().filter(isStarted)).toHaveLength(1);
    expect(b.events().filter(isStarted)).toHaveLength(1);

    console.log(JSON.stringify({
      e2e: "runtime-two-instances-shared-store", updates: ids.length, handled_twice: twice.length,
      handled_by_standby_before_kill: byB, handled_by_b_after_kill: phase2.length, standby_took_over_after_ms: tookOverAfterMs, duration_ms: Date.now() - t0,
    }));
  }, 45_000);

  it("with separate stores (unsupported): Telegram's 409 is logged, neither crash-loops; updates handled twice are reported", async () => {
    const t0 = Date.now();
    const envA = { DB_PATH: tmp.file("a.sqlite"), EXEC_LOG: tmp.file("a.log") };
    const envB = { DB_PATH: tmp.file("b.sqlite"), EXEC_LOG: tmp.file("b.log") };
    const a = startUnlostBot(server, sim, envA, "instance A (own store)");
    const b = startUnlostBot(server, sim, envB, "instance B (own store)");
    await a.waitForEvent(isStarted);
    await b.waitForEvent(isStarted);

    const sent: SentMessage[] = [];
    const stop = startLoad(sent, "msg", 25);
    // Event-driven: until each of them has been told 409 at least once (they take turns).
    const has409 = (e: Record<string, unknown>): boolean => typeof e["msg"] === "string" && CONFLICT_409.test(e["msg"]);
    // At least 4 s of load, so that both get their turns at polling.
    await Promise.all([a.waitForEvent(has409, { timeoutMs: 20_000 }), b.waitForEvent(has409, { timeoutMs: 20_000 }), sleep(4_000)]);
    stop();
    await waitFor(answeredAll(sent), { timeoutMs: 30_000, what: "every message answered by one of them" });
    expect(alive(a, b)).toBe(true);
    expect(a.events().filter(isStarted)).toHaveLength(1);
    expect(b.events().filter(isStarted)).toHaveLength(1);
    expect(await stopGracefully(a)).toEqual({ code: 0, signal: null });
    expect(await stopGracefully(b)).toEqual({ code: 0, signal: null });

    const ids = updateIdsOf(sim, sent);
    const inA = new Set(handledEvents(a).map((h) => h.updateId));
    const inB = new Set(handledEvents(b).map((h) => h.updateId));
    const twice = ids.filter((id) => inA.has(id) && inB.has(id));
    const tally = tallyReplies(sim.record, sent);
    expect(tally.lost).toBe(0);
    console.log(JSON.stringify({
      e2e: "runtime-two-instances-separate-stores", updates: ids.length, handled_by_a: inA.size, handled_by_b: inB.size,
      handled_twice: twice.length, duplicate_replies: tally.duplicates,
      conflicts_409_a: logLines(a, CONFLICT_409).length, conflicts_409_b: logLines(b, CONFLICT_409).length, duration_ms: Date.now() - t0,
    }));
  }, 60_000);
});
