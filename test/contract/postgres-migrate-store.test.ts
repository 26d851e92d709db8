/**
 * migrateStore: a SQLite store with something of everything (pending, in-flight, done and dead
 * updates, an open journal batch, queued / retried / ambiguous / failed jobs with keys, a
 * broadcast, unreachable chats, known users, the offset, key/values, offline windows, sessions)
 * copied to a fresh PostgreSQL schema, and read back there through the store's own API: the
 * same answers as on SQLite. Then the target works on (new ids after the copied ones), a second
 * run is a no-op, and the refusals: a running source, a non-empty target, a source changed
 * after a copy.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore, type Store } from "../../src/store/index.js";
import { migrateStore } from "../../src/store/migrate-store.js";
import { PostgresStore } from "../../src/store/postgres/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { newJob } from "./outbox-contract.js";
import { message } from "./store-contract.js";

const db = usePgDatabase();
const dir = mkdtempSync(join(tmpdir(), "unlost-migrate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = 1_800_000_000_000;
let files = 0;

/** A SQLite store with a bit of everything; returns it and the update / job ids of each kind. */
async function filledSource(): Promise<SqliteStore> {
  const s = SqliteStore.open({ path: join(dir, `source-${++files}.sqlite`), clock: () => T0 });
  await s.state.bindBot(4711);
  await s.state.recordStart(T0 - 60_000);
  await s.state.beat(T0 - 50_000);
  await s.state.recordStart(T0 - 10_000);
  await s.state.setValue("webhook.secret", "s3cret");
  await s.state.setValue("completed:1", "1");
  // Inbox: 1 done, 2 dead, 3 in flight (chat 20), 4 pending behind it, 5 pending in chat 30, 6 unstorable.
  await s.inbox.ingest([message(1, 10), message(2, 11), message(3, 20), message(4, 20), message(5, 30)], { nextOffset: 6, now: T0 - 9_000, unstorable: [{ raw: "{\"no\":\"id\"}", error: "no update_id" }] });
  const first = await s.inbox.claim({ owner: "old", limit: 3, leaseMs: 60_000, now: T0 - 8_000 });
  expect(first.map((c) => c.updateId)).toEqual([1, 2, 3]);
  const [c1, c2] = first;
  await s.inbox.settleMany([
    { claim: c1!.claim, outcome: { kind: "done" }, effects: [{ kind: "data.set", key: "session:10", value: "{\"count\":1}" }] },
    { claim: c2!.claim, outcome: { kind: "dead", error: "Error: poison" } },
  ], { now: T0 - 7_000 });
  // An open journal batch of a process that is gone (7, 8 in chat 40).
  await s.inbox.journal!.append([message(7, 40), message(8, 40)], { owner: "old", nextOffset: 9, now: T0 - 6_000 });
  // Outbox: queued with a key, one retried (attempt + ambiguous), one failed (a dead letter), one in flight, a broadcast.
  await s.outbox.enqueue([
    newJob("j-queued", 10, { idempotencyKey: "k-queued" }),
    newJob("j-retried", 11, { idempotencyKey: "k-retried" }),
    newJob("j-failed", "@channel", { idempotencyKey: "k-failed" }),
    newJob("j-sending", 12),
    newJob("j-bc1", 13, { broadcastId: "bc" }),
    newJob("j-bc2", 14, { broadcastId: "bc" }),
  ], { now: T0 - 5_000 });
  const jobs = await s.outbox.claim({ owner: "old", limit: 10, leaseMs: 60_000, now: T0 - 4_000 });
  const byId = new Map(jobs.map((j) => [j.id, j]));
  await s.outbox.settleMany([
    { claim: byId.get("j-retried")!.claim, outcome: { kind: "retry", at: T0 + 1_000, error: "502 Bad Gateway", code: 502, ambiguous: true } },
    { claim: byId.get("j-failed")!.claim, outcome: { kind: "failed", reason: "permanent", error: "400: chat not found", code: 400 } },
    { claim: byId.get("j-queued")!.claim, outcome: { kind: "defer", at: T0 } },
    { claim: byId.get("j-bc1")!.claim, outcome: { kind: "delivered", result: "{\"message_id\":5}", messageId: 5 } },
    { claim: byId.get("j-bc2")!.claim, outcome: { kind: "defer", at: T0 } },
  ], { now: T0 - 3_000 });
  await s.outbox.markUnreachable(99, "blocked by the user", T0 - 2_000);
  await s.outbox.rememberUser(10, 10, T0 - 2_000);
  await s.data.set("conversations:10", "{\"step\":2}", { now: T0 - 1_000 });
  return s;
}

/** What a store answers, through its API, about everything filledSource made. */
async function view(s: Store): Promise<unknown> {
  const inbox = await s.inbox.stats({ now: T0 });
  const outbox = await s.outbox.stats({ now: T0 });
  const get = async (id: number) => {
    const r = await s.inbox.get(id);
    return r === null ? null : { state: r.state, attempts: r.attempts, chatKey: r.chatKey };
  };
  const job = async (key: string) => {
    const j = await s.outbox.getByKey(key);
    return j === null ? null : { id: j.id, state: j.state, attempts: j.attempts, ambiguous: j.ambiguousAttempts, chatId: j.chatId, lastError: j.lastError, history: j.history.length };
  };
  return {
    offset: await s.state.offset(),
    lastBeat: await s.state.lastBeat(),
    bot: await s.state.boundBot(),
    secret: await s.state.getValue("webhook.secret"),
    completed: await s.state.getValue("completed:1"),
    windows: await s.state.offlineWindows(),
    inbox: { pending: inbox.pending, inflight: inbox.inflight, done: inbox.done, dead: inbox.dead },
    updates: await Promise.all([1, 2, 3, 4, 5, 7, 8].map(get)),
    deadLetters: (await s.inbox.deadLetters.list()).items.map((d) => ({ updateId: d.updateId, error: d.error, type: d.updateType })),
    outbox: { byState: outbox.byState, ambiguous: outbox.ambiguousAttempts },
    jobs: await Promise.all(["k-queued", "k-retried", "k-failed"].map(job)),
    outboxDead: (await s.outbox.deadLetters.list()).items.map((j) => ({ id: j.id, chatId: j.chatId, reason: j.failureReason })),
    broadcast: await s.outbox.broadcastProgress("bc"),
    unreachable: await s.outbox.listUnreachable(),
    user: await s.outbox.chatOfUser(10),
    audit: (await s.outbox.audit.list()).items.map((a) => ({ jobId: a.jobId, chatId: a.chatId, outcome: a.outcome })),
    data: [...(await s.data.list({ prefix: "session:" })), ...(await s.data.list({ prefix: "conversations:" }))],
  };
}

describe("migrateStore (SQLite → PostgreSQL)", () => {
  it("copies everything; the target answers as the source did, and goes on from there", async () => {
    const source = await filledSource();
    const target = await PostgresStore.open({ url: db.url(), schema: db.freshSchema(), clock: () => T0 });
    try {
      const result = await migrateStore(source, target, { now: T0 });
      expect(result.alreadyMigrated).toBe(false);
      expect(result.adoptedFromJournal).toBe(2);
      expect(result.offset).toBe(9);
      expect(result.updates).toEqual({ open: 5, dead: 2 }); // 3 in flight, 4, 5 and the journal's 7, 8
      expect(result.jobs.failed).toBe(1);
      expect(result.tables["inbox"]).toBeGreaterThanOrEqual(7);
      const before = await view(source);
      expect(await view(target)).toEqual(before);

      // The target works on: the old process's claims are taken over, in chat order; new jobs
      // and windows get ids after the copied ones.
      expect(await target.inbox.expireClaims({ owner: "old", now: T0 })).toBe(1);
      const claimed = await target.inbox.claim({ owner: "new", limit: 10, leaseMs: 1_000, now: T0 + 100_000 });
      expect(claimed.map((c) => c.updateId).sort((a, b) => a - b)).toEqual([3, 5, 7]);
      const [fresh] = await target.outbox.enqueue([newJob("j-new", 10)], { now: T0 });
      // Its seq comes after the copied ones (a reused seq would violate the primary key).
      expect(fresh?.created).toBe(true);
      await target.state.recordStart(T0 + 1);
      expect((await target.state.offlineWindows()).length).toBe(2);
    } finally {
      await source.close();
      await target.close();
    }
  });

  it("a second run is a no-op; a changed source, a running source and a foreign target are refused, nothing written", async () => {
    const source = await filledSource();
    const schema = db.freshSchema();
    const target = await PostgresStore.open({ url: db.url(), schema, clock: () => T0 });
    try {
      await migrateStore(source, target, { now: T0 });
      const copied = await view(target);
      const again = await migrateStore(source, target, { now: T0 + 1 });
      expect(again.alreadyMigrated).toBe(true);
      expect(await view(target)).toEqual(copied);

      // The source changed after the copy (the bot ran on SQLite again): refused.
      await source.inbox.ingest([message(50, 10)], { nextOffset: 51, now: T0 });
      await expect(migrateStore(source, target, { now: T0 + 2 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/not empty.*source changed since/s) });
      expect(await view(target)).toEqual(copied);

      // A running bot on the source (a live lease): refused before anything is touched.
      const other = await PostgresStore.open({ url: db.url(), schema: db.freshSchema(), clock: () => T0 });
      try {
        await source.leases.acquire("poller", "live-instance", 60_000, { now: T0 });
        await expect(migrateStore(source, other, { now: T0 + 3 })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/is running: instance live-instance holds its "poller" lease/) });
        expect(await other.state.offset()).toBeNull();
        expect(await other.inbox.stats()).toMatchObject({ pending: 0, done: 0, dead: 0 });
      } finally {
        await other.close();
      }

      // A target another bot ran on: refused.
      const foreign = await PostgresStore.open({ url: db.url(), schema: db.freshSchema(), clock: () => T0 });
      const fresh = await filledSource();
      try {
        await foreign.state.bindBot(1234);
        await expect(migrateStore(fresh, foreign, { now: T0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/is not empty \(kv\)/) });
        expect(await foreign.inbox.stats()).toMatchObject({ pending: 0, done: 0 });
      } finally {
        await foreign.close();
        await fresh.close();
      }
    } finally {
      await source.close();
      await target.close();
    }
  });
});
