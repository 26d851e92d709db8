/**
 * What only the SQLite outbox has: its migration from a version-1 file, its query plans (the
 * claim reads chat heads by index, never the backlog) and a timing sanity check at scale.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, SQLITE_SCHEMA_VERSION, type SqliteStore } from "../../src/store/index.js";
import { migrate } from "../../src/store/sqlite/migrate.js";
import { MIGRATIONS } from "../../src/store/sqlite/schema.js";
import { newJob } from "./outbox-contract.js";
import { T0 } from "./store-contract.js";

const root = mkdtempSync(join(tmpdir(), "unlost-outbox-"));
let counter = 0;
const freshPath = (): string => join(root, `o${++counter}.sqlite`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function planOf(db: Database.Database, sql: string): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(" | ");
}

describe("SQLite outbox", () => {
  it("migrates a version-1 database (inbox only), keeping its data", async () => {
    const path = freshPath();
    const raw = new Database(path);
    migrate(raw, path, MIGRATIONS.slice(0, 1));
    raw
      .prepare("INSERT INTO inbox (update_id, chat_key, update_type, received_at, raw, state, due_at) VALUES (1, '10', 'message', 0, '{}', 'done', 0)")
      .run();
    expect(raw.pragma("user_version", { simple: true })).toBe(1);
    raw.close();
    const store = (await openStore({ path })) as SqliteStore;
    expect(store.database.handle.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    expect(SQLITE_SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
    expect((await store.inbox.get(1))?.state).toBe("done");
    await store.outbox.enqueue([newJob("a", 10)], { now: T0 });
    expect((await store.outbox.claim({ owner: "w", limit: 1, leaseMs: 1000, now: T0 }))[0]?.id).toBe("a");
    await store.close();
  });

  it("claims through the ready-head index and keeps every per-job lookup on an index", async () => {
    const store = (await openStore({ path: freshPath() })) as SqliteStore;
    const db = store.database.handle;
    const expectPlan = (sql: string, pattern: RegExp): void => {
      const plan = planOf(db, sql);
      expect(plan, sql).toMatch(pattern);
      expect(plan, sql).not.toMatch(/TEMP B-TREE|SCAN outbox_jobs(?! USING)|SCAN outbox_heads(?! USING)/);
    };
    // The claim: promotion of timed heads that fell due, then the ready heads in claim order.
    expectPlan(
      `UPDATE outbox_heads SET status = 1 WHERE chat_key IN
         (SELECT chat_key FROM outbox_heads WHERE status = 0 AND ready_at <= 1 ORDER BY ready_at LIMIT 10)`,
      /SEARCH outbox_heads USING COVERING INDEX outbox_heads_timed \(ready_at<\?\)/,
    );
    expectPlan(
      "SELECT chat_key, head_seq FROM outbox_heads WHERE status = 1 ORDER BY rank, head_seq LIMIT 10",
      /SCAN outbox_heads USING COVERING INDEX outbox_heads_ready/,
    );
    // Head upkeep: one seek each, however long the chat's backlog.
    expectPlan(
      "SELECT seq FROM outbox_jobs WHERE chat_key = 'x' AND state = 'sending' LIMIT 1",
      /SEARCH outbox_jobs USING (COVERING )?INDEX outbox_jobs_sending \(chat_key=\?\)/,
    );
    expectPlan(
      "SELECT seq FROM outbox_jobs WHERE chat_key = 'x' AND state = 'queued' ORDER BY seq LIMIT 1",
      /SEARCH outbox_jobs USING (COVERING )?INDEX outbox_jobs_queued \(chat_key=\?\)/,
    );
    // Idempotency, stats, prune.
    expectPlan("SELECT id FROM outbox_jobs WHERE idem_key = 'k'", /SEARCH outbox_jobs USING INDEX outbox_jobs_key/);
    expectPlan(
      "SELECT created_at FROM outbox_jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1",
      /outbox_jobs USING COVERING INDEX outbox_jobs_queued_age/,
    );
    expectPlan(
      "SELECT count(*) AS n FROM outbox_jobs WHERE state = 'delivered' AND finished_at > 5",
      /SEARCH outbox_jobs USING COVERING INDEX outbox_jobs_finished \(state=\? AND finished_at>\?\)/,
    );
    expectPlan(
      `DELETE FROM outbox_jobs WHERE seq IN
         (SELECT seq FROM outbox_jobs WHERE state IN ('delivered', 'cancelled') AND finished_at < 5 LIMIT 10)`,
      /SEARCH outbox_jobs USING COVERING INDEX outbox_jobs_finished/,
    );
    expectPlan(
      "SELECT state, count(*) AS n FROM outbox_jobs WHERE broadcast_id = 'b' GROUP BY state",
      /SEARCH outbox_jobs USING COVERING INDEX outbox_jobs_broadcast \(broadcast_id=\?\)/,
    );
    await store.close();
  });

  it("claims 100 of 100k queued jobs over 10k chats in well under 10 ms", async () => {
    const store = await openStore({ path: freshPath() });
    const priorities = ["critical", "high", "normal", "low"] as const;
    const chats = 10_000;
    const total = 100_000;
    const batch = 5_000;
    const enqueueStarted = performance.now();
    for (let start = 0; start < total; start += batch) {
      const jobs = Array.from({ length: batch }, (_, i) => {
        const n = start + i;
        return newJob(`j${n}`, 1_000_000 + (n % chats), { priority: priorities[n % 4]!, idempotencyKey: `k${n}` });
      });
      await store.outbox.enqueue(jobs, { now: T0 });
    }
    const enqueueUsPerJob = ((performance.now() - enqueueStarted) * 1000) / total;

    const single: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await store.outbox.enqueue([newJob(`s${i}`, 5_000_000 + i)], { now: T0 });
      single.push(performance.now() - t);
    }

    const claims: number[] = [];
    const settles: number[] = [];
    let now = T0;
    for (let round = 0; round < 30; round++) {
      now += 10;
      let t = performance.now();
      const got = await store.outbox.claim({ owner: "w", limit: 100, leaseMs: 60_000, now });
      claims.push(performance.now() - t);
      expect(got).toHaveLength(100);
      t = performance.now();
      await store.outbox.settleMany(
        got.map((g) => ({ claim: g.claim, outcome: { kind: "delivered" as const, result: "{}", messageId: 1 } })),
        { now },
      );
      settles.push(performance.now() - t);
    }
    const statsStarted = performance.now();
    const stats = await store.outbox.stats({ now });
    const statsMs = performance.now() - statsStarted;
    expect(stats.byState.delivered).toBe(3000);
    expect(stats.byState.queued).toBe(total + 200 - 3000);

    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
    console.log(
      `[outbox timing] enqueue ${enqueueUsPerJob.toFixed(1)} µs/job in batches of ${batch}; single enqueue p50 ` +
        `${median(single).toFixed(3)} ms p99 ${p99(single).toFixed(3)} ms; claim 100: median ${median(claims).toFixed(2)} ms, ` +
        `max ${Math.max(...claims).toFixed(2)} ms; settleMany 100: median ${median(settles).toFixed(2)} ms; stats ${statsMs.toFixed(2)} ms`,
    );
    // Generous bounds for a shared 2-core machine (typical figures are printed above).
    expect(median(claims)).toBeLessThan(10);
    expect(statsMs).toBeLessThan(50);
    await store.close();
  }, 120_000);
});
