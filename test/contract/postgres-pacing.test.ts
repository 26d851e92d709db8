/**
 * Pacing shared by every process of a bot on PostgreSQL (src/outbound/shared-pacer.ts,
 * src/store/postgres/pacing.ts): two pacers on two stores (two pools, as two processes) take
 * their slots from one set of buckets. The granted slots are replayed through the emulator's
 * own rate limiter (Telegram's limits as the emulator enforces them) and counted per window.
 */
import { describe, expect, it } from "vitest";
import { RateLimiter, DEFAULT_RATE_LIMITS } from "../../src/emulator/rate-limits.js";
import { Pacer, type PacingKey, type SendPacer } from "../../src/outbound/pacing.js";
import { SharedPacer } from "../../src/outbound/shared-pacer.js";
import { openStore, type PacingStore, type Store } from "../../src/store/index.js";
import type { PostgresStore } from "../../src/store/postgres/index.js";
import { isGroupChatId } from "../../src/telegram/limits.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";

const db = usePgDatabase();

interface Granted {
  readonly at: number;
  readonly chatId: number;
  readonly pacer: number;
}

/** A fake clock both pacers read; it only moves between rounds. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

/** A deterministic random source (the sim must be repeatable). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/**
 * Two senders, each with a backlog of sends to 200 private chats and (a fifth of them) 4 groups, ask for slots
 * every 50 ms of the fake clock for `seconds`.
 */
async function simulate(pacers: readonly SendPacer[], clock: { now: () => number; advance: (ms: number) => void }, seconds: number): Promise<Granted[]> {
  const next = random(7);
  const privates = Array.from({ length: 200 }, (_, i) => 1000 + i);
  const groups = [-1, -2, -3, -4];
  const pick = (): number => (next() < 0.2 ? groups[Math.floor(next() * groups.length)] : privates[Math.floor(next() * privates.length)]) ?? 1000;
  const backlogs: PacingKey[][] = pacers.map(() => []);
  const granted: Granted[] = [];
  for (let round = 0; round < (seconds * 1000) / 50; round++) {
    for (const backlog of backlogs) {
      while (backlog.length < 20) backlog.push({ chatId: pick(), paidBroadcast: false });
    }
    await Promise.all(pacers.map(async (pacer, p) => {
      const backlog = backlogs[p] ?? [];
      const asking = backlog.splice(0, Math.max(1, Math.min(backlog.length, pacer.globalCapacity())));
      const slots = await pacer.reserveMany(asking);
      slots.forEach((slot, i) => {
        const key = asking[i] as PacingKey;
        if (slot.ok) granted.push({ at: clock.now() + slot.delayMs, chatId: key.chatId as number, pacer: p });
        // Refused: deferred (a group's window is often full); private chats are asked again.
        else if (!isGroupChatId(key.chatId)) backlog.push(key);
      });
    }));
    clock.advance(50);
  }
  return granted.sort((a, b) => a.at - b.at);
}

/** 429s the emulator would have answered to these sends (its limiter, replayed on their times). */
function responses429(granted: readonly Granted[]): number {
  let t = 0;
  const limiter = new RateLimiter(DEFAULT_RATE_LIMITS, () => t);
  let refused = 0;
  for (const g of granted) {
    t = g.at;
    try {
      limiter.acquire({ chatId: g.chatId, isGroup: isGroupChatId(g.chatId), paidBroadcast: false });
    } catch {
      refused++;
    }
  }
  return refused;
}

/** The most sends in any half-open window [t, t + windowMs) among `times` (sorted). */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[start] ?? 0) <= (times[end] ?? 0) - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

function byChat(granted: readonly Granted[]): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const g of granted) map.set(g.chatId, [...(map.get(g.chatId) ?? []), g.at]);
  return map;
}

/** Counts the store's reservation calls (round trips). */
function counting(store: PacingStore): PacingStore & { calls: number } {
  const counted = {
    calls: 0,
    reserve: (...args: Parameters<PacingStore["reserve"]>) => { counted.calls++; return store.reserve(...args); },
    penalize: (...args: Parameters<PacingStore["penalize"]>) => store.penalize(...args),
  };
  return counted;
}

/** Waits until the fire-and-forget penalty write is in the table. */
async function recorded(store: Store, sql: string): Promise<void> {
  const database = (store as PostgresStore).database;
  await until(async () => (await database.single(`test`, sql.replace(/(pacing_\w+)/, `${database.schema}.$1`))).length > 0, 5_000, "the penalty recorded");
}

async function twoStores(): Promise<[Store, Store]> {
  const schema = db.freshSchema();
  const a = await openStore({ url: db.url(), schema, poolSize: 2 });
  const b = await openStore({ url: db.url(), schema, poolSize: 2 });
  return [a, b];
}

describe("shared pacing on PostgreSQL", () => {
  it("two pacers on two pools together keep 30/s, ~1/s per chat and 20/min per group: 0 × 429 from the emulator's limiter", async () => {
    const [a, b] = await twoStores();
    try {
      const clock = fakeClock();
      const pacers = [a, b].map((s) => new SharedPacer({ store: s.pacing!, now: clock.now }));
      const seconds = 65;
      const granted = await simulate(pacers, clock, seconds);
      // Both got slots, and together they used the bot's rate (not twice it, not half).
      const first = granted.filter((g) => g.pacer === 0).length;
      expect(first).toBeGreaterThan(granted.length / 4);
      expect(granted.length - first).toBeGreaterThan(granted.length / 4);
      expect(granted.length).toBeGreaterThan(0.97 * 30 * seconds);
      expect(granted.length).toBeLessThanOrEqual(30 * seconds + 30 + 5);
      const times = granted.map((g) => g.at);
      // 30/s sustained, a burst of at most 5 on top.
      expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(35);
      expect(maxInWindow(times, 10_000)).toBeLessThanOrEqual(305);
      for (const [chatId, at] of byChat(granted)) {
        expect(maxInWindow(at, 1000), `chat ${chatId}`).toBeLessThanOrEqual(2);
        if (chatId < 0) expect(maxInWindow(at, 60_000), `group ${chatId}`).toBeLessThanOrEqual(20);
      }
      // Groups did get their 20 per minute (the window is used, not starved).
      expect(Math.max(...[-1, -2, -3, -4].map((g) => maxInWindow(byChat(granted).get(g) ?? [], 61_000)))).toBe(20);
      expect(responses429(granted)).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);

  it("the same two senders pacing in memory each (as before) would have been answered 429 (the check above can fail)", async () => {
    const clock = fakeClock();
    const pacers = [new Pacer({ now: clock.now }), new Pacer({ now: clock.now })];
    const granted = await simulate(pacers, clock, 10);
    expect(maxInWindow(granted.map((g) => g.at), 1000)).toBeGreaterThan(35);
    expect(responses429(granted)).toBeGreaterThan(0);
  });

  it("a 429's retry_after recorded by one pacer is obeyed by the other, for the bot and for one chat", async () => {
    const [a, b] = await twoStores();
    try {
      const clock = fakeClock();
      const one = new SharedPacer({ store: a.pacing!, now: clock.now });
      const two = new SharedPacer({ store: b.pacing!, now: clock.now });
      one.penalize(7, 3_000);
      await recorded(a, "SELECT 1 FROM pacing_chats WHERE chat_key = '7' AND penalty_until > 0");
      const [toSeven, toEight] = await two.reserveMany([{ chatId: 7, paidBroadcast: false }, { chatId: 8, paidBroadcast: false }]);
      expect(toSeven).toEqual({ ok: false, waitMs: 3_000 });
      expect(toEight).toEqual({ ok: true, delayMs: 0 });
      one.penalize("global", 5_000);
      await recorded(a, "SELECT 1 FROM pacing_bot WHERE penalty_until > 0");
      const [later] = await two.reserveMany([{ chatId: 9, paidBroadcast: false }]);
      expect(later).toEqual({ ok: false, waitMs: 5_000 });
      // The other pacer now knows too: it claims nothing until the penalty is over.
      expect(two.globalCapacity()).toBe(0);
      clock.advance(5_000);
      const [after] = await two.reserveMany([{ chatId: 9, paidBroadcast: false }]);
      expect(after).toEqual({ ok: true, delayMs: 0 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("asks the store once for all the reservations of one turn of the event loop", async () => {
    const [a, b] = await twoStores();
    try {
      const store = counting(a.pacing!);
      const pacer = new SharedPacer({ store, horizonMs: 2_000 });
      const keys = (n: number, base: number): PacingKey[] => Array.from({ length: n }, (_, i) => ({ chatId: base + i, paidBroadcast: false }));
      const answers = await Promise.all([pacer.reserveMany(keys(10, 100)), pacer.reserveMany(keys(10, 200)), pacer.reserveMany(keys(1, 300))]);
      expect(store.calls).toBe(1);
      expect(answers.map((s) => s.length)).toEqual([10, 10, 1]);
      // 21 sends at 30/s, burst 5: every one fits in 2 s, spread ~33 ms apart after the burst.
      const delays = answers.flat().map((s) => (s.ok ? s.delayMs : -1));
      expect(delays.every((d) => d >= 0 && d <= 2_000)).toBe(true);
      expect(Math.max(...delays)).toBeGreaterThanOrEqual(450);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("grants nothing while the store cannot be asked (a closed store): sends wait, none goes unpaced", async () => {
    const [a, b] = await twoStores();
    await b.close();
    const pacer = new SharedPacer({ store: a.pacing! });
    await a.close();
    const slots = await pacer.reserveMany([{ chatId: 1, paidBroadcast: false }]);
    expect(slots).toEqual([{ ok: false, waitMs: 1_000 }]);
    expect(pacer.globalCapacity()).toBe(0);
  });
});
