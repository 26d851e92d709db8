import type { Context } from "grammy";
import { describe, expect, it } from "vitest";
import { NOW } from "./__fixtures__/updates.js";
import { floodGuard, type FloodGuard } from "./flood-guard.js";

let nextId = 1;

/** A fake context: just what the guard reads (update, from, chat, and ctx.unlost when given). */
function fakeCtx(options: { userId?: number; chatId?: number; dateMs?: number | null; receivedAt?: number; unlost?: boolean; updateId?: number }): Context {
  const userId = options.userId ?? 7;
  const chatId = options.chatId ?? userId;
  const updateId = options.updateId ?? nextId++;
  const dateMs = options.dateMs === undefined ? NOW : options.dateMs;
  const update = dateMs === null
    ? { update_id: updateId, callback_query: { id: "q", from: { id: userId }, chat_instance: "c", data: "x" } }
    : { update_id: updateId, message: { message_id: updateId, date: Math.floor(dateMs / 1000), chat: { id: chatId, type: "private" }, from: { id: userId }, text: "hi" } };
  const ctx: Record<string, unknown> = { update, from: { id: userId, is_bot: false, first_name: "U" }, chat: { id: chatId, type: "private" } };
  if (options.unlost !== false) {
    ctx["unlost"] = { messageDate: dateMs === null ? null : Math.floor(dateMs / 1000) * 1000, receivedAt: options.receivedAt ?? NOW, arrivedWhileDown: false, ageMs: 0 };
  }
  return ctx as unknown as Context;
}

/** Runs the guard on each context; returns which ones reached `next`. */
async function run(guard: FloodGuard, ctxs: Context[]): Promise<boolean[]> {
  const passed: boolean[] = [];
  for (const ctx of ctxs) {
    let reached = false;
    await guard(ctx, async () => { reached = true; });
    passed.push(reached);
  }
  return passed;
}

describe("floodGuard", () => {
  it("lets a backlog through: 50 messages dated over 10 minutes, all arriving at once", async () => {
    const guard = floodGuard({ limit: 5, windowMs: 1_000, clock: () => NOW + 600_000 });
    const backlog = Array.from({ length: 50 }, (_, i) => fakeCtx({ dateMs: NOW + i * 12_000, receivedAt: NOW + 600_000 }));
    expect(await run(guard, backlog)).toEqual(Array(50).fill(true));
  });

  it("cuts a real burst by date: 50 messages within one second, limit 5", async () => {
    const dropped: Context[] = [];
    const guard = floodGuard({ limit: 5, windowMs: 1_000, clock: () => NOW, onLimitExceeded: (ctx) => { dropped.push(ctx); } });
    const burst = Array.from({ length: 50 }, () => fakeCtx({ dateMs: NOW }));
    const passed = await run(guard, burst);
    expect(passed.filter(Boolean)).toHaveLength(5);
    expect(passed.slice(0, 5)).toEqual(Array(5).fill(true));
    expect(dropped).toEqual(burst.slice(5));
  });

  it("lets the user go on once the window has passed by date", async () => {
    const guard = floodGuard({ limit: 2, windowMs: 1_000, clock: () => NOW });
    expect(await run(guard, [0, 0, 0, 1_000, 1_000, 1_500].map((d) => fakeCtx({ dateMs: NOW + d })))).toEqual([true, true, false, true, true, false]);
  });

  it("counts each user on their own, and honours keyOf", async () => {
    const guard = floodGuard({ limit: 2, windowMs: 1_000, clock: () => NOW });
    const mixed = [1, 2, 1, 2, 1, 2].map((userId) => fakeCtx({ userId }));
    expect(await run(guard, mixed)).toEqual([true, true, true, true, false, false]);
    expect(guard.trackedKeys()).toBe(2);

    // Per chat instead: two users in one group share its budget; undefined is not counted.
    const perChat = floodGuard<Context>({ limit: 2, windowMs: 1_000, clock: () => NOW, keyOf: (ctx) => ctx.chat?.id });
    expect(await run(perChat, [1, 2, 3].map((userId) => fakeCtx({ userId, chatId: -100 })))).toEqual([true, true, false]);
    const none = floodGuard({ limit: 1, windowMs: 1_000, keyOf: () => undefined });
    expect(await run(none, [fakeCtx({}), fakeCtx({})])).toEqual([true, true]);
    expect(none.trackedKeys()).toBe(0);
  });

  it("does not count a retried update twice", async () => {
    const guard = floodGuard({ limit: 1, windowMs: 1_000, clock: () => NOW });
    expect(await run(guard, [fakeCtx({ updateId: 500 }), fakeCtx({ updateId: 500 }), fakeCtx({ updateId: 501 })])).toEqual([true, true, false]);
  });

  it("falls back to arrival for updates without a date, and reads the update's date without ctx.unlost", async () => {
    let now = NOW;
    const guard = floodGuard({ limit: 1, windowMs: 1_000, clock: () => now });
    // Button presses: receivedAt decides.
    expect(await run(guard, [fakeCtx({ dateMs: null, receivedAt: NOW }), fakeCtx({ dateMs: null, receivedAt: NOW + 100 }), fakeCtx({ dateMs: null, receivedAt: NOW + 5_000 })])).toEqual([true, false, true]);
    // Outside unlost (plain bot.start()): the payload's date, or the clock when there is none.
    const plain = floodGuard({ limit: 1, windowMs: 1_000, clock: () => now });
    expect(await run(plain, [fakeCtx({ userId: 9, dateMs: NOW - 60_000, unlost: false }), fakeCtx({ userId: 9, dateMs: NOW, unlost: false })])).toEqual([true, true]);
    expect(await run(plain, [fakeCtx({ userId: 8, dateMs: null, unlost: false })])).toEqual([true]);
    now += 200;
    expect(await run(plain, [fakeCtx({ userId: 8, dateMs: null, unlost: false })])).toEqual([false]);
  });

  it("handles a backlog slightly out of date order (several chats of one user)", async () => {
    const guard = floodGuard({ limit: 2, windowMs: 1_000, clock: () => NOW });
    // Chat A's messages, then chat B's older ones in between: none are within a second of 2 others.
    expect(await run(guard, [0, 10_000, 20_000, 5_000, 15_000].map((d, i) => fakeCtx({ userId: 1, chatId: i < 3 ? 1 : 2, dateMs: NOW + d })))).toEqual(Array(5).fill(true));
    // An old-dated burst still counts as a burst.
    expect(await run(guard, [5_000, 5_000].map((d) => fakeCtx({ userId: 1, dateMs: NOW + d })))).toEqual([true, false]);
  });

  it("keeps memory bounded: at most maxKeys keys, idle keys forgotten, about 2 * limit dates per key", async () => {
    let now = NOW;
    const guard = floodGuard({ limit: 3, windowMs: 1_000, maxKeys: 100, clock: () => now });
    await run(guard, Array.from({ length: 1_000 }, (_, i) => fakeCtx({ userId: i + 1 })));
    expect(guard.trackedKeys()).toBe(100);
    // A window of the clock later, one update forgets every idle key.
    now += 1_000;
    await run(guard, [fakeCtx({ userId: 5_000 })]);
    expect(guard.trackedKeys()).toBe(1);
    // One user's long backlog (10 000 updates, one a second by date) all passes.
    const long = floodGuard({ limit: 3, windowMs: 1_000, clock: () => now });
    expect(await run(long, Array.from({ length: 10_000 }, (_, i) => fakeCtx({ userId: 1, dateMs: NOW + i * 1_000 })))).toEqual(Array(10_000).fill(true));
  });

  it("awaits onLimitExceeded, and its error fails the update", async () => {
    const guard = floodGuard({ limit: 1, windowMs: 1_000, clock: () => NOW, onLimitExceeded: async () => { await Promise.resolve(); throw new Error("reply failed"); } });
    await run(guard, [fakeCtx({})]);
    await expect(run(guard, [fakeCtx({})])).rejects.toThrow("reply failed");
  });

  it("rejects bad options", () => {
    expect(() => floodGuard({ limit: 0, windowMs: 1_000 })).toThrow(/limit must be an integer >= 1/);
    expect(() => floodGuard({ limit: 1, windowMs: 1.5 })).toThrow(/windowMs/);
    expect(() => floodGuard({ limit: 1, windowMs: 1, maxKeys: -1 })).toThrow(/maxKeys/);
  });
});
