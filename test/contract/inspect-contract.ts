/**
 * The operator's reads (`store.inspect`) and the history of handler tries, for every backend:
 * what the dashboard and `unlost trace` rely on. Called by `defineStoreContract`.
 */
import { describe, expect, it } from "vitest";
import { MAX_ATTEMPTS_KEPT, type Store } from "../../src/store/index.js";
import { newJob } from "./outbox-contract.js";
import { message, T0, useStores, type StoreFactory } from "./store-contract.js";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/** Defines the inspect cases for one backend. */
export function defineInspectContract(factory: StoreFactory): void {
  describe("inspect (the operator's reads) and the handler tries' history", () => {
    const { fresh, reopen } = useStores(factory);
    const lease = { owner: "worker-a", leaseMs: 30_000 };

    async function claimOne(store: Store, now: number) {
      const [got] = await store.inbox.claim({ ...lease, limit: 1, now });
      if (got === undefined) throw new Error("nothing to claim");
      return got;
    }

    it("records each failed try with its start, end and scrubbed error; the completing try is the row's claim and settle", async () => {
      let store = await fresh();
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      const first = await claimOne(store, T0 + 10);
      await store.inbox.settle(first.claim, { kind: "retry", at: T0 + 100, error: `fetch failed for bot${TOKEN}/getMe` }, { now: T0 + 40 });
      const second = await claimOne(store, T0 + 100);
      await store.inbox.settle(second.claim, { kind: "done" }, { now: T0 + 130 });
      store = await reopen(store);
      const tries = await store.inspect.attempts(1);
      expect(tries).toHaveLength(1);
      expect(tries[0]).toMatchObject({ updateId: 1, attempt: 1, owner: "worker-a", startedAt: T0 + 10, endedAt: T0 + 40, outcome: "retry" });
      expect(tries[0]?.error).toContain("fetch failed");
      expect(tries[0]?.error).not.toContain(TOKEN);
      expect(await store.inbox.get(1)).toMatchObject({ state: "done", attempts: 2, claimedAt: T0 + 100, settledAt: T0 + 130 });
    });

    it("records a dead try, and a try lost with its process when the update is recovered", async () => {
      const store = await fresh();
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      await store.inbox.claim({ owner: "gone", leaseMs: 1_000, limit: 1, now: T0 + 5 });
      const recovered = await claimOne(store, T0 + 2_000);
      expect(recovered.recovered).toBe(true);
      await store.inbox.settle(recovered.claim, { kind: "dead", error: "bad input", stack: "at handler" }, { now: T0 + 2_050 });
      const tries = await store.inspect.attempts(1);
      expect(tries.map((t) => [t.attempt, t.outcome, t.owner, t.startedAt, t.endedAt])).toEqual([
        [1, "lost", "gone", T0 + 5, T0 + 2_000],
        [2, "dead", "worker-a", T0 + 2_000, T0 + 2_050],
      ]);
      expect(tries[0]?.error).toMatch(/died or stopped/);
      expect(tries[1]?.error).toBe("bad input");
    });

    it(`keeps at most ${MAX_ATTEMPTS_KEPT} tries per update (the newest), and forgets them when the dead letter is purged`, async () => {
      const store = await fresh();
      await store.inbox.ingest([message(1, 10), message(2, 11)], { now: T0 });
      let now = T0;
      for (let i = 1; i <= MAX_ATTEMPTS_KEPT + 5; i++) {
        now += 10;
        const got = await store.inbox.claim({ ...lease, limit: 2, now });
        for (const g of got) {
          const outcome = g.updateId === 1 && i === MAX_ATTEMPTS_KEPT + 5 ? ({ kind: "dead", error: `e${i}` } as const) : ({ kind: "retry", at: now + 5, error: `e${i}` } as const);
          await store.inbox.settle(g.claim, g.updateId === 2 && i > 1 ? { kind: "done" } : outcome, { now: now + 1 });
        }
      }
      const tries = await store.inspect.attempts(1);
      expect(tries).toHaveLength(MAX_ATTEMPTS_KEPT);
      expect(tries[0]?.error).toBe("e6");
      expect(tries.at(-1)).toMatchObject({ error: `e${MAX_ATTEMPTS_KEPT + 5}`, outcome: "dead" });
      expect(await store.inspect.attempts(2)).toHaveLength(1);
      expect(await store.inbox.deadLetters.purge({ updateId: 1 })).toBe(1);
      expect(await store.inspect.attempts(1)).toEqual([]);
      // Pruning the done update forgets its tries too.
      await store.inbox.prune({ handledBefore: now + 1_000 });
      expect(await store.inspect.attempts(2)).toEqual([]);
    });

    it("records the failed first try of a journal update moved to a row", async () => {
      const store = await fresh();
      const journal = store.inbox.journal;
      if (journal === undefined) return; // a backend without the journal has nothing to move
      const { batch } = await journal.append([message(1, 10)], { owner: "j", nextOffset: 2, now: T0 });
      await journal.complete({ owner: "j", done: [], moved: [{ batch, update: message(1, 10), receivedAt: T0, attempts: 1, outcome: { kind: "retry", at: T0 + 50, error: `boom ${TOKEN}` } }], closed: [batch], now: T0 + 20 });
      const tries = await store.inspect.attempts(1);
      expect(tries).toEqual([{ updateId: 1, attempt: 1, owner: "j", startedAt: null, endedAt: T0 + 20, outcome: "retry", error: expect.stringContaining("boom") as unknown }]);
      expect(tries[0]?.error).not.toContain(TOKEN);
    });

    it("lists updates by state and chat, oldest or newest first", async () => {
      const store = await fresh();
      await store.inbox.ingest([message(1, 10), message(2, 10), message(3, 11), message(4, 12)], { now: T0 });
      const got = await claimOne(store, T0 + 1); // chat 10's head, update 1
      await store.inbox.settle(got.claim, { kind: "dead", error: "x" }, { now: T0 + 2 });
      await claimOne(store, T0 + 3); // update 2 in flight
      const ids = (records: readonly { updateId: number }[]) => records.map((r) => r.updateId);
      expect(ids(await store.inspect.updates())).toEqual([2, 3, 4]);
      expect(ids(await store.inspect.updates({ state: "inflight" }))).toEqual([2]);
      expect(ids(await store.inspect.updates({ state: "pending" }))).toEqual([3, 4]);
      expect(ids(await store.inspect.updates({ state: "dead" }))).toEqual([1]);
      expect(ids(await store.inspect.updates({ chatKey: "10", state: "open" }))).toEqual([2]);
      expect(ids(await store.inspect.updates({ newestFirst: true, limit: 2 }))).toEqual([4, 3]);
      await expect(store.inspect.updates({ state: "nope" as "open" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(store.inspect.updates({ limit: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    });

    it("lists jobs by state, priority, chat, broadcast and key prefix, in pages", async () => {
      const store = await fresh();
      await store.outbox.enqueue(
        [
          newJob("a", 1, { idempotencyKey: "42:7:0:sendMessage" }),
          newJob("b", 1, { idempotencyKey: "42:7:1:sendPhoto", priority: "high" }),
          newJob("c", 2, { idempotencyKey: "42:70:0:sendMessage" }),
          newJob("d", 3, { broadcastId: "bc", priority: "low" }),
          newJob("e", "@chan"),
        ],
        { now: T0 },
      );
      const ids = (page: { items: readonly { id: string }[] }) => page.items.map((j) => j.id);
      expect(ids(await store.inspect.jobs())).toEqual(["a", "b", "c", "d", "e"]);
      expect(ids(await store.inspect.jobs({ keyPrefix: "42:7:" }))).toEqual(["a", "b"]);
      expect(ids(await store.inspect.jobs({ chatId: 1 }))).toEqual(["a", "b"]);
      expect(ids(await store.inspect.jobs({ chatId: "@chan" }))).toEqual(["e"]);
      expect(ids(await store.inspect.jobs({ priority: "high" }))).toEqual(["b"]);
      expect(ids(await store.inspect.jobs({ broadcastId: "bc" }))).toEqual(["d"]);
      expect(ids(await store.inspect.jobs({ state: "delivered" }))).toEqual([]);
      const first = await store.inspect.jobs({ limit: 2, newestFirst: true });
      expect(ids(first)).toEqual(["e", "d"]);
      expect(first.nextCursor).not.toBeNull();
      const second = await store.inspect.jobs({ limit: 2, newestFirst: true, cursor: first.nextCursor ?? "" });
      expect(ids(second)).toEqual(["c", "b"]);
      const last = await store.inspect.jobs({ limit: 2, newestFirst: true, cursor: second.nextCursor ?? "" });
      expect(ids(last)).toEqual(["a"]);
      expect(last.nextCursor).toBeNull();
      await expect(store.inspect.jobs({ state: "lost" as "queued" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    });

    it("lists broadcasts with their progress", async () => {
      const store = await fresh();
      await store.outbox.enqueue([newJob("x1", 1, { broadcastId: "one" }), newJob("x2", 2, { broadcastId: "one" })], { now: T0 });
      await store.outbox.enqueue([newJob("y1", 3, { broadcastId: "two" })], { now: T0 + 10 });
      await store.outbox.pauseBroadcast("two");
      const list = await store.inspect.broadcasts();
      expect(list.map((b) => [b.broadcastId, b.total, b.remaining, b.paused])).toEqual([
        ["two", 1, 1, true],
        ["one", 2, 2, false],
      ]);
    });
  });
}
