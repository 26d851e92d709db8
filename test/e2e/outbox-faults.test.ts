/**
 * The outbox under a hostile network, against the emulator with Telegram's real flood limits on.
 *
 * 1. ~30 % of sends fail (connection resets, hangs that only the outbox's per-attempt timeout
 *    ends, 500/502/503, 429 answers, answers lost after delivery), plus 429 storms and a real
 *    2-minute outage (connection refused) in the middle, while 200 messages (texts and photos
 *    given as Buffers) are enqueued to 50 chats, half of them during the outage. Every message
 *    is delivered; each exactly once in the emulator's record, except where an answer was lost
 *    after delivery, and those extra deliveries are within unlost's own ambiguous counts; no job
 *    failed (none classified permanent or unreachable); the first deliveries of each chat keep
 *    the enqueue order.
 * 2. Per-chat order under retries: 20 messages to one chat, every other attempt answered 502.
 *
 * The two run concurrently (each with its own emulator) so the file lasts about as long as the
 * outage.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/outbound/types.js";
import { countAnswers, deliveriesByText, firstOccurrencesOf, sleep, until } from "./helpers/outbox-probes.js";
import { startOutboxWorld, type OutboxWorld } from "./helpers/outbox-runtime.js";
import { waitFor } from "./helpers/emulator-probes.js";

const OUTAGE_MS = Number(process.env["OUTBOX_OUTAGE_MS"] ?? 120_000);
const CHATS = 50;
const PER_CHAT = 4;
/** A tiny PNG-ish payload; the emulator stores whatever bytes it gets. */
const PHOTO = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489", "hex");

const worlds: OutboxWorld[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

describe("the outbox under faults", () => {
  it.concurrent(`30 % failing sends, 429 storms and a ${OUTAGE_MS / 1000} s outage: every message delivered, none permanent, duplicates only where answers were lost and counted`, async () => {
    const t0 = Date.now();
    const world = await startOutboxWorld({
      emulator: { seed: 30 },
      runtime: {
        outbox: {
          concurrency: 16,
          idleMs: 20,
          // Enough attempts to outlast a 2-minute outage at a 5 s backoff cap.
          defaults: { attempts: 100, backoff: { baseMs: 300, maxMs: 5_000, jitter: 0.2 }, timeoutMs: 1_500, uploadTimeoutMs: 2_000 },
        },
      },
    });
    worlds.push(world);
    const { emulator, sim, rt } = world;
    const answers = countAnswers(emulator);
    const users = Array.from({ length: CHATS }, (_, i) => emulator.createUser({ firstName: `F${i}` }));

    // Sends only: the bot's long polls are not what this test is about (a hung getUpdates
    // would only delay updates). The draws are independent, in order: 1 - Π(1 - p) ≈ 30 %.
    const sends = ["sendMessage", "sendPhoto"];
    const rules: Array<[Parameters<typeof emulator.faults.add>[0]["fault"], number]> = [
      [{ kind: "reset" }, 0.09],
      [{ kind: "hang" }, 0.06],
      [{ kind: "server-error", status: 500 }, 0.04],
      [{ kind: "server-error", status: 502 }, 0.04],
      [{ kind: "server-error", status: 503 }, 0.04],
      [{ kind: "flood", retryAfter: 1 }, 0.04],
      [{ kind: "ambiguous" }, 0.03],
    ];
    for (const [fault, probability] of rules) emulator.faults.add({ fault, probability, methods: sends });

    const jobs: Array<{ id: string; chatId: number; text: string; photo: boolean }> = [];
    const enqueue = async (round: number): Promise<void> => {
      for (let r = 0; r < PER_CHAT / 2; r++) {
        for (const [c, u] of users.entries()) {
          const i = round * (PER_CHAT / 2) + r;
          const text = `chat ${c} message ${i}`;
          const photo = (c + i) % 5 === 0;
          const ids = photo ? await rt.outbox.sendPhoto(u.id, PHOTO, { caption: text }) : await rt.outbox.sendText(u.id, text);
          jobs.push({ id: ids[0] as string, chatId: u.id, text, photo });
        }
      }
    };

    await enqueue(0);
    // A 429 storm: every call refused with retry_after for 1.5 s.
    await sleep(1_500);
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 2 }, durationMs: 1_500 });
    await sleep(2_000);
    const beforeOutage = sim.record.size;
    const outageStart = Date.now();
    emulator.faults.add({ fault: { kind: "outage" }, durationMs: OUTAGE_MS });
    await sleep(2_000);
    // Half of the messages are enqueued while nothing can be sent.
    await enqueue(1);
    await waitFor(() => Date.now() >= outageStart + OUTAGE_MS, { timeoutMs: OUTAGE_MS + 5_000, intervalMs: 200, what: "the end of the outage" });
    const duringOutage = sim.record.size - beforeOutage;
    await sleep(1_000);
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, durationMs: 2_000 });

    const deliveredOnce = (): boolean => {
      const byText = deliveriesByText(sim);
      return jobs.every((j) => (byText.get(j.text)?.length ?? 0) > 0);
    };
    await waitFor(deliveredOnce, { timeoutMs: 60_000, intervalMs: 100, what: "every message delivered" });
    const drainedAfterOutageMs = Date.now() - (outageStart + OUTAGE_MS);
    // Retries of messages whose answers were lost may still be on their way: let them settle.
    await until(async () => {
      const s = await rt.outbox.stats();
      return s.byState.queued + s.byState.sending === 0;
    }, { timeoutMs: 30_000, what: "an empty queue" });
    const finals: Job[] = [];
    for (const j of jobs) finals.push((await rt.outbox.waitForFinal(j.id)) as Job);

    // Every job delivered; none failed (no permanent / unreachable / attempts verdict).
    expect(finals.filter((j) => j.state !== "delivered").map((j) => ({ id: j.id, state: j.state, reason: j.failureReason, error: j.lastError }))).toEqual([]);
    expect(finals.flatMap((j) => j.history.filter((h) => h.outcome === "failed"))).toEqual([]);
    const stats = await rt.outbox.stats();
    expect(stats.byState.failed).toBe(0);

    // Exactly once, except where the emulator says an answer was lost after delivery; every
    // extra delivery of a message is within that job's own ambiguous count.
    const byText = deliveriesByText(sim);
    let duplicates = 0;
    let lostAnswerDeliveries = 0;
    const overCounted: string[] = [];
    for (const [k, j] of jobs.entries()) {
      const got = byText.get(j.text) ?? [];
      expect(got.every((m) => m.chatId === j.chatId)).toBe(true);
      const extra = got.length - 1;
      const lost = got.filter((m) => m.ambiguous).length;
      lostAnswerDeliveries += lost;
      duplicates += extra;
      if (extra > lost || extra > (finals[k] as Job).ambiguousAttempts) overCounted.push(`${j.text}: ${got.length} deliveries, ${lost} with a lost answer, ${(finals[k] as Job).ambiguousAttempts} ambiguous attempts counted`);
    }
    expect(overCounted).toEqual([]);
    expect(duplicates).toBeLessThanOrEqual(stats.ambiguousAttempts);

    // Per-chat order of first deliveries is the enqueue order.
    for (const u of users) {
      const expected = jobs.filter((j) => j.chatId === u.id).map((j) => j.text);
      expect(firstOccurrencesOf(sim.record.to(u.id).map((m) => m.text ?? "")), `order in chat ${u.id}`).toEqual(expected);
    }
    expect(emulator.internalErrors).toEqual([]);

    const injected = emulator.faults.injected();
    const sendCalls = (answers.calls.get("sendmessage") ?? 0) + (answers.calls.get("sendphoto") ?? 0);
    const failedCalls = injected.reset + injected.hang + injected["server-error"] + injected.flood + injected.ambiguous;
    const attempts = finals.reduce((s, j) => s + j.attempts, 0);
    console.log(JSON.stringify({
      e2e: "outbox-faults", messages: jobs.length, chats: CHATS, photos: jobs.filter((j) => j.photo).length,
      delivered: finals.filter((j) => j.state === "delivered").length, failed: stats.byState.failed,
      send_calls: sendCalls, failed_calls: failedCalls, failed_share: Math.round((failedCalls / sendCalls) * 1000) / 1000,
      attempts_refused_by_outage: attempts - sendCalls, attempts, max_attempts_of_a_job: Math.max(...finals.map((j) => j.attempts)),
      injected, responses_429: answers.responses429, limit_429: answers.limit429(),
      duplicates, lost_answer_deliveries: lostAnswerDeliveries, ambiguous_counted: stats.ambiguousAttempts,
      outage_ms: OUTAGE_MS, delivered_during_outage: duringOutage, drained_after_outage_ms: drainedAfterOutageMs, duration_ms: Date.now() - t0,
    }));
    answers.stop();
    await world.close();
  }, OUTAGE_MS + 120_000);

  it.concurrent("keeps per-chat order under retries: 20 messages to one chat, every other attempt answered 502", async () => {
    const world = await startOutboxWorld({
      emulator: { seed: 5, limits: false },
      runtime: { outbox: { idleMs: 20, limits: { perChat: { perSecond: 50, burst: 5 } }, defaults: { attempts: 10, backoff: { baseMs: 30, maxMs: 200, jitter: 0.5 } } } },
    });
    worlds.push(world);
    const { emulator, sim, rt } = world;
    const alice = emulator.createUser({ firstName: "Alice" });
    // onCall runs before the fault plan decides: arm a one-shot 502 for every other call.
    let calls = 0;
    emulator.onCall((call) => {
      if (call.method.toLowerCase() !== "sendmessage") return;
      if (calls++ % 2 === 0) emulator.faults.add({ fault: { kind: "server-error", status: 502 }, times: 1, methods: ["sendMessage"] });
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(...(await rt.outbox.sendText(alice.id, `in order ${i}`)));
    const finals = await Promise.all(ids.map((id) => rt.outbox.waitForFinal(id)));
    expect(finals.map((j) => j.state)).toEqual(ids.map(() => "delivered"));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(ids.map((_, i) => `in order ${i}`));
    // Half the calls failed: every message needed its 502 first.
    expect(finals.every((j) => j.attempts === 2 && j.history[0]?.code === 502)).toBe(true);
    expect(calls).toBe(40);
    await world.close();
  }, 30_000);
});
