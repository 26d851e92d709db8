/**
 * What only the PostgreSQL backend has: the URL and schema options, migrations under an
 * advisory lock, errors that never show the password, several pools (processes) on one schema.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isUnlostError, type UnlostError } from "../../src/errors/index.js";
import { openStore, PG_SCHEMA_VERSION, type Store } from "../../src/store/index.js";
import { PostgresStore } from "../../src/store/postgres/index.js";
import { PG_MIGRATIONS } from "../../src/store/postgres/schema.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { newJob } from "./outbox-contract.js";
import { message, T0 } from "./store-contract.js";

const db = usePgDatabase();

async function failure(promise: Promise<unknown>): Promise<UnlostError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isUnlostError(err), `expected an UnlostError, got ${String(err)}`).toBe(true);
  return err as UnlostError;
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url() });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The URL with a password (the servers the tests use trust local connections, or need one). */
function withPassword(password: string): string {
  const url = new URL(db.url());
  url.password = password;
  return url.toString();
}

describe("PostgreSQL backend", () => {
  it("is selected by a URL, lives in its schema and names it in its location, without the password", async () => {
    const schema = db.freshSchema();
    const store = await openStore({ url: db.url(), schema });
    try {
      expect(store).toBeInstanceOf(PostgresStore);
      expect(store.kind).toBe("postgres");
      expect(store.location).toContain(`schema ${schema}`);
      await store.inbox.ingest([message(1, 10)], { nextOffset: 2, now: T0 });
      const tables = await sql<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", [schema]);
      expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(["inbox", "chat_queue", "kv", "leases", "bot_data", "unlost_migrations"]));
      expect(await sql("SELECT update_id FROM " + schema + ".inbox")).toEqual([{ update_id: "1" }]);
    } finally {
      await store.close();
    }
    const explicit = await openStore({ kind: "postgres", url: db.url(), schema });
    expect(await explicit.state.offset()).toBe(2);
    await explicit.close();
  });

  it("migrates once when several processes open a new schema together, and reopening changes nothing", async () => {
    const schema = db.freshSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ url: db.url(), schema, poolSize: 2 })));
    await Promise.all(stores.map((s) => s.close()));
    const versions = await sql<{ version: number }>(`SELECT version FROM ${schema}.unlost_migrations ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(versions.at(-1)?.version).toBe(PG_SCHEMA_VERSION);
    const again = await openStore({ url: db.url(), schema });
    await again.close();
    expect(await sql(`SELECT version FROM ${schema}.unlost_migrations`)).toHaveLength(PG_MIGRATIONS.length);
  });

  it("refuses a schema of a newer version, and one holding tables unlost did not create, changing nothing", async () => {
    const newer = db.freshSchema();
    await (await openStore({ url: db.url(), schema: newer })).close();
    await sql(`INSERT INTO ${newer}.unlost_migrations (version, description) VALUES (999, 'from the future')`);
    const err = await failure(openStore({ url: db.url(), schema: newer }));
    expect(err.code).toBe("STORE_VERSION_UNSUPPORTED");
    expect(err.message).toMatch(/schema version 999/);

    const foreign = db.freshSchema();
    await sql(`CREATE SCHEMA ${foreign}; CREATE TABLE ${foreign}.orders (id int)`);
    const refused = await failure(openStore({ url: db.url(), schema: foreign }));
    expect(refused.code).toBe("STORE_FAILURE");
    expect(refused.message).toMatch(/tables that unlost did not create/);
    expect(await sql("SELECT tablename FROM pg_tables WHERE schemaname = $1", [foreign])).toEqual([{ tablename: "orders" }]);
  });

  it("refuses malformed options as INVALID_CONFIG", async () => {
    expect((await failure(openStore({ url: db.url(), schema: "Robert'); DROP TABLE x;--" }))).code).toBe("INVALID_CONFIG");
    expect((await failure(openStore({ url: "mysql://localhost/x" }))).code).toBe("INVALID_CONFIG");
    expect((await failure(openStore({ url: "not a url" }))).code).toBe("INVALID_CONFIG");
    expect((await failure(openStore({ url: db.url(), poolSize: 0 }))).code).toBe("INVALID_CONFIG");
  });

  it("never shows the password: not in the location, not in an error, not in its cause", async () => {
    const password = "hunter2-Very-Secret";
    // A server that refuses it, or one that trusts local connections and ignores it: either
    // way the password must appear nowhere.
    const opened = await openStore({ url: withPassword(password), schema: db.freshSchema(), connectTimeoutMs: 2000 }).then(
      (s) => s,
      (e: unknown) => e,
    );
    if (isUnlostError(opened)) {
      expect(opened.code).toBe("STORE_FAILURE");
      expect(`${opened.message} ${String((opened.cause as Error | undefined)?.message)} ${JSON.stringify(opened.details)}`).not.toContain(password);
    } else {
      const store = opened as Store;
      expect(store.location).not.toContain(password);
      await store.close();
    }
    // Nothing listening: a network error, mapped with advice, without the password.
    const down = await failure(openStore({ url: `postgres://bot:${password}@127.0.0.1:1/x`, connectTimeoutMs: 2000 }));
    expect(down.code).toBe("STORE_FAILURE");
    expect(down.message).toMatch(/ECONNREFUSED|connect/);
    expect(down.message).not.toContain(password);
    expect(down.message).toContain("postgres://bot@127.0.0.1:1/x");
  });

  it("maps a missing database to STORE_FAILURE with advice", async () => {
    const url = new URL(db.url());
    url.pathname = "/unlost_no_such_database";
    const err = await failure(openStore({ url: url.toString() }));
    expect(err.code).toBe("STORE_FAILURE");
    expect(err.details).toMatchObject({ sqlState: "3D000" });
    expect(err.message).toMatch(/database does not exist/);
  });

  it("two pools on one schema (two processes) never claim the same chat twice", async () => {
    const schema = db.freshSchema();
    const a = await openStore({ url: db.url(), schema, poolSize: 4 });
    const b = await openStore({ url: db.url(), schema, poolSize: 4 });
    try {
      const updates = Array.from({ length: 200 }, (_, i) => message(i + 1, 100 + (i % 10)));
      await a.inbox.ingest(updates, { now: T0 });
      const completed = new Map<string, number[]>();
      let now = T0;
      for (let round = 0; round < 100; round++) {
        now += 1;
        const [fromA, fromB] = await Promise.all([
          a.inbox.claim({ owner: "a", limit: 5, leaseMs: 60_000, now }),
          b.inbox.claim({ owner: "b", limit: 5, leaseMs: 60_000, now }),
        ]);
        const chats = [...fromA, ...fromB].map((c) => c.chatKey);
        expect(new Set(chats).size, "one item per chat in flight").toBe(chats.length);
        if (chats.length === 0) break;
        await Promise.all([
          a.inbox.settleMany(fromA.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const }, effects: [{ kind: "kv.increment" as const, key: "n" }] })), { now }),
          b.inbox.settleMany(fromB.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const }, effects: [{ kind: "kv.increment" as const, key: "n" }] })), { now }),
        ]);
        for (const c of [...fromA, ...fromB]) completed.set(c.chatKey, [...(completed.get(c.chatKey) ?? []), c.updateId]);
      }
      expect(await a.state.getValue("n")).toBe("200");
      for (const [chat, list] of completed) expect(list, `order of chat ${chat}`).toEqual([...list].sort((x, y) => x - y));
      expect((await b.inbox.stats({ now })).done).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("concurrent ingests, claims and settles of one process keep every chat's queue whole", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema(), poolSize: 6 });
    try {
      let next = 1;
      let now = T0;
      const done: number[] = [];
      const work = async (owner: string): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const claimed = await store.inbox.claim({ owner, limit: 3, leaseMs: 60_000, now: ++now });
          await store.inbox.settleMany(claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } })), { now });
          done.push(...claimed.map((c) => c.updateId));
        }
      };
      const feed = async (): Promise<void> => {
        for (let i = 0; i < 20; i++) {
          const batch = Array.from({ length: 5 }, () => next++).map((id) => message(id, 500 + (id % 4)));
          await store.inbox.ingest(batch, { now });
        }
      };
      await Promise.all([feed(), work("w1"), work("w2"), work("w3")]);
      // Drain: everything ingested must still be claimable (no chat lost its queue row).
      for (let guard = 0; guard < 100; guard++) {
        const claimed = await store.inbox.claim({ owner: "drain", limit: 10, leaseMs: 60_000, now: ++now });
        if (claimed.length === 0) break;
        await store.inbox.settleMany(claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } })), { now });
        done.push(...claimed.map((c) => c.updateId));
      }
      expect(done.sort((x, y) => x - y)).toEqual(Array.from({ length: next - 1 }, (_, i) => i + 1));
      expect(await store.inbox.stats({ now })).toMatchObject({ pending: 0, inflight: 0, chatsWithWork: 0 });
    } finally {
      await store.close();
    }
  });

  it("claims, settles, lease extensions and expiries racing on two pools complete every update once, in order, without deadlocks", async () => {
    const schema = db.freshSchema();
    const pools = [await openStore({ url: db.url(), schema, poolSize: 3 }), await openStore({ url: db.url(), schema, poolSize: 3 })];
    try {
      const total = 150;
      await pools[0]!.inbox.ingest(Array.from({ length: total }, (_, i) => message(i + 1, 900 + (i % 5))), { now: T0 });
      const completed = new Map<string, number[]>();
      let now = T0;
      const started = Date.now();
      const worker = async (store: Store, owner: string): Promise<void> => {
        for (let i = 0; i < 200; i++) {
          now += 1;
          const claimed = await store.inbox.claim({ owner, limit: 2, leaseMs: 5, now });
          // Another worker expires this one's claims now and then (it thinks it is gone), and
          // leases are extended: both race with the claims that recover them.
          await Promise.all([
            store.inbox.expireClaims({ owner: owner === "a" ? "b" : "a", now }),
            store.inbox.claim({ owner, limit: 1, leaseMs: 5, now }).then((more) => claimed.push(...more)),
            ...claimed.map((c) => store.inbox.extendLease(c.claim, 5, { now })),
          ]);
          const results = await store.inbox.settleMany(claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } })), { now });
          claimed.forEach((c, k) => {
            if (results[k] === "settled") completed.set(c.chatKey, [...(completed.get(c.chatKey) ?? []), c.updateId]);
          });
          const stats = await store.inbox.stats({ now });
          if (stats.pending + stats.inflight === 0) return;
        }
      };
      await Promise.all([worker(pools[0]!, "a"), worker(pools[1]!, "b")]);
      const done = [...completed.values()].flat().sort((x, y) => x - y);
      expect(done).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      for (const [chat, list] of completed) expect(list, `order of chat ${chat}`).toEqual([...list].sort((x, y) => x - y));
      // A deadlock costs PostgreSQL's deadlock_timeout (1 s by default) before one side is retried.
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      for (const p of pools) await p.close();
    }
  });

  it("two pools on one schema (two senders) never claim the same chat's jobs at once, and keep each chat's order", async () => {
    const schema = db.freshSchema();
    const a = await openStore({ url: db.url(), schema, poolSize: 4 });
    const b = await openStore({ url: db.url(), schema, poolSize: 4 });
    try {
      const jobs = Array.from({ length: 120 }, (_, i) => newJob(`j${i + 1}`, 700 + (i % 6)));
      // Enqueued from both processes at once, in halves: each chat's order is its enqueue order.
      await Promise.all([a.outbox.enqueue(jobs.slice(0, 60), { now: T0 }), b.outbox.enqueue(jobs.slice(60), { now: T0 })]);
      const sent = new Map<string, number[]>();
      let now = T0;
      for (let round = 0; round < 200; round++) {
        now += 1;
        const [fromA, fromB] = await Promise.all([
          a.outbox.claim({ owner: "a", limit: 4, leaseMs: 60_000, now }),
          b.outbox.claim({ owner: "b", limit: 4, leaseMs: 60_000, now }),
        ]);
        const chats = [...fromA, ...fromB].map((j) => String(j.chatId));
        expect(new Set(chats).size, "one job per chat in flight").toBe(chats.length);
        if (chats.length === 0) break;
        const delivered = { kind: "delivered" as const, result: "{}", messageId: 1 };
        await Promise.all([
          a.outbox.settleMany(fromA.map((j) => ({ claim: j.claim, outcome: delivered })), { now }),
          b.outbox.settleMany(fromB.map((j) => ({ claim: j.claim, outcome: delivered })), { now }),
        ]);
        for (const j of [...fromA, ...fromB]) sent.set(String(j.chatId), [...(sent.get(String(j.chatId)) ?? []), Number(j.id.slice(1))]);
      }
      expect((await a.outbox.stats({ now })).byState.delivered).toBe(120);
      for (const [chat, order] of sent) {
        // Within each half the order is the enqueue order; the halves were enqueued concurrently.
        const first = order.filter((n) => n <= 60);
        const second = order.filter((n) => n > 60);
        expect(first, `chat ${chat}`).toEqual([...first].sort((x, y) => x - y));
        expect(second, `chat ${chat}`).toEqual([...second].sort((x, y) => x - y));
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a settle that enqueues sends fails whole when one of its effects cannot be applied", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema() });
    try {
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      const [c] = await store.inbox.claim({ owner: "w", limit: 1, leaseMs: 1000, now: T0 });
      const refused = await failure(
        store.inbox.settle(c!.claim, { kind: "done" }, {
          effects: [{ kind: "outbox.enqueue", jobs: [newJob("reply-1", 10)] }, { kind: "data.set", key: "session:10", value: "a\u0000b" }],
          now: T0,
        }),
      );
      expect(refused.code).toBe("INVALID_ARGUMENT");
      expect(await store.outbox.get("reply-1")).toBeNull();
      expect((await store.inbox.get(1))?.state).toBe("inflight");
    } finally {
      await store.close();
    }
  });

  it("survives its connections being cut (a server restart, a proxy): the next operation connects again", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema(), poolSize: 3 });
    try {
      await Promise.all([store.state.setValue("k", "1"), store.state.getValue("k"), store.inbox.stats()]);
      const database = new URL(db.url()).pathname.slice(1);
      const killed = await sql<{ n: number }>(
        "SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'unlost') AS t",
        [database],
      );
      expect(killed[0]!.n).toBeGreaterThan(0);
      // The pool hears of the dead idle connections (an 'error' event that must not crash the
      // process); an operation that meets one anyway runs again on a fresh connection.
      expect(await store.state.getValue("k")).toBe("1");
      await store.state.setValue("k", "2");
      expect(await store.state.getValue("k")).toBe("2");
    } finally {
      await store.close();
    }
  });

  it("claims and settles quickly with a large backlog (20k pending over 1k chats, in outbox jobs too)", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema() });
    try {
      const batch = Array.from({ length: 20_000 }, (_, i) => message(i + 1, (i + 1) % 1000));
      for (let i = 0; i < batch.length; i += 2000) await store.inbox.ingest(batch.slice(i, i + 2000), { now: T0 });
      let claimed = 0;
      let started = performance.now();
      for (let round = 0; round < 20; round++) {
        const got = await store.inbox.claim({ owner: "w", limit: 100, leaseMs: 60_000, now: T0 });
        claimed += got.length;
        await store.inbox.settleMany(got.map((g) => ({ claim: g.claim, outcome: { kind: "done" as const } })), { now: T0 });
      }
      const perUpdateMs = (performance.now() - started) / claimed;
      expect(claimed).toBe(2000);
      for (let i = 0; i < 20_000; i += 2000) {
        await store.outbox.enqueue(Array.from({ length: 2000 }, (_, k) => newJob(`j${i + k}`, (i + k) % 1000)), { now: T0 });
      }
      let sent = 0;
      started = performance.now();
      for (let round = 0; round < 5; round++) {
        const got = await store.outbox.claim({ owner: "s", limit: 100, leaseMs: 60_000, now: T0 });
        sent += got.length;
        await store.outbox.settleMany(got.map((g) => ({ claim: g.claim, outcome: { kind: "delivered" as const, result: "{}", messageId: 1 } })), { now: T0 });
      }
      const perJobMs = (performance.now() - started) / sent;
      expect(sent).toBe(500);
      // Generous bounds for a shared 2-core machine (a backlog scan would cost far more).
      expect(perUpdateMs).toBeLessThan(3);
      expect(perJobMs).toBeLessThan(10);
      console.log(`[postgres timing] claim+settle ${perUpdateMs.toFixed(3)} ms/update, outbox claim+settle ${perJobMs.toFixed(3)} ms/job (20k backlog)`);
    } finally {
      await store.close();
    }
  });

  it("round trips of the rows inbox's hot path: an ingest with its fence and claim 6, a batch of completions with its claim 7, users remembered together 3", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema() });
    const statements: string[] = [];
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const query = proto.query;
    proto.query = function (this: unknown, ...args: unknown[]) {
      const config = args[0];
      statements.push(typeof config === "string" ? config : String((config as { text?: unknown }).text));
      return query.apply(this, args);
    };
    const count = async (fn: () => Promise<unknown>): Promise<number> => {
      statements.length = 0;
      await fn();
      return statements.length;
    };
    try {
      const grant = await store.leases.acquire("poller", "me", 60_000, { now: T0 });
      if (!grant.held) throw new Error("the lease of a fresh schema is free");
      const fence = { name: "poller", owner: "me", epoch: grant.epoch };
      const batch = Array.from({ length: 100 }, (_, i) => message(i + 1, 1 + (i % 50)));
      let claimed: Awaited<ReturnType<typeof store.inbox.claim>> = [];
      // BEGIN, fence + chat locks, insert + heads + offset, claim candidates + try-locks, take, COMMIT.
      expect(await count(async () => ({ claimed = [] } = await store.inbox.ingest(batch, { nextOffset: 101, fence, claim: { owner: "me", limit: 50, leaseMs: 60_000 }, now: T0 })))).toBe(6);
      expect(claimed).toHaveLength(50);
      // BEGIN, chat locks of the updates, done, heads, claim candidates + try-locks, take, COMMIT.
      const done = claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" as const } }));
      let next: Awaited<ReturnType<typeof store.inbox.claim>> = [];
      expect(await count(async () => ({ claimed: next } = await store.inbox.settleAndClaim(done, { claim: { owner: "me", limit: 50, leaseMs: 60_000 }, now: T0 + 1 })))).toBe(7);
      expect(next.map((c) => c.updateId)).toEqual(Array.from({ length: 50 }, (_, i) => i + 51));
      expect(await store.state.offset()).toBe(101);
      expect(await count(() => store.outbox.rememberUsers(Array.from({ length: 20 }, (_, i) => ({ userId: i + 1, chatId: i + 1 })), T0))).toBe(3);
    } finally {
      proto.query = query;
      await store.close();
    }
  });

  it("refuses NUL characters in bot data as INVALID_ARGUMENT (PostgreSQL text cannot hold them)", async () => {
    const store = await openStore({ url: db.url(), schema: db.freshSchema() });
    try {
      expect((await failure(store.data.set("session:1", "a\u0000b"))).code).toBe("INVALID_ARGUMENT");
      expect(await store.data.get("session:1")).toBeNull();
    } finally {
      await store.close();
    }
  });
});
