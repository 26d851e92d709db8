/**
 * The store contract on SQLite, plus what only SQLite has: the file, its pragmas, migrations
 * and query plans.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/errors/index.js";
import { DEFAULT_SQLITE_PATH, openStore, SQLITE_SCHEMA_VERSION, SqliteStore } from "../../src/store/index.js";
import { defineJournalContract } from "./journal-contract.js";
import { defineStoreContract, message, T0 } from "./store-contract.js";

const root = mkdtempSync(join(tmpdir(), "unlost-store-"));
let counter = 0;
const freshPath = (): string => join(root, `s${++counter}`, "unlost.sqlite");
afterAll(() => rmSync(root, { recursive: true, force: true }));

defineStoreContract("sqlite", (location, options) =>
  openStore({ kind: "sqlite", path: location ?? freshPath(), auditRedaction: options?.auditRedaction === true }),
);

defineJournalContract("sqlite", (location) => openStore({ kind: "sqlite", path: location ?? freshPath() }));

async function openError(path: string): Promise<unknown> {
  return openStore({ path }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e,
  );
}

describe("SQLite backend", () => {
  it("creates the folder, uses WAL and the chosen synchronous level", async () => {
    const path = join(root, "nested", "deeper", "bot.sqlite");
    const store = (await openStore({ path, synchronous: "full" })) as SqliteStore;
    expect(store.kind).toBe("sqlite");
    expect(store.location).toBe(path);
    expect(statSync(path).isFile()).toBe(true);
    const db = store.database.handle;
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2); // FULL
    await store.close();
    const normal = (await openStore({ path })) as SqliteStore;
    expect(normal.database.handle.pragma("synchronous", { simple: true })).toBe(1); // NORMAL
    await normal.close();
  });

  it("creates the data folder 0700 and the database, WAL and shared-memory files 0600, whatever the umask", async () => {
    const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
    const dir = join(root, "private", "data");
    const path = join(dir, "unlost.sqlite");
    const umask = process.umask(0);
    try {
      const store = await openStore({ path });
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      expect(existsSync(`${path}-wal`) && existsSync(`${path}-shm`)).toBe(true);
      expect([mode(dir), mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual(["700", "600", "600", "600"]);
      expect(store.warnings).toEqual([]);
      await store.close();
      // Files of an older unlost (created with the umask's mode) are made private on opening.
      chmodSync(path, 0o644);
      const again = await openStore({ path });
      await again.inbox.ingest([message(2, 10)], { now: T0 });
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual(["600", "600", "600"]);
      await again.close();
    } finally {
      process.umask(umask);
    }
  });

  it("warns about an existing data folder other users can open, with the fix, and leaves it as it is", async () => {
    const dir = join(root, "shared folder");
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const store = await openStore({ path: join(dir, "unlost.sqlite") });
    try {
      expect(store.warnings).toEqual([{
        message: `the data folder ${dir} is open to other users (mode 0755); it holds your users' messages and files.`,
        fix: `Make it private: chmod 700 '${dir}'`,
      }]);
      expect(statSync(dir).mode & 0o777).toBe(0o755);
    } finally {
      await store.close();
    }
    chmodSync(dir, 0o700);
    const fixed = await openStore({ path: join(dir, "unlost.sqlite") });
    expect(fixed.warnings).toEqual([]);
    await fixed.close();
  });

  it("defaults to ./data/unlost.sqlite", () => {
    expect(DEFAULT_SQLITE_PATH).toBe("./data/unlost.sqlite");
  });

  it("two connections to one file (two processes) never claim the same chat twice", async () => {
    const path = freshPath();
    const a = await openStore({ path });
    const b = await openStore({ path });
    try {
      await a.inbox.ingest([message(1, 10), message(2, 10), message(3, 20)], { now: T0 });
      await b.inbox.ingest([message(3, 20), message(4, 30)], { now: T0 });
      const fromA = await a.inbox.claim({ owner: "A", limit: 1, leaseMs: 1000, now: T0 });
      const fromB = await b.inbox.claim({ owner: "B", limit: 10, leaseMs: 1000, now: T0 });
      expect(fromA.map((c) => c.updateId)).toEqual([1]);
      expect(fromB.map((c) => c.updateId)).toEqual([3, 4]);
      expect(await b.inbox.settle({ ...fromA[0]!.claim, owner: "B" }, { kind: "done" }, { now: T0 })).toBe("stale");
      expect(await a.inbox.settle(fromA[0]!.claim, { kind: "done" }, { now: T0 })).toBe("settled");
      expect((await b.inbox.claim({ owner: "B", limit: 10, leaseMs: 1000, now: T0 })).map((c) => c.updateId)).toEqual([2]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("migrations are idempotent: reopening keeps the version and the data", async () => {
    const path = freshPath();
    for (let i = 0; i < 3; i++) {
      const store = (await openStore({ path })) as SqliteStore;
      expect(store.database.handle.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      expect((await store.inbox.stats({ now: T0 })).pending).toBe(1);
      await store.close();
    }
  });

  it("refuses a database of a newer schema version and leaves it untouched", async () => {
    const path = freshPath();
    await (await openStore({ path })).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    const err = await openError(path);
    expect(isUnlostError(err, "STORE_VERSION_UNSUPPORTED")).toBe(true);
    expect((err as Error).message).toMatch(/newer unlost/);
    const check = new Database(path);
    expect(check.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION + 1);
    check.close();
  });

  it("refuses a SQLite file of another application", async () => {
    const path = join(root, "foreign.sqlite");
    const raw = new Database(path);
    raw.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    raw.close();
    const err = await openError(path);
    expect(isUnlostError(err, "STORE_FAILURE")).toBe(true);
    expect((err as Error).message).toMatch(/did not create/);
  });

  it("reports a path that cannot be opened as STORE_FAILURE", async () => {
    const err = await openError(join(root, "not-a-dir.sqlite", "\0bad"));
    expect(isUnlostError(err, "STORE_FAILURE")).toBe(true);
  });

  it("maps a busy database to STORE_FAILURE with advice", async () => {
    const path = freshPath();
    const store = (await openStore({ path, busyTimeoutMs: 50 })) as SqliteStore;
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = await store.inbox.ingest([message(1, 10)], { now: T0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isUnlostError(err, "STORE_FAILURE")).toBe(true);
      expect((err as Error).message).toMatch(/SQLITE_BUSY.*another unlost process/);
    } finally {
      other.exec("ROLLBACK");
      other.close();
      await store.close();
    }
  });

  it("claims through the chat-head index and finds the next head by index seek", async () => {
    const store = (await openStore({ path: freshPath() })) as SqliteStore;
    const db = store.database.handle;
    const plan = (sql: string): string =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(" | ");
    const claimPlan = plan(
      `SELECT q.chat_key, q.head_id, i.state FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id
       WHERE q.ready_at <= 1 ORDER BY q.head_id LIMIT 10`,
    );
    expect(claimPlan).toMatch(/SCAN q USING COVERING INDEX chat_queue_order/);
    expect(claimPlan).not.toMatch(/TEMP B-TREE/);
    const headPlan = plan(
      `SELECT update_id, state, due_at, lease_until FROM inbox
       WHERE chat_key = 'x' AND state IN ('pending', 'inflight') ORDER BY update_id LIMIT 1`,
    );
    expect(headPlan).toMatch(/SEARCH inbox USING INDEX inbox_chat_open \(chat_key=\?\)/);
    expect(headPlan).not.toMatch(/TEMP B-TREE/);
    await store.close();
  });

  it("prunes closed journal batches in small transactions, giving the event loop turns between them", async () => {
    const store = (await openStore({ path: freshPath() })) as SqliteStore;
    const journal = store.inbox.journal;
    let previous = 0;
    for (let i = 0; i < 121; i++) {
      const completion = previous === 0 ? undefined : { done: [{ batch: previous, updateId: i }], closed: [previous] };
      previous = (await journal.append([message(i + 1, 10)], { owner: "a", nextOffset: i + 2, now: T0 + i, ...(completion === undefined ? {} : { completion }) })).batch;
    }
    // better-sqlite3 blocks while a transaction runs: 120 batches take three, with turns between.
    let turns = 0;
    let pruning = true;
    const turn = (): void => {
      turns += 1;
      if (pruning) setImmediate(turn);
    };
    setImmediate(turn);
    await store.inbox.prune({ handledBefore: T0 + 1_000 });
    pruning = false;
    expect(turns).toBeGreaterThanOrEqual(2);
    const left = store.database.handle.prepare("SELECT count(*) AS n FROM inbox_journal").get() as { n: number };
    expect(left.n).toBe(1); // the open batch
    await store.close();
  });

  it("journal hot statements seek by key (no scan of chat_queue, inbox or the journal)", async () => {
    const store = (await openStore({ path: freshPath() })) as SqliteStore;
    const db = store.database.handle;
    const plan = (sql: string, ...params: unknown[]): string =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join(" | ");
    // append: the blocked-chat check, and the overlap check against existing rows.
    const blocked = plan("SELECT chat_key FROM chat_queue WHERE chat_key IN (SELECT value FROM json_each(?))", "[]");
    expect(blocked).toMatch(/SEARCH chat_queue USING PRIMARY KEY \(chat_key=\?\)/);
    expect(blocked).not.toMatch(/SCAN chat_queue/);
    expect(plan("SELECT update_id FROM inbox WHERE update_id BETWEEN ? AND ?", 1, 2)).toMatch(/SEARCH inbox USING INTEGER PRIMARY KEY/);
    // complete: the ownership check.
    const owned = plan(
      "SELECT batch, owner, count, settled FROM inbox_journal WHERE batch IN (SELECT value FROM json_each(?))",
      "[]",
    );
    expect(owned).toMatch(/SEARCH inbox_journal USING INTEGER PRIMARY KEY/);
    expect(owned).not.toMatch(/SCAN inbox_journal/);
    // adopt: an owner's open batches through the index of open batches (closed ones, kept for
    // the trace until pruned, are not in it).
    expect(
      plan(
        `SELECT j.batch, j.received_at, j.count, j.settled, j.next_offset, u.updates FROM inbox_journal j
         JOIN inbox_journal_updates u ON u.batch = j.batch WHERE j.owner = ? AND j.closed_at IS NULL ORDER BY j.batch`,
        "a",
      ),
    ).toMatch(/SEARCH j USING INDEX inbox_journal_open \(owner=\?\)/);
    // stats, owners, open updates: the open batches only.
    for (const sql of [
      "SELECT count(*) AS batches FROM inbox_journal INDEXED BY inbox_journal_open WHERE closed_at IS NULL",
      "SELECT DISTINCT owner FROM inbox_journal INDEXED BY inbox_journal_open WHERE closed_at IS NULL",
    ]) expect(plan(sql)).toMatch(/USING (COVERING )?INDEX inbox_journal_open/);
    // find (trace): a seek on the batches' last ids; prune: a range of closed times.
    expect(plan("SELECT j.batch FROM inbox_journal j WHERE j.last_id >= ? ORDER BY j.last_id LIMIT ?", 1, 8)).toMatch(/SEARCH j USING (COVERING )?INDEX inbox_journal_last \(last_id>\?\)/);
    expect(plan("SELECT batch FROM inbox_journal WHERE closed_at IS NOT NULL AND closed_at < ? ORDER BY closed_at LIMIT ?", 1, 8)).toMatch(/SEARCH inbox_journal USING COVERING INDEX inbox_journal_closed/);
    await store.close();
  });

  it("claims quickly with a large backlog (20k pending over 1k chats)", async () => {
    const store = await openStore({ path: freshPath() });
    const batch = [];
    for (let id = 1; id <= 20_000; id++) batch.push(message(id, id % 1000));
    await store.inbox.ingest(batch, { now: T0 });
    let claimed = 0;
    const started = performance.now();
    for (let round = 0; round < 20; round++) {
      const got = await store.inbox.claim({ owner: "w", limit: 100, leaseMs: 60_000, now: T0 });
      claimed += got.length;
      await store.inbox.settleMany(got.map((g) => ({ claim: g.claim, outcome: { kind: "done" as const } })), { now: T0 });
    }
    const perUpdateMs = (performance.now() - started) / claimed;
    expect(claimed).toBe(2000);
    // Generous bound for a shared 2-core machine; typical is ~0.02 ms per update.
    expect(perUpdateMs).toBeLessThan(1);
    await store.close();
  });
});
