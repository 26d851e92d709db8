/**
 * The task contract (`store.tasks`, the `task.add` effect): what every backend must do with
 * durable tasks. Part of the store contract ({@link defineStoreContract} calls it).
 */
import { describe, expect, it } from "vitest";
import type { NewTask, Store, TaskKindLimit } from "../../src/store/index.js";
import { expectCode, message, T0, useStores, type StoreFactory } from "./store-contract.js";

/** A task of `kind` for `user` (null: no user). */
function task(id: string, user: number | null = null, over: Partial<NewTask> = {}): NewTask {
  return { id, kind: "download", payload: JSON.stringify({ url: `https://x/${id}` }), userId: user, chatId: user, key: null, maxAttempts: 3, notBefore: null, ...over };
}

const limit = (over: Partial<TaskKindLimit> = {}): TaskKindLimit => ({ kind: "download", concurrency: 10, perUser: 10, take: 10, ...over });
const claimIds = async (store: Store, owner: string, now: number, over: Partial<TaskKindLimit> = {}, leaseMs = 60_000): Promise<string[]> =>
  (await store.tasks.claim({ owner, leaseMs, kinds: [limit(over)], now })).map((c) => c.task.id);

/** Defines the task cases for one backend. */
export function defineTaskContract(factory: StoreFactory): void {
  describe("tasks", () => {
    const { fresh, reopen } = useStores(factory);

    it("adds a task once per id and per key, durably", async () => {
      let store = await fresh();
      expect(await store.tasks.add(task("a", 1), { now: T0 })).toEqual({ id: "a", created: true });
      expect(await store.tasks.add(task("a", 1, { payload: "{}" }), { now: T0 + 1 })).toEqual({ id: "a", created: false });
      expect(await store.tasks.add(task("k1", 1, { key: "user-key" }), { now: T0 })).toEqual({ id: "k1", created: true });
      expect(await store.tasks.add(task("k2", 1, { key: "user-key" }), { now: T0 })).toEqual({ id: "k1", created: false });
      store = await reopen(store);
      const a = await store.tasks.get("a");
      expect(a).toMatchObject({ id: "a", kind: "download", userId: 1, chatId: 1, state: "queued", failures: 0, runs: 0, dueAt: T0, createdAt: T0, payload: JSON.stringify({ url: "https://x/a" }) });
      expect(await store.tasks.get("k2")).toBeNull();
      expect(await store.tasks.get("nothing")).toBeNull();
    });

    it("refuses malformed tasks, writing nothing", async () => {
      const store = await fresh();
      await expectCode(store.tasks.add(task("")), "INVALID_ARGUMENT");
      await expectCode(store.tasks.add(task("x", null, { payload: "not json" })), "INVALID_ARGUMENT");
      await expectCode(store.tasks.add(task("x", null, { maxAttempts: 0 })), "INVALID_ARGUMENT");
      await expectCode(store.tasks.add(task("x", 1.5)), "INVALID_ARGUMENT");
      expect(await store.tasks.get("x")).toBeNull();
    });

    it("claims due tasks oldest first, never past the kind's global limit", async () => {
      const store = await fresh();
      for (let i = 0; i < 5; i++) await store.tasks.add(task(`t${i}`, 100 + i), { now: T0 + i });
      await store.tasks.add(task("later", 200, { notBefore: T0 + 10_000 }), { now: T0 });
      expect(await claimIds(store, "p1", T0 + 10, { concurrency: 2 })).toEqual(["t0", "t1"]);
      // Another process sees the same limit: the live claims of p1 count.
      expect(await claimIds(store, "p2", T0 + 10, { concurrency: 2 })).toEqual([]);
      expect(await claimIds(store, "p2", T0 + 10, { concurrency: 3 })).toEqual(["t2"]);
      // `take` bounds one claim (a process's free slots).
      expect(await claimIds(store, "p2", T0 + 10, { take: 1 })).toEqual(["t3"]);
      expect(await claimIds(store, "p2", T0 + 10)).toEqual(["t4"]);
      expect(await claimIds(store, "p2", T0 + 10_000)).toEqual(["later"]);
      // Other kinds are not touched.
      expect(await claimIds(store, "p2", T0 + 10_000, { kind: "other" })).toEqual([]);
    });

    it("claims a user's tasks only up to the per-user limit, without holding up other users", async () => {
      const store = await fresh();
      for (let i = 0; i < 4; i++) await store.tasks.add(task(`a${i}`, 1), { now: T0 + i });
      await store.tasks.add(task("b0", 2), { now: T0 + 10 });
      await store.tasks.add(task("n0", null), { now: T0 + 11 });
      await store.tasks.add(task("n1", null), { now: T0 + 12 });
      expect(await claimIds(store, "p1", T0 + 20, { perUser: 2 })).toEqual(["a0", "a1", "b0", "n0", "n1"]);
      expect(await claimIds(store, "p2", T0 + 20, { perUser: 2 })).toEqual([]);
      const [a0] = await store.tasks.claim({ owner: "p1", leaseMs: 1, kinds: [], now: T0 });
      expect(a0).toBeUndefined();
      const lease = { id: "a0", owner: "p1", run: 1 };
      expect(await store.tasks.settle(lease, { kind: "done", result: '"ok"' }, { now: T0 + 30 })).toBe("settled");
      expect(await claimIds(store, "p2", T0 + 31, { perUser: 2 })).toEqual(["a2"]);
      expect(await store.tasks.countOpen("download", 1)).toBe(3);
      expect(await store.tasks.countOpen("download", 2)).toBe(1);
      expect(await store.tasks.countOpen("other", 1)).toBe(0);
    });

    it("takes over the claim of a process that died once it expired, and dead-letters a task that keeps killing its process", async () => {
      const store = await fresh();
      await store.tasks.add(task("t", 1), { now: T0 });
      const [first] = await store.tasks.claim({ owner: "dead", leaseMs: 1_000, kinds: [limit({ perUser: 1 })], now: T0 });
      expect(first?.recovered).toBe(false);
      expect(await claimIds(store, "p2", T0 + 999)).toEqual([]);
      // An extended claim holds longer.
      expect(await store.tasks.extend(first!.lease, { leaseMs: 2_000, now: T0 + 500 })).toEqual({ ok: true, cancelRequested: false });
      expect(await claimIds(store, "p2", T0 + 2_000)).toEqual([]);
      const [second] = await store.tasks.claim({ owner: "p2", leaseMs: 1_000, kinds: [limit({ perUser: 1 })], now: T0 + 2_500 });
      expect(second).toMatchObject({ recovered: true, lease: { id: "t", owner: "p2", run: 2 }, task: { runs: 2, recoveries: 1, failures: 0 } });
      // The dead process's writes are refused now.
      expect(await store.tasks.extend(first!.lease, { leaseMs: 1_000, now: T0 + 2_600 })).toEqual({ ok: false });
      expect(await store.tasks.progress(first!.lease, "50", null, { now: T0 + 2_600 })).toEqual({ ok: false });
      expect(await store.tasks.settle(first!.lease, { kind: "done", result: null }, { now: T0 + 2_600 })).toBe("stale");
      // p2 dies too; with maxRecoveries 1 the next take-over makes it a dead letter instead.
      expect(await store.tasks.claim({ owner: "p3", leaseMs: 1_000, maxRecoveries: 1, kinds: [limit()], now: T0 + 4_000 })).toEqual([]);
      const dead = await store.tasks.get("t");
      expect(dead).toMatchObject({ state: "failed", leaseOwner: null });
      expect(dead?.lastError).toMatch(/died 2 times/);
    });

    it("records progress and results; retries with a due time, then dead-letters after the attempts", async () => {
      const store = await fresh();
      await store.tasks.add(task("t", 1, { maxAttempts: 2 }), { now: T0 });
      const [c1] = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit()], now: T0 });
      expect(await store.tasks.progress(c1!.lease, JSON.stringify({ pct: 40 }), "fetching", { now: T0 + 1 })).toEqual({ ok: true, cancelRequested: false });
      expect(await store.tasks.get("t")).toMatchObject({ progress: '{"pct":40}', progressNote: "fetching", state: "running", leaseOwner: "p" });
      expect(await store.tasks.settle(c1!.lease, { kind: "retry", at: T0 + 5_000, error: "HTTP 503" }, { now: T0 + 2 })).toBe("settled");
      expect(await store.tasks.settle(c1!.lease, { kind: "done", result: null }, { now: T0 + 3 })).toBe("stale");
      expect(await store.tasks.get("t")).toMatchObject({ state: "queued", failures: 1, dueAt: T0 + 5_000, lastError: "HTTP 503", leaseOwner: null });
      expect(await claimIds(store, "p", T0 + 4_999)).toEqual([]);
      const [c2] = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit()], now: T0 + 5_000 });
      expect(c2?.lease.run).toBe(2);
      // A release (stop, open breaker) uses no attempt.
      expect(await store.tasks.settle(c2!.lease, { kind: "release", at: T0 + 6_000, error: "circuit open" }, { now: T0 + 5_001 })).toBe("settled");
      expect(await store.tasks.get("t")).toMatchObject({ state: "queued", failures: 1, dueAt: T0 + 6_000 });
      const [c3] = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit()], now: T0 + 6_000 });
      expect(await store.tasks.settle(c3!.lease, { kind: "dead", error: "HTTP 404 with token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4" }, { now: T0 + 6_001 })).toBe("settled");
      const dead = await store.tasks.get("t");
      expect(dead).toMatchObject({ state: "failed", failures: 2, finishedAt: T0 + 6_001 });
      expect(dead?.lastError).not.toContain("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4");
      // Done, with a result.
      await store.tasks.add(task("ok", 1), { now: T0 });
      const [c4] = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit()], now: T0 + 7_000 });
      expect(await store.tasks.settle(c4!.lease, { kind: "done", result: '{"file":"a.mp4"}' }, { now: T0 + 7_001 })).toBe("settled");
      expect(await store.tasks.get("ok")).toMatchObject({ state: "done", result: '{"file":"a.mp4"}', finishedAt: T0 + 7_001 });
    });

    it("cancels a queued task at once and flags a running one for its runner", async () => {
      const store = await fresh();
      await store.tasks.add(task("q", 1), { now: T0 });
      await store.tasks.add(task("r", 2), { now: T0 });
      const [r] = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit({ take: 1 })], now: T0 });
      expect(r?.task.id).toBe("q");
      // "q" runs now; cancel the queued one ("r") and the running one ("q").
      expect(await store.tasks.cancel("r", { now: T0 + 1 })).toBe("cancelled");
      expect(await store.tasks.cancel("q", { now: T0 + 1 })).toBe("cancelling");
      expect(await store.tasks.cancel("r")).toBe("finished");
      expect(await store.tasks.cancel("none")).toBe("not-found");
      expect(await claimIds(store, "p", T0 + 2)).toEqual([]);
      expect(await store.tasks.extend(r!.lease, { leaseMs: 1_000, now: T0 + 2 })).toEqual({ ok: true, cancelRequested: true });
      // A release of a task whose cancel was asked ends it cancelled.
      expect(await store.tasks.settle(r!.lease, { kind: "release", at: T0 + 3 }, { now: T0 + 3 })).toBe("settled");
      expect(await store.tasks.get("q")).toMatchObject({ state: "cancelled", finishedAt: T0 + 3 });
      // A cancelled task whose process died is not run again.
      await store.tasks.add(task("d", 3), { now: T0 });
      const [d] = await store.tasks.claim({ owner: "dead", leaseMs: 100, kinds: [limit()], now: T0 + 10 });
      expect(await store.tasks.cancel("d", { now: T0 + 11 })).toBe("cancelling");
      expect(d?.task.id).toBe("d");
      expect(await claimIds(store, "p", T0 + 1_000)).toEqual([]);
      expect((await store.tasks.get("d"))?.state).toBe("cancelled");
    });

    it("counts by kind and state; lists, retries and purges dead letters; prunes finished tasks", async () => {
      const store = await fresh();
      for (const id of ["f1", "f2", "f3"]) {
        await store.tasks.add(task(id, 1, { maxAttempts: 1, kind: id === "f3" ? "convert" : "download" }), { now: T0 });
      }
      await store.tasks.add(task("q", 2), { now: T0 });
      const claimed = await store.tasks.claim({ owner: "p", leaseMs: 1_000, kinds: [limit({ perUser: 5 }), limit({ kind: "convert" })], now: T0 });
      for (const c of claimed.filter((x) => x.task.id !== "q")) await store.tasks.settle(c.lease, { kind: "dead", error: "boom" }, { now: T0 + Number(c.task.id.slice(1)) });
      expect(await store.tasks.counts()).toEqual([
        { kind: "convert", state: "failed", count: 1 },
        { kind: "download", state: "failed", count: 2 },
        { kind: "download", state: "running", count: 1 },
      ]);
      expect((await store.tasks.deadLetters()).map((t) => t.id)).toEqual(["f3", "f2", "f1"]);
      expect((await store.tasks.deadLetters({ kind: "download", limit: 1 })).map((t) => t.id)).toEqual(["f2"]);
      expect(await store.tasks.deadLetters({ userId: 2 })).toEqual([]);
      expect(await store.tasks.retry({ ids: ["f1", "q"] }, { now: T0 + 100 })).toBe(1);
      expect(await store.tasks.get("f1")).toMatchObject({ state: "queued", failures: 0, dueAt: T0 + 100, finishedAt: null });
      expect(await store.tasks.purge({ kind: "convert" })).toBe(1);
      expect(await store.tasks.purge({ all: true })).toBe(1);
      expect(await store.tasks.deadLetters()).toEqual([]);
      await expectCode(store.tasks.retry({ ids: "f1" } as never), "INVALID_ARGUMENT");
      const q = claimed.find((x) => x.task.id === "q")!;
      await store.tasks.settle(q.lease, { kind: "done", result: null }, { now: T0 + 200 });
      expect(await store.tasks.prune({ finishedBefore: T0 + 200 })).toBe(0);
      expect(await store.tasks.prune({ finishedBefore: T0 + 201 })).toBe(1);
      expect(await store.tasks.get("q")).toBeNull();
    });

    it("the task.add effect adds the task with the update's completion, once, and a stale settle adds none", async () => {
      const store = await fresh();
      const lease = { owner: "w", leaseMs: 30_000 };
      await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
      const [dead] = await store.inbox.claim({ ...lease, owner: "dead", leaseMs: 1_000, limit: 1, now: T0 });
      const [again] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 1_000 });
      expect(dead!.updateId).toBe(again!.updateId);
      expect(await store.inbox.settle(dead!.claim, { kind: "done" }, { effects: [{ kind: "task.add", task: task("late", 10) }], now: T0 + 1_001 })).toBe("stale");
      expect(await store.tasks.get("late")).toBeNull();
      await store.inbox.settle(again!.claim, { kind: "done" }, { effects: [{ kind: "task.add", task: task("u1:0", 10) }], now: T0 + 1_002 });
      expect(await store.tasks.get("u1:0")).toMatchObject({ state: "queued", createdAt: T0 + 1_002 });
      // A replayed update (the same effect again) adds nothing; a malformed one fails the settle before any write.
      const [other] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 2_000 });
      await expectCode(
        store.inbox.settle(other!.claim, { kind: "done" }, { effects: [{ kind: "task.add", task: task("u2:0", 20) }, { kind: "task.add", task: task("", 20) }], now: T0 + 2_001 }),
        "INVALID_ARGUMENT",
      );
      expect(await store.tasks.get("u2:0")).toBeNull();
      await store.inbox.settle(other!.claim, { kind: "done" }, { effects: [{ kind: "task.add", task: task("u1:0", 10, { payload: "{}" }) }], now: T0 + 2_002 });
      expect((await store.tasks.get("u1:0"))?.payload).toBe(JSON.stringify({ url: "https://x/u1:0" }));
    });

    it("never exceeds the limits when several processes claim at once", async () => {
      const store = await fresh();
      for (let i = 0; i < 40; i++) await store.tasks.add(task(`t${i}`, i % 4), { now: T0 });
      const batches = await Promise.all(["p1", "p2", "p3", "p4"].map((owner) => store.tasks.claim({ owner, leaseMs: 10_000, kinds: [limit({ concurrency: 6, perUser: 2, take: 5 })], now: T0 + 1 })));
      const all = batches.flat();
      expect(all.length).toBe(6);
      const perUser = new Map<number, number>();
      for (const c of all) perUser.set(c.task.userId!, (perUser.get(c.task.userId!) ?? 0) + 1);
      expect(Math.max(...perUser.values())).toBeLessThanOrEqual(2);
    });
  });
}
