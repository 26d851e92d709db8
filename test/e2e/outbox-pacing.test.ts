/**
 * Steady pacing under the emulator's real flood limits (30/s per bot, ~1/s per private chat
 * with a burst of 3, 20 per minute per group): a 300-chat broadcast, 10 messages to one private
 * chat and 25 to one group, all enqueued at once. The emulator answers no 429 at all, every
 * message is sent with exactly one request, the bot runs close to 30 messages/s during the
 * broadcast (where the global limit is the bottleneck), and the group's 21st message waits for the minute window.
 *
 * About 65 s: the group's last 5 messages must wait for the 20-per-minute window.
 */
import { afterEach, describe, expect, it } from "vitest";
import { countAnswers, until } from "./helpers/outbox-probes.js";
import { startOutboxWorld, type OutboxWorld } from "./helpers/outbox-runtime.js";

let world: OutboxWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("the outbox's pacing under Telegram's real limits", () => {
  it("300 chats + 10 to one private chat + 25 to one group: zero 429, one request per message, ~30/s", async () => {
    const t0 = Date.now();
    world = await startOutboxWorld({ emulator: { seed: 3 }, runtime: { outbox: { idleMs: 20 } } });
    const { emulator, sim, rt } = world;
    const answers = countAnswers(emulator);
    const recipients = Array.from({ length: 300 }, (_, i) => emulator.createUser({ firstName: `P${i}` }));
    const alice = emulator.createUser({ firstName: "Alice" });
    const group = emulator.createGroup({ title: "Busy group", members: [alice], bots: [sim] });

    const groupIds: string[] = [];
    for (let i = 0; i < 25; i++) groupIds.push(...(await rt.outbox.sendText(group.id, `group ${i}`)));
    const privateIds: string[] = [];
    for (let i = 0; i < 10; i++) privateIds.push(...(await rt.outbox.sendText(alice.id, `private ${i}`)));
    const { broadcastId } = await rt.outbox.broadcast(recipients.map((r) => r.id), "sendMessage", { text: "steady news" });

    await until(async () => (await rt.outbox.broadcastProgress(broadcastId))?.remaining === 0, { timeoutMs: 30_000, what: "the broadcast" });
    await until(() => sim.record.to(group.id).length === 25, { timeoutMs: 90_000, intervalMs: 100, what: "the group's 25 messages" });
    const finals = await Promise.all([...groupIds, ...privateIds].map((id) => rt.outbox.waitForFinal(id)));
    expect(finals.every((j) => j.state === "delivered" && j.attempts === 1)).toBe(true);
    expect(await rt.outbox.broadcastProgress(broadcastId)).toMatchObject({ total: 300, delivered: 300, failed: 0 });

    // Zero 429 answers, and no request beyond one per message.
    expect(answers.responses429).toBe(0);
    expect(answers.calls.get("sendmessage")).toBe(335);
    expect(sim.record.size).toBe(335);

    // Order within the chats.
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `private ${i}`));
    expect(sim.record.to(group.id).map((m) => m.text)).toEqual(Array.from({ length: 25 }, (_, i) => `group ${i}`));

    // The rate while the global limit is the bottleneck: every delivery (all chats) between the
    // broadcast's first and last delivery.
    const times = sim.record.messages().map((m) => m.at).sort((a, b) => a - b);
    const broadcastTimes = recipients.map((r) => sim.record.to(r.id)[0]?.at as number).sort((a, b) => a - b);
    const from = broadcastTimes[0] as number;
    const to = broadcastTimes.at(-1) as number;
    const inWindow = times.filter((t) => t >= from && t <= to).length;
    const rate = (inWindow - 1) / ((to - from) / 1000);
    const broadcastRate = (broadcastTimes.length - 1) / ((to - from) / 1000);
    // The most sends that arrived within any one second (reported: unlost's bucket lets 30/s plus
    // a burst of 5 leave, and arrival jitter can bunch them; Telegram's bucket, like the
    // emulator's, holds 30 and refills continuously, which the zero 429s above confirm).
    let maxPerSecond = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 1000) j++;
      maxPerSecond = Math.max(maxPerSecond, i - j + 1);
    }
    expect(rate).toBeGreaterThan(28);
    // The group's 21st message waited for the minute window; the private chat kept ~1/s.
    const g = sim.record.to(group.id).map((m) => m.at);
    expect((g[20] as number) - (g[0] as number)).toBeGreaterThanOrEqual(60_000);
    const p = sim.record.to(alice.id).map((m) => m.at);
    expect((p[9] as number) - (p[0] as number)).toBeGreaterThanOrEqual(6_000);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "outbox-pacing", messages: sim.record.size, responses_429: answers.responses429,
      rate_per_s: Math.round(rate * 100) / 100, limit_utilization: Math.round((rate / 30) * 1000) / 1000, broadcast_rate_per_s: Math.round(broadcastRate * 100) / 100,
      max_in_any_second: maxPerSecond, private_10_span_ms: (p[9] as number) - (p[0] as number), group_21st_after_ms: (g[20] as number) - (g[0] as number),
      duration_ms: Date.now() - t0,
    }));
    answers.stop();
  }, 120_000);
});
