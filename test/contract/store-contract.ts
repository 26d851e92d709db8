/**
 * The store contract: what every backend must do, written once. A backend's test file calls
 * {@link defineStoreContract} with a factory; the same cases then run against it.
 *
 * All time is passed explicitly (`now`), so no case sleeps and results do not depend on the
 * machine's speed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { isUnlostError, redactSecrets } from "../../src/errors/index.js";
import type { Claim, ClaimedUpdate, RawUpdate, Store } from "../../src/store/index.js";
import { defineDataContract } from "./data-contract.js";
import { defineInspectContract } from "./inspect-contract.js";
import { defineOutboxContract } from "./outbox-contract.js";
import { defineTaskContract } from "./task-contract.js";

/**
 * Opens a store. Without `location`: a new, empty store. With one (a closed store's
 * `location`): the same store again, to check durability. `options.auditRedaction` opens it
 * with the outbox's audit log redacted.
 */
export type StoreFactory = (location?: string, options?: { readonly auditRedaction?: boolean }) => Promise<Store>;

/** A fixed epoch so that tests read like timelines: T0, T0 + 1000, ... */
export const T0 = 1_700_000_000_000;

/** A text message update of `chat` (a private chat: the user id equals the chat id). */
export function message(updateId: number, chat: number, text = `m${updateId}`): RawUpdate {
  return {
    update_id: updateId,
    message: { message_id: updateId, date: 1_700_000_000, chat: { id: chat, type: "private" }, from: { id: chat }, text },
  };
}

const ids = (items: readonly ClaimedUpdate[]): number[] => items.map((i) => i.updateId);

/** Expects `promise` to reject with an UnlostError of `code`. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isUnlostError(err), `expected an UnlostError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/**
 * Stores for the cases of one suite (call inside its `describe`): `fresh` opens an empty one,
 * `reopen` closes a store and opens the same one again (durability); all are closed after each
 * case (closing is idempotent).
 */
export function useStores(factory: StoreFactory): {
  fresh(options?: { readonly auditRedaction?: boolean }): Promise<Store>;
  reopen(store: Store): Promise<Store>;
} {
  const open: Store[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  return {
    async fresh(options) {
      const store = await factory(undefined, options);
      open.push(store);
      return store;
    },
    async reopen(store) {
      await store.close();
      const again = await factory(store.location);
      open.push(again);
      return again;
    },
  };
}

/** Defines the contract suite for one backend. */
export function defineStoreContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    const { fresh, reopen } = useStores(factory);
    const owner = "worker-a";
    const lease = { owner, leaseMs: 30_000 };

    describe("ingest", () => {
      it("is idempotent on update_id and stores the offset in the same step", async () => {
        const store = await fresh();
        expect(await store.state.offset()).toBeNull();
        expect(await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 11)], { nextOffset: 4, now: T0 })).toEqual({
          inserted: 3,
          duplicates: 0,
        });
        expect(await store.state.offset()).toBe(4);
        // A re-fetch (overlapping batch) and a webhook re-send: duplicates ignored.
        expect(await store.inbox.ingest([message(2, 10), message(3, 11), message(4, 10), message(4, 10)], { nextOffset: 5, now: T0 })).toEqual({
          inserted: 1,
          duplicates: 3,
        });
        expect(await store.state.offset()).toBe(5);
        const stats = await store.inbox.stats({ now: T0 });
        expect(stats.pending).toBe(4);
        expect(stats.chatsWithWork).toBe(2);
        const rec = await store.inbox.get(1);
        expect(rec).toMatchObject({ updateId: 1, chatKey: "10", updateType: "message", state: "pending", receivedAt: T0, attempts: 0 });
        expect(rec?.messageDate).toBe(1_700_000_000_000);
        expect(JSON.parse(rec?.raw ?? "null")).toEqual(message(1, 10));
        expect(await store.inbox.get(999)).toBeNull();
      });

      it("records how each update arrived: by polling with its batch's offset, by webhook without one", async () => {
        const store = await fresh();
        // Polled, with a claim fused into the ingest (the update is stored in flight).
        const fused = await store.inbox.ingest([message(1, 20)], { nextOffset: 2, now: T0, claim: { owner: "w", limit: 1, leaseMs: 1000 } });
        expect(fused.claimed?.map((c) => c.updateId)).toEqual([1]);
        await store.inbox.ingest([message(5, 10), message(6, 11)], { nextOffset: 7, now: T0 });
        await store.inbox.ingest([message(8, 12)], { now: T0 + 1 }); // a webhook delivery
        // A late webhook delivery older than its chat's head (another path of the insert).
        await store.inbox.ingest([message(4, 10)], { now: T0 + 2 });
        const via = async (id: number) => {
          const r = await store.inbox.get(id);
          return [r?.via, r?.pollOffset];
        };
        expect(await store.inbox.get(1)).toMatchObject({ state: "inflight", via: "poll", pollOffset: 2 });
        expect([await via(5), await via(6), await via(8), await via(4)]).toEqual([["poll", 7], ["poll", 7], ["webhook", null], ["webhook", null]]);
        const again = await reopen(store);
        expect(await again.inbox.get(5)).toMatchObject({ via: "poll", pollOffset: 7 });
        expect(await again.inbox.get(8)).toMatchObject({ via: "webhook", pollOffset: null });
      });

      it("writes nothing, not even the offset, when any update of the batch is invalid", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10)], { nextOffset: 2, now: T0 });
        const bad = [message(2, 10), { nope: true } as unknown as RawUpdate];
        await expectCode(store.inbox.ingest(bad, { nextOffset: 3, now: T0 }), "INVALID_ARGUMENT");
        expect(await store.state.offset()).toBe(2);
        expect(await store.inbox.get(2)).toBeNull();
      });

      it("keeps unstorable updates as dead letters with their text and error, with the offset, once each", async () => {
        const store = await fresh();
        const raw = '{"no_id":true,"message":{"text":"see 123456789:AAHsecretsecretsecret"}}';
        const unstorable = [{ raw, error: "update has no valid update_id: it has none" }, { raw: "[1,2", error: "update has no valid update_id: not JSON" }];
        expect(await store.inbox.ingest([message(1, 10), message(3, 10)], { nextOffset: 4, now: T0, unstorable })).toEqual({
          inserted: 2, duplicates: 0, unstorable: 2,
        });
        expect(await store.state.offset()).toBe(4);
        const page = await store.inbox.deadLetters.list();
        expect(page.items.map((d) => [d.updateId, d.chatKey, d.updateType, d.error])).toEqual([
          [-2, "unstorable", "unstorable", "update has no valid update_id: not JSON"],
          [-1, "unstorable", "unstorable", "update has no valid update_id: it has none"],
        ]);
        const first = await store.inbox.deadLetters.get(-1);
        // Its text as received, scrubbed like every text unlost writes.
        expect(first?.update).toEqual({ update_id: -1, unstorable: redactSecrets(raw) });
        expect(JSON.stringify(first?.update)).not.toContain("AAHsecretsecretsecret");
        expect(first?.update["unstorable"]).toContain('"no_id":true');
        expect(first).toMatchObject({ receivedAt: T0, diedAt: T0, attempts: 0, stack: null });
        expect((await store.inbox.stats({ now: T0 })).dead).toBe(2);
        // The same text again (a re-fetch, a webhook re-send) is not kept twice; new text is.
        expect(await store.inbox.ingest([], { nextOffset: 5, now: T0, unstorable: [unstorable[0]!, { raw: "7", error: "e" }] })).toEqual({
          inserted: 0, duplicates: 0, unstorable: 1,
        });
        expect(await store.state.offset()).toBe(5);
        expect((await store.inbox.deadLetters.list()).items.map((d) => d.updateId)).toEqual([-3, -2, -1]);
        // They cannot be retried (no update to handle), but can be purged; a refused ingest keeps none.
        expect(await store.inbox.deadLetters.retry({ all: true })).toBe(0);
        expect(await store.inbox.deadLetters.retry({ updateId: -1 })).toBe(0);
        expect(await store.inbox.deadLetters.purge({ updateId: -2 })).toBe(1);
        expect(await store.inbox.deadLetters.get(-2)).toBeNull();
        await expectCode(store.inbox.ingest([{ nope: true } as unknown as RawUpdate], { nextOffset: 9, now: T0, unstorable: [{ raw: "x", error: "e" }] }), "INVALID_ARGUMENT");
        await expectCode(store.inbox.ingest([], { unstorable: [{ raw: 5 } as unknown as { raw: string; error: string }] }), "INVALID_ARGUMENT");
        expect(await store.state.offset()).toBe(5);
        expect((await store.inbox.deadLetters.list()).items.map((d) => d.updateId)).toEqual([-3, -1]);
        const again = await reopen(store);
        expect((await again.inbox.deadLetters.get(-3))?.update).toEqual({ update_id: -3, unstorable: "7" });
      });

      it("an empty batch can still advance the offset", async () => {
        const store = await fresh();
        expect(await store.inbox.ingest([], { nextOffset: 100, now: T0 })).toEqual({ inserted: 0, duplicates: 0 });
        expect(await store.state.offset()).toBe(100);
      });

      it("a deposed poller's late offset write after the takeover changes nothing (the new poller's offset stays)", async () => {
        const store = await fresh();
        const a = await store.leases.acquire("poller", "A", 1000, { now: T0 });
        if (!a.held) throw new Error("A should hold the lease");
        const fenceA = { name: "poller", owner: "A", epoch: a.epoch };
        await store.inbox.ingest([message(1, 10)], { nextOffset: 2, fence: fenceA, now: T0 });
        // A stalls; its lease runs out and B takes over and moves on.
        const b = await store.leases.acquire("poller", "B", 1000, { now: T0 + 1500 });
        if (!b.held) throw new Error("B should hold the lease");
        expect(b.epoch).toBeGreaterThan(a.epoch);
        await store.inbox.ingest([message(2, 10), message(3, 11)], { nextOffset: 4, fence: { name: "poller", owner: "B", epoch: b.epoch }, now: T0 + 1600 });
        // A wakes up with its old batch (an offset behind) and with an empty one (ahead): both refused.
        await expectCode(store.inbox.ingest([message(2, 10)], { nextOffset: 3, fence: fenceA, now: T0 + 1700 }), "CONFLICT");
        await expectCode(store.inbox.ingest([], { nextOffset: 99, fence: fenceA, now: T0 + 1701 }), "CONFLICT");
        expect(await store.state.offset()).toBe(4);
        // A renewing does not get the lease back either.
        expect((await store.leases.renew(fenceA, 1000, { now: T0 + 1702 })).held).toBe(false);
        expect(await store.state.offset()).toBe(4);
      });

      it("a fenced ingest from a poller that lost its lease is refused and writes nothing", async () => {
        const store = await fresh();
        const a = await store.leases.acquire("poller", "A", 1000, { now: T0 });
        expect(a.held).toBe(true);
        if (!a.held) return;
        const fenceA = { name: "poller", owner: "A", epoch: a.epoch };
        await store.inbox.ingest([message(1, 10)], { nextOffset: 2, fence: fenceA, now: T0 });
        const b = await store.leases.acquire("poller", "B", 1000, { now: T0 + 1000 });
        expect(b.held).toBe(true);
        await expectCode(store.inbox.ingest([message(2, 10)], { nextOffset: 3, fence: fenceA, now: T0 + 1001 }), "CONFLICT");
        expect(await store.state.offset()).toBe(2);
        expect(await store.inbox.get(2)).toBeNull();
      });
    });

    describe("claim and settle", () => {
      it("hands out one item per chat at a time, in update_id order", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 10)], { now: T0 });
        const first = await store.inbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(first)).toEqual([1]);
        expect(first[0]).toMatchObject({ chatKey: "10", attempt: 1, recoveries: 0, recovered: false, lastError: null });
        expect(first[0]?.update).toEqual(message(1, 10));
        expect(await store.inbox.claim({ ...lease, limit: 10, now: T0 })).toEqual([]);
        expect(await store.inbox.claim({ owner: "worker-b", limit: 10, leaseMs: 1000, now: T0 })).toEqual([]);
        expect(await store.inbox.settle(first[0]!.claim, { kind: "done" }, { now: T0 + 1 })).toBe("settled");
        const second = await store.inbox.claim({ ...lease, limit: 10, now: T0 + 1 });
        expect(ids(second)).toEqual([2]);
        await store.inbox.settle(second[0]!.claim, { kind: "done" }, { now: T0 + 2 });
        const third = await store.inbox.claim({ ...lease, limit: 10, now: T0 + 2 });
        expect(ids(third)).toEqual([3]);
        await store.inbox.settle(third[0]!.claim, { kind: "done" }, { now: T0 + 3 });
        expect(await store.inbox.claim({ ...lease, limit: 10, now: T0 + 3 })).toEqual([]);
        expect(await store.inbox.get(3)).toMatchObject({ state: "done", settledAt: T0 + 3 });
        expect((await store.inbox.stats({ now: T0 + 3 })).chatsWithWork).toBe(0);
      });

      it("runs different chats in parallel, oldest first, up to the limit", async () => {
        const store = await fresh();
        await store.inbox.ingest(
          [message(1, 10), message(2, 20), message(3, 10), message(4, 30), message(5, 20), message(6, 40)],
          { now: T0 },
        );
        const batch = await store.inbox.claim({ ...lease, limit: 3, now: T0 });
        expect(ids(batch)).toEqual([1, 2, 4]);
        const more = await store.inbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(more)).toEqual([6]);
        await store.inbox.settleMany(
          batch.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } })),
          { now: T0 + 1 },
        );
        expect(ids(await store.inbox.claim({ ...lease, limit: 10, now: T0 + 1 }))).toEqual([3, 5]);
      });

      it("does not claim before the due time and counts attempts", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        expect(await store.inbox.claim({ ...lease, limit: 1, now: T0 - 1 })).toEqual([]);
        expect(ids(await store.inbox.claim({ ...lease, limit: 1, now: T0 }))).toEqual([1]);
        expect((await store.inbox.get(1))?.attempts).toBe(1);
      });

      it("recovers a crashed worker's claim after its lease expires, and refuses the old holder", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10)], { now: T0 });
        const [crashed] = await store.inbox.claim({ owner: "dead-process", limit: 5, leaseMs: 1000, now: T0 });
        expect(crashed?.claim.leaseUntil).toBe(T0 + 1000);
        expect(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 999 })).toEqual([]);
        const [recovered] = await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1000 });
        expect(recovered).toMatchObject({ updateId: 1, attempt: 2, recoveries: 1, recovered: true });
        expect(recovered!.claim.token).toBeGreaterThan(crashed!.claim.token);
        // The old holder wakes up: its settle (and its effects) must not count.
        const late = await store.inbox.settle(crashed!.claim, { kind: "done" }, {
          now: T0 + 1001,
          effects: [{ kind: "kv.increment", key: "completions:1" }],
        });
        expect(late).toBe("stale");
        expect(await store.state.getValue("completions:1")).toBeNull();
        expect(await store.inbox.extendLease(crashed!.claim, 5000, { now: T0 + 1001 })).toBeNull();
        expect(await store.inbox.get(1)).toMatchObject({ state: "inflight", leaseOwner: owner });
        const ok = await store.inbox.settle(recovered!.claim, { kind: "done" }, {
          now: T0 + 1002,
          effects: [{ kind: "kv.increment", key: "completions:1" }],
        });
        expect(ok).toBe("settled");
        expect(await store.state.getValue("completions:1")).toBe("1");
        // Settling twice is stale too: completed exactly once.
        expect(await store.inbox.settle(recovered!.claim, { kind: "done" }, { now: T0 + 1003 })).toBe("stale");
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1003 }))).toEqual([2]);
      });

      it("accepts a late settle when nobody re-claimed the item", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        const [c] = await store.inbox.claim({ ...lease, limit: 1, leaseMs: 100, now: T0 });
        expect(await store.inbox.settle(c!.claim, { kind: "done" }, { now: T0 + 10_000 })).toBe("settled");
      });

      it("extendLease keeps a slow handler's claim from being recovered", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        const [c] = await store.inbox.claim({ ...lease, limit: 1, leaseMs: 1000, now: T0 });
        const extended = await store.inbox.extendLease(c!.claim, 1000, { now: T0 + 900 });
        expect(extended).toMatchObject({ token: c!.claim.token, leaseUntil: T0 + 1900 });
        expect(await store.inbox.claim({ owner: "other", limit: 1, leaseMs: 1000, now: T0 + 1500 })).toEqual([]);
        expect(await store.inbox.settle(extended!, { kind: "done" }, { now: T0 + 1600 })).toBe("settled");
      });

      it("expireClaims makes a dead owner's claims recoverable at once", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
        await store.inbox.claim({ owner: "old", limit: 1, leaseMs: 60_000, now: T0 });
        await store.inbox.claim({ owner: "other", limit: 1, leaseMs: 60_000, now: T0 });
        expect(await store.inbox.expireClaims({ owner: "old", now: T0 + 1 })).toBe(1);
        const again = await store.inbox.claim({ owner: "new", limit: 5, leaseMs: 1000, now: T0 + 1 });
        expect(again.map((c) => [c.updateId, c.recovered])).toEqual([[1, true]]);
        expect(await store.inbox.expireClaims({ now: T0 + 2 })).toBe(2);
      });

      it("counts a recovery as evidence (isolatedDeaths) only when the lost claim ran alone, and tells every recovery how the lost claim ran", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 10)], { now: T0 });
        let now = T0;
        const crash = async (owner: string): Promise<void> => {
          await store.inbox.expireClaims({ owner, now: ++now });
        };
        // Claimed with other work and killed: recovered, but no evidence against either.
        const first = await store.inbox.claim({ owner: "p1", limit: 5, leaseMs: 60_000, now });
        expect(first.map((c) => [c.updateId, c.recoveredIsolation, c.isolatedDeaths])).toEqual([[1, null, 0], [2, null, 0]]);
        await crash("p1");
        const second = await store.inbox.claim({ owner: "p2", limit: 5, leaseMs: 60_000, now });
        expect(second.map((c) => [c.updateId, c.recovered, c.recoveries, c.recoveredIsolation, c.isolatedDeaths])).toEqual([
          [1, true, 1, 0, 0],
          [2, true, 1, 0, 0],
        ]);
        // Isolated together (a group of two) and killed: still no evidence against either.
        expect(await store.inbox.isolate(second.map((c) => c.claim))).toEqual([true, true]);
        await crash("p2");
        const third = await store.inbox.claim({ owner: "p3", limit: 5, leaseMs: 60_000, now });
        expect(third.map((c) => [c.updateId, c.recoveries, c.recoveredIsolation, c.isolatedDeaths])).toEqual([
          [1, 2, 2, 0],
          [2, 2, 2, 0],
        ]);
        // Update 1 runs alone and its process dies: evidence. Update 2's claim was not isolated this time.
        expect(await store.inbox.isolate([third[0]!.claim])).toEqual([true]);
        await crash("p3");
        const fourth = await store.inbox.claim({ owner: "p4", limit: 5, leaseMs: 60_000, now });
        expect(fourth.map((c) => [c.updateId, c.attempt, c.recoveries, c.recoveredIsolation, c.isolatedDeaths])).toEqual([
          [1, 4, 3, 1, 1],
          [2, 4, 3, 0, 0],
        ]);
        expect(await store.inbox.get(1)).toMatchObject({ recoveries: 3, isolatedDeaths: 1 });
        // Only current claims are marked: a lost claim, a settled one, a wrong token are not.
        expect(await store.inbox.isolate([third[1]!.claim, { ...fourth[1]!.claim, token: 999 }, fourth[1]!.claim])).toEqual([false, false, true]);
        expect(await store.inbox.settle(fourth[1]!.claim, { kind: "done" }, { now })).toBe("settled");
        expect(await store.inbox.isolate([fourth[1]!.claim])).toEqual([false]);
        // An isolated claim that ends normally (here: retried) proves nothing: its next claim is no recovery.
        expect(await store.inbox.isolate([fourth[0]!.claim])).toEqual([true]);
        expect(await store.inbox.settle(fourth[0]!.claim, { kind: "retry", at: now, error: "boom" }, { now })).toBe("settled");
        const fifth = await store.inbox.claim({ owner: "p5", limit: 5, leaseMs: 60_000, now });
        expect(fifth.map((c) => [c.updateId, c.recovered, c.recoveredIsolation, c.isolatedDeaths])).toEqual([[1, false, null, 1]]);
        // Nor does a released one. The isolation ended with its claim: a death of the next
        // (ordinary) claim is no evidence.
        expect(await store.inbox.isolate([fifth[0]!.claim])).toEqual([true]);
        expect(await store.inbox.settle(fifth[0]!.claim, { kind: "release" }, { now })).toBe("settled");
        await store.inbox.claim({ owner: "p6", limit: 5, leaseMs: 60_000, now });
        await crash("p6");
        const seventh = await store.inbox.claim({ owner: "p7", limit: 5, leaseMs: 60_000, now });
        expect(seventh.map((c) => [c.updateId, c.recovered, c.recoveredIsolation, c.isolatedDeaths])).toEqual([[1, true, 0, 1]]);
        // The evidence stays with a dead letter, and is cleared when the operator retries it.
        expect(await store.inbox.settle(seventh[0]!.claim, { kind: "dead", error: "gave up" }, { now })).toBe("settled");
        expect(await store.inbox.deadLetters.get(1)).toMatchObject({ recoveries: 4, isolatedDeaths: 1 });
        expect(await store.inbox.deadLetters.retry({ updateId: 1 }, { now })).toBe(1);
        expect(await store.inbox.get(1)).toMatchObject({ state: "pending", isolatedDeaths: 0 });
        expect(await store.inbox.isolate([])).toEqual([]);
      });

      it("inflightOwners lists who holds claims, and forgets owners whose claims settled", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 30)], { now: T0 });
        expect(await store.inbox.inflightOwners()).toEqual([]);
        const [a] = await store.inbox.claim({ owner: "a", limit: 1, leaseMs: 60_000, now: T0 });
        await store.inbox.claim({ owner: "b", limit: 2, leaseMs: 60_000, now: T0 });
        expect((await store.inbox.inflightOwners()).sort()).toEqual(["a", "b"]);
        await store.inbox.settle(a!.claim, { kind: "done" }, { now: T0 + 1 });
        expect(await store.inbox.inflightOwners()).toEqual(["b"]);
      });

      it("release gives an item back without counting an attempt", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10)], { now: T0 });
        const [c] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
        expect(await store.inbox.settle(c!.claim, { kind: "release" }, { now: T0 + 1 })).toBe("settled");
        const [again] = await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1 });
        expect(again).toMatchObject({ updateId: 1, attempt: 1 });
      });

      it("settleMany settles a batch in one step, each claim checked on its own", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
        const claims = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        const results = await store.inbox.settleMany(
          [
            { claim: claims[0]!.claim, outcome: { kind: "done" }, effects: [{ kind: "kv.set", key: "a", value: "1" }] },
            { claim: { ...claims[1]!.claim, token: 999 }, outcome: { kind: "done" }, effects: [{ kind: "kv.set", key: "b", value: "1" }] },
          ],
          { now: T0 + 1 },
        );
        expect(results).toEqual(["settled", "stale"]);
        expect(await store.state.getValue("a")).toBe("1");
        expect(await store.state.getValue("b")).toBeNull();
        expect(await store.inbox.settleMany([])).toEqual([]);
      });

      it("refuses malformed arguments", async () => {
        const store = await fresh();
        await expectCode(store.inbox.claim({ ...lease, limit: 0, now: T0 }), "INVALID_ARGUMENT");
        await expectCode(store.inbox.claim({ owner: "", limit: 1, leaseMs: 1, now: T0 }), "INVALID_ARGUMENT");
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        const [c] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
        const bad = { kind: "maybe" } as unknown as { kind: "done" };
        await expectCode(store.inbox.settle(c!.claim, bad), "INVALID_ARGUMENT");
        const noToken = { updateId: 1, owner } as unknown as Claim;
        await expectCode(store.inbox.settle(noToken, { kind: "done" }), "INVALID_ARGUMENT");
        await expectCode(store.inbox.extendLease(c!.claim, 0), "INVALID_ARGUMENT");
        await expectCode(store.inbox.isolate([noToken]), "INVALID_ARGUMENT");
        await expectCode(store.inbox.isolate(c!.claim as unknown as Claim[]), "INVALID_ARGUMENT");
        expect((await store.inbox.get(1))?.state).toBe("inflight");
      });
    });

    describe("running updates", () => {
      it("lists in-flight updates by when their current claim was taken, oldest first, fused claims included", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 30), message(4, 10)], { now: T0 });
        const [first] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 100 });
        await store.inbox.claim({ owner: "worker-b", limit: 1, leaseMs: 1000, now: T0 + 200 });
        const fused = await store.inbox.ingest([message(5, 50)], { now: T0 + 300, claim: { owner: "worker-c", limit: 1, leaseMs: 1000 } });
        expect(fused.claimed?.map((c) => c.updateId)).toEqual([3]); // the oldest ready head
        expect(await store.inbox.running({ claimedBefore: T0 + 99 })).toEqual([]);
        expect(await store.inbox.running({ claimedBefore: T0 + 250 })).toEqual([
          { updateId: 1, chatKey: "10", updateType: "message", receivedAt: T0, claimedAt: T0 + 100, owner: lease.owner, attempt: 1, leaseUntil: T0 + 100 + lease.leaseMs },
          { updateId: 2, chatKey: "20", updateType: "message", receivedAt: T0, claimedAt: T0 + 200, owner: "worker-b", attempt: 1, leaseUntil: T0 + 1200 },
        ]);
        expect((await store.inbox.running({ claimedBefore: T0 + 300 })).map((r) => r.updateId)).toEqual([1, 2, 3]);
        expect((await store.inbox.running({ claimedBefore: T0 + 300, limit: 1 })).map((r) => r.updateId)).toEqual([1]);
        // A renewed lease is the same try: its claim time stays. A settled one is not running.
        await store.inbox.extendLease(first!.claim, 5000, { now: T0 + 400 });
        expect(await store.inbox.running({ claimedBefore: T0 + 150 })).toMatchObject([{ updateId: 1, claimedAt: T0 + 100, leaseUntil: T0 + 5400 }]);
        await store.inbox.settle(first!.claim, { kind: "retry", at: T0 + 500, error: "timed out" }, { now: T0 + 450 });
        expect((await store.inbox.running({ claimedBefore: T0 + 1000 })).map((r) => r.updateId)).toEqual([2, 3]);
        // The retry is a new try: claimed again, with its own claim time and attempt.
        const [retry] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 600 });
        expect(retry?.updateId).toBe(1);
        expect(await store.inbox.running({ claimedBefore: T0 + 1000 })).toMatchObject([
          { updateId: 2 }, { updateId: 3 }, { updateId: 1, claimedAt: T0 + 600, attempt: 2 },
        ]);
        await expectCode(store.inbox.running({ claimedBefore: Number.NaN }), "INVALID_ARGUMENT");
        await expectCode(store.inbox.running({ claimedBefore: T0, limit: 0 }), "INVALID_ARGUMENT");
      });
    });

    describe("claims fused with ingest and settle", () => {
      it("ingest with claim takes the oldest ready heads, new and stored, one per chat, up to the limit", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 30)], { now: T0 });
        // Chat 20's head is in flight, chat 30's waits for a retry: neither can give a head.
        const [c2] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
        expect(c2?.updateId).toBe(1);
        const [c3] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
        expect(c3?.updateId).toBe(2);
        await store.inbox.settle(c3!.claim, { kind: "retry", at: T0 + 5000, error: "later" }, { now: T0 });
        const [c4] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
        expect(c4?.updateId).toBe(3);
        const fresh4 = message(7, 50);
        const result = await store.inbox.ingest([message(4, 10), message(5, 20), message(6, 40), message(6, 40), fresh4, message(8, 40), message(3, 30)], {
          nextOffset: 9,
          now: T0 + 10,
          claim: { owner, limit: 2, leaseMs: 1000 },
        });
        expect(result.inserted).toBe(5);
        expect(result.duplicates).toBe(2);
        // Ready heads: 6 (chat 40) and 7 (chat 50); 4 waits behind chat 10's update 1 in flight.
        expect(ids(result.claimed!)).toEqual([6, 7]);
        expect(result.claimed![0]).toMatchObject({ chatKey: "40", attempt: 1, recoveries: 0, recovered: false, lastError: null, receivedAt: T0 + 10 });
        expect(result.claimed![0]!.claim).toMatchObject({ owner, leaseUntil: T0 + 1010 });
        expect(result.claimed![1]!.update).toEqual(fresh4);
        expect(JSON.parse(result.claimed![1]!.raw)).toEqual(fresh4);
        expect(await store.inbox.get(6)).toMatchObject({ state: "inflight", attempts: 1, leaseOwner: owner, leaseUntil: T0 + 1010 });
        expect(await store.inbox.get(8)).toMatchObject({ state: "pending" });
        expect(await store.state.offset()).toBe(9);
        // The same chats are busy now: a plain claim finds nothing else ready.
        expect(await store.inbox.claim({ ...lease, limit: 10, now: T0 + 10 })).toEqual([]);
        expect(await store.inbox.settle(result.claimed![0]!.claim, { kind: "done" }, { now: T0 + 11 })).toBe("settled");
        expect(ids(await store.inbox.claim({ ...lease, limit: 10, now: T0 + 11 }))).toEqual([8]);
        // Without the option the result has no `claimed`; with limit 0 it is empty.
        expect(await store.inbox.ingest([message(9, 60)], { now: T0 + 12 })).toEqual({ inserted: 1, duplicates: 0 });
        expect(await store.inbox.ingest([message(10, 70)], { now: T0 + 12, claim: { owner, limit: 0, leaseMs: 1000 } })).toEqual({
          inserted: 1,
          duplicates: 0,
          claimed: [],
        });
      });

      it("ingest with claim prefers an older stored head, and recovers expired claims like claim", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
        const [dead] = await store.inbox.claim({ owner: "dead-process", limit: 1, leaseMs: 100, now: T0 });
        expect(dead?.updateId).toBe(1);
        const result = await store.inbox.ingest([message(3, 30), message(4, 40)], { now: T0 + 200, claim: { owner, limit: 2, leaseMs: 1000 } });
        expect(ids(result.claimed!)).toEqual([1, 2]);
        expect(result.claimed![0]).toMatchObject({ recovered: true, recoveries: 1, attempt: 2 });
        expect(result.claimed![1]!.update).toEqual(message(2, 20));
        expect(await store.inbox.settle(dead!.claim, { kind: "done" }, { now: T0 + 201 })).toBe("stale");
      });

      it("a rejected ingest claims nothing", async () => {
        const store = await fresh();
        const grant = await store.leases.acquire("poller", "a", 1000, { now: T0 });
        if (!grant.held) throw new Error("lease not granted");
        await store.leases.acquire("poller", "b", 1000, { now: T0 + 2000 });
        await expectCode(
          store.inbox.ingest([message(1, 10)], { fence: { name: "poller", owner: "a", epoch: grant.epoch }, now: T0 + 2000, claim: { owner, limit: 5, leaseMs: 1000 } }),
          "CONFLICT",
        );
        expect(await store.inbox.get(1)).toBeNull();
        expect(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 2000 })).toEqual([]);
      });

      it("settleAndClaim settles, then claims the next heads (the same chats' included), oldest first", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 10), message(4, 30), message(5, 20)], { now: T0 });
        const first = await store.inbox.claim({ ...lease, limit: 2, now: T0 });
        expect(ids(first)).toEqual([1, 2]);
        const { results, claimed } = await store.inbox.settleAndClaim(
          [
            { claim: first[0]!.claim, outcome: { kind: "done" }, effects: [{ kind: "kv.increment", key: "done:1" }] },
            { claim: first[1]!.claim, outcome: { kind: "retry", at: T0 + 1000, error: "flaky" } },
            { claim: { ...first[0]!.claim }, outcome: { kind: "done" }, effects: [{ kind: "kv.increment", key: "done:1" }] },
          ],
          { now: T0 + 1, claim: { owner, limit: 5, leaseMs: 1000 } },
        );
        expect(results).toEqual(["settled", "settled", "stale"]);
        expect(await store.state.getValue("done:1")).toBe("1");
        // 3 (chat 10's next) and 4; chat 20 waits for its retry.
        expect(ids(claimed)).toEqual([3, 4]);
        expect(claimed[0]).toMatchObject({ attempt: 1, recovered: false });
        expect(claimed[0]!.update).toEqual(message(3, 10));
        const next = await store.inbox.settleAndClaim([], { now: T0 + 1000, claim: { owner, limit: 5, leaseMs: 1000 } });
        expect(next.results).toEqual([]);
        expect(ids(next.claimed)).toEqual([2]);
        expect(next.claimed[0]).toMatchObject({ attempt: 2, lastError: "flaky" });
        const none = await store.inbox.settleAndClaim(
          claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } })),
          { now: T0 + 1001, claim: { owner, limit: 0, leaseMs: 1000 } },
        );
        expect(none).toEqual({ results: ["settled", "settled"], claimed: [] });
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1001 }))).toEqual([]);
      });

      it("fused claims do exactly what the separate calls do (random workload, two stores side by side)", async () => {
        const fused = await fresh();
        const plain = await fresh();
        let seed = 777;
        const rand = (): number => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          return seed / 0x7fffffff;
        };
        const shape = (items: readonly ClaimedUpdate[]) =>
          items.map((c) => ({ id: c.updateId, chat: c.chatKey, token: c.claim.token, lease: c.claim.leaseUntil, attempt: c.attempt, rec: c.recoveries, recovered: c.recovered, iso: c.recoveredIsolation, deaths: c.isolatedDeaths, err: c.lastError, update: c.update, raw: JSON.parse(c.raw) as unknown }));
        let now = T0;
        let nextId = 100;
        let held: ClaimedUpdate[] = [];
        let claimedTotal = 0;
        for (let step = 0; step < 400; step++) {
          now += Math.floor(rand() * 300);
          const owner = `w${Math.floor(rand() * 2)}`;
          const limit = Math.floor(rand() * 4);
          const leaseMs = 500 + Math.floor(rand() * 1000);
          const r = rand();
          if (r < 0.4) {
            const batch = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => message(nextId++, 1 + Math.floor(rand() * 6)));
            if (rand() < 0.2) batch.push(message(Math.max(1, nextId - 1 - Math.floor(rand() * 20)), 1 + Math.floor(rand() * 6)));
            // Late (lower) update ids, as a webhook may deliver them.
            if (rand() < 0.1) batch.push(message(1 + (step % 99), 1 + Math.floor(rand() * 6)));
            const a = await fused.inbox.ingest(batch, { now, nextOffset: nextId, claim: { owner, limit, leaseMs } });
            const b = await plain.inbox.ingest(batch, { now, nextOffset: nextId });
            const bClaimed = limit === 0 ? [] : await plain.inbox.claim({ owner, limit, leaseMs, now });
            expect({ inserted: a.inserted, duplicates: a.duplicates }).toEqual(b);
            expect(shape(a.claimed!)).toEqual(shape(bClaimed));
            held.push(...a.claimed!);
            claimedTotal += a.claimed!.length;
          } else if (r < 0.9 && held.length > 0) {
            if (rand() < 0.3) {
              // Some claims run isolated: what a recovery from them reports must match too.
              const group = held.slice(0, 1 + Math.floor(rand() * Math.min(3, held.length))).map((c) => c.claim);
              expect(await fused.inbox.isolate(group)).toEqual(await plain.inbox.isolate(group));
            }
            const n = 1 + Math.floor(rand() * Math.min(4, held.length));
            const requests = held.splice(0, n).map((c) => {
              const k = rand();
              const outcome =
                k < 0.6 ? ({ kind: "done" } as const)
                : k < 0.75 ? ({ kind: "retry", at: now + Math.floor(rand() * 600), error: `e${step}` } as const)
                : k < 0.85 ? ({ kind: "dead", error: "dead" } as const)
                : ({ kind: "release" } as const);
              return { claim: c.claim, outcome, effects: [{ kind: "kv.increment" as const, key: `n:${c.updateId}` }] };
            });
            if (rand() < 0.3) held = []; // a worker forgets its claims (crash): leases bring them back
            const a = await fused.inbox.settleAndClaim(requests, { now, claim: { owner, limit, leaseMs } });
            const b = await plain.inbox.settleMany(requests, { now });
            const bClaimed = limit === 0 ? [] : await plain.inbox.claim({ owner, limit, leaseMs, now });
            expect(a.results).toEqual(b);
            expect(shape(a.claimed)).toEqual(shape(bClaimed));
            held.push(...a.claimed);
            claimedTotal += a.claimed.length;
          } else {
            const a = await fused.inbox.claim({ owner, limit: limit + 1, leaseMs, now });
            const b = await plain.inbox.claim({ owner, limit: limit + 1, leaseMs, now });
            expect(shape(a)).toEqual(shape(b));
            held.push(...a);
          }
          expect(await fused.inbox.stats({ now })).toEqual(await plain.inbox.stats({ now }));
        }
        expect(claimedTotal).toBeGreaterThan(100);
        for (let id = 1; id < nextId; id++) {
          expect(await fused.inbox.get(id), `update ${id}`).toEqual(await plain.inbox.get(id));
          expect(await fused.state.getValue(`n:${id}`)).toEqual(await plain.state.getValue(`n:${id}`));
        }
      });
    });

    describe("retries and dead letters", () => {
      it("a retried item blocks its chat's later updates until it is done", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 20)], { now: T0 });
        const [c1, c3] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        expect(c1?.updateId).toBe(1);
        await store.inbox.settle(c1!.claim, { kind: "retry", at: T0 + 1000, error: "boom" }, { now: T0 + 1 });
        await store.inbox.settle(c3!.claim, { kind: "done" }, { now: T0 + 1 });
        expect(await store.inbox.get(1)).toMatchObject({ state: "pending", dueAt: T0 + 1000, lastError: "boom" });
        // Update 2 is pending and due, but its chat's head waits for its retry time.
        expect(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 500 })).toEqual([]);
        const [retried] = await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1000 });
        expect(retried).toMatchObject({ updateId: 1, attempt: 2, lastError: "boom", recovered: false });
        expect(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1000 })).toEqual([]);
        await store.inbox.settle(retried!.claim, { kind: "done" }, { now: T0 + 1001 });
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 1001 }))).toEqual([2]);
      });

      it("a dead letter is kept with its error and stack, and its chat goes on", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10)], { now: T0 });
        const [c] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        await store.inbox.settle(c!.claim, { kind: "dead", error: "TypeError: x is undefined", stack: "at handler (bot.ts:3)" }, { now: T0 + 5 });
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 + 5 }))).toEqual([2]);
        const dead = await store.inbox.deadLetters.get(1);
        expect(dead).toMatchObject({
          updateId: 1,
          chatKey: "10",
          error: "TypeError: x is undefined",
          stack: "at handler (bot.ts:3)",
          attempts: 1,
          diedAt: T0 + 5,
        });
        expect(dead?.update).toEqual(message(1, 10));
        expect(await store.inbox.deadLetters.get(2)).toBeNull();
        const stats = await store.inbox.stats({ now: T0 + 5 });
        expect(stats).toMatchObject({ dead: 1, inflight: 1, pending: 0 });
      });

      it("lists dead letters with filters and pagination, retries and purges them", async () => {
        const store = await fresh();
        const updates = [message(1, 10), message(2, 20), message(3, 30), message(4, 10), message(5, 40)];
        await store.inbox.ingest(updates, { now: T0 });
        const errors: Record<number, string> = { 1: "timeout A", 2: "boom", 3: "timeout B", 5: "boom" };
        let now = T0;
        for (let round = 0; round < 2; round++) {
          for (const c of await store.inbox.claim({ ...lease, limit: 10, now })) {
            const error = errors[c.updateId];
            await store.inbox.settle(c.claim, error === undefined ? { kind: "done" } : { kind: "dead", error }, { now });
          }
          now += 1;
        }
        expect((await store.inbox.stats({ now })).dead).toBe(4);

        const page1 = await store.inbox.deadLetters.list({ limit: 3 });
        expect(page1.items.map((d) => d.updateId)).toEqual([1, 2, 3]);
        expect(page1.nextCursor).not.toBeNull();
        const page2 = await store.inbox.deadLetters.list({ limit: 3, cursor: page1.nextCursor! });
        expect(page2.items.map((d) => d.updateId)).toEqual([5]);
        expect(page2.nextCursor).toBeNull();
        expect((await store.inbox.deadLetters.list({ errorContains: "timeout" })).items.map((d) => d.updateId)).toEqual([1, 3]);
        expect((await store.inbox.deadLetters.list({ chatKey: "20" })).items.map((d) => d.updateId)).toEqual([2]);
        expect((await store.inbox.deadLetters.list({ updateType: "edited_message" })).items).toEqual([]);
        await expectCode(store.inbox.deadLetters.list({ cursor: "garbage" }), "INVALID_ARGUMENT");

        // Retry one: claimable again at once, attempts reset.
        expect(await store.inbox.deadLetters.retry({ updateId: 2 }, { now })).toBe(1);
        const [again] = await store.inbox.claim({ ...lease, limit: 10, now });
        expect(again).toMatchObject({ updateId: 2, attempt: 1, lastError: "boom" });
        await store.inbox.settle(again!.claim, { kind: "done" }, { now });
        expect(await store.inbox.deadLetters.get(2)).toBeNull();

        // Retry by error text.
        expect(await store.inbox.deadLetters.retry({ filter: { errorContains: "timeout" } }, { now })).toBe(2);
        expect(ids(await store.inbox.claim({ ...lease, limit: 10, now }))).toEqual([1, 3]);

        // An empty filter is refused: "all" must be said explicitly.
        await expectCode(store.inbox.deadLetters.purge({ filter: {} }), "INVALID_ARGUMENT");
        expect(await store.inbox.deadLetters.purge({ all: true })).toBe(1);
        expect(await store.inbox.get(5)).toBeNull();
        expect(await store.inbox.deadLetters.retry({ all: true }, { now })).toBe(0);
      });

      it("a retried dead letter goes before its chat's later pending updates, never beside one in flight", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 10)], { now: T0 });
        const [c1] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        await store.inbox.settle(c1!.claim, { kind: "dead", error: "x" }, { now: T0 });
        const [c2] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        expect(c2?.updateId).toBe(2);
        // 2 is in flight: the retried 1 must wait, not run beside it.
        await store.inbox.deadLetters.retry({ updateId: 1 }, { now: T0 });
        expect(await store.inbox.claim({ ...lease, limit: 5, now: T0 })).toEqual([]);
        await store.inbox.settle(c2!.claim, { kind: "done" }, { now: T0 });
        // Then 1 goes before 3.
        const [next] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        expect(next?.updateId).toBe(1);
        await store.inbox.settle(next!.claim, { kind: "done" }, { now: T0 });
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 }))).toEqual([3]);
      });

      it("a retried dead letter displaces a pending (not in flight) head", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10)], { now: T0 });
        const [c1] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        await store.inbox.settle(c1!.claim, { kind: "dead", error: "x" }, { now: T0 });
        await store.inbox.ingest([message(2, 10)], { now: T0 });
        await store.inbox.deadLetters.retry({ filter: { chatKey: "10" } }, { now: T0 });
        expect(ids(await store.inbox.claim({ ...lease, limit: 5, now: T0 }))).toEqual([1]);
      });
    });

    describe("prune and stats", () => {
      it("prune deletes only done updates settled before the retention", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20), message(3, 30), message(4, 40)], { now: T0 });
        const claims = await store.inbox.claim({ ...lease, limit: 10, now: T0 });
        await store.inbox.settle(claims[0]!.claim, { kind: "done" }, { now: T0 + 10 });
        await store.inbox.settle(claims[1]!.claim, { kind: "done" }, { now: T0 + 100 });
        await store.inbox.settle(claims[2]!.claim, { kind: "dead", error: "x" }, { now: T0 + 10 });
        expect(await store.inbox.prune({ handledBefore: T0 + 50 })).toBe(1);
        expect(await store.inbox.get(1)).toBeNull();
        expect(await store.inbox.get(2)).not.toBeNull();
        expect(await store.inbox.get(3)).not.toBeNull();
        expect(await store.inbox.get(4)).not.toBeNull();
        expect(await store.inbox.prune({ handledBefore: T0 + 1000, limit: 1 })).toBe(1);
        expect(await store.inbox.prune({ handledBefore: T0 + 1000 })).toBe(0);
      });

      it("stats count states and the age of the oldest unfinished update", async () => {
        const store = await fresh();
        expect(await store.inbox.stats({ now: T0 })).toEqual({
          pending: 0,
          inflight: 0,
          done: 0,
          dead: 0,
          chatsWithWork: 0,
          oldestOpenReceivedAt: null,
          oldestOpenAgeMs: 0,
        });
        await store.inbox.ingest([message(1, 10), message(2, 10)], { now: T0 });
        await store.inbox.ingest([message(3, 20)], { now: T0 + 500 });
        await store.inbox.claim({ ...lease, limit: 1, now: T0 + 500 });
        expect(await store.inbox.stats({ now: T0 + 2000 })).toEqual({
          pending: 2,
          inflight: 1,
          done: 0,
          dead: 0,
          chatsWithWork: 2,
          oldestOpenReceivedAt: T0,
          oldestOpenAgeMs: 2000,
        });
      });
    });

    describe("leases", () => {
      it("only one owner holds a lease; it passes on after expiry with a new epoch", async () => {
        const store = await fresh();
        expect(await store.leases.get("poller")).toBeNull();
        const a = await store.leases.acquire("poller", "A", 1000, { now: T0 });
        expect(a).toEqual({ held: true, epoch: 1, expiresAt: T0 + 1000 });
        expect(await store.leases.acquire("poller", "B", 1000, { now: T0 + 999 })).toEqual({
          held: false,
          holder: "A",
          expiresAt: T0 + 1000,
        });
        // Re-acquiring while holding renews, same epoch.
        expect(await store.leases.acquire("poller", "A", 1000, { now: T0 + 500 })).toEqual({ held: true, epoch: 1, expiresAt: T0 + 1500 });
        expect(await store.leases.renew({ name: "poller", owner: "A", epoch: 1 }, 1000, { now: T0 + 1000 })).toEqual({
          held: true,
          epoch: 1,
          expiresAt: T0 + 2000,
        });
        const b = await store.leases.acquire("poller", "B", 1000, { now: T0 + 2000 });
        expect(b).toEqual({ held: true, epoch: 2, expiresAt: T0 + 3000 });
        // A, back from a long pause, has lost it.
        expect(await store.leases.renew({ name: "poller", owner: "A", epoch: 1 }, 1000, { now: T0 + 2001 })).toEqual({
          held: false,
          holder: "B",
          expiresAt: T0 + 3000,
        });
        expect(await store.leases.release({ name: "poller", owner: "A", epoch: 1 })).toBe(false);
        expect(await store.leases.get("poller")).toEqual({ name: "poller", owner: "B", epoch: 2, expiresAt: T0 + 3000 });
        expect(await store.leases.release({ name: "poller", owner: "B", epoch: 2 })).toBe(true);
        // Released: anyone may take it at once, and epochs keep growing.
        expect(await store.leases.acquire("poller", "A", 1000, { now: T0 + 2002 })).toEqual({ held: true, epoch: 3, expiresAt: T0 + 3002 });
        expect(await store.leases.renew({ name: "poller", owner: "B", epoch: 2 }, 1000, { now: T0 + 2003 })).toMatchObject({ held: false });
        // Leases are independent by name.
        expect((await store.leases.acquire("other", "B", 1000, { now: T0 })).held).toBe(true);
      });
    });

    describe("runtime state", () => {
      it("records heartbeats and offline windows", async () => {
        const store = await fresh();
        expect(await store.state.lastBeat()).toBeNull();
        expect(await store.state.recordStart(T0)).toBeNull();
        expect(await store.state.lastBeat()).toBe(T0);
        await store.state.beat(T0 + 1000);
        expect(await store.state.lastBeat()).toBe(T0 + 1000);
        const day = 25 * 3600_000;
        expect(await store.state.recordStart(T0 + 1000 + day)).toEqual({ from: T0 + 1000, to: T0 + 1000 + day, durationMs: day });
        await store.state.beat(T0 + 2000 + day);
        await store.state.recordStart(T0 + 3000 + day);
        const windows = await store.state.offlineWindows();
        expect(windows.map((w) => w.durationMs)).toEqual([1000, day]);
        expect(await store.state.offlineWindows({ limit: 1 })).toHaveLength(1);
      });

      it("keeps small key/values", async () => {
        const store = await fresh();
        expect(await store.state.getValue("mode")).toBeNull();
        await store.state.setValue("mode", "polling");
        await store.state.setValue("mode", "webhook");
        expect(await store.state.getValue("mode")).toBe("webhook");
        expect(await store.state.deleteValue("mode")).toBe(true);
        expect(await store.state.deleteValue("mode")).toBe(false);
      });

      it("binds to the first bot and keeps that binding, across reopening", async () => {
        let store = await fresh();
        expect(await store.state.boundBot()).toBeNull();
        expect(await store.state.bindBot(111)).toBe(111);
        expect(await store.state.bindBot(111)).toBe(111);
        // Another bot is not bound over it: the caller sees the first bot and refuses.
        expect(await store.state.bindBot(222)).toBe(111);
        store = await reopen(store);
        expect(await store.state.boundBot()).toBe(111);
        expect(await store.state.bindBot(222)).toBe(111);
        await expectCode(store.state.bindBot(0), "INVALID_ARGUMENT");
        await expectCode(store.state.bindBot(1.5), "INVALID_ARGUMENT");
      });

      it("settle effects set, increment and delete values atomically with the settle", async () => {
        const store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
        const [a, b] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
        await store.inbox.settle(a!.claim, { kind: "done" }, {
          effects: [
            { kind: "kv.increment", key: "n" },
            { kind: "kv.set", key: "last", value: "1" },
            { kind: "kv.set", key: "tmp", value: "x" },
          ],
          now: T0,
        });
        await store.inbox.settle(b!.claim, { kind: "done" }, {
          effects: [{ kind: "kv.increment", key: "n", by: 2 }, { kind: "kv.delete", key: "tmp" }],
          now: T0,
        });
        expect(await store.state.getValue("n")).toBe("3");
        expect(await store.state.getValue("last")).toBe("1");
        expect(await store.state.getValue("tmp")).toBeNull();
      });
    });

    describe("durability and lifecycle", () => {
      it("finds everything again after closing and reopening", async () => {
        let store = await fresh();
        await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 20), message(4, 30)], { nextOffset: 5, now: T0 });
        const claims = await store.inbox.claim({ owner: "before", limit: 5, leaseMs: 1000, now: T0 });
        await store.inbox.settle(claims[0]!.claim, { kind: "done" }, { now: T0 });
        await store.inbox.settle(claims[1]!.claim, { kind: "dead", error: "bad" }, { now: T0 });
        // claims[2] (update 4) stays in flight: "the process died".
        await store.state.beat(T0 + 10);
        await store.state.setValue("k", "v");
        await store.leases.acquire("poller", "before", 5000, { now: T0 });

        store = await reopen(store);
        expect(await store.state.offset()).toBe(5);
        expect(await store.state.lastBeat()).toBe(T0 + 10);
        expect(await store.state.getValue("k")).toBe("v");
        expect(await store.leases.get("poller")).toMatchObject({ owner: "before", epoch: 1 });
        expect((await store.inbox.get(1))?.state).toBe("done");
        expect((await store.inbox.deadLetters.get(3))?.error).toBe("bad");
        expect((await store.inbox.get(4))?.state).toBe("inflight");
        expect(await store.inbox.ingest([message(1, 10)], { now: T0 })).toEqual({ inserted: 0, duplicates: 1 });
        // The crashed claim is recovered after its lease; the chat order continues.
        const after = await store.inbox.claim({ owner: "after", limit: 5, leaseMs: 1000, now: T0 + 1000 });
        expect(after.map((c) => [c.updateId, c.recovered])).toEqual([
          [2, false],
          [4, true],
        ]);
      });

      it("fails with STOPPED after close, and close is idempotent", async () => {
        const store = await factory();
        await store.close();
        await store.close();
        await expectCode(store.inbox.claim({ ...lease, limit: 1, now: T0 }), "STOPPED");
        await expectCode(store.state.offset(), "STOPPED");
      });
    });

    describe("model check", () => {
      it("random workers, crashes, retries and isolated claims keep per-chat order, complete each update once, and count deaths alone exactly", async () => {
        const store = await fresh();
        let seed = 12345;
        const rand = (): number => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          return seed / 0x7fffffff;
        };
        const chats = 7;
        const total = 300;
        let nextId = 1;
        let now = T0;
        const completed = new Map<string, number[]>(); // chat -> update ids in completion order
        const completions = new Map<number, number>();
        const inFlightChats = new Map<string, number>();
        type Held = { item: ClaimedUpdate; owner: string };
        let held: Held[] = [];
        const failuresLeft = new Map<number, number>();
        const seen = { stale: 0, recovered: 0, retried: 0, isolated: 0, isolatedDeaths: 0 };
        // The model of isolation: each item's current claim (token), the group its claim was
        // isolated in (by token), and its deaths while alone.
        const current = new Map<number, number>();
        const isolation = new Map<number, { token: number; group: number }>();
        const deaths = new Map<number, number>();
        const checkClaim = (item: ClaimedUpdate): void => {
          const id = item.updateId;
          if (item.recovered) {
            const lost = isolation.get(id);
            const group = lost !== undefined && lost.token === item.claim.token - 1 ? lost.group : 0;
            expect(item.recoveredIsolation, `update ${id}`).toBe(group);
            if (group === 1) {
              deaths.set(id, (deaths.get(id) ?? 0) + 1);
              seen.isolatedDeaths += 1;
            }
          } else {
            expect(item.recoveredIsolation, `update ${id}`).toBeNull();
          }
          expect(item.isolatedDeaths, `update ${id}`).toBe(deaths.get(id) ?? 0);
          isolation.delete(id);
          current.set(id, item.claim.token);
        };

        for (let step = 0; step < 2000 && (nextId <= total || held.length > 0 || (await store.inbox.stats({ now })).pending > 0); step++) {
          now += Math.floor(rand() * 200);
          const r = rand();
          if (r < 0.25 && nextId <= total) {
            const batch = Array.from({ length: Math.min(1 + Math.floor(rand() * 5), total - nextId + 1) }, () => {
              const id = nextId++;
              if (rand() < 0.1) failuresLeft.set(id, 1 + Math.floor(rand() * 2));
              return message(id, 1000 + Math.floor(rand() * chats));
            });
            // Re-deliver some old ones too: must be ignored.
            if (nextId > 3) batch.push(message(1 + Math.floor(rand() * (nextId - 2)), 0));
            await store.inbox.ingest(batch, { nextOffset: nextId, now });
          } else if (r < 0.55) {
            const owner = `w${Math.floor(rand() * 3)}`;
            const got = await store.inbox.claim({ owner, limit: 1 + Math.floor(rand() * 4), leaseMs: 1000, now });
            for (const item of got) {
              const other = inFlightChats.get(item.chatKey);
              // Allowed only if the other holder's claim expired (it was recovered from).
              if (other !== undefined) expect(item.recovered).toBe(true);
              if (item.recovered) seen.recovered += 1;
              inFlightChats.set(item.chatKey, item.updateId);
              // The previous holder (if any) keeps its stale claim: its settle must be refused.
              held.push({ item, owner });
              checkClaim(item);
            }
            if (rand() < 0.4) {
              // This worker runs some of its claims isolated (stale ones among them are refused).
              const mine = held.filter((h) => h.owner === owner).slice(0, 1 + Math.floor(rand() * 3));
              const marked = await store.inbox.isolate(mine.map((h) => h.item.claim));
              expect(marked).toEqual(mine.map((h) => current.get(h.item.updateId) === h.item.claim.token));
              mine.forEach((h, i) => {
                if (marked[i] === true) isolation.set(h.item.updateId, { token: h.item.claim.token, group: mine.length });
              });
              seen.isolated += marked.filter(Boolean).length;
            }
          } else if (r < 0.9 && held.length > 0) {
            const index = Math.floor(rand() * held.length);
            const { item } = held[index]!;
            held.splice(index, 1);
            const failing = failuresLeft.get(item.updateId) ?? 0;
            const outcome =
              failing > 0
                ? item.attempt >= 3
                  ? ({ kind: "dead", error: "gave up" } as const)
                  : ({ kind: "retry", at: now + 300, error: "flaky" } as const)
                : ({ kind: "done" } as const);
            if (failing > 0) failuresLeft.set(item.updateId, failing - 1);
            const result = await store.inbox.settle(item.claim, outcome, {
              now,
              effects: outcome.kind === "done" ? [{ kind: "kv.increment", key: `done:${item.updateId}` }] : [],
            });
            if (result === "stale") seen.stale += 1;
            if (result === "settled" && outcome.kind === "retry") seen.retried += 1;
            if (result === "settled") {
              current.delete(item.updateId);
              if (inFlightChats.get(item.chatKey) === item.updateId) inFlightChats.delete(item.chatKey);
              if (outcome.kind !== "retry") {
                const list = completed.get(item.chatKey) ?? [];
                list.push(item.updateId);
                completed.set(item.chatKey, list);
              }
              if (outcome.kind === "done") completions.set(item.updateId, (completions.get(item.updateId) ?? 0) + 1);
            }
          } else if (held.length > 0) {
            // A worker "crashes": its items are simply forgotten; leases must bring them back.
            const victim = held[0]!.owner;
            held = held.filter((h) => h.owner !== victim);
          }
        }
        // Drain what is left with a single well-behaved worker.
        for (let guard = 0; guard < 1000; guard++) {
          now += 2000;
          const got = await store.inbox.claim({ owner: "drain", limit: 50, leaseMs: 1000, now });
          if (got.length === 0 && (await store.inbox.stats({ now })).pending === 0) break;
          for (const item of got) {
            checkClaim(item);
            const result = await store.inbox.settle(item.claim, { kind: "done" }, {
              now,
              effects: [{ kind: "kv.increment", key: `done:${item.updateId}` }],
            });
            expect(result).toBe("settled");
            const list = completed.get(item.chatKey) ?? [];
            list.push(item.updateId);
            completed.set(item.chatKey, list);
            completions.set(item.updateId, (completions.get(item.updateId) ?? 0) + 1);
          }
        }
        const stats = await store.inbox.stats({ now });
        expect(stats.pending + stats.inflight).toBe(0);
        expect(stats.done + stats.dead).toBe(total);
        // The run must actually have exercised the hard paths.
        expect(stats.dead).toBeGreaterThan(0);
        expect(seen.stale).toBeGreaterThan(0);
        expect(seen.recovered).toBeGreaterThan(0);
        expect(seen.retried).toBeGreaterThan(0);
        expect(seen.isolated).toBeGreaterThan(0);
        expect(seen.isolatedDeaths).toBeGreaterThan(0);
        for (const [chat, list] of completed) {
          expect(list, `order of chat ${chat}`).toEqual([...list].sort((a, b) => a - b));
        }
        for (let id = 1; id <= total; id++) {
          const rec = await store.inbox.get(id);
          const stored = await store.state.getValue(`done:${id}`);
          if (rec?.state === "done") {
            expect(completions.get(id), `update ${id}`).toBe(1);
            expect(stored).toBe("1");
          } else {
            expect(rec?.state).toBe("dead");
            expect(stored).toBeNull();
          }
        }
      });
    });

    defineOutboxContract(factory);
    defineDataContract(factory);
    defineTaskContract(factory);
    defineInspectContract(factory);
  });
}
