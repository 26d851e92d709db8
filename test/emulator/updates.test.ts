import type { Update } from "grammy/types";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createEmulator } from "../../src/emulator/index.js";
import { sleep, startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

const ids = (updates: Update[]): number[] => updates.map((u) => u.update_id);

describe("getUpdates", () => {
  it("confirms updates below the offset when the call arrives, even if it is then aborted while long polling", async () => {
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "one");
    alice.sendText(h.bot, "two");
    alice.sendText(h.bot, "three");
    const all = await h.ok<Update[]>("getUpdates");
    expect(all).toHaveLength(3);
    // Offset past everything, long poll, abort: the three are confirmed nevertheless.
    const controller = new AbortController();
    const pending = h.call("getUpdates", { offset: all[2]!.update_id + 1, timeout: 20 }, { signal: controller.signal }).catch((e: unknown) => e);
    await sleep(100);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    expect(await h.ok<Update[]>("getUpdates")).toEqual([]);
    expect(h.bot.updates.count()).toBe(0);
  });

  it("keeps unconfirmed updates and redelivers them until confirmed", async () => {
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "a");
    alice.sendText(h.bot, "b");
    const first = await h.ok<Update[]>("getUpdates");
    const again = await h.ok<Update[]>("getUpdates");
    expect(ids(again)).toEqual(ids(first));
    const rest = await h.ok<Update[]>("getUpdates", { offset: first[0]!.update_id + 1 });
    expect(ids(rest)).toEqual([first[1]!.update_id]);
  });

  it("treats a negative offset as 'the last -offset updates' and forgets the rest", async () => {
    const alice = h.emulator.createUser();
    for (let i = 0; i < 5; i++) alice.sendText(h.bot, `m${i}`);
    const all = h.bot.updateLog.map((u) => u.update_id);
    expect(ids(await h.ok<Update[]>("getUpdates", { offset: -2 }))).toEqual(all.slice(3));
    expect(ids(await h.ok<Update[]>("getUpdates"))).toEqual(all.slice(3));
  });

  it("returns at most `limit` updates, 1–100, default 100", async () => {
    const alice = h.emulator.createUser();
    for (let i = 0; i < 150; i++) alice.sendText(h.bot, `m${i}`);
    expect(await h.ok<Update[]>("getUpdates", { limit: 1 })).toHaveLength(1);
    expect(await h.ok<Update[]>("getUpdates", { limit: 37 })).toHaveLength(37);
    expect(await h.ok<Update[]>("getUpdates")).toHaveLength(100);
    expect(await h.ok<Update[]>("getUpdates", { limit: 1000 })).toHaveLength(100);
    expect(await h.ok<Update[]>("getUpdates", { limit: 0 })).toHaveLength(1);
  });

  it("long polls and answers as soon as an update arrives", async () => {
    const alice = h.emulator.createUser();
    const started = Date.now();
    const poll = h.ok<Update[]>("getUpdates", { timeout: 20 });
    await sleep(150);
    alice.sendText(h.bot, "wake up");
    const updates = await poll;
    expect(updates).toHaveLength(1);
    expect(updates[0]?.message?.text).toBe("wake up");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("answers an empty list when the long poll times out", async () => {
    const started = Date.now();
    expect(await h.ok<Update[]>("getUpdates", { timeout: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("caps the long-poll timeout at 50 seconds", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const emulator = createEmulator({ limits: false });
      const bot = emulator.createBot();
      let done = false;
      const outcome = emulator.handle({ token: bot.token, method: "getUpdates", params: { timeout: 600 } }).then((o) => {
        done = true;
        return o;
      });
      await vi.advanceTimersByTimeAsync(49_900);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(200);
      expect(done).toBe(true);
      expect(await outcome).toEqual({ kind: "answer", status: 200, body: { ok: true, result: [] } });
    } finally {
      vi.useRealTimers();
    }
  });

  it("remembers allowed_updates and applies them when an update is created", async () => {
    const alice = h.emulator.createUser();
    await h.ok("getUpdates", { allowed_updates: ["callback_query"] });
    alice.sendText(h.bot, "not allowed when created");
    // Omitting allowed_updates keeps the previous setting.
    expect(await h.ok<Update[]>("getUpdates")).toEqual([]);
    alice.sendText(h.bot, "still not allowed");
    // Allowing messages later does not resurrect messages created while they were excluded.
    await h.ok("getUpdates", { allowed_updates: ["message"] });
    expect(await h.ok<Update[]>("getUpdates")).toEqual([]);
    alice.sendText(h.bot, "allowed");
    const updates = await h.ok<Update[]>("getUpdates");
    expect(updates.map((u) => u.message?.text)).toEqual(["allowed"]);
    // An empty list restores Telegram's default set.
    await h.ok("getUpdates", { allowed_updates: [] });
    expect(h.bot.allowedUpdates).toBeUndefined();
  });

  it("keeps an update 24 hours counted from the message's date, not from when it was queued", async () => {
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "old");
    h.emulator.clock.advance(12 * 3600_000);
    alice.sendText(h.bot, "newer");
    h.emulator.clock.advance(12 * 3600_000 - 5_000);
    expect((await h.ok<Update[]>("getUpdates")).map((u) => u.message?.text)).toEqual(["old", "newer"]);
    h.emulator.clock.advance(10_000);
    expect((await h.ok<Update[]>("getUpdates")).map((u) => u.message?.text)).toEqual(["newer"]);
    expect((await h.ok<{ pending_update_count: number }>("getWebhookInfo")).pending_update_count).toBe(1);
    h.emulator.clock.advance(12 * 3600_000);
    expect(await h.ok<Update[]>("getUpdates")).toEqual([]);
  });

  it("terminates a waiting poll with 409 when a second poller calls getUpdates", async () => {
    const first = h.call("getUpdates", { timeout: 20 });
    await sleep(100);
    const second = h.call("getUpdates", { timeout: 0 });
    const a = await first;
    expect(a.status).toBe(409);
    expect(a.body).toEqual({
      ok: false,
      error_code: 409,
      description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    });
    expect((await second).status).toBe(200);
  });

  it("refuses getUpdates with 409 while a webhook is set", async () => {
    await h.ok("setWebhook", { url: "http://127.0.0.1:9/hook" });
    const answer = await h.call("getUpdates");
    expect(answer.status).toBe(409);
    expect(answer.body.description).toBe(
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    );
  });

  it("numbers updates consecutively, and jumps after a week without updates", async () => {
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "a");
    alice.sendText(h.bot, "b");
    h.emulator.clock.advance(8 * 24 * 3600_000);
    alice.sendText(h.bot, "c");
    const [a, b, c] = h.bot.updateLog.map((u) => u.update_id) as [number, number, number];
    expect(b).toBe(a + 1);
    expect(c).toBeGreaterThan(b + 1);
  });

  it("accepts parameters as a query string, a form, JSON and multipart alike", async () => {
    const alice = h.emulator.createUser();
    for (let i = 0; i < 4; i++) alice.sendText(h.bot, `m${i}`);
    for (const encoding of ["query", "form", "json", "multipart"] as const) {
      const updates = await h.ok<Update[]>("getUpdates", { limit: 2, timeout: 0 }, { encoding });
      expect(updates).toHaveLength(2);
    }
  });
});
