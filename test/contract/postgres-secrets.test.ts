/**
 * The PostgreSQL store scrubs secrets where text enters it, as the SQLite store does
 * (sqlite-secrets.test.ts): every free-text column it writes goes through its `scrub`, so no row
 * of any of its tables holds the token (checked on each row as text, every column at once).
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { Scrubber } from "../../src/errors/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { newJob } from "./outbox-contract.js";
import { message, T0 } from "./store-contract.js";

const SECRET_PART = "AAHsecretPartOfTheBotToken_x42";
const TOKEN = `7000001:${SECRET_PART}`;
const WEBHOOK_SECRET = "whsec_theWebhookSecret_x42";
const quoting = `GET https://api.telegram.org/file/bot${TOKEN}/a.jpg failed (header ${WEBHOOK_SECRET}; odd ${SECRET_PART})`;

const db = usePgDatabase();

/** The rows of the schema's tables that contain `needle` anywhere, as `table: row`. */
async function rowsContaining(schema: string, needle: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: db.url() });
  await client.connect();
  try {
    const tables = (await client.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1", [schema])).rows;
    const found: string[] = [];
    for (const { tablename } of tables) {
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${schema}.${tablename} AS t WHERE strpos(t::text, $1) > 0`, [needle]);
      found.push(...rows.rows.map((r) => `${tablename}: ${r.row}`));
    }
    return found;
  } finally {
    await client.end();
  }
}

/** Writes an error quoting the secrets through every free-text path of the store. */
async function writeEverywhere(store: Store): Promise<void> {
  const lease = { owner: "w", leaseMs: 30_000 };
  await store.inbox.ingest([message(1, 10), message(2, 11)], { nextOffset: 3, now: T0 });
  const claimed = await store.inbox.claim({ ...lease, limit: 10, now: T0 });
  await store.inbox.settle(claimed[0]!.claim, { kind: "retry", at: T0, error: quoting }, { now: T0 });
  await store.inbox.settle(claimed[1]!.claim, { kind: "dead", error: quoting, stack: `Error: ${quoting}\n    at handler` }, { now: T0 });
  const journal = store.inbox.journal!;
  const { batch } = await journal.append([message(3, 12)], { owner: "w", nextOffset: 4, now: T0 });
  await journal.complete({ owner: "w", done: [], moved: [{ batch, update: message(3, 12), receivedAt: T0, attempts: 1, outcome: { kind: "dead", error: quoting, stack: quoting } }], closed: [batch], now: T0 });
  await store.inbox.ingest([], { nextOffset: 4, now: T0, unstorable: [{ raw: `{"text":"${TOKEN}"}`, error: quoting }] });

  await store.outbox.enqueue([newJob("a", 20), newJob("b", 21), newJob("c", 22)], { now: T0 });
  const jobs = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
  const [a, b, c] = jobs;
  await store.outbox.settle(a!.claim, { kind: "retry", at: T0, error: quoting, code: null, ambiguous: true }, { now: T0 });
  await store.outbox.settle(b!.claim, { kind: "failed", reason: "attempts", error: quoting, code: null, ambiguous: true }, { now: T0 });
  await store.outbox.settle(c!.claim, { kind: "retarget", chatId: -100_22, at: T0, error: quoting }, { now: T0 });
  await store.outbox.markUnreachable(23, quoting, T0);
}

describe("PostgreSQL store: secrets are scrubbed where text enters", () => {
  it("keeps no secret in any column of any table", async () => {
    const schema = db.freshSchema();
    const store = await openStore({ url: db.url(), schema, scrub: new Scrubber([TOKEN, WEBHOOK_SECRET]).scrub });
    try {
      await writeEverywhere(store);
      const expected = "GET https://api.telegram.org/file/bot7000001:<redacted>/a.jpg failed (header <redacted>; odd <redacted>)";
      expect((await store.inbox.deadLetters.list()).items.filter((d) => d.updateId > 0).map((d) => [d.error, d.stack])).toEqual([
        [expected, `Error: ${expected}\n    at handler`],
        [expected, expected],
      ]);
      const failed = await store.outbox.get("b");
      expect(failed?.lastError).toBe(expected);
      expect(failed?.history.map((h) => h.error)).toEqual([expected]);
      expect((await store.outbox.audit.list()).items.map((e) => e.error)).toEqual([expected]);
      expect((await store.outbox.get("a"))?.history[0]?.error).toBe(expected);
      expect((await store.outbox.listUnreachable()).map((u) => u.reason)).toEqual([expected]);
    } finally {
      await store.close();
    }
    expect(await rowsContaining(schema, SECRET_PART)).toEqual([]);
    expect(await rowsContaining(schema, WEBHOOK_SECRET)).toEqual([]);
  });

  it("scrubs the token pattern even when told no secret", async () => {
    const schema = db.freshSchema();
    const store = await openStore({ url: db.url(), schema });
    try {
      await writeEverywhere(store);
      expect((await store.inbox.deadLetters.list()).items.find((d) => d.updateId > 0)?.error).toContain("/file/bot7000001:<redacted>/a.jpg");
    } finally {
      await store.close();
    }
    expect(await rowsContaining(schema, TOKEN)).toEqual([]);
  });
});
