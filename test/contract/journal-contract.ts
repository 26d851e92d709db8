/**
 * The inbox journal contract (`store.inbox.journal`), for backends that have one. Written
 * against the public Store API only; a backend's test file calls {@link defineJournalContract}
 * with the same factory it gives `defineStoreContract`. All time is passed explicitly.
 */
import { describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/errors/index.js";
import type { ClaimedUpdate, InboxJournal, RawUpdate, Store } from "../../src/store/index.js";
import { message, T0, useStores, type StoreFactory } from "./store-contract.js";

const ids = (items: readonly { readonly update_id: number }[]): number[] => items.map((u) => u.update_id);
const claimedIds = (items: readonly ClaimedUpdate[]): number[] => items.map((c) => c.updateId);

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isUnlostError(err), `expected an UnlostError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (message !== undefined) expect((err as Error).message).toMatch(message);
}

/** Defines the journal contract suite for one backend. */
export function defineJournalContract(name: string, factory: StoreFactory): void {
  describe(`Journal contract: ${name}`, () => {
    const { fresh, reopen } = useStores(factory);
    const journalOf = (store: Store): InboxJournal => {
      expect(store.inbox.journal).toBeDefined();
      return store.inbox.journal!;
    };
    const A = "instance-a";
    const B = "instance-b";

    describe("append", () => {
      it("stores the batch and the offset, returning the updates sorted and deduplicated", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const first = await journal.append([message(3, 10), message(1, 10), message(2, 11), message(3, 10)], {
          owner: A,
          nextOffset: 4,
          now: T0,
        });
        expect(first.batch).toBeGreaterThan(0);
        expect(first.receivedAt).toBe(T0);
        expect(ids(first.updates)).toEqual([1, 2, 3]);
        expect(first.updates[0]).toEqual(message(1, 10));
        expect(first.blockedChats).toEqual([]);
        expect(await store.state.offset()).toBe(4);
        expect(await journal.stats()).toEqual({ openBatches: 1, open: 3, oldestOpenReceivedAt: T0 });
        // Journal entries are not rows, but count as pending work.
        expect(await store.inbox.get(1)).toBeNull();
        const stats = await store.inbox.stats({ now: T0 + 500 });
        expect(stats).toMatchObject({ pending: 3, inflight: 0, done: 0, chatsWithWork: 0, oldestOpenReceivedAt: T0, oldestOpenAgeMs: 500 });
        const second = await journal.append([message(4, 12)], { owner: A, nextOffset: 5, now: T0 + 1 });
        expect(second.batch).toBeGreaterThan(first.batch);
        expect(await journal.stats()).toEqual({ openBatches: 2, open: 4, oldestOpenReceivedAt: T0 });
      });

      it("drops updates below the stored offset, but always stores the new offset", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        await journal.append([message(1, 10), message(2, 10)], { owner: A, nextOffset: 3, now: T0 });
        const again = await journal.append([message(2, 10), message(3, 10)], { owner: A, nextOffset: 4, now: T0 + 1 });
        expect(ids(again.updates)).toEqual([3]);
        const none = await journal.append([message(1, 10), message(3, 10)], { owner: A, nextOffset: 9, now: T0 + 2 });
        expect(none).toEqual({ batch: 0, receivedAt: T0 + 2, updates: [], blockedChats: [] });
        expect(await store.state.offset()).toBe(9);
        expect(await journal.stats()).toMatchObject({ openBatches: 2, open: 3 });
      });

      it("drops updates already stored as inbox rows", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        await store.inbox.ingest([message(5, 10)], { now: T0 }); // e.g. a webhook delivery
        const result = await journal.append([message(5, 10), message(6, 11)], { owner: A, nextOffset: 7, now: T0 });
        expect(ids(result.updates)).toEqual([6]);
        expect(await journal.stats()).toMatchObject({ open: 1 });
        expect((await store.inbox.stats({ now: T0 })).pending).toBe(2);
      });

      it("reports the batch's chats that have unfinished rows as blocked", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        const result = await journal.append([message(2, 10), message(3, 11), message(4, 10)], { owner: A, nextOffset: 5, now: T0 });
        expect(result.blockedChats).toEqual(["10"]);
        expect((await journal.chatsWithRowWork(["10", "11", "12"])).sort()).toEqual(["10"]);
        expect(await journal.chatsWithRowWork([])).toEqual([]);
      });

      it("a fenced append from a poller that lost its lease is refused and writes nothing", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const a = await store.leases.acquire("poller", A, 1000, { now: T0 });
        if (!a.held) throw new Error("lease not granted");
        const fence = { name: "poller", owner: A, epoch: a.epoch };
        await journal.append([message(1, 10)], { owner: A, nextOffset: 2, fence, now: T0 });
        expect((await store.leases.acquire("poller", B, 1000, { now: T0 + 1000 })).held).toBe(true);
        await expectCode(journal.append([message(2, 10)], { owner: A, nextOffset: 3, fence, now: T0 + 1001 }), "CONFLICT");
        expect(await store.state.offset()).toBe(2);
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 1 });
      });

      it("refuses an update without a valid update_id and writes nothing", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const bad = [message(1, 10), { nope: true } as unknown as RawUpdate];
        await expectCode(journal.append(bad, { owner: A, nextOffset: 2, now: T0 }), "INVALID_ARGUMENT");
        expect(await store.state.offset()).toBeNull();
        expect(await journal.stats()).toEqual({ openBatches: 0, open: 0, oldestOpenReceivedAt: null });
      });
    });

    describe("append with unstorable updates", () => {
      it("stores the valid updates and keeps the unstorable ones as dead letters, with the offset, in one step", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const raw = '{"update_id":"2","message":{"text":"hi"}}';
        const result = await journal.append([message(1, 10), message(3, 11)], {
          owner: A, nextOffset: 4, now: T0, unstorable: [{ raw, error: 'update has no valid update_id: got "2"' }],
        });
        expect(ids(result.updates)).toEqual([1, 3]);
        expect(result.unstorable).toBe(1);
        expect(await store.state.offset()).toBe(4);
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 2 });
        const dead = await store.inbox.deadLetters.get(-1);
        expect(dead).toMatchObject({ updateId: -1, chatKey: "unstorable", updateType: "unstorable", error: 'update has no valid update_id: got "2"' });
        expect(dead?.update).toEqual({ update_id: -1, unstorable: raw });
        // A batch of nothing but a known unstorable update still moves the offset, keeps nothing new.
        const only = await journal.append([], { owner: A, nextOffset: 5, now: T0, unstorable: [{ raw, error: "again" }] });
        expect(only).toMatchObject({ batch: 0, updates: [], unstorable: 0 });
        expect(await store.state.offset()).toBe(5);
        expect((await store.inbox.stats({ now: T0 })).dead).toBe(1);
      });

      it("a fenced append that is refused keeps no unstorable update either", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const a = await store.leases.acquire("poller", A, 1000, { now: T0 });
        if (!a.held) throw new Error("lease not granted");
        expect((await store.leases.acquire("poller", B, 1000, { now: T0 + 1000 })).held).toBe(true);
        const fence = { name: "poller", owner: A, epoch: a.epoch };
        await expectCode(journal.append([message(2, 10)], { owner: A, nextOffset: 3, fence, now: T0 + 1001, unstorable: [{ raw: "{}", error: "e" }] }), "CONFLICT");
        expect(await store.state.offset()).toBeNull();
        expect((await store.inbox.stats({ now: T0 })).dead).toBe(0);
      });
    });

    describe("complete", () => {
      it("counts done updates, and deletes closed batches", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 10), message(3, 11)], { owner: A, nextOffset: 4, now: T0 });
        await journal.complete({ owner: A, done: [{ batch, updateId: 1 }, { batch, updateId: 3 }], now: T0 + 10 });
        expect(await journal.stats()).toEqual({ openBatches: 1, open: 1, oldestOpenReceivedAt: T0 });
        expect(await store.inbox.stats({ now: T0 + 10 })).toMatchObject({ pending: 1, done: 2 });
        await journal.complete({ owner: A, done: [{ batch, updateId: 2 }], closed: [batch], now: T0 + 20 });
        expect(await journal.stats()).toEqual({ openBatches: 0, open: 0, oldestOpenReceivedAt: null });
        expect(await journal.owners()).toEqual([]);
        expect(await store.inbox.stats({ now: T0 + 20 })).toMatchObject({ pending: 0, done: 3, oldestOpenReceivedAt: null, oldestOpenAgeMs: 0 });
      });

      it("applies the effects in the same step", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10)], { owner: A, nextOffset: 2, now: T0 });
        await journal.complete({ owner: A, done: [{ batch, updateId: 1 }], closed: [batch], effects: [{ kind: "kv.increment", key: "n" }], now: T0 });
        expect(await store.state.getValue("n")).toBe("1");
      });

      it("applies bot data effects with the completion, and none of a refused one", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        const late = [{ kind: "data.set" as const, key: "session:10", value: "late" }];
        await expectCode(journal.complete({ owner: B, done: [{ batch, updateId: 1 }], effects: late, now: T0 }), "CONFLICT", /taken over/);
        expect(await store.data.get("session:10")).toBeNull();
        await journal.complete({ owner: A, done: [{ batch, updateId: 1 }], effects: [{ kind: "data.set", key: "session:10", value: '{"n":1}' }], now: T0 + 1 });
        await journal.complete({ owner: A, done: [{ batch, updateId: 2 }], closed: [batch], effects: [{ kind: "data.delete", key: "session:10" }, { kind: "data.set", key: "session:11", value: "{}" }], now: T0 + 2 });
        expect(await store.data.list({ prefix: "session:" })).toEqual([{ key: "session:11", value: "{}", updatedAt: T0 + 2 }]);
      });

      it("refuses to close a batch with updates neither done nor moved, writing nothing", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        await expectCode(journal.complete({ owner: A, done: [{ batch, updateId: 1 }], closed: [batch], now: T0 }), "INVALID_ARGUMENT");
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 2 });
        expect((await store.inbox.stats({ now: T0 })).done).toBe(0);
      });

      it("is fenced by ownership: another owner's completion is refused and writes nothing", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        const effects = [{ kind: "kv.increment" as const, key: "n" }];
        await expectCode(journal.complete({ owner: B, done: [{ batch, updateId: 1 }], effects, now: T0 }), "CONFLICT", /taken over/);
        // A batch that does not exist is not anyone's either.
        await expectCode(journal.complete({ owner: A, done: [{ batch: batch + 100, updateId: 1 }], effects, now: T0 }), "CONFLICT");
        expect(await store.state.getValue("n")).toBeNull();
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 2 });
        expect((await store.inbox.stats({ now: T0 })).done).toBe(0);
      });

      it("after adopt, the old owner's completion is refused and writes nothing", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        expect(await journal.adopt(A, { now: T0 + 100 })).toBe(2);
        const moved = [{ batch, update: message(2, 11), receivedAt: T0, attempts: 1, outcome: { kind: "dead" as const, error: "x" } }];
        await expectCode(
          journal.complete({ owner: A, done: [{ batch, updateId: 1 }], moved, closed: [batch], effects: [{ kind: "kv.increment", key: "n" }], now: T0 + 200 }),
          "CONFLICT",
          /taken over/,
        );
        expect(await store.state.getValue("n")).toBeNull();
        expect(await store.inbox.get(2)).toMatchObject({ state: "pending", attempts: 0 });
        expect((await store.inbox.stats({ now: T0 + 200 })).done).toBe(0);
      });

      it("rides along with an append: both in one transaction, or neither when the completion is refused", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const first = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        const effects = [{ kind: "kv.increment" as const, key: "n" }];
        const completion = { done: [{ batch: first.batch, updateId: 1 }, { batch: first.batch, updateId: 2 }], effects, closed: [first.batch] };
        const second = await journal.append([message(3, 10)], { owner: A, nextOffset: 4, now: T0 + 10, completion });
        expect(second.batch).toBeGreaterThan(first.batch);
        expect(await store.state.getValue("n")).toBe("1");
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 1 });
        expect((await store.inbox.stats({ now: T0 + 10 })).done).toBe(2);
        // Another owner's completion makes the whole append fail: no batch, no offset.
        const refused = journal.append([message(4, 12)], { owner: B, nextOffset: 5, now: T0 + 20, completion: { done: [{ batch: second.batch, updateId: 3 }], effects } });
        await expectCode(refused, "CONFLICT", /taken over/);
        expect(await store.state.offset()).toBe(4);
        expect(await store.state.getValue("n")).toBe("1");
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 1 });
      });

      it("a moved retry becomes a pending row, claimable at its time, blocking its chat", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 10), message(3, 11)], { owner: A, nextOffset: 4, now: T0 });
        await journal.complete({
          owner: A,
          done: [{ batch, updateId: 3 }],
          moved: [{ batch, update: message(1, 10), receivedAt: T0, attempts: 2, outcome: { kind: "retry", at: T0 + 5000, error: "boom" } }],
          now: T0 + 10,
        });
        expect(await store.inbox.get(1)).toMatchObject({ state: "pending", attempts: 2, lastError: "boom", dueAt: T0 + 5000, receivedAt: T0, chatKey: "10" });
        expect(await journal.chatsWithRowWork(["10", "11"])).toEqual(["10"]);
        expect(await journal.stats()).toMatchObject({ openBatches: 1, open: 1 });
        expect(await store.inbox.stats({ now: T0 + 10 })).toMatchObject({ pending: 2, done: 1, chatsWithWork: 1 });
        const lease = { owner: "w", limit: 10, leaseMs: 30_000 };
        expect(await store.inbox.claim({ ...lease, now: T0 + 4999 })).toEqual([]);
        const claimed = await store.inbox.claim({ ...lease, now: T0 + 5000 });
        expect(claimedIds(claimed)).toEqual([1]);
        expect(claimed[0]).toMatchObject({ attempt: 3, lastError: "boom", update: message(1, 10) });
        await store.inbox.settle(claimed[0]!.claim, { kind: "done" }, { now: T0 + 5001 });
        expect(await journal.chatsWithRowWork(["10"])).toEqual([]);
      });

      it("a moved dead update becomes a dead letter with its error and stack", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        await journal.complete({
          owner: A,
          done: [{ batch, updateId: 2 }],
          moved: [{ batch, update: message(1, 10), receivedAt: T0, attempts: 3, outcome: { kind: "dead", error: "bad", stack: "at x" } }],
          closed: [batch],
          now: T0 + 10,
        });
        const page = await store.inbox.deadLetters.list();
        expect(page.items).toHaveLength(1);
        expect(page.items[0]).toMatchObject({ updateId: 1, chatKey: "10", error: "bad", stack: "at x", attempts: 3, diedAt: T0 + 10, receivedAt: T0 });
        expect(await journal.chatsWithRowWork(["10"])).toEqual([]);
        expect(await store.inbox.stats({ now: T0 + 10 })).toMatchObject({ pending: 0, dead: 1, done: 1 });
        expect(await journal.stats()).toMatchObject({ openBatches: 0 });
      });
    });

    describe("adopt", () => {
      it("turns exactly the unfinished updates into rows, claimable in per-chat order", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const b1 = await journal.append([message(1, 10), message(2, 10), message(3, 11)], { owner: A, nextOffset: 4, now: T0 });
        const b2 = await journal.append([message(4, 10), message(5, 11), message(6, 12), message(7, 10)], { owner: A, nextOffset: 8, now: T0 + 1 });
        const other = await journal.append([message(8, 13)], { owner: B, nextOffset: 9, now: T0 + 2 });
        await journal.complete({ owner: A, done: [{ batch: b1.batch, updateId: 1 }, { batch: b2.batch, updateId: 5 }], now: T0 + 3 });
        expect((await journal.owners()).sort()).toEqual([A, B]);

        expect(await journal.adopt(A, { now: T0 + 100 })).toBe(5);
        expect(await journal.owners()).toEqual([B]);
        expect(await journal.stats()).toEqual({ openBatches: 1, open: 1, oldestOpenReceivedAt: other.receivedAt });
        expect(await store.inbox.get(1)).toBeNull();
        expect(await store.inbox.get(5)).toBeNull();
        expect(await store.inbox.get(4)).toMatchObject({ state: "pending", attempts: 0, receivedAt: T0 + 1, dueAt: T0 + 100 });
        expect(await store.inbox.stats({ now: T0 + 100 })).toMatchObject({ pending: 6, done: 2, chatsWithWork: 3, oldestOpenReceivedAt: T0 });

        // Claim until drained: each chat's updates come in update_id order, one at a time.
        const order: number[] = [];
        for (let round = 0; round < 10; round++) {
          const got = await store.inbox.claim({ owner: "w", limit: 10, leaseMs: 30_000, now: T0 + 200 + round });
          if (got.length === 0) break;
          order.push(...claimedIds(got));
          await store.inbox.settleMany(got.map((g) => ({ claim: g.claim, outcome: { kind: "done" as const } })), { now: T0 + 200 + round });
        }
        expect(order).toEqual([2, 3, 6, 4, 7]);
        expect(await journal.adopt(A)).toBe(0);
      });

      it("puts adopted updates behind an earlier row of the same chat", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 10), message(3, 10)], { owner: A, nextOffset: 4, now: T0 });
        await journal.complete({
          owner: A,
          done: [],
          moved: [{ batch, update: message(1, 10), receivedAt: T0, attempts: 1, outcome: { kind: "retry", at: T0 + 50, error: "e" } }],
          now: T0 + 10,
        });
        expect(await journal.adopt(A, { now: T0 + 20 })).toBe(2);
        expect(await store.inbox.claim({ owner: "w", limit: 10, leaseMs: 1000, now: T0 + 20 })).toEqual([]);
        expect(claimedIds(await store.inbox.claim({ owner: "w", limit: 10, leaseMs: 1000, now: T0 + 50 }))).toEqual([1]);
      });

      it("is durable: the journal survives a reopen, and so do the adopted rows", async () => {
        let store = await fresh();
        const { batch } = await journalOf(store).append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        await journalOf(store).complete({ owner: A, done: [{ batch, updateId: 1 }], now: T0 + 1 });
        store = await reopen(store);
        expect(await journalOf(store).owners()).toEqual([A]);
        expect(await journalOf(store).stats()).toEqual({ openBatches: 1, open: 1, oldestOpenReceivedAt: T0 });
        expect(await store.state.offset()).toBe(3);
        expect(await journalOf(store).adopt(A, { now: T0 + 2 })).toBe(1);
        store = await reopen(store);
        expect(await journalOf(store).owners()).toEqual([]);
        expect(await store.inbox.get(2)).toMatchObject({ state: "pending", chatKey: "11", receivedAt: T0 });
        expect(await store.inbox.get(1)).toBeNull();
        expect((await store.inbox.stats({ now: T0 + 2 })).done).toBe(1);
      });
    });

    it("lists the open updates of batches recorded before a time, in update_id order, with their owner", async () => {
      const store = await fresh();
      const journal = journalOf(store);
      const first = await journal.append([message(1, 10), message(2, 11), message(3, 10)], { owner: A, nextOffset: 4, now: T0 });
      await journal.append([message(4, 12)], { owner: B, nextOffset: 5, now: T0 + 1000 });
      await journal.complete({ owner: A, done: [{ batch: first.batch, updateId: 2 }], now: T0 + 10 });
      expect(await journal.openUpdates({ receivedBefore: T0 - 1 })).toEqual([]);
      expect(await journal.openUpdates({ receivedBefore: T0 + 999 })).toEqual([
        { updateId: 1, chatKey: "10", updateType: "message", receivedAt: T0, owner: A },
        { updateId: 3, chatKey: "10", updateType: "message", receivedAt: T0, owner: A },
      ]);
      expect((await journal.openUpdates({ receivedBefore: T0 + 1000 })).map((u) => [u.updateId, u.owner])).toEqual([[1, A], [3, A], [4, B]]);
      expect((await journal.openUpdates({ receivedBefore: T0 + 1000, limit: 2 })).map((u) => u.updateId)).toEqual([1, 3]);
      // Moved to the rows (a failed or timed-out handler) or done: no longer open in the journal.
      await journal.complete({
        owner: A, done: [{ batch: first.batch, updateId: 1 }], closed: [first.batch], now: T0 + 20,
        moved: [{ batch: first.batch, update: message(3, 10), receivedAt: T0, attempts: 1, outcome: { kind: "retry", at: T0 + 100, error: "timed out" } }],
      });
      expect((await journal.openUpdates({ receivedBefore: T0 + 1000 })).map((u) => u.updateId)).toEqual([4]);
      await expectCode(journal.openUpdates({ receivedBefore: T0, limit: 0 }), "INVALID_ARGUMENT");
    });

    describe("history: closed batches are kept for the trace until pruned", () => {
      it("finds an update after its batch closed: its batch, times, payload and what became of it", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const { batch } = await journal.append([message(1, 10), message(2, 11), message(3, 12)], { owner: A, nextOffset: 4, now: T0 });
        expect(await journal.find(2)).toMatchObject({ updateId: 2, batch, owner: A, receivedAt: T0, nextOffset: 4, state: "open", completedAt: null, closedAt: null });
        await journal.complete({ owner: A, done: [{ batch, updateId: 1 }], now: T0 + 10 });
        // The closing flush completes 2 and moves 3 (its try failed) to the rows.
        await journal.complete({
          owner: A, done: [{ batch, updateId: 2 }], closed: [batch], now: T0 + 20,
          moved: [{ batch, update: message(3, 12), receivedAt: T0, attempts: 1, outcome: { kind: "retry", at: T0 + 100, error: "e" } }],
        });
        expect(await journal.find(1)).toEqual({
          updateId: 1, batch, owner: A, receivedAt: T0, nextOffset: 4, state: "done", completedAt: T0 + 10, closedAt: T0 + 20,
          raw: JSON.stringify(message(1, 10)), chatKey: "10", updateType: "message", messageDate: 1_700_000_000_000,
        });
        expect(await journal.find(2)).toMatchObject({ state: "done", completedAt: T0 + 20, closedAt: T0 + 20, chatKey: "11" });
        expect(await journal.find(3)).toMatchObject({ state: "moved", completedAt: T0 + 20 });
        // The moved update's row says how it came, and its failed try names the owner.
        expect(await store.inbox.get(3)).toMatchObject({ state: "pending", via: "poll", pollOffset: 4, receivedAt: T0 });
        expect((await store.inspect.attempts(3)).map((a) => [a.attempt, a.owner, a.outcome])).toEqual([[1, A, "retry"]]);
        // A batch closed by the flush that completes its only update: no completion record, done at the close.
        const second = await journal.append([message(5, 13)], { owner: A, nextOffset: 6, now: T0 + 30 });
        await journal.complete({ owner: A, done: [{ batch: second.batch, updateId: 5 }], closed: [second.batch], now: T0 + 35 });
        expect(await journal.find(5)).toMatchObject({ batch: second.batch, state: "done", completedAt: T0 + 35, receivedAt: T0 + 30, nextOffset: 6 });
        expect(await journal.find(4)).toBeNull();
        expect(await journal.find(6)).toBeNull();
        expect(await journal.find(0)).toBeNull();
        const again = await reopen(store);
        expect(await journalOf(again).find(1)).toMatchObject({ state: "done", completedAt: T0 + 10 });
        await expectCode(journalOf(again).find(-1), "INVALID_ARGUMENT");
      });

      it("closed batches count nowhere: stats, owners, open updates and adoption ignore them; their completions are refused", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        const b1 = await journal.append([message(1, 10), message(2, 11)], { owner: A, nextOffset: 3, now: T0 });
        const b2 = await journal.append([message(3, 12)], { owner: A, nextOffset: 4, now: T0 + 5 });
        await journal.complete({ owner: A, done: [{ batch: b1.batch, updateId: 1 }, { batch: b1.batch, updateId: 2 }], closed: [b1.batch], now: T0 + 10 });
        expect(await journal.stats()).toEqual({ openBatches: 1, open: 1, oldestOpenReceivedAt: T0 + 5 });
        expect(await store.inbox.stats({ now: T0 + 10 })).toMatchObject({ pending: 1, done: 2, oldestOpenReceivedAt: T0 + 5, oldestOpenAgeMs: 5 });
        expect(await journal.owners()).toEqual([A]);
        expect((await journal.openUpdates({ receivedBefore: T0 + 10 })).map((u) => u.updateId)).toEqual([3]);
        // A closed batch is no one's to complete again (kept, but closed).
        await expectCode(journal.complete({ owner: A, done: [{ batch: b1.batch, updateId: 1 }], effects: [{ kind: "kv.increment", key: "n" }], now: T0 + 11 }), "CONFLICT", /already closed/);
        expect(await store.state.getValue("n")).toBeNull();
        // Adoption takes only the open batch's update; the closed batch is left as it was.
        expect(await journal.adopt(A, { now: T0 + 20 })).toBe(1);
        expect(await store.inbox.get(1)).toBeNull();
        expect(await store.inbox.get(3)).toMatchObject({ state: "pending", via: "poll", pollOffset: 4, receivedAt: T0 + 5 });
        expect(await journal.find(3)).toMatchObject({ state: "adopted", closedAt: T0 + 20, batch: b2.batch });
        expect(await journal.find(1)).toMatchObject({ state: "done", completedAt: T0 + 10 });
        expect(await journal.owners()).toEqual([]);
        expect(await journal.stats()).toEqual({ openBatches: 0, open: 0, oldestOpenReceivedAt: null });
        expect(await store.inbox.stats({ now: T0 + 20 })).toMatchObject({ pending: 1, done: 2, chatsWithWork: 1, oldestOpenReceivedAt: T0 + 5 });
        expect(await journal.openUpdates({ receivedBefore: T0 + 20 })).toEqual([]);
        expect(await journal.adopt(A, { now: T0 + 30 })).toBe(0);
        await expectCode(journal.complete({ owner: A, done: [{ batch: b2.batch, updateId: 3 }], now: T0 + 31 }), "CONFLICT", /taken over/);
      });

      it("prune deletes closed batches past the retention, in small steps, at most limit per call; open ones stay", async () => {
        const store = await fresh();
        const journal = journalOf(store);
        // 120 batches of one update, batch i closed at T0 + i (each append closes the one before).
        let previous = 0;
        for (let i = 0; i < 121; i++) {
          const completion = previous === 0 ? undefined : { done: [{ batch: previous, updateId: i }], closed: [previous] };
          previous = (await journal.append([message(i + 1, 10 + (i % 7))], { owner: A, nextOffset: i + 2, now: T0 + i, ...(completion === undefined ? {} : { completion }) })).batch;
        }
        const kept = async (): Promise<number[]> => {
          const found: number[] = [];
          for (let id = 1; id <= 121; id++) if ((await journal.find(id)) !== null) found.push(id);
          return found;
        };
        const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => from + k);
        expect(await kept()).toEqual(range(1, 121));
        // Closed before T0 + 60: updates 1..60 (update k's batch closed at T0 + k).
        await store.inbox.prune({ handledBefore: T0 + 61 });
        expect(await kept()).toEqual(range(61, 121));
        await store.inbox.prune({ handledBefore: T0 + 1_000, limit: 30 });
        expect(await kept()).toEqual(range(91, 121));
        await store.inbox.prune({ handledBefore: T0 + 1_000 });
        expect(await kept()).toEqual([121]); // the open batch
        expect(await journal.stats()).toEqual({ openBatches: 1, open: 1, oldestOpenReceivedAt: T0 + 120 });
        expect(await journal.owners()).toEqual([A]);
      });
    });

    it("prune forgets the done counts of minutes that ended before handledBefore", async () => {
      const store = await fresh();
      const journal = journalOf(store);
      const minute = Math.floor(T0 / 60_000) * 60_000;
      const { batch } = await journal.append([message(1, 10), message(2, 11), message(3, 12)], { owner: A, nextOffset: 4, now: minute });
      await journal.complete({ owner: A, done: [{ batch, updateId: 1 }, { batch, updateId: 2 }], now: minute + 10 });
      await journal.complete({ owner: A, done: [{ batch, updateId: 3 }], closed: [batch], now: minute + 60_000 });
      expect((await store.inbox.stats({ now: minute + 60_000 })).done).toBe(3);
      expect(await store.inbox.prune({ handledBefore: minute + 59_999 })).toBe(0); // that minute has not ended
      expect(await store.inbox.prune({ handledBefore: minute + 60_000 })).toBe(2);
      expect((await store.inbox.stats({ now: minute + 60_000 })).done).toBe(1);
      expect(await store.inbox.prune({ handledBefore: minute + 120_000 })).toBe(1);
      expect((await store.inbox.stats({ now: minute + 120_000 })).done).toBe(0);
    });
  });
}
