import { describe, expect, it } from "vitest";
import type { NewJob } from "../outbound/types.js";
import { openStore, type Store } from "../store/index.js";
import { traceChat, traceUpdate } from "./build.js";

const T = 1_800_000_000_000;
const BOT = 99;
const msg = (id: number, chat: number) => ({ update_id: id, message: { message_id: id, date: Math.floor(T / 1000), chat: { id: chat, type: "private" as const }, from: { id: chat }, text: "hi" } });
const job = (id: string, chat: number, key: string | null): NewJob => ({
  id, method: "sendMessage", chatId: chat, payload: JSON.stringify({ chat_id: chat, text: "re" }), priority: "normal", maxAttempts: 3,
  backoff: { baseMs: 10, maxMs: 10, jitter: 0 }, timeoutMs: 1_000, notBefore: T, deadline: null, idempotencyKey: key, fingerprint: "f",
  metadata: null, sensitive: false, broadcastId: null, blobs: [], paidBroadcast: false,
});

async function storeWith(...updates: number[]): Promise<Store> {
  const store = await openStore({ path: ":memory:" });
  await store.state.bindBot(BOT);
  if (updates.length > 0) await store.inbox.ingest(updates.map((u) => msg(u, u * 10)), { now: T });
  return store;
}

async function handle(store: Store, outcome: "done" | "retry", now = T + 10): Promise<void> {
  const [got] = await store.inbox.claim({ owner: "w", leaseMs: 1_000, limit: 1, now });
  await store.inbox.settle(got!.claim, outcome === "done" ? { kind: "done" } : { kind: "retry", at: now + 60_000, error: "boom" }, { now: now + 5 });
}

describe("the verdict of a trace", () => {
  it("waiting, failed and waiting for a retry, running, its lease run out", async () => {
    let store = await storeWith(1);
    expect((await traceUpdate(store, 1, T + 2_000)).verdict).toMatch(/^not yet: waiting 2 s to be handled/);
    await handle(store, "retry");
    expect((await traceUpdate(store, 1, T + 1_000)).verdict).toMatch(/^not yet: the handler failed \(boom\) and the update waits for its retry in 59 s/);
    await store.close();
    store = await storeWith(1);
    await store.inbox.claim({ owner: "w", leaseMs: 1_000, limit: 1, now: T });
    expect((await traceUpdate(store, 1, T + 500)).verdict).toBe("not yet: the handler has been running for 500 ms");
    expect((await traceUpdate(store, 1, T + 5_000)).verdict).toMatch(/its lease ran out/);
    await store.close();
  });

  it("handled with nothing sent, a send still queued, a send failed for good, replied", async () => {
    const store = await storeWith(1, 2, 3, 4);
    for (let i = 0; i < 4; i++) await handle(store, "done", T + 10 + i);
    await store.outbox.enqueue([job("a", 20, `${BOT}:2:0:sendMessage`), job("b", 30, `${BOT}:3:0:sendMessage`), job("c", 40, `${BOT}:4:catch:0:sendMessage`), job("x", 40, null)], { now: T });
    const claimed = await store.outbox.claim({ owner: "loop", leaseMs: 1_000, limit: 10, now: T + 100 });
    for (const j of claimed) {
      if (j.id === "b") await store.outbox.settle(j.claim, { kind: "failed", reason: "permanent", error: "Forbidden: bot was blocked by the user", code: 403 }, { now: T + 110 });
      if (j.id === "c") await store.outbox.settle(j.claim, { kind: "delivered", result: "{}", messageId: 7 }, { now: T + 120 });
    }
    expect((await traceUpdate(store, 1, T + 200)).verdict).toBe("handled, but its handlers sent nothing through unlost (no job under its keys)");
    expect((await traceUpdate(store, 2, T + 200)).verdict).toMatch(/^handled; 1 send is still in the outbox/);
    expect((await traceUpdate(store, 3, T + 200)).verdict).toBe("handled; 1 of its 1 send failed for good: Forbidden: bot was blocked by the user");
    const four = await traceUpdate(store, 4, T + 200);
    expect(four.verdict).toMatch(/^replied: 1 send delivered/); // the error handler's sends count (key …:catch:…)
    expect(four.problem).toBe(false);
    // The chat's trace: update 4 and the send made outside any handler.
    const chat = await traceChat(store, { chatId: "40" }, T + 200);
    expect(chat.updates.map((u) => u.updateId)).toEqual([4]);
    expect(chat.otherSends.map((s) => s.jobId)).toEqual(["x"]);
    expect(chat.verdict).toBe("its last update was answered");
    await store.close();
  });

  it("an update in an open polling batch, and one the store has no record of", async () => {
    const store = await storeWith();
    await store.inbox.journal!.append([msg(5, 50)], { owner: "poller-1", nextOffset: 6, now: T });
    const open = await traceUpdate(store, 5, T + 3_000);
    expect(open).toMatchObject({ found: true, state: "journal", chatKey: "50", problem: true });
    expect(open.verdict).toBe("not yet: in an open polling batch for 3 s (handled by poller-1 on the fast path)");
    const none = await traceUpdate(store, 6, T);
    expect(none).toMatchObject({ found: false, problem: true, events: [] });
    expect(none.verdict).toMatch(/^not in the inbox/);
    await store.close();
  });
});
