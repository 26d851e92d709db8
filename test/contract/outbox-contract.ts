/**
 * The outbox part of the store contract: what every backend's `store.outbox` must do. Called
 * by `defineStoreContract`, so a backend that runs the store contract runs this too.
 *
 * All time is passed explicitly (`now`); no case sleeps.
 */
import { describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/errors/index.js";
import type { ClaimedJob, NewJob } from "../../src/outbound/types.js";
import type { Store } from "../../src/store/index.js";
import { useStores } from "./store-contract.js";

/** Opens a store (see `StoreFactory` in store-contract.ts), optionally with audit redaction. */
export type OutboxStoreFactory = (location?: string, options?: { readonly auditRedaction?: boolean }) => Promise<Store>;

const T0 = 1_700_000_000_000;

/** A job to `chatId`, with defaults a test can override. */
export function newJob(id: string, chatId: number | string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    id,
    method: "sendMessage",
    chatId,
    payload: JSON.stringify({ chat_id: chatId, text: `text of ${id}` }),
    priority: "normal",
    maxAttempts: 5,
    backoff: { baseMs: 2000, maxMs: 60_000, jitter: 0.1 },
    timeoutMs: 10_000,
    notBefore: T0,
    deadline: null,
    idempotencyKey: null,
    // One send's fingerprint for every job unless a test says otherwise: tests of replays vary it.
    fingerprint: "fp-same",
    metadata: null,
    sensitive: false,
    broadcastId: null,
    blobs: [],
    paidBroadcast: false,
    ...overrides,
  };
}

const ids = (jobs: readonly ClaimedJob[]): string[] => jobs.map((j) => j.id);
const delivered = (messageId = 1) => ({ kind: "delivered", result: `{"message_id":${messageId}}`, messageId }) as const;

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isUnlostError(err), `expected an UnlostError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/** Defines the outbox cases for one backend. */
export function defineOutboxContract(factory: OutboxStoreFactory): void {
  describe("outbox", () => {
    const { fresh, reopen } = useStores(factory);
    const lease = { owner: "loop-a", leaseMs: 30_000 };
    /** Claims everything claimable at `now` and delivers it; returns the ids in claim order. */
    async function drain(store: Store, now: number, rounds = 50): Promise<string[]> {
      const order: string[] = [];
      for (let i = 0; i < rounds; i++) {
        const got = await store.outbox.claim({ ...lease, limit: 100, now });
        if (got.length === 0) break;
        order.push(...ids(got));
        await store.outbox.settleMany(got.map((g) => ({ claim: g.claim, outcome: delivered() })), { now });
      }
      return order;
    }

    describe("enqueue", () => {
      it("is idempotent on the idempotency key and on the id, within a batch too", async () => {
        const store = await fresh();
        const first = await store.outbox.enqueue(
          [newJob("a", 10, { idempotencyKey: "k1" }), newJob("b", 10), newJob("a2", 10, { idempotencyKey: "k1" })],
          { now: T0 },
        );
        expect(first).toEqual([
          { id: "a", created: true },
          { id: "b", created: true },
          { id: "a", created: false },
        ]);
        expect(await store.outbox.enqueue([newJob("c", 10, { idempotencyKey: "k1" }), newJob("b", 12)], { now: T0 })).toEqual([
          { id: "a", created: false },
          { id: "b", created: false },
        ]);
        expect((await store.outbox.stats({ now: T0 })).byState.queued).toBe(2);
        expect(await store.outbox.get("c")).toBeNull();
        expect((await store.outbox.stats({ now: T0 })).divergedReplays).toBe(0);
        expect((await store.outbox.getByKey("k1"))?.id).toBe("a");
        expect(await store.outbox.getByKey("nope")).toBeNull();
        const b = await store.outbox.get("b");
        expect(b).toMatchObject({ id: "b", chatId: 10, state: "queued", attempts: 0, ambiguousAttempts: 0, dueAt: T0, createdAt: T0 });
        expect(b?.history).toEqual([]);
        expect(b?.backoff).toEqual({ baseMs: 2000, maxMs: 60_000, jitter: 0.1 });
      });

      it("takes a known key for the same send only when method, chat and fingerprint match; a different send is a new job", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a", 10, { idempotencyKey: "u1:0", fingerprint: "fp-a" })], { now: T0 });
        // A replay that says something else at that position: a new job, counted.
        const [b] = await store.outbox.enqueue([newJob("b", 10, { idempotencyKey: "u1:0", fingerprint: "fp-b" })], { now: T0 });
        expect(b).toEqual({ id: "b", created: true, diverged: true });
        // The same diverging send made once more (a third attempt) finds that job, not a third one.
        const [b2] = await store.outbox.enqueue([newJob("b2", 10, { idempotencyKey: "u1:0", fingerprint: "fp-b" })], { now: T0 });
        expect(b2).toEqual({ id: "b", created: false });
        // And the original send still finds the original job.
        expect(await store.outbox.enqueue([newJob("a2", 10, { idempotencyKey: "u1:0", fingerprint: "fp-a" })], { now: T0 })).toEqual([{ id: "a", created: false }]);
        // Another chat or another method under the same key and fingerprint is another send too.
        const [c] = await store.outbox.enqueue([newJob("c", 11, { idempotencyKey: "u1:0", fingerprint: "fp-a" })], { now: T0 });
        const [d] = await store.outbox.enqueue([newJob("d", 10, { idempotencyKey: "u1:0", fingerprint: "fp-a", method: "sendPhoto" })], { now: T0 });
        expect([c, d]).toEqual([{ id: "c", created: true, diverged: true }, { id: "d", created: true, diverged: true }]);
        const stats = await store.outbox.stats({ now: T0 });
        expect(stats.divergedReplays).toBe(3);
        expect(stats.byState.queued).toBe(4);
        expect((await store.outbox.getByKey("u1:0"))?.id).toBe("a");
        expect((await store.outbox.get("b"))?.fingerprint).toBe("fp-b");
      });

      it("a job that may repeat an earlier send starts with one ambiguous attempt on record, saying why", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("m", 10, { mayRepeat: "an earlier run may have sent this" }), newJob("n", 10)], { now: T0 });
        const m = await store.outbox.get("m");
        expect(m).toMatchObject({ state: "queued", attempts: 0, ambiguousAttempts: 1 });
        expect(m?.history).toMatchObject([{ outcome: "retry", ambiguous: true, error: "an earlier run may have sent this" }]);
        expect((await store.outbox.get("n"))?.ambiguousAttempts).toBe(0);
        expect((await store.outbox.stats({ now: T0 })).ambiguousAttempts).toBe(1);
        // It is sent like any job, and a known key stays the stored job (nothing marked again).
        expect(await drain(store, T0)).toEqual(["m", "n"]);
        await store.outbox.enqueue([newJob("k", 11, { idempotencyKey: "key" })], { now: T0 });
        expect(await store.outbox.enqueue([newJob("k2", 11, { idempotencyKey: "key", mayRepeat: "again" })], { now: T0 })).toEqual([{ id: "k", created: false }]);
        expect((await store.outbox.get("k"))?.ambiguousAttempts).toBe(0);
      });

      it("records delivered direct sends: a delivered job with its one attempt and audit entry, found by its key; known ones are left alone", async () => {
        const store = await fresh();
        await store.outbox.recordDelivered([
          { job: newJob("d1", 10, { idempotencyKey: "u:0:sendMessage" }), result: '{"message_id":7}', messageId: 7, at: T0 + 5 },
          { job: newJob("d2", "@channel"), result: "true", messageId: null, at: T0 + 6 },
        ]);
        const d1 = await store.outbox.getByKey("u:0:sendMessage");
        expect(d1).toMatchObject({ id: "d1", chatId: 10, state: "delivered", attempts: 1, ambiguousAttempts: 0, result: '{"message_id":7}', resultMessageId: 7, deliveredAt: T0 + 5 });
        expect(d1?.history).toMatchObject([{ outcome: "delivered", ambiguous: false }]);
        expect((await store.outbox.get("d2"))?.chatId).toBe("@channel");
        const stats = await store.outbox.stats({ now: T0 + 10 });
        expect(stats.byState).toMatchObject({ delivered: 2, queued: 0, sending: 0 });
        const audit = await store.outbox.audit.list({ chatId: 10 });
        expect(audit.items).toMatchObject([{ jobId: "d1", outcome: "delivered", messageId: 7 }]);
        // Recorded again (same id, or same key): nothing changes, no second audit entry.
        await store.outbox.recordDelivered([
          { job: newJob("d1", 10), result: '{"message_id":8}', messageId: 8, at: T0 + 7 },
          { job: newJob("d3", 10, { idempotencyKey: "u:0:sendMessage" }), result: '{"message_id":9}', messageId: 9, at: T0 + 7 },
        ]);
        expect((await store.outbox.get("d1"))?.resultMessageId).toBe(7);
        expect(await store.outbox.get("d3")).toBeNull();
        expect((await store.outbox.audit.list({ chatId: 10 })).items).toHaveLength(1);
        // Nothing is queued: the chat's queue is untouched.
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 10 })).toEqual([]);
        await expectCode(store.outbox.recordDelivered([{ job: newJob("", 10), result: "true", messageId: null, at: T0 }]), "INVALID_ARGUMENT");
      });

      it("says whether a chat has jobs queued or in flight", async () => {
        const store = await fresh();
        expect(await store.outbox.chatHasPending(10)).toBe(false);
        await store.outbox.enqueue([newJob("q", 10, { notBefore: T0 + 60_000 })], { now: T0 });
        expect(await store.outbox.chatHasPending(10)).toBe(true);
        expect(await store.outbox.chatHasPending(11)).toBe(false);
        expect(await store.outbox.chatHasPending("@channel")).toBe(false);
        const [claimed] = await store.outbox.claim({ ...lease, limit: 1, now: T0 + 60_000 });
        expect(await store.outbox.chatHasPending(10)).toBe(true);
        await store.outbox.settleMany([{ claim: (claimed as ClaimedJob).claim, outcome: delivered() }], { now: T0 + 60_000 });
        expect(await store.outbox.chatHasPending(10)).toBe(false);
      });

      it("keeps every field, and the chat id's type (number or @username)", async () => {
        const store = await fresh();
        const job = newJob("x", "@channel", {
          method: "sendPhoto",
          priority: "high",
          deadline: T0 + 60_000,
          metadata: '{"order":7}',
          sensitive: true,
          broadcastId: "bc",
          blobs: ["b1.jpg"],
          paidBroadcast: true,
          idempotencyKey: "kx",
          maxAttempts: 3,
        });
        await store.outbox.enqueue([job], { now: T0 });
        const stored = await store.outbox.get("x");
        const { state, attempts, ambiguousAttempts, dueAt, lastError, failureReason, result, resultMessageId, createdAt, updatedAt, deliveredAt, history, ...rest } =
          stored!;
        expect(rest).toEqual(job);
        expect({ state, attempts, ambiguousAttempts, dueAt, lastError, failureReason, result, resultMessageId, createdAt, updatedAt, deliveredAt, history }).toEqual({
          state: "queued",
          attempts: 0,
          ambiguousAttempts: 0,
          dueAt: T0,
          lastError: null,
          failureReason: null,
          result: null,
          resultMessageId: null,
          createdAt: T0,
          updatedAt: T0,
          deliveredAt: null,
          history: [],
        });
      });

      it("refuses a malformed job and enqueues nothing of its batch", async () => {
        const store = await fresh();
        const bad = { ...newJob("b", 10), priority: "urgent" } as unknown as NewJob;
        await expectCode(store.outbox.enqueue([newJob("a", 10), bad], { now: T0 }), "INVALID_ARGUMENT");
        await expectCode(store.outbox.enqueue([{ ...newJob("c", 10), chatId: 1.5 }], { now: T0 }), "INVALID_ARGUMENT");
        expect(await store.outbox.get("a")).toBeNull();
      });
    });

    describe("claim and settle", () => {
      it("keeps per-chat FIFO with one job in flight per chat", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a1", 10), newJob("a2", 10), newJob("b1", 20), newJob("a3", 10)], { now: T0 });
        const first = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(first)).toEqual(["a1", "b1"]);
        expect(first[0]).toMatchObject({ state: "sending", recovered: false, claim: { jobId: "a1", owner: "loop-a", leaseUntil: T0 + 30_000 } });
        expect(await store.outbox.claim({ owner: "loop-b", limit: 10, leaseMs: 1000, now: T0 })).toEqual([]);
        expect(await store.outbox.settle(first[0]!.claim, delivered(55), { now: T0 + 1 })).toBe("settled");
        expect(ids(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 1 }))).toEqual(["a2"]);
        const a1 = await store.outbox.get("a1");
        expect(a1).toMatchObject({ state: "delivered", attempts: 1, resultMessageId: 55, result: '{"message_id":55}', deliveredAt: T0 + 1 });
        expect(a1?.history).toEqual([{ at: T0 + 1, outcome: "delivered", code: null, error: null, ambiguous: false }]);
      });

      it("claims by priority across chats, and never reorders a chat", async () => {
        const store = await fresh();
        await store.outbox.enqueue(
          [
            newJob("low1", 1, { priority: "low" }),
            newJob("crit1", 1, { priority: "critical" }), // behind low1 in chat 1
            newJob("norm3", 3),
            newJob("crit2", 2, { priority: "critical" }),
            newJob("high4", 4, { priority: "high" }),
            newJob("norm5", 5),
          ],
          { now: T0 },
        );
        expect(ids(await store.outbox.claim({ ...lease, limit: 1, now: T0 }))).toEqual(["crit2"]);
        const rest = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(rest)).toEqual(["high4", "norm3", "norm5", "low1"]);
        await store.outbox.settle(rest[3]!.claim, delivered(), { now: T0 });
        expect(ids(await store.outbox.claim({ ...lease, limit: 10, now: T0 }))).toEqual(["crit1"]);
      });

      it("waits for not-before and retry times, and a waiting head blocks its chat", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("later", 10, { notBefore: T0 + 1000 }), newJob("after", 10), newJob("other", 20)], { now: T0 });
        expect(ids(await store.outbox.claim({ ...lease, limit: 10, now: T0 }))).toEqual(["other"]);
        const [later] = await store.outbox.claim({ ...lease, limit: 10, now: T0 + 1000 });
        expect(later?.id).toBe("later");
        const retry = { kind: "retry", at: T0 + 5000, error: "ETIMEDOUT", code: null, ambiguous: true } as const;
        expect(await store.outbox.settle(later!.claim, retry, { now: T0 + 1100 })).toBe("settled");
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 4999 })).toEqual([]);
        const again = await store.outbox.claim({ ...lease, limit: 10, now: T0 + 5000 });
        expect(ids(again)).toEqual(["later"]);
        expect(again[0]).toMatchObject({ attempts: 1, ambiguousAttempts: 1, lastError: "ETIMEDOUT", dueAt: T0 + 5000 });
        expect(again[0]?.history).toEqual([{ at: T0 + 1100, outcome: "retry", code: null, error: "ETIMEDOUT", ambiguous: true }]);
        expect(again[0]!.claim.token).toBeGreaterThan(later!.claim.token);
      });

      it("defer puts a job back without counting an attempt", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a", 10), newJob("b", 10)], { now: T0 });
        const [a] = await store.outbox.claim({ ...lease, limit: 5, now: T0 });
        expect(await store.outbox.settle(a!.claim, { kind: "defer", at: T0 + 100 }, { now: T0 })).toBe("settled");
        expect(await store.outbox.get("a")).toMatchObject({ state: "queued", attempts: 0, dueAt: T0 + 100, history: [] });
        expect(await store.outbox.claim({ ...lease, limit: 5, now: T0 + 99 })).toEqual([]);
        expect(ids(await store.outbox.claim({ ...lease, limit: 5, now: T0 + 100 }))).toEqual(["a"]);
      });

      it("rejects a stale settle; recovers an expired lease; extendLease and expireClaims work on job claims", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a", 10), newJob("b", 20)], { now: T0 });
        const [a, b] = await store.outbox.claim({ owner: "dead", limit: 5, leaseMs: 1000, now: T0 });
        expect(await store.outbox.inflightOwners()).toEqual(["dead"]);
        const extended = await store.outbox.extendLease(b!.claim, 5000, { now: T0 + 500 });
        expect(extended?.leaseUntil).toBe(T0 + 5500);
        // a's lease ran out; b's was extended.
        const recovered = await store.outbox.claim({ owner: "alive", limit: 5, leaseMs: 1000, now: T0 + 1000 });
        expect(ids(recovered)).toEqual(["a"]);
        expect(recovered[0]?.recovered).toBe(true);
        expect(await store.outbox.settle(a!.claim, delivered(), { now: T0 + 1001 })).toBe("stale");
        expect(await store.outbox.extendLease(a!.claim, 1000, { now: T0 + 1001 })).toBeNull();
        expect(await store.outbox.get("a")).toMatchObject({ state: "sending", attempts: 0 });
        expect(await store.outbox.settle(recovered[0]!.claim, delivered(), { now: T0 + 1002 })).toBe("settled");
        expect(await store.outbox.settle(recovered[0]!.claim, delivered(), { now: T0 + 1003 })).toBe("stale");
        expect(await store.outbox.expireClaims({ owner: "dead", now: T0 + 1100 })).toBe(1);
        expect(ids(await store.outbox.claim({ owner: "alive", limit: 5, leaseMs: 1000, now: T0 + 1100 }))).toEqual(["b"]);
        expect(await store.outbox.inflightOwners()).toEqual(["alive"]);
        expect(await store.outbox.settleMany([{ claim: { ...b!.claim, owner: "other" }, outcome: delivered() }], { now: T0 })).toEqual(["stale"]);
        await expectCode(store.outbox.settle({ jobId: "", owner: "x", token: 1, leaseUntil: 0 }, delivered()), "INVALID_ARGUMENT");
        await expectCode(store.outbox.claim({ owner: "x", limit: 0, leaseMs: 1, now: T0 }), "INVALID_ARGUMENT");
      });

      it("retarget moves the job and its old chat's queued jobs, keeping their order", async () => {
        const store = await fresh();
        await store.outbox.enqueue(
          [newJob("j1", -100), newJob("j2", -100), newJob("k1", -200), newJob("j3", -100), newJob("z", 30)],
          { now: T0 },
        );
        const claimed = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(claimed)).toEqual(["j1", "k1", "z"]);
        const migrate = { kind: "retarget", chatId: -200, at: T0, error: "Bad Request: group chat was upgraded to a supergroup chat" } as const;
        expect(await store.outbox.settle(claimed[0]!.claim, migrate, { now: T0 })).toBe("settled");
        const j1 = await store.outbox.get("j1");
        expect(j1).toMatchObject({ chatId: -200, state: "queued", attempts: 1 });
        expect(j1?.history[0]).toMatchObject({ outcome: "retarget", code: 400 });
        expect((await store.outbox.get("j3"))?.chatId).toBe(-200);
        // k1 is in flight in the supergroup: it finishes first, then j1, j2, j3 in their order.
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 })).toEqual([]);
        await store.outbox.settle(claimed[1]!.claim, delivered(), { now: T0 });
        expect(await drain(store, T0)).toEqual(["j1", "j2", "j3"]);
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 })).toEqual([]);
      });
    });

    describe("dead letters", () => {
      it("lists failed jobs by chat, error and reason; retries and purges them", async () => {
        const store = await fresh();
        await store.outbox.enqueue(
          [newJob("f1", 10, { blobs: ["f1.png"] }), newJob("f2", 20), newJob("f3", 30), newJob("q2", 10)],
          { now: T0 },
        );
        const got = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        const fail = (error: string, reason: "permanent" | "attempts" | "unreachable", code: number | null = 400) =>
          ({ kind: "failed", reason, error, code }) as const;
        expect(
          await store.outbox.settleMany(
            [
              { claim: got[0]!.claim, outcome: fail("Bad Request: chat not found", "permanent") },
              { claim: got[1]!.claim, outcome: fail("ETIMEDOUT", "attempts", null) },
              { claim: got[2]!.claim, outcome: { ...fail("Forbidden: bot was blocked by the user", "unreachable", 403), attempted: false } },
            ],
            { now: T0 + 10 },
          ),
        ).toEqual(["settled", "settled", "settled"]);
        expect(await store.outbox.get("f1")).toMatchObject({ state: "failed", failureReason: "permanent", attempts: 1, lastError: "Bad Request: chat not found" });
        expect(await store.outbox.get("f3")).toMatchObject({ state: "failed", failureReason: "unreachable", attempts: 0, history: [] });

        const all = await store.outbox.deadLetters.list();
        expect(all.items.map((j) => j.id)).toEqual(["f1", "f2", "f3"]);
        expect(all.nextCursor).toBeNull();
        expect((await store.outbox.deadLetters.list({ chatId: 20 })).items.map((j) => j.id)).toEqual(["f2"]);
        expect((await store.outbox.deadLetters.list({ errorContains: "chat not" })).items.map((j) => j.id)).toEqual(["f1"]);
        expect((await store.outbox.deadLetters.list({ reason: "unreachable" })).items.map((j) => j.id)).toEqual(["f3"]);
        const page1 = await store.outbox.deadLetters.list({ limit: 2 });
        expect(page1.items.map((j) => j.id)).toEqual(["f1", "f2"]);
        const page2 = await store.outbox.deadLetters.list({ limit: 2, cursor: page1.nextCursor! });
        expect(page2).toEqual({ items: [expect.objectContaining({ id: "f3" })], nextCursor: null });

        // Retried f1 goes back before its chat's later queued job q2.
        expect(await store.outbox.deadLetters.retry({ filter: { errorContains: "not found" } }, { now: T0 + 20 })).toBe(1);
        expect(await store.outbox.get("f1")).toMatchObject({ state: "queued", attempts: 0, failureReason: null, dueAt: T0 + 20 });
        expect(await drain(store, T0 + 20)).toEqual(["f1", "q2"]);
        expect((await store.outbox.get("f1"))?.history.map((h) => h.outcome)).toEqual(["failed", "delivered"]);

        const purged = await store.outbox.deadLetters.purge({ filter: { errorContains: "ETIMEDOUT" } });
        expect(purged).toEqual({ count: 1, blobs: [] });
        expect(await store.outbox.get("f2")).toBeNull();
        expect(await store.outbox.deadLetters.retry({ id: "f3" }, { now: T0 + 30 })).toBe(1);
        expect(await store.outbox.deadLetters.retry({ all: true }, { now: T0 + 30 })).toBe(0);
        await expectCode(store.outbox.deadLetters.purge({ filter: {} }), "INVALID_ARGUMENT");
        await expectCode(store.outbox.deadLetters.list({ cursor: "x" }), "INVALID_ARGUMENT");
      });

      it("purge returns the blob names of the purged jobs", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a", 10, { blobs: ["a1.jpg", "a2.jpg"] }), newJob("b", 20, { blobs: ["b.pdf"] })], { now: T0 });
        const got = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        for (const g of got) await store.outbox.settle(g.claim, { kind: "failed", reason: "permanent", error: "bad", code: 400 }, { now: T0 });
        const purged = await store.outbox.deadLetters.purge({ all: true });
        expect(purged.count).toBe(2);
        expect(purged.blobs.sort()).toEqual(["a1.jpg", "a2.jpg", "b.pdf"]);
        expect((await store.outbox.stats({ now: T0 })).byState.failed).toBe(0);
      });

      it("openBlobs lists the blobs of jobs that may still be sent (queued, sending, failed), not of delivered ones", async () => {
        const store = await fresh();
        await store.outbox.enqueue(
          [newJob("q", 1, { blobs: ["q.jpg"] }), newJob("s", 2, { blobs: ["s.jpg"] }), newJob("f", 3, { blobs: ["f.pdf"] }), newJob("d", 4, { blobs: ["d.bin"] })],
          { now: T0 },
        );
        const claimed = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        const byId = new Map(claimed.map((c) => [c.id, c]));
        await store.outbox.settle(byId.get("q")!.claim, { kind: "defer", at: T0 + 1 }, { now: T0 });
        await store.outbox.settle(byId.get("f")!.claim, { kind: "failed", reason: "permanent", error: "bad", code: 400 }, { now: T0 });
        await store.outbox.settle(byId.get("d")!.claim, { kind: "delivered", result: "{}", messageId: 1 }, { now: T0 });
        expect((await store.outbox.openBlobs()).sort()).toEqual(["f.pdf", "q.jpg", "s.jpg"]);
      });
    });

    describe("chats and users", () => {
      it("marks, lists and clears unreachable chats", async () => {
        const store = await fresh();
        expect(await store.outbox.isUnreachable(10)).toBeNull();
        await store.outbox.markUnreachable(10, "Forbidden: bot was blocked by the user", T0);
        await store.outbox.markUnreachable("@gone", "Forbidden: bot was kicked", T0 + 5);
        await store.outbox.markUnreachable(10, "Forbidden: user is deactivated", T0 + 9);
        expect(await store.outbox.isUnreachable("10")).toEqual({ chatId: 10, reason: "Forbidden: user is deactivated", since: T0 });
        expect(await store.outbox.listUnreachable()).toEqual([
          { chatId: 10, reason: "Forbidden: user is deactivated", since: T0 },
          { chatId: "@gone", reason: "Forbidden: bot was kicked", since: T0 + 5 },
        ]);
        expect(await store.outbox.clearUnreachable(10)).toBe(true);
        expect(await store.outbox.clearUnreachable(10)).toBe(false);
        expect(await store.outbox.isUnreachable(10)).toBeNull();
      });

      it("remembers the chat of each user", async () => {
        const store = await fresh();
        expect(await store.outbox.chatOfUser(7)).toBeNull();
        await store.outbox.rememberUser(7, 7, T0);
        await store.outbox.rememberUser(8, 8, T0);
        await store.outbox.rememberUser(7, 70, T0 + 1);
        expect(await store.outbox.chatOfUser(7)).toBe(70);
        expect(await store.outbox.chatOfUser(8)).toBe(8);
      });

      it("remembers several users in one call: the last chat given for a user wins; bad input is refused whole", async () => {
        const store = await fresh();
        await store.outbox.rememberUser(9, 9, T0);
        await store.outbox.rememberUsers([], T0);
        await store.outbox.rememberUsers([{ userId: 7, chatId: 7 }, { userId: 9, chatId: 90 }, { userId: 8, chatId: "@eight" }, { userId: 7, chatId: 70 }], T0 + 1);
        expect(await store.outbox.chatOfUser(7)).toBe(70);
        expect(await store.outbox.chatOfUser(8)).toBe("@eight");
        expect(await store.outbox.chatOfUser(9)).toBe(90);
        await expect(store.outbox.rememberUsers([{ userId: 10, chatId: 10 }, { userId: 0, chatId: 11 }], T0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
        expect(await store.outbox.chatOfUser(10)).toBeNull();
      });
    });

    describe("broadcasts", () => {
      it("reports progress; pause holds queued jobs (and their chats); resume and cancel", async () => {
        const store = await fresh();
        const bc = (id: string, chat: number) => newJob(id, chat, { broadcastId: "bc", priority: "low" });
        await store.outbox.enqueue([bc("b1", 1), bc("b2", 2), bc("b3", 3), bc("b4", 4), newJob("after4", 4), newJob("solo", 5)], { now: T0 });
        expect(await store.outbox.broadcastProgress("nope")).toBeNull();
        expect(await store.outbox.pauseBroadcast("nope")).toBe(false);
        const [b1] = await store.outbox.claim({ ...lease, limit: 1, now: T0 + 1 });
        expect(b1?.id).toBe("solo");
        const [first] = await store.outbox.claim({ ...lease, limit: 1, now: T0 + 1 });
        expect(first?.id).toBe("b1");
        expect(await store.outbox.pauseBroadcast("bc")).toBe(true);
        // Chat 4's later job waits behind the paused broadcast job: chat order is kept.
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 2 })).toEqual([]);
        await store.outbox.settle(first!.claim, delivered(), { now: T0 + 2 });
        expect(await store.outbox.broadcastProgress("bc")).toEqual({
          broadcastId: "bc",
          total: 4,
          delivered: 1,
          failed: 0,
          cancelled: 0,
          remaining: 3,
          paused: true,
        });
        // A job added to a paused broadcast is held too.
        await store.outbox.enqueue([bc("b6", 6)], { now: T0 + 2 });
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 3 })).toEqual([]);
        expect(await store.outbox.resumeBroadcast("bc", { now: T0 + 3 })).toBe(true);
        expect(await drain(store, T0 + 3)).toEqual(["b2", "b3", "b4", "b6", "after4"]);
        expect(await store.outbox.broadcastProgress("bc")).toMatchObject({ total: 5, delivered: 5, remaining: 0, paused: false });

        await store.outbox.enqueue(
          [newJob("c1", 6, { broadcastId: "bc2", blobs: ["p.jpg"] }), newJob("c2", 6, { broadcastId: "bc2" }), newJob("c3", 7, { broadcastId: "bc2" }), newJob("n7", 7)],
          { now: T0 + 4 },
        );
        const [c1] = await store.outbox.claim({ ...lease, limit: 1, now: T0 + 4 });
        expect(c1?.id).toBe("c1");
        const cancelled = await store.outbox.cancelBroadcast("bc2", { now: T0 + 5 });
        expect(cancelled).toEqual({ count: 2, blobs: [] });
        expect(await store.outbox.get("c3")).toMatchObject({ state: "cancelled" });
        // c1 was in flight and finishes; chat 7 goes on with n7.
        expect(ids(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 5 }))).toEqual(["n7"]);
        await store.outbox.settle(c1!.claim, delivered(), { now: T0 + 6 });
        expect(await store.outbox.broadcastProgress("bc2")).toMatchObject({ total: 3, delivered: 1, cancelled: 2, remaining: 0 });
      });
    });

    describe("audit log", () => {
      it("records delivered and failed jobs, without the payload of sensitive ones", async () => {
        const store = await fresh();
        await store.outbox.enqueue([newJob("a", 10), newJob("s", 20, { sensitive: true }), newJob("f", 30)], { now: T0 });
        const got = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        await store.outbox.settle(got[0]!.claim, delivered(11), { now: T0 + 1 });
        await store.outbox.settle(got[1]!.claim, delivered(12), { now: T0 + 2 });
        await store.outbox.settle(got[2]!.claim, { kind: "failed", reason: "permanent", error: "Bad Request: chat not found", code: 400 }, { now: T0 + 3 });
        const page = await store.outbox.audit.list();
        expect(page.items).toEqual([
          { jobId: "a", chatId: 10, method: "sendMessage", outcome: "delivered", messageId: 11, error: null, at: T0 + 1, payload: newJob("a", 10).payload },
          { jobId: "s", chatId: 20, method: "sendMessage", outcome: "delivered", messageId: 12, error: null, at: T0 + 2, payload: null },
          { jobId: "f", chatId: 30, method: "sendMessage", outcome: "failed", messageId: null, error: "Bad Request: chat not found", at: T0 + 3, payload: newJob("f", 30).payload },
        ]);
        expect((await store.outbox.audit.list({ chatId: 20 })).items.map((e) => e.jobId)).toEqual(["s"]);
        expect((await store.outbox.audit.list({ since: T0 + 2 })).items.map((e) => e.jobId)).toEqual(["s", "f"]);
        const p1 = await store.outbox.audit.list({ limit: 2 });
        expect((await store.outbox.audit.list({ limit: 2, cursor: p1.nextCursor! })).items.map((e) => e.jobId)).toEqual(["f"]);
        expect(await store.outbox.audit.prune({ before: T0 + 3 })).toBe(2);
        expect((await store.outbox.audit.list()).items.map((e) => e.jobId)).toEqual(["f"]);
      });

      it("keeps no payload at all when opened with audit redaction", async () => {
        const store = await fresh({ auditRedaction: true });
        await store.outbox.enqueue([newJob("a", 10)], { now: T0 });
        const [a] = await store.outbox.claim({ ...lease, limit: 1, now: T0 });
        await store.outbox.settle(a!.claim, delivered(5), { now: T0 });
        expect((await store.outbox.audit.list()).items).toEqual([expect.objectContaining({ jobId: "a", messageId: 5, payload: null })]);
      });
    });

    describe("stats and prune", () => {
      it("counts by state and priority, the oldest queued age, the last minute's deliveries and ambiguous attempts", async () => {
        const store = await fresh();
        const empty = await store.outbox.stats({ now: T0 });
        expect(empty).toEqual({
          byState: { queued: 0, sending: 0, delivered: 0, failed: 0, cancelled: 0 },
          queuedByPriority: { critical: 0, high: 0, normal: 0, low: 0 },
          oldestQueuedAgeMs: 0,
          deliveredLastMinute: 0,
          ambiguousAttempts: 0,
          divergedReplays: 0,
        });
        await store.outbox.enqueue([newJob("a", 1, { priority: "critical" }), newJob("b", 2)], { now: T0 });
        await store.outbox.enqueue([newJob("c", 3, { priority: "low" }), newJob("d", 4), newJob("e", 5, { broadcastId: "x" })], { now: T0 + 1000 });
        const got = await store.outbox.claim({ ...lease, limit: 3, now: T0 + 1000 });
        expect(ids(got)).toEqual(["a", "b", "d"]);
        await store.outbox.settle(got[0]!.claim, { ...delivered(), ambiguous: true }, { now: T0 + 1000 });
        await store.outbox.settle(got[1]!.claim, { kind: "retry", at: T0 + 9000, error: "reset", code: null, ambiguous: true }, { now: T0 + 1000 });
        await store.outbox.cancelBroadcast("x", { now: T0 + 1000 });
        const s = await store.outbox.stats({ now: T0 + 61_000 });
        expect(s).toEqual({
          byState: { queued: 2, sending: 1, delivered: 1, failed: 0, cancelled: 1 },
          queuedByPriority: { critical: 0, high: 0, normal: 1, low: 1 },
          oldestQueuedAgeMs: 61_000,
          deliveredLastMinute: 0,
          ambiguousAttempts: 2,
          divergedReplays: 0,
        });
        expect((await store.outbox.stats({ now: T0 + 30_000 })).deliveredLastMinute).toBe(1);
      });

      it("prune deletes delivered and cancelled jobs before the retention, returning their blobs", async () => {
        const store = await fresh();
        await store.outbox.enqueue(
          [newJob("old", 1, { blobs: ["o.jpg"], idempotencyKey: "ko" }), newJob("new", 2), newJob("dead", 3), newJob("wait", 4, { notBefore: T0 + 10 ** 9 })],
          { now: T0 },
        );
        await store.outbox.enqueue([newJob("cx", 5, { broadcastId: "c", blobs: ["c.pdf"], notBefore: T0 + 10 ** 9 })], { now: T0 });
        const got = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
        expect(ids(got)).toEqual(["old", "new", "dead"]);
        await store.outbox.settle(got[0]!.claim, delivered(), { now: T0 + 100 });
        await store.outbox.settle(got[1]!.claim, delivered(), { now: T0 + 5000 });
        await store.outbox.settle(got[2]!.claim, { kind: "failed", reason: "permanent", error: "x", code: 400 }, { now: T0 + 100 });
        expect(await store.outbox.cancelBroadcast("c", { now: T0 + 100 })).toEqual({ count: 1, blobs: ["c.pdf"] });
        const removed = await store.outbox.prune({ deliveredBefore: T0 + 1000 });
        expect(removed.count).toBe(2);
        expect(removed.blobs.sort()).toEqual(["c.pdf", "o.jpg"]);
        expect(await store.outbox.get("old")).toBeNull();
        expect(await store.outbox.getByKey("ko")).toBeNull();
        for (const id of ["new", "dead", "wait"]) expect(await store.outbox.get(id)).not.toBeNull();
        expect((await store.outbox.stats({ now: T0 })).byState).toEqual({ queued: 1, sending: 0, delivered: 1, failed: 1, cancelled: 0 });
      });
    });

    describe("the outbox.enqueue effect", () => {
      const update = (id: number, chat: number) => ({
        update_id: id,
        message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: "private" }, text: "hi" },
      });

      it("is applied with an accepted inbox settle, and not with a stale one", async () => {
        const store = await fresh();
        await store.inbox.ingest([update(1, 10)], { now: T0 });
        const [first] = await store.inbox.claim({ owner: "w1", limit: 1, leaseMs: 1000, now: T0 });
        // w1 stalls; its lease runs out and w2 takes the update over.
        const [second] = await store.inbox.claim({ owner: "w2", limit: 1, leaseMs: 1000, now: T0 + 1000 });
        const effect = (id: string) => ({ kind: "outbox.enqueue", jobs: [newJob(id, 10, { idempotencyKey: `u1:${id}` })] }) as const;
        expect(await store.inbox.settle(first!.claim, { kind: "done" }, { effects: [effect("late")], now: T0 + 1001 })).toBe("stale");
        expect(await store.outbox.get("late")).toBeNull();
        expect(await store.inbox.settle(second!.claim, { kind: "done" }, { effects: [effect("reply")], now: T0 + 1002 })).toBe("settled");
        expect(await store.outbox.get("reply")).toMatchObject({ state: "queued", chatId: 10, createdAt: T0 + 1002 });
        expect(ids(await store.outbox.claim({ ...lease, limit: 5, now: T0 + 1002 }))).toEqual(["reply"]);
      });

      it("a malformed job in an effect rejects the whole settle", async () => {
        const store = await fresh();
        await store.inbox.ingest([update(1, 10)], { now: T0 });
        const [item] = await store.inbox.claim({ owner: "w", limit: 1, leaseMs: 1000, now: T0 });
        const bad = { kind: "outbox.enqueue", jobs: [{ ...newJob("x", 10), payload: 5 }] } as unknown as { kind: "outbox.enqueue"; jobs: NewJob[] };
        await expectCode(store.inbox.settle(item!.claim, { kind: "done" }, { effects: [bad], now: T0 }), "INVALID_ARGUMENT");
        expect((await store.inbox.get(1))?.state).toBe("inflight");
      });
    });

    describe("durability", () => {
      it("finds jobs, claims, dead letters, marks, users, broadcasts and the audit again after reopening", async () => {
        let store = await fresh();
        await store.outbox.enqueue(
          [newJob("a", 10, { idempotencyKey: "ka" }), newJob("b", 10), newJob("c", 20), newJob("d", 30, { broadcastId: "bc" }), newJob("e", 40, { broadcastId: "bc" })],
          { now: T0 },
        );
        const got = await store.outbox.claim({ owner: "before", limit: 3, leaseMs: 1000, now: T0 });
        expect(ids(got)).toEqual(["a", "c", "d"]);
        await store.outbox.settle(got[1]!.claim, { kind: "failed", reason: "permanent", error: "nope", code: 400 }, { now: T0 });
        await store.outbox.settle(got[2]!.claim, delivered(9), { now: T0 });
        await store.outbox.pauseBroadcast("bc");
        await store.outbox.markUnreachable(20, "blocked", T0);
        await store.outbox.rememberUser(5, 5, T0);
        // "a" stays in flight: the process died.

        store = await reopen(store);
        expect(await store.outbox.enqueue([newJob("a-again", 10, { idempotencyKey: "ka" })], { now: T0 })).toEqual([{ id: "a", created: false }]);
        expect((await store.outbox.deadLetters.list()).items.map((j) => j.id)).toEqual(["c"]);
        expect(await store.outbox.isUnreachable(20)).toMatchObject({ reason: "blocked" });
        expect(await store.outbox.chatOfUser(5)).toBe(5);
        expect(await store.outbox.broadcastProgress("bc")).toMatchObject({ delivered: 1, remaining: 1, paused: true });
        expect((await store.outbox.audit.list()).items.map((e) => e.jobId)).toEqual(["c", "d"]);
        expect(await store.outbox.inflightOwners()).toEqual(["before"]);
        // The crashed claim comes back after its lease; the paused broadcast stays held.
        expect(await store.outbox.claim({ ...lease, limit: 10, now: T0 + 999 })).toEqual([]);
        const after = await store.outbox.claim({ ...lease, limit: 10, now: T0 + 1000 });
        expect(after.map((j) => [j.id, j.recovered])).toEqual([["a", true]]);
        await store.outbox.settle(after[0]!.claim, delivered(), { now: T0 + 1000 });
        expect(await drain(store, T0 + 1000)).toEqual(["b"]);
      });
    });

    describe("model check", () => {
      it("random loops, crashes, retries and defers keep each chat's order and deliver each job once", async () => {
        const store = await fresh();
        let seed = 4242;
        const rand = (): number => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          return seed / 0x7fffffff;
        };
        const priorities = ["critical", "high", "normal", "low"] as const;
        const total = 300;
        let next = 0;
        let now = T0;
        const deliveredOrder = new Map<string, number[]>();
        const deliveries = new Map<string, number>();
        let held: ClaimedJob[] = [];
        const seen = { stale: 0, recovered: 0, retried: 0, deferred: 0 };
        const chatOf = (id: string) => String((Number(id.slice(1)) * 7919) % 9);
        for (let step = 0; step < 3000; step++) {
          now += Math.floor(rand() * 150);
          const r = rand();
          if (r < 0.25 && next < total) {
            const batch = Array.from({ length: Math.min(1 + Math.floor(rand() * 5), total - next) }, () => {
              const id = `j${next++}`;
              return newJob(id, Number(chatOf(id)), { priority: priorities[Math.floor(rand() * 4)]!, notBefore: now });
            });
            await store.outbox.enqueue(batch, { now });
          } else if (r < 0.55) {
            const got = await store.outbox.claim({ owner: `w${Math.floor(rand() * 3)}`, limit: 1 + Math.floor(rand() * 4), leaseMs: 1000, now });
            for (const j of got) if (j.recovered) seen.recovered += 1;
            held.push(...got);
          } else if (r < 0.9 && held.length > 0) {
            const [job] = held.splice(Math.floor(rand() * held.length), 1);
            const roll = rand();
            const outcome =
              roll < 0.15
                ? ({ kind: "retry", at: now + 300, error: "flaky", code: 502, ambiguous: false } as const)
                : roll < 0.25
                  ? ({ kind: "defer", at: now + 100 } as const)
                  : delivered();
            const result = await store.outbox.settle(job!.claim, outcome, { now });
            if (result === "stale") seen.stale += 1;
            else if (outcome.kind === "retry") seen.retried += 1;
            else if (outcome.kind === "defer") seen.deferred += 1;
            else {
              const chat = String(job!.chatId);
              deliveredOrder.set(chat, [...(deliveredOrder.get(chat) ?? []), Number(job!.id.slice(1))]);
              deliveries.set(job!.id, (deliveries.get(job!.id) ?? 0) + 1);
            }
          } else if (held.length > 0) {
            const victim = held[0]!.claim.owner;
            held = held.filter((h) => h.claim.owner !== victim);
          }
        }
        for (let guard = 0; guard < 500; guard++) {
          now += 2000;
          const got = await store.outbox.claim({ owner: "drain", limit: 50, leaseMs: 1000, now });
          if (got.length === 0 && next >= total) break;
          while (next < total) {
            const id = `j${next++}`;
            await store.outbox.enqueue([newJob(id, Number(chatOf(id)), { notBefore: now })], { now });
          }
          for (const job of got) {
            expect(await store.outbox.settle(job.claim, delivered(), { now })).toBe("settled");
            const chat = String(job.chatId);
            deliveredOrder.set(chat, [...(deliveredOrder.get(chat) ?? []), Number(job.id.slice(1))]);
            deliveries.set(job.id, (deliveries.get(job.id) ?? 0) + 1);
          }
        }
        const stats = await store.outbox.stats({ now });
        expect(stats.byState.delivered).toBe(total);
        expect(stats.byState.queued + stats.byState.sending).toBe(0);
        expect(seen.stale).toBeGreaterThan(0);
        expect(seen.recovered).toBeGreaterThan(0);
        expect(seen.retried).toBeGreaterThan(0);
        expect(seen.deferred).toBeGreaterThan(0);
        for (const [chat, order] of deliveredOrder) expect(order, `order of chat ${chat}`).toEqual([...order].sort((a, b) => a - b));
        for (let i = 0; i < total; i++) expect(deliveries.get(`j${i}`), `job j${i}`).toBe(1);
      });
    });
  });
}
