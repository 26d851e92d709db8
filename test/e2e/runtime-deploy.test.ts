/**
 * Graceful stops and deploys with two `unlost run`-style processes on one store: per-chat order
 * and "one handler of a chat at a time" hold across the hand-over, not only within a process.
 *
 * - A graceful stop (SIGTERM) of the polling process while its journal still holds a chat's
 *   older updates: the standby takes polling over only once those are handed over as inbox
 *   rows, and runs them before the chat's newer updates it fetches itself.
 * - A rolling deploy: the replacement starts (and stands by) before the old process gets its
 *   SIGTERM, several times in a row, under load with slow handlers: nothing lost, nothing out of
 *   order, no chat in two handlers at once.
 * - A poller paused (SIGSTOP) long enough to be taken for dead: the standby adopts its journal;
 *   once resumed, the paused process starts none of the handlers it had queued.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { chatOrder, countBy, handledEvents, isStarted, makeTempDir, send, startUnlostBot, stopGracefully, updateIdsOf, type TempDir } from "./helpers/unlost-bot.js";

const STANDBY = /another instance on this store is polling; standing by/;

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;

beforeEach(async () => {
  tmp = makeTempDir("unlost-deploy-");
  emulator = createEmulator({ seed: 11, limits: false });
  sim = emulator.createBot({ username: "deploy_bot" });
  server = await startEmulatorServer(emulator);
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startPoller(env: Record<string, string>, name: string): Promise<BotProcess> {
  const p = startUnlostBot(server, sim, env, name);
  await p.waitForEvent(isStarted);
  return p;
}

async function startStandby(env: Record<string, string>, name: string): Promise<BotProcess> {
  const p = await startPoller(env, name);
  await p.waitForEvent((e) => typeof e["msg"] === "string" && STANDBY.test(e["msg"]));
  return p;
}

describe("graceful stops and deploys keep per-chat order", () => {
  it("a graceful stop of the poller hands its fetched updates over: the standby runs each chat's older updates first, one at a time", async () => {
    // Handlers slower than the poller lease (1 s; B retries it every 0.5 s): A is still finishing
    // m1 when B could poll, and must keep renewing the lease until it handed the rest over.
    const env = { DB_PATH: tmp.file("shared.sqlite"), POLLER_LEASE_MS: "1000", HANDLER_DELAY_MS: "1500" };
    const a = await startPoller(env, "A");
    await a.waitForEvent((e) => e["msg"] === "polling for updates");
    const b = await startStandby(env, "B");
    const user: SimUser = emulator.createUser({ firstName: "Seven" });
    const sent: SentMessage[] = [];
    for (let i = 1; i <= 5; i++) sent.push(send(sim, user, `m${i}`));
    // A fetched all five and runs the first (1.5 s each, one at a time): stop it now.
    await a.waitForEvent((e) => e["event"] === "begin");
    const stopping = stopGracefully(a);
    await sleep(50);
    for (let i = 6; i <= 7; i++) sent.push(send(sim, user, `m${i}`));
    expect(await stopping).toEqual({ code: 0, signal: null });
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, what: "all seven answered" });
    // A handler prints its end just after its reply is delivered.
    const ids = updateIdsOf(sim, sent);
    await waitFor(() => ids.every((id) => handledEvents(a, b).some((h) => h.updateId === id)), { timeoutMs: 5_000, what: "every run's end printed" });
    const order = chatOrder(a, b);
    expect(order.outOfOrder).toEqual([]);
    expect(order.overlaps).toEqual([]);
    expect([...countBy(handledEvents(a, b).map((h) => h.updateId)).entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(tallyReplies(sim.record, sent)).toMatchObject({ lost: 0, duplicates: 0 });
    await stopGracefully(b);
  }, 45_000);

  it("rolling deploys under load (the replacement stands by before the old one stops): 0 lost, 0 out of order, 0 same-chat overlaps", async () => {
    const env = { DB_PATH: tmp.file("shared.sqlite"), POLLER_LEASE_MS: "2000", HANDLER_DELAY_MS: "120" };
    // Each chat writes every 2 s: replies are paced to Telegram's ~1 message/s per chat.
    const users = Array.from({ length: 40 }, (_, i) => emulator.createUser({ firstName: `U${i}` }));
    const sent: SentMessage[] = [];
    let i = 0;
    const load = setInterval(() => {
      const user = users[i % users.length] as SimUser;
      i++;
      sent.push(send(sim, user, `msg ${i}`));
    }, 50);
    const procs: BotProcess[] = [];
    try {
      let current = await startPoller(env, "gen 0");
      procs.push(current);
      for (let gen = 1; gen <= 3; gen++) {
        await sleep(1_200);
        const next = await startStandby(env, `gen ${gen}`);
        procs.push(next);
        expect(await stopGracefully(current)).toEqual({ code: 0, signal: null });
        current = next;
      }
      await sleep(1_000);
    } finally {
      clearInterval(load);
    }
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, what: "every message answered" });
    const ids = updateIdsOf(sim, sent);
    await waitFor(() => ids.every((id) => handledEvents(...procs).some((h) => h.updateId === id)), { timeoutMs: 5_000, what: "every run's end printed" });
    const order = chatOrder(...procs);
    expect(order.outOfOrder).toEqual([]);
    expect(order.overlaps).toEqual([]);
    expect(tallyReplies(sim.record, sent)).toMatchObject({ lost: 0 });
    console.log(JSON.stringify({ e2e: "runtime-deploy", deploys: 3, messages: sent.length, handled: handledEvents(...procs).length }));
  }, 60_000);

  it("a poller paused (SIGSTOP) past its liveness lease is taken over; resumed, it starts none of the handlers it had queued", async () => {
    // One handler at a time: when A freezes, the update it runs is the one whose start it printed
    // (with more, another may be past its dispatch but before the handler's first line).
    const env = { DB_PATH: tmp.file("shared.sqlite"), POLLER_LEASE_MS: "2000", HANDLER_DELAY_MS: "400", CONCURRENCY: "1" };
    const a = await startPoller(env, "A");
    await a.waitForEvent((e) => e["msg"] === "polling for updates");
    const b = await startStandby(env, "B");
    const users = [emulator.createUser({ firstName: "P1" }), emulator.createUser({ firstName: "P2" })];
    const sent: SentMessage[] = [];
    for (let i = 1; i <= 5; i++) for (const user of users) sent.push(send(sim, user, `p${i}`));
    await a.waitForEvent((e) => e["event"] === "begin");
    a.child.kill("SIGSTOP");
    const begun = (p: BotProcess, after = 0): number[] => p.events().filter((e) => e["event"] === "begin" && Number(e["t"]) >= after).map((e) => Number(e["updateId"]));
    // What A was running when it froze: it goes on when A resumes, nothing can stop that.
    const runningAtPause = begun(a).filter((id) => !handledEvents(a).some((h) => h.updateId === id));
    // The fixture's liveness lease lasts 600 ms, B retries the poller lease every second: 2.5 s
    // is enough for B to take polling and A's journal over. (A fixed pause, not "until B
    // begins": the pause may freeze A inside a SQLite write, and then B waits for the lock.)
    await sleep(2_500);
    const resumedAt = Date.now();
    a.child.kill("SIGCONT");
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, what: "every message answered" });
    await sleep(1_000);
    // Resumed, A may claim inbox rows like any live instance, but it starts nothing B ran too
    // (before the fix: the updates it had queued, which B had adopted and was running).
    const ranByB = new Set(begun(b));
    expect(begun(a, resumedAt).filter((id) => ranByB.has(id))).toEqual([]);
    const overlaps = chatOrder(a, b).overlaps.filter((o) => !runningAtPause.some((id) => o.includes(String(id))));
    expect(overlaps).toEqual([]);
    expect(tallyReplies(sim.record, sent)).toMatchObject({ lost: 0 });
    expect(a.hasExited()).toBe(false);
    await Promise.all([stopGracefully(a), stopGracefully(b)]);
  }, 60_000);
});
