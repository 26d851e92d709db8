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
    expect(open).toMatchObject({ via: "poll", pollOffset: 6, payload: JSON.stringify(msg(5, 50)) });
    const none = await traceUpdate(store, 6, T);
    expect(none).toMatchObject({ found: false, problem: true, events: [] });
    expect(none.verdict).toMatch(/^not in the store/);
    await store.close();
  });
});

describe("the full timeline of an update", () => {
  const texts = (t: { events: readonly { text: string }[] }): string[] => t.events.map((e) => e.text);
  const deliver = async (store: Store, id: string, chat: number, updateId: number, at: number): Promise<void> => {
    await store.outbox.enqueue([job(id, chat, `${BOT}:${updateId}:0:sendMessage`)], { now: at });
    const [claimed] = await store.outbox.claim({ owner: "loop", leaseMs: 1_000, limit: 1, now: at + 5 });
    await store.outbox.settle(claimed!.claim, { kind: "delivered", result: "{}", messageId: 70 + updateId }, { now: at + 10 });
  };

  it("(a) a polled update completed on the journal fast path: still told after its batch closed, until pruned", async () => {
    const store = await storeWith();
    const journal = store.inbox.journal!;
    const { batch } = await journal.append([msg(5, 50), msg(6, 60)], { owner: "poller-1", nextOffset: 7, now: T });
    // 6 is completed by a flush that leaves the batch open; 5 by the flush that closes it.
    await journal.complete({ owner: "poller-1", done: [{ batch, updateId: 6 }], now: T + 15 });
    await deliver(store, "j5", 50, 5, T + 20);
    await journal.complete({ owner: "poller-1", done: [{ batch, updateId: 5 }], closed: [batch], now: T + 40 });
    expect(await journal.stats()).toEqual({ openBatches: 0, open: 0, oldestOpenReceivedAt: null });

    const five = await traceUpdate(store, 5, T + 1_000);
    expect(five).toMatchObject({ found: true, state: "done", chatKey: "50", updateType: "message", via: "poll", pollOffset: 7, journalBatch: batch, problem: false, payload: JSON.stringify(msg(5, 50)) });
    expect(five.verdict).toMatch(/^replied: 1 send delivered/);
    expect(texts(five)).toEqual([
      "the user acted (message, chat 50)",
      `received from Telegram in poll batch ${batch} (it moved the offset to 7) and stored in the journal of poller-1 (the polling fast path) 0 ms later`,
      "handler try 1 on poller-1: completed (the fast path records no start or duration)",
      "sendMessage to 50 (job j5, normal) stored in the outbox",
      "send attempt 1: delivered",
      "delivered as message 75",
      "completed on the fast path 40 ms after it arrived (as recorded by poller-1's completion flush)",
    ]);
    expect(five.events.find((e) => e.kind === "completed")?.at).toBe(T + 40);
    const six = await traceUpdate(store, 6, T + 1_000);
    expect(six.events.find((e) => e.kind === "completed")?.at).toBe(T + 15);
    expect(six.verdict).toBe("handled on the polling fast path, but its handlers sent nothing through unlost (no job under its keys)");
    // A chat's trace finds the fast-path update through its send (it has no row to list).
    expect((await traceChat(store, { chatId: "50" }, T + 1_000)).updates.map((u) => [u.updateId, u.state])).toEqual([[5, "done"]]);

    // Pruned with done rows' retention: kept before it, gone after.
    await store.inbox.prune({ handledBefore: T + 40 });
    expect((await traceUpdate(store, 5, T + 1_000)).found).toBe(true);
    await store.inbox.prune({ handledBefore: T + 41 });
    expect((await traceUpdate(store, 5, T + 1_000))).toMatchObject({ found: false, journalBatch: null });
    await store.close();
  });

  it("(b) a webhook update, and a polled one stored as a row", async () => {
    const store = await storeWith();
    await store.inbox.ingest([msg(8, 80)], { now: T }); // a webhook delivery: no offset
    await store.inbox.ingest([msg(9, 90)], { now: T, nextOffset: 10 });
    for (let i = 0; i < 2; i++) await handle(store, "done", T + 10 + i);
    await deliver(store, "w8", 80, 8, T + 12);
    const hook = await traceUpdate(store, 8, T + 1_000);
    expect(hook).toMatchObject({ via: "webhook", pollOffset: null, journalBatch: null, state: "done", problem: false });
    expect(texts(hook)).toContain("received from Telegram by webhook and stored in the inbox 0 ms later");
    expect(hook.events.map((e) => e.kind).sort()).toEqual(["completed", "send-attempt", "send-delivered", "send-queued", "sent-by-user", "stored", "try"]);
    const polled = await traceUpdate(store, 9, T + 1_000);
    expect(polled).toMatchObject({ via: "poll", pollOffset: 10, journalBatch: null });
    expect(texts(polled)).toContain("received from Telegram in the poll batch that moved the offset to 10 and stored in the inbox 0 ms later");
    await store.close();
  });

  it("(c) a failed-then-retried update: its fast-path try failed, the row's retry completed", async () => {
    const store = await storeWith();
    const journal = store.inbox.journal!;
    const { batch } = await journal.append([msg(11, 110)], { owner: "poller-1", nextOffset: 12, now: T });
    await journal.complete({
      owner: "poller-1", done: [], closed: [batch], now: T + 30,
      moved: [{ batch, update: msg(11, 110), receivedAt: T, attempts: 1, outcome: { kind: "retry", at: T + 1_000, error: "Error: db timeout" } }],
    });
    const [got] = await store.inbox.claim({ owner: "poller-1", leaseMs: 1_000, limit: 1, now: T + 1_000 });
    await deliver(store, "r11", 110, 11, T + 1_010);
    await store.inbox.settle(got!.claim, { kind: "done" }, { now: T + 1_050 });
    const t = await traceUpdate(store, 11, T + 2_000);
    expect(t).toMatchObject({ found: true, state: "done", via: "poll", pollOffset: 12, journalBatch: batch, problem: false });
    expect(texts(t)).toEqual([
      "the user acted (message, chat 110)",
      `received from Telegram in poll batch ${batch} (it moved the offset to 12) and stored in the journal of poller-1 (the polling fast path) 0 ms later`,
      "handler try 1 on poller-1: failed, will retry: Error: db timeout",
      "handler try 2 on poller-1: completed in 50 ms",
      "sendMessage to 110 (job r11, normal) stored in the outbox",
      "send attempt 1: delivered",
      "delivered as message 81",
      "completed 1 s after it arrived",
    ]);
    await store.close();
  });
});
