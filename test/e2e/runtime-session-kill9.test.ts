/**
 * Sessions under `kill -9`: the fixture bot counts each chat's messages in a grammY session kept
 * by unlost (`unlostSession`). The bot is killed several times right after an update wrote its
 * session and before that update completed (the fixture holds each update a while after the
 * write); the killed update is handled again after the restart. At the end each chat's counter
 * equals the number of messages it sent: the killed tries' writes were never committed, and
 * every update's write was committed exactly once, with its completion.
 *
 * With `SESSION_STORAGE=naive` (grammY's session on a storage that writes at once) the same
 * run counts every killed try again: the counters come out higher.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { prng } from "./helpers/outbox-probes.js";
import { handledEvents, isStarted, makeTempDir, send, startUnlostBot, stopGracefully, updateIdsOf, type TempDir } from "./helpers/unlost-bot.js";

const USERS = 3;
/** Messages per user: half before the first start, half while the bot is being killed. */
const PER_USER = 6;
const KILLS = 5;

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];

beforeEach(async () => {
  tmp = makeTempDir("unlost-session-kill9-");
  emulator = createEmulator({ seed: 12, limits: false });
  sim = emulator.createBot({ username: "session_kill9_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: USERS }, (_, i) => emulator.createUser({ firstName: `S${i}` }));
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

const isSessionWritten = (e: Record<string, unknown>): boolean => e["event"] === "session-written";

/** The committed session counters, read from the store file (after every process exited). */
async function storedCounts(dbPath: string, prefix: string): Promise<Map<number, number>> {
  const store = await openStore({ path: dbPath });
  try {
    const counts = new Map<number, number>();
    for (const u of users) {
      const text = await store.data.get(`${prefix}${u.id}`);
      counts.set(u.id, text === null ? 0 : (JSON.parse(text) as { count: number }).count);
    }
    return counts;
  } finally {
    await store.close();
  }
}

describe("sessions under kill -9", () => {
  it(`${KILLS} kill -9 after a session write and before the completion: every chat's counter equals its messages`, async () => {
    const random = prng(Number(process.env["SESSION_KILL9_SEED"] ?? 1212));
    const naive = process.env["SESSION_STORAGE"] === "naive";
    const env = {
      DB_PATH: tmp.file("bot.sqlite"), SESSION_COUNTER: "1", SESSION_HOLD_MS: "400", CONCURRENCY: "4",
      // The kills are not the updates' fault: they must be run again however often they die.
      MAX_ATTEMPTS: "100", MAX_RECOVERIES: "100",
      ...(naive ? { SESSION_STORAGE: "naive" } : {}),
    };
    const sent: SentMessage[] = [];
    const wave = (from: number, to: number): void => {
      for (let n = from; n <= to; n++) for (const u of users) sent.push(send(sim, u, `${u.user.first_name} #${n}`));
    };
    wave(1, PER_USER / 2);

    const procs: BotProcess[] = [];
    const killed: Array<{ updateId: number; count: number; attempt: number }> = [];
    for (let k = 0; k < KILLS; k++) {
      const p = startUnlostBot(server, sim, env, `run ${k + 1}`);
      procs.push(p);
      await p.waitForEvent(isStarted, { timeoutMs: 40_000 });
      // Killed while the n-th update of this run holds its written (not committed) session.
      const n = 1 + Math.floor(random() * 4);
      const written = await p.waitForEvent(isSessionWritten, { count: n, timeoutMs: 40_000 });
      await p.kill9();
      killed.push({ updateId: Number(written["updateId"]), count: Number(written["count"]), attempt: Number(written["attempt"]) });
      if (k === 1) wave(PER_USER / 2 + 1, PER_USER);
    }

    const last = startUnlostBot(server, sim, env, "last run");
    procs.push(last);
    await last.waitForEvent(isStarted, { timeoutMs: 40_000 });
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 60_000, what: "every message answered" });
    // A reply is sent before its update completes (and a killed run's reply before its rerun):
    // wait until the inbox has nothing open, as the running bot's store says.
    await untilInboxDrained(env.DB_PATH, 60_000);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });
    const ids = updateIdsOf(sim, sent);
    expect(new Set(handledEvents(...procs).map((h) => h.updateId))).toEqual(new Set(ids));

    const counts = await storedCounts(env.DB_PATH, naive ? "naive:session:" : "session:");
    const expected = new Map(users.map((u) => [u.id, PER_USER]));
    // Every killed update was handled again after its kill (the kill came before its completion).
    const handled = handledEvents(...procs);
    for (const k of killed) expect(handled.some((h) => h.updateId === k.updateId && h.attempt > k.attempt), `update ${k.updateId} handled again`).toBe(true);
    console.log(JSON.stringify({ e2e: "runtime-session-kill9", naive, kills: killed, counts: Object.fromEntries(counts), sent: sent.length }));
    expect(counts).toEqual(expected);
  }, 180_000);
});

/** Waits until the store (shared with the running bot) has no update pending or in flight. */
async function untilInboxDrained(dbPath: string, timeoutMs: number): Promise<void> {
  const store = await openStore({ path: dbPath });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await store.inbox.stats();
      if (stats.pending === 0 && stats.inflight === 0) return;
      if (Date.now() > deadline) throw new Error(`the inbox still has ${stats.pending} pending and ${stats.inflight} in flight`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await store.close();
  }
}
