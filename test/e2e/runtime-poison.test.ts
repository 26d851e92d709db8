/**
 * Poison updates and crash loops, with real bot processes: an update is given up as a dead
 * letter for killing its process only on evidence that *it* did — its process died while it ran
 * alone — never for having been in flight when something else killed the process.
 *
 * 1. A crash loop: ≥ 20 external `kill -9` at random moments under a continuous load, slow-ish
 *    handlers and a high concurrency, restarted each time: 0 updates dead-lettered, every update
 *    answered, in order per chat, and completed exactly once.
 * 2. A real poison: a message whose handler SIGKILLs its own process every time it runs,
 *    among other chats' traffic: it is dead-lettered after `maxRecoveries` + 1 deaths while it
 *    ran alone, its chat goes on with its later messages, the other chats are not affected, and
 *    nothing else is dead-lettered.
 *
 * Both run with `inbox.maxRecoveries` 3 (the default), also against an unlost without the
 * isolation, where the crash loop parks healthy updates.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore, type DeadLetter } from "../../src/store/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { prng } from "./helpers/outbox-probes.js";
import {
  firstOccurrences, handledEvents, isHandled, isStarted, logLines, makeTempDir, readCompletions, replyTargets, send, startUnlostBot,
  stopGracefully, updateIdsOf, type TempDir,
} from "./helpers/unlost-bot.js";

const MAX_RECOVERIES = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every dead letter of the store file (open it only once no bot process runs on it). */
async function readDeadLetters(dbPath: string): Promise<DeadLetter[]> {
  const store = await openStore({ path: dbPath });
  try {
    const out: DeadLetter[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.inbox.deadLetters.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      out.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return out;
  } finally {
    await store.close();
  }
}

/** Messages of each user in order, and each chat's first replies in the same order. */
function expectChatOrder(sim: SimBot, users: readonly SimUser[], sent: readonly SentMessage[]): void {
  for (const u of users) {
    const mine = sent.filter((m) => m.chatId === u.id).map((m) => m.messageId);
    expect(firstOccurrences(replyTargets(sim, u.id)), `order in chat ${u.id}`).toEqual(mine);
  }
}

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let load: NodeJS.Timeout | undefined;

beforeEach(async () => {
  tmp = makeTempDir("unlost-poison-");
  emulator = createEmulator({ seed: 11, limits: false });
  sim = emulator.createBot({ username: "poison_bot" });
  server = await startEmulatorServer(emulator);
});

afterEach(async () => {
  clearInterval(load);
  load = undefined;
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("poison updates and crash loops (inbox.maxRecoveries)", () => {
  it("a crash loop of 24 random kill -9 under load parks no healthy update: every update answered, in order, completed once", async () => {
    const KILLS = 24;
    const CONCURRENCY = 128;
    const seed = Number(process.env["POISON_SEED"] ?? 7_011);
    const random = prng(seed);
    const users = Array.from({ length: 60 }, (_, i) => emulator.createUser({ firstName: `U${i}` }));
    const env = {
      // Slow-ish handlers (150–500 ms, a call to some API), so that a kill finds many running.
      DB_PATH: tmp.file("bot.sqlite"), HANDLER_DELAY_MS: "150", HANDLER_JITTER_MS: "350", CONCURRENCY: String(CONCURRENCY),
      MAX_RECOVERIES: String(MAX_RECOVERIES), UNPACED: "1",
      // Failed tries are not what this test is about: kills are not the handlers' fault.
      MAX_ATTEMPTS: "1000",
    };
    const t0 = Date.now();
    const sent: SentMessage[] = [];
    const perUser = new Map<number, number>();
    // ~100 messages/s from 40 users, all the time.
    load = setInterval(() => {
      const user = users[Math.floor(random() * users.length)]!;
      const n = (perUser.get(user.id) ?? 0) + 1;
      perUser.set(user.id, n);
      sent.push(send(sim, user, `${user.user.first_name} #${n}`));
    }, 10);

    const procs: BotProcess[] = [];
    const kills: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      const p = startUnlostBot(server, sim, env, `run ${k + 1}`);
      procs.push(p);
      if (random() < 0.4) {
        // Any moment: loading, recovery, the isolated runs of the last kill's suspects, polling.
        const ms = 100 + Math.floor(random() * 1_400);
        await sleep(ms);
        kills.push(`${ms} ms after spawn`);
      } else {
        // Busy: after a random number of handled updates, and a few ms more.
        await p.waitForEvent(isStarted, { timeoutMs: 30_000 });
        const n = 1 + Math.floor(random() * 20);
        await p.waitForEvent(isHandled, { count: n, timeoutMs: 30_000 });
        const ms = Math.floor(random() * 150);
        await sleep(ms);
        kills.push(`${n} handled + ${ms} ms`);
      }
      await p.kill9();
    }

    const last = startUnlostBot(server, sim, env, "last run");
    procs.push(last);
    await last.waitForEvent(isStarted, { timeoutMs: 30_000 });
    clearInterval(load);
    load = undefined;
    // Every message answered — or some given up (then the dead letters below say which).
    const parked = (): boolean => procs.some((p) => logLines(p, /moved to the dead letters/).length > 0);
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length || parked(), { timeoutMs: 60_000, intervalMs: 250, what: "every message answered" });
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const dead = await readDeadLetters(env.DB_PATH);
    expect(dead.map((d) => `${d.updateId}: ${d.error}`)).toEqual([]);
    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions(env.DB_PATH, ids);
    expect([...completions.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(tallyReplies(sim.record, sent).lost).toBe(0);
    expectChatOrder(sim, users, sent);
    expect(emulator.internalErrors).toEqual([]);

    const recovered = handledEvents(...procs).filter((h) => h.recovered).length;
    const isolatedGroups = procs.flatMap((p) => logLines(p).filter((l) => typeof l["group"] === "number"));
    console.log(JSON.stringify({
      e2e: "runtime-poison crash loop", seed, kills: kills.length, sent: sent.length, updates: ids.length, dead_letters: dead.length,
      completed_once: [...completions.values()].filter((n) => n === 1).length, recovered_runs: recovered,
      isolated_groups: isolatedGroups.length, alone_runs: isolatedGroups.filter((l) => l["group"] === 1).length,
      largest_group: Math.max(0, ...isolatedGroups.map((l) => Number(l["group"]))), duration_ms: Date.now() - t0,
    }));
  }, 120_000);

  it("an update that kills its process every time is dead-lettered on the evidence of its deaths alone; its chat and the others go on", async () => {
    const CONCURRENCY = 64;
    const users = Array.from({ length: 12 }, (_, i) => emulator.createUser({ firstName: `P${i}` }));
    const victim = users[0]!;
    const env = {
      DB_PATH: tmp.file("bot.sqlite"), HANDLER_DELAY_MS: "20", HANDLER_JITTER_MS: "40", CONCURRENCY: String(CONCURRENCY),
      MAX_RECOVERIES: String(MAX_RECOVERIES), POISON_KILL_TEXT: "kill the bot", UNPACED: "1",
    };
    const t0 = Date.now();
    const sent: SentMessage[] = [];
    const perUser = new Map<number, number>();
    const say = (user: SimUser): void => {
      const n = (perUser.get(user.id) ?? 0) + 1;
      perUser.set(user.id, n);
      sent.push(send(sim, user, `${user.user.first_name} #${n}`));
    };

    // A supervisor: the bot is restarted whenever it dies.
    const procs: BotProcess[] = [];
    let supervising = true;
    let deaths = 0;
    const supervise = async (): Promise<void> => {
      while (supervising) {
        const p = startUnlostBot(server, sim, env, `run ${procs.length + 1}`);
        procs.push(p);
        const exit = await p.exited;
        if (!supervising) return;
        expect(exit.signal, `${p.name} ended by itself: ${p.stderr()}`).toBe("SIGKILL");
        deaths++;
      }
    };
    const supervisor = supervise();
    await waitFor(() => procs[0]!.events().some(isStarted), { timeoutMs: 30_000, what: "the first start" });

    // Everyone writes; then the victim sends the poison, and keeps writing after it.
    let i = 0;
    load = setInterval(() => say(users[1 + (i++ % (users.length - 1))]!), 25);
    for (let k = 0; k < 3; k++) say(victim);
    await sleep(200);
    const poison = victim.sendText(sim, "kill the bot");
    for (let k = 0; k < 3; k++) say(victim);
    await sleep(1_000);
    for (let k = 0; k < 2; k++) say(victim);

    const poisonId = await waitFor(() => sim.updateLog.find((u) => (u as { message?: { message_id: number } }).message?.message_id === poison.message_id && (u as { message: { chat: { id: number } } }).message.chat.id === victim.id)?.update_id, { what: "the poison's update id" });
    // Dead-lettered: the process stops dying, and everything else is answered.
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length && deaths > MAX_RECOVERIES, { timeoutMs: 60_000, intervalMs: 250, what: "every other message answered" });
    clearInterval(load);
    load = undefined;
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, intervalMs: 250, what: "the last messages answered" });
    supervising = false;
    const running = procs[procs.length - 1]!;
    expect(await stopGracefully(running)).toEqual({ code: 0, signal: null });
    await supervisor;

    const dead = await readDeadLetters(env.DB_PATH);
    expect(dead.map((d) => d.updateId)).toEqual([poisonId]);
    expect(dead[0]).toMatchObject({ isolatedDeaths: MAX_RECOVERIES + 1 });
    expect(dead[0]!.error).toMatch(/its process died 4 time\(s\) while it ran alone \(more than inbox.maxRecoveries = 3\)/);
    // Its last runs were alone: each of the processes it killed then ran nothing else.
    const aloneRuns = procs.flatMap((p) => logLines(p, /running a recovered update alone/).filter((l) => JSON.stringify(l["updateIds"]) === JSON.stringify([poisonId])));
    expect(aloneRuns.length).toBe(MAX_RECOVERIES + 1);
    // Deaths: a first one among other updates (from the journal), one more as a row among others,
    // a few while its isolated group halved, then 4 alone. The bound: log₂ of the concurrency.
    expect(deaths).toBeGreaterThanOrEqual(MAX_RECOVERIES + 1);
    expect(deaths).toBeLessThanOrEqual(2 + Math.log2(CONCURRENCY) + MAX_RECOVERIES + 1);

    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions(env.DB_PATH, ids);
    expect([...completions.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(tallyReplies(sim.record, sent).lost).toBe(0);
    // The victim's chat went on in order past the poison; the other chats too.
    expectChatOrder(sim, users, sent);
    expect(replyTargets(sim, victim.id)).not.toContain(poison.message_id);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "runtime-poison poison", sent: sent.length, deaths, poison: poisonId, isolated_deaths: dead[0]!.isolatedDeaths, recoveries: dead[0]!.recoveries,
      attempts: dead[0]!.attempts, duration_ms: Date.now() - t0,
    }));
  }, 120_000);
});
