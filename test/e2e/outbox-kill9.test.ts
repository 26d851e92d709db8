/**
 * The outbox under `kill -9`: a bot process (fixtures/outbox-bot.mjs) is killed at random,
 * seeded moments and restarted right away, ≥ 20 times, while (a) a 2,000-message broadcast is
 * being delivered (`runtime.outbox.broadcast`, enqueued on the first run only: later runs
 * enqueue it again with the same idempotency key, which creates nothing, and just resume) and
 * (b) users write all the time and every message is answered with `ctx.reply` (through the
 * outbox, with the update's deterministic key).
 *
 * Nothing is lost: every broadcast chat got the message, every user message got its reply.
 * A few sends also meet faults (2 % answers lost after delivery, 3 % connection resets).
 * Duplicates in the emulator's record come only from a kill that hit a request in flight or a
 * lost answer: each message's extra deliveries are at most the ambiguous attempts its job
 * recorded (recovered claims are recorded as ambiguous attempts), read from the store after the
 * last process exited.
 *
 * Time: the emulator's limits are off and unlost paces at 100/s globally (20/s per chat) so
 * the broadcast spans the kills; pacing under the real limits is outbox-pacing.test.ts.
 */
import { hostname } from "node:os";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import type { Job } from "../../src/outbound/types.js";
import { killAllBotProcesses, spawnBotProcess, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { prng, sleep } from "./helpers/outbox-probes.js";
import { startOutboxWorld } from "./helpers/outbox-runtime.js";
import { makeTempDir, send, stopGracefully, updateIdsOf, type TempDir } from "./helpers/unlost-bot.js";

const OUTBOX_BOT = fileURLToPath(new URL("./fixtures/outbox-bot.mjs", import.meta.url));
const KILLS = Number(process.env["OUTBOX_KILLS"] ?? 22);
const BROADCAST = 2_000;
const USERS = 20;
const TEXT = "big news for everyone";

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let load: NodeJS.Timeout | undefined;

beforeEach(async () => {
  tmp = makeTempDir("unlost-outbox-kill9-");
  emulator = createEmulator({ seed: 99, limits: false });
  sim = emulator.createBot({ username: "outbox_kill9_bot" });
  server = await startEmulatorServer(emulator);
});

afterEach(async () => {
  clearInterval(load);
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("the outbox under kill -9", () => {
  it("a send claimed by a process that died is sent again, and its lost attempt is recorded as ambiguous", async () => {
    // A job claimed by a dead instance (same host, a pid that does not exist) before the runtime starts.
    const db = tmp.file("recover.sqlite");
    const store = await openStore({ path: db });
    const alice = emulator.createUser({ firstName: "Alice" });
    const now = Date.now();
    await store.outbox.enqueue([{
      id: "job-recovered", method: "sendMessage", chatId: alice.id, payload: JSON.stringify({ chat_id: alice.id, text: "was in flight" }),
      priority: "normal", maxAttempts: 5, backoff: { baseMs: 10, maxMs: 10, jitter: 0 }, timeoutMs: 5_000, notBefore: now, deadline: null,
      idempotencyKey: null, fingerprint: "was-in-flight", metadata: null, sensitive: false, broadcastId: null, blobs: [], paidBroadcast: false,
    }], { now });
    const claimed = await store.outbox.claim({ owner: `${hostname()}/2147483646/dead`, limit: 1, leaseMs: 600_000, now });
    expect(claimed).toHaveLength(1);
    await store.close();
    const world = await startOutboxWorld({ use: { emulator, server, sim }, runtime: { store: { path: db } } });
    try {
      const job = await world.rt.outbox.waitForFinal("job-recovered");
      expect(job.state).toBe("delivered");
      expect(job.ambiguousAttempts).toBe(1);
      expect(job.history.map((h) => [h.outcome, h.ambiguous])).toEqual([["retry", true], ["delivered", false]]);
      expect(job.history[0]?.error).toMatch(/stopped before recording the answer.*may have been delivered/);
      expect((await world.rt.outbox.stats()).ambiguousAttempts).toBe(1);
      expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["was in flight"]);
    } finally {
      await world.close();
    }
  });

  it(`${KILLS} random kill -9 during a ${BROADCAST}-message broadcast and during handlers that reply: nothing lost, duplicates ≤ ambiguous counted`, async () => {
    const seed = Number(process.env["OUTBOX_KILL9_SEED"] ?? 20240607);
    const random = prng(seed);
    const t0 = Date.now();
    const recipients = Array.from({ length: BROADCAST }, (_, i) => emulator.createUser({ firstName: `R${i}` }));
    const users: SimUser[] = Array.from({ length: USERS }, (_, i) => emulator.createUser({ firstName: `W${i}` }));
    const chatsFile = tmp.file("chats.json");
    writeFileSync(chatsFile, JSON.stringify(recipients.map((r) => r.id)));
    const env = {
      API_ROOT: server.url, BOT_TOKEN: sim.token, LOG_LEVEL: "warn", DB_PATH: tmp.file("bot.sqlite"),
      BROADCAST_FILE: chatsFile, BROADCAST_TEXT: TEXT, PACE_PER_S: "100", CHAT_PACE_PER_S: "20", OUTBOX_CONCURRENCY: "16",
    };
    const start = (name: string): BotProcess => spawnBotProcess(OUTBOX_BOT, { name, env });
    emulator.faults.add({ fault: { kind: "ambiguous" }, probability: 0.02, methods: ["sendMessage"] });
    emulator.faults.add({ fault: { kind: "reset" }, probability: 0.03, methods: ["sendMessage"] });
    const broadcastDelivered = (): number => recipients.filter((r) => sim.record.to(r.id).length > 0).length;

    // Users write all the time (~20 messages/s overall).
    const sent: SentMessage[] = [];
    const perUser = new Map<number, number>();
    load = setInterval(() => {
      const user = users[Math.floor(random() * users.length)] as SimUser;
      const n = (perUser.get(user.id) ?? 0) + 1;
      perUser.set(user.id, n);
      sent.push(send(sim, user, `${user.user.first_name} #${n}`));
    }, 50);

    const procs: BotProcess[] = [];
    const kills: Array<{ after: string; broadcastDelivered: number }> = [];
    for (let k = 0; k < KILLS; k++) {
      const p = start(`run ${k + 1}`);
      procs.push(p);
      let after: string;
      if (random() < 0.75) {
        // Busy: after this run delivered a random number of messages (sends are in flight).
        await p.waitForEvent((e) => e["event"] === "started", { timeoutMs: 20_000 });
        const base = sim.record.size;
        const n = 5 + Math.floor(random() * 60);
        await waitFor(() => sim.record.size >= base + n || p.hasExited(), { timeoutMs: 20_000, intervalMs: 2, what: `${n} deliveries in ${p.name}` });
        const ms = Math.floor(random() * 10);
        if (ms > 0) await sleep(ms);
        after = `${n} deliveries + ${ms} ms`;
      } else {
        // Any moment: loading, opening the store, recovery, enqueueing the broadcast again.
        const ms = 150 + Math.floor(random() * 600);
        await sleep(ms);
        after = `${ms} ms after spawn`;
      }
      await p.kill9();
      kills.push({ after, broadcastDelivered: broadcastDelivered() });
    }
    const killsDuringBroadcast = kills.filter((k) => k.broadcastDelivered < BROADCAST).length;

    // The last run: the load stops, everything drains, then a graceful stop.
    const last = start("last run");
    procs.push(last);
    await last.waitForEvent((e) => e["event"] === "started", { timeoutMs: 20_000 });
    await sleep(500);
    clearInterval(load);
    load = undefined;
    await waitFor(() => broadcastDelivered() === BROADCAST && tallyReplies(sim.record, sent).answered === sent.length, {
      timeoutMs: 60_000, intervalMs: 50, what: "every broadcast chat and every user message answered",
    });
    // Retries of ambiguous sends may still be on their way: wait until the outbox is empty.
    const watcher = await openStore({ path: env.DB_PATH });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { byState } = await watcher.outbox.stats();
        if (byState.queued + byState.sending === 0) break;
        if (Date.now() > deadline) throw new Error("timed out after 60000 ms waiting for the outbox to drain");
        await sleep(100);
      }
    } finally {
      await watcher.close();
    }
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    // Nothing lost.
    const replies = tallyReplies(sim.record, sent);
    expect(replies.lost).toBe(0);
    expect(broadcastDelivered()).toBe(BROADCAST);
    for (const u of users) {
      // The first reply to each message comes in message order (one job in flight per chat).
      const firsts: number[] = [];
      for (const m of sim.record.to(u.id)) if (m.replyToMessageId !== undefined && !firsts.includes(m.replyToMessageId)) firsts.push(m.replyToMessageId);
      expect(firsts, `order in chat ${u.id}`).toEqual(sent.filter((m) => m.chatId === u.id).map((m) => m.messageId));
    }

    // Duplicates only where unlost counted an ambiguous attempt, message by message.
    const store = await openStore({ path: env.DB_PATH });
    const ids = updateIdsOf(sim, sent);
    const overCounted: string[] = [];
    let duplicates = 0;
    let ambiguousCounted = 0;
    let recoveredClaims = 0;
    const check = (job: Job | null, deliveries: number, what: string): void => {
      expect(job, what).not.toBeNull();
      const j = job as Job;
      expect(j.state, what).toBe("delivered");
      duplicates += deliveries - 1;
      ambiguousCounted += j.ambiguousAttempts;
      recoveredClaims += j.history.filter((h) => h.error?.includes("stopped before recording the answer")).length;
      if (deliveries - 1 > j.ambiguousAttempts) overCounted.push(`${what}: ${deliveries} deliveries, ${j.ambiguousAttempts} ambiguous attempts`);
    };
    try {
      for (const r of recipients) check(await store.outbox.getByKey(`e2e-broadcast:${r.id}`), sim.record.to(r.id).length, `broadcast to ${r.id}`);
      for (const [i, m] of sent.entries()) {
        const deliveries = replies.repliesPerMessage[i] as number;
        check(await store.outbox.getByKey(`${sim.id}:${ids[i] as number}:0:sendMessage`), deliveries, `reply to ${m.text}`);
      }
      const stats = await store.outbox.stats();
      expect(stats.byState.failed).toBe(0);
      expect(stats.byState.queued + stats.byState.sending).toBe(0);
      expect(ambiguousCounted).toBeLessThanOrEqual(stats.ambiguousAttempts);
      // The handlers reply the same way every time: every replay was recognised as the same send.
      expect(stats.divergedReplays).toBe(0);
    } finally {
      await store.close();
    }
    expect(overCounted).toEqual([]);
    expect(duplicates).toBeLessThanOrEqual(ambiguousCounted);
    expect(kills.length).toBeGreaterThanOrEqual(20);
    expect(killsDuringBroadcast).toBeGreaterThanOrEqual(Math.min(20, KILLS));
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "outbox-kill9", seed, kills: kills.length, kills_during_broadcast: killsDuringBroadcast, kills_busy: kills.filter((k) => k.after.includes("deliveries")).length,
      broadcast: BROADCAST, broadcast_delivered: broadcastDelivered(), user_messages: sent.length, replied: replies.answered,
      delivered: sim.record.size, duplicates, duplicate_broadcast: recipients.reduce((s, r) => s + sim.record.to(r.id).length - 1, 0), duplicate_replies: replies.duplicates,
      lost_answer_deliveries: sim.record.messages().filter((m) => m.ambiguous).length, injected: emulator.faults.injected(),
      ambiguous_counted: ambiguousCounted, recovered_claims: recoveredClaims, duration_ms: Date.now() - t0,
    }));
  }, 150_000);
});
