import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS, RateLimiter } from "../emulator/rate-limits.js";
import { isGroupChatId } from "../telegram/limits.js";
import { Pacer, type PacingKey } from "./pacing.js";

/** A fake clock both the pacer and the emulator's limiter read. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

/**
 * Sends `keys` in order as a delivery loop would: reserve, and on refusal sleep exactly the
 * wait the pacer gave. Every reserved send is replayed against the emulator's own limiter at
 * the same instant. Returns send times and the emulator's refusals.
 */
function simulate(keys: readonly PacingKey[], pacer: Pacer, clock: ReturnType<typeof fakeClock>) {
  const emulator = new RateLimiter(DEFAULT_RATE_LIMITS, clock.now);
  const times: number[] = [];
  let refusals = 0;
  let spins = 0;
  for (const key of keys) {
    for (;;) {
      const r = pacer.reserve(key);
      if (r.ok) break;
      expect(r.waitMs).toBeGreaterThan(0);
      clock.advance(r.waitMs);
      if (++spins > keys.length * 10) throw new Error("the pacer never lets a send through");
    }
    times.push(clock.now());
    try {
      emulator.acquire({ chatId: Number(key.chatId), isGroup: isGroupChatId(key.chatId), paidBroadcast: key.paidBroadcast });
    } catch {
      refusals++;
    }
  }
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? 0;
  return { times, refusals, elapsedMs: last - first };
}

describe("Pacer", () => {
  it("broadcasts to 3,000 chats at >= 97% of 30/s with zero emulator refusals", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys = Array.from({ length: 3000 }, (_, i) => ({ chatId: 1000 + i, paidBroadcast: false }));
    const { refusals, elapsedMs } = simulate(keys, pacer, clock);
    expect(refusals).toBe(0);
    // n sends span n-1 intervals; the limit allows one per 1/30 s.
    const utilization = (keys.length - 1) / (elapsedMs / 1000) / 30;
    expect(utilization).toBeGreaterThanOrEqual(0.97);
    expect(utilization).toBeLessThanOrEqual(1.01);
    expect(pacer.trackedChats).toBeLessThan(3000); // idle chats are forgotten
  });

  it("forgets an idle chat only after 10 s without a send (not each time its bucket is full again)", () => {
    const clock = fakeClock();
    const huge = { perSecond: 1e9, burst: 1e6 };
    const pacer = new Pacer({ now: clock.now, limits: { global: huge, paidBroadcast: huge, perChat: huge } });
    // 2,048 reservations for 1,000 chats in 2 s: two prune passes, every bucket full again.
    for (let i = 0; i < 2048; i++) {
      expect(pacer.reserve({ chatId: 1 + (i % 1000), paidBroadcast: false }).ok).toBe(true);
      if (i % 1000 === 999) clock.advance(1000);
    }
    expect(pacer.trackedChats).toBe(1000);
    clock.advance(10_000);
    for (let i = 0; i < 1024; i++) pacer.reserve({ chatId: 5000, paidBroadcast: false });
    expect(pacer.trackedChats).toBe(1);
  });

  it("paces a paid broadcast at 1000/s without refusals", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys = Array.from({ length: 5000 }, (_, i) => ({ chatId: 1 + i, paidBroadcast: true }));
    const { refusals, elapsedMs } = simulate(keys, pacer, clock);
    expect(refusals).toBe(0);
    expect((keys.length - 1) / (elapsedMs / 1000) / 1000).toBeGreaterThanOrEqual(0.97);
  });

  it("sends 100 messages to one private chat at ~1/s without refusals", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys = Array.from({ length: 100 }, () => ({ chatId: 42, paidBroadcast: false }));
    const { refusals, elapsedMs, times } = simulate(keys, pacer, clock);
    expect(refusals).toBe(0);
    expect(times[1]).toBe(times[0]); // a small burst: a second reply goes at once
    expect(elapsedMs).toBeGreaterThanOrEqual(97_000);
    expect(elapsedMs).toBeLessThanOrEqual(99_000);
  });

  it("sends 100 messages to one group within 20 per minute without refusals", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys = Array.from({ length: 100 }, () => ({ chatId: -100200, paidBroadcast: false }));
    const { refusals, times } = simulate(keys, pacer, clock);
    expect(refusals).toBe(0);
    // Never more than 20 in any 60 s window, and not much slower than 20 per minute.
    for (let i = 20; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 20] ?? 0)).toBeGreaterThanOrEqual(60_000);
    expect(((times[99] ?? 0) - (times[0] ?? 0)) / 60_000).toBeLessThan(5.2);
  });

  it("mixes a broadcast with chatty chats and groups without refusals", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys: PacingKey[] = [];
    for (let i = 0; i < 2000; i++) {
      keys.push({ chatId: i % 7 === 0 ? 5 : i % 11 === 0 ? -77 : 10_000 + i, paidBroadcast: false });
    }
    // The sender waits for the head job; chats are a per-chat FIFO, so a blocked chat blocks only itself
    // in the real loop, but even strictly in order nothing may be refused.
    expect(simulate(keys, pacer, clock).refusals).toBe(0);
  });

  it("tolerates 500 ms of network jitter between leaving and arriving", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    const keys: PacingKey[] = Array.from({ length: 3000 }, (_, i) => ({ chatId: i % 5 === 0 ? 7 : i % 9 === 0 ? -9 : 100 + i, paidBroadcast: false }));
    const { times } = simulate(keys, pacer, clock);
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const arrivals = times.map((t, i) => ({ at: t + Math.floor(random() * 500), key: keys[i] as PacingKey })).sort((a, b) => a.at - b.at);
    let t = 0;
    const emulator = new RateLimiter(DEFAULT_RATE_LIMITS, () => t);
    let refusals = 0;
    for (const a of arrivals) {
      t = a.at;
      try { emulator.acquire({ chatId: Number(a.key.chatId), isGroup: isGroupChatId(a.key.chatId), paidBroadcast: false }); } catch { refusals++; }
    }
    expect(refusals).toBe(0);
  });

  it("refuses without taking anything", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    expect(pacer.reserve({ chatId: 1, paidBroadcast: false })).toEqual({ ok: true });
    expect(pacer.reserve({ chatId: 1, paidBroadcast: false })).toEqual({ ok: true });
    const refused = pacer.reserve({ chatId: 1, paidBroadcast: false });
    expect(refused).toEqual({ ok: false, waitMs: 1000 });
    // The global bucket was not charged by the refusal: 3 more chats fit in the burst of 5.
    for (const chatId of [2, 3, 4]) expect(pacer.reserve({ chatId, paidBroadcast: false }).ok).toBe(true);
    expect(pacer.reserve({ chatId: 9, paidBroadcast: false }).ok).toBe(false);
    expect(pacer.waitMs({ chatId: 9, paidBroadcast: false })).toBe(34);
    expect(pacer.nextReadyInMs()).toBe(34);
    expect(pacer.globalCapacity()).toBe(0);
    clock.advance(1000);
    expect(pacer.globalCapacity()).toBe(5);
    expect(pacer.globalCapacity(true)).toBe(50);
    pacer.penalize("global", 10);
    expect(pacer.globalCapacity()).toBe(0);
  });

  it("treats 42, '42' and @Name / @name as the same chat", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    pacer.reserve({ chatId: 42, paidBroadcast: false });
    pacer.reserve({ chatId: "42", paidBroadcast: false });
    expect(pacer.reserve({ chatId: 42, paidBroadcast: false }).ok).toBe(false);
    pacer.penalize("@Chan", 5000);
    expect(pacer.waitMs({ chatId: "@chan", paidBroadcast: false })).toBe(5000);
  });

  it("penalizes one chat for a chat-scoped 429", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    pacer.penalize(42, 9000);
    expect(pacer.reserve({ chatId: 42, paidBroadcast: false })).toEqual({ ok: false, waitMs: 9000 });
    expect(pacer.reserve({ chatId: 43, paidBroadcast: false }).ok).toBe(true);
    clock.advance(9000);
    expect(pacer.reserve({ chatId: 42, paidBroadcast: false }).ok).toBe(true);
  });

  it("penalizes everything for a global 429, paid broadcasts included", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    pacer.penalize("global", 3000);
    expect(pacer.reserve({ chatId: 1, paidBroadcast: false })).toEqual({ ok: false, waitMs: 3000 });
    expect(pacer.reserve({ chatId: 1, paidBroadcast: true })).toEqual({ ok: false, waitMs: 3000 });
    expect(pacer.nextReadyInMs()).toBe(3000);
    pacer.penalize("global", 1000); // a shorter penalty never shortens a longer one
    clock.advance(3000);
    expect(pacer.reserve({ chatId: 1, paidBroadcast: false }).ok).toBe(true);
  });

  it("escalates to a global slowdown when several chats get 429 at once", () => {
    const clock = fakeClock();
    const pacer = new Pacer({ now: clock.now });
    pacer.penalize(1, 2000);
    pacer.penalize(2, 2000);
    expect(pacer.nextReadyInMs()).toBe(0);
    pacer.penalize(3, 4000);
    expect(pacer.nextReadyInMs()).toBe(4000);
    expect(new Pacer({ now: clock.now, escalateAfterChats: 0 }).nextReadyInMs()).toBe(0);
  });

  it("rejects impossible limits with a clear error", () => {
    expect(() => new Pacer({ limits: { global: { perSecond: 0, burst: 1 } } })).toThrow(/global needs perSecond > 0/);
    expect(() => new Pacer({ limits: { group: { limit: 0, windowMs: 1 } } })).toThrow(/group needs limit >= 1/);
  });
});
