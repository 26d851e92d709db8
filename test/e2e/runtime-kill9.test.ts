/**
 * ≥ 20 random `kill -9` of a bot run by unlost during a continuous load: 20 users write all the
 * time, the bot is killed at random moments (after a random number of handled updates, or a
 * random time after its start) and restarted right away. At the end every update is handled,
 * each chat's messages are answered in order, and every update is *completed* exactly once
 * (the `completed:<update_id>` counters, committed with the completion, read from the store
 * file). Executions and duplicate replies can exceed one only where a kill landed between a
 * handler's reply and its completion; they are reported.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { prng } from "./helpers/outbox-probes.js";
import {
  countBy, firstOccurrences, handledEvents, isHandled, isStarted, makeTempDir, readCompletions, readExecLog, replyTargets, send,
  startUnlostBot, stopGracefully, updateIdsOf, type TempDir,
} from "./helpers/unlost-bot.js";

const USERS = 20;
const KILLS = 22;
/** One message from a random user every this many ms (~60 messages/s overall). */
const LOAD_INTERVAL_MS = 16;
/** Handlers at once (different chats). */
const CONCURRENCY = 8;

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];
let load: NodeJS.Timeout | undefined;

beforeEach(async () => {
  tmp = makeTempDir("unlost-kill9-");
  emulator = createEmulator({ seed: 9, limits: false });
  sim = emulator.createBot({ username: "kill9_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: USERS }, (_, i) => emulator.createUser({ firstName: `U${i}` }));
});

afterEach(async () => {
  clearInterval(load);
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("unlost runtime under kill -9", () => {
  it(`${KILLS} random kill -9 during a continuous load: every update handled, in order per chat, completed exactly once`, async () => {
    const seed = Number(process.env["KILL9_SEED"] ?? 20240601);
    const random = prng(seed);
    const env = { DB_PATH: tmp.file("bot.sqlite"), EXEC_LOG: tmp.file("exec.log"), HANDLER_DELAY_MS: "3", CONCURRENCY: String(CONCURRENCY),
      // Every kill counts as a try of the updates in flight; these kills are not the updates' fault.
      MAX_ATTEMPTS: "1000" };
    const t0 = Date.now();

    const sent: SentMessage[] = [];
    const perUser = new Map<number, number>();
    load = setInterval(() => {
      const user = users[Math.floor(random() * users.length)]!;
      const n = (perUser.get(user.id) ?? 0) + 1;
      perUser.set(user.id, n);
      sent.push(send(sim, user, `${user.user.first_name} #${n}`));
    }, LOAD_INTERVAL_MS);

    const procs: BotProcess[] = [];
    const kills: Array<{ after: string; handledInRun: number }> = [];
    for (let k = 0; k < KILLS; k++) {
      const p = startUnlostBot(server, sim, env, `run ${k + 1}`);
      procs.push(p);
      let after: string;
      if (random() < 0.75) {
        await p.waitForEvent(isStarted, { timeoutMs: 40_000 });
        // Busy: after a random number of updates handled by this run (handlers are running).
        const n = 1 + Math.floor(random() * 12);
        await p.waitForEvent(isHandled, { count: n, timeoutMs: 40_000 });
        // A handled line is printed just before its completion is committed; a few ms more
        // spread the kills over the whole handling cycle.
        const ms = Math.floor(random() * 15);
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
        after = `${n} handled + ${ms} ms`;
      } else {
        // Any moment: a random time after the spawn (loading, opening the store, recovery,
        // the first polls and the catch-up).
        const ms = 100 + Math.floor(random() * 400);
        await new Promise((r) => setTimeout(r, ms));
        after = `${ms} ms after spawn`;
      }
      await p.kill9();
      kills.push({ after, handledInRun: handledEvents(p).length });
    }

    // The last run: keep the load a little longer, stop it, drain, stop gracefully.
    const last = startUnlostBot(server, sim, env, "last run");
    procs.push(last);
    await last.waitForEvent(isStarted, { timeoutMs: 40_000 });
    await last.waitForEvent(isHandled, { count: 20, timeoutMs: 40_000 });
    clearInterval(load);
    load = undefined;
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, {
      // Generous: on a loaded 2-core machine the catch-up after 22 kills can take a while.
      timeoutMs: 90_000,
      what: "every message answered",
    });
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    // Every update handled; every update completed exactly once.
    const ids = updateIdsOf(sim, sent);
    const handled = countBy(handledEvents(...procs).map((h) => h.updateId));
    expect(ids.filter((id) => !handled.has(id))).toEqual([]);
    const completions = await readCompletions(env.DB_PATH, ids);
    const notOnce = [...completions.entries()].filter(([, n]) => n !== 1);
    expect(notOnce).toEqual([]);

    // Per-chat order: the first reply to each message appears in message order.
    const tally = tallyReplies(sim.record, sent);
    expect(tally.lost).toBe(0);
    for (const u of users) {
      const mine = sent.filter((m) => m.chatId === u.id).map((m) => m.messageId);
      expect(firstOccurrences(replyTargets(sim, u.id)), `order in chat ${u.id}`).toEqual(mine);
    }

    const executions = readExecLog(env.EXEC_LOG);
    const extraExecutions = [...executions.values()].reduce((s, n) => s + n - 1, 0);
    const extraHandled = [...handled.values()].reduce((s, n) => s + n - 1, 0);
    // A handler runs again only after a kill: no run handled an update twice, and an update
    // handled twice was first handled by a run that was then killed.
    for (const p of procs) expect([...countBy(handledEvents(p).map((h) => h.updateId)).values()].every((n) => n === 1), p.name).toBe(true);
    // A duplicate reply needs a kill between a handler's reply and its completion: at most one
    // per kill and per concurrent handler (the replies themselves are not yet in the store:
    // that is the outbox's job).
    expect(tally.duplicates).toBeLessThanOrEqual(KILLS * CONCURRENCY);
    expect(extraExecutions).toBeLessThanOrEqual(KILLS * CONCURRENCY);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "runtime-kill9", seed, kills: kills.length, sent: sent.length, updates: ids.length,
      completed_once: ids.length - notOnce.length, lost: tally.lost,
      executions: [...executions.values()].reduce((s, n) => s + n, 0), extra_executions: extraExecutions,
      extra_handled_events: extraHandled, duplicate_replies: tally.duplicates, duplicated_messages: tally.duplicated,
      kills_busy: kills.filter((k) => k.after.includes("handled")).length,
      max_attempt: Math.max(...handledEvents(...procs).map((h) => h.attempt)), recovered_runs: handledEvents(...procs).filter((h) => h.recovered).length, duration_ms: Date.now() - t0,
    }));
  }, 240_000);
});
