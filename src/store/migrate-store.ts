/**
 * Moving a bot from its SQLite store to a PostgreSQL one (`unlost migrate-store`): everything
 * the bot has not finished and everything it keeps, so that the first `unlost run` on
 * PostgreSQL goes on where the last one on SQLite stopped.
 *
 * What moves: the inbox (pending and in-flight updates, their chat queues, done rows and the
 * dead letters, unstorable ones included), the outbox (queued and in-flight jobs with their
 * idempotency keys, attempts, ambiguous counts and history; delivered and failed jobs, i.e.
 * the outbox dead letters; broadcasts, unreachable chats, known users, the audit log), the
 * runtime state (polling offset, last heartbeat, offline windows, key/values — the bound bot
 * id, the webhook secret, counters) and the bot's data (sessions, conversations). Leases do not
 * move: they belong to processes, and none runs.
 *
 * The two backends have the same tables and columns (see postgres/schema.ts), so rows are
 * copied as they are, with two conversions: chat ids become JSON text, and the bigserial
 * sequences are moved past the copied ids. The source's unfinished journal batches are first
 * turned into inbox rows (`adopt`, what the next start would do), so nothing of them is left
 * behind.
 *
 * The copy is one PostgreSQL transaction: it lands whole or not at all. It refuses a target
 * that holds anything (another bot's data must never be merged into) unless that target was
 * made by this very copy from this unchanged source (then nothing is done: running the command
 * twice is harmless), and a source whose bot is running (it would go on changing what is being
 * copied).
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Tx } from "./postgres/database.js";
import type { PostgresStore } from "./postgres/store.js";
import type { SqliteStore } from "./sqlite/store.js";

/** The kv key that records a copy on the target: where from, when, and the source's state then. */
export const MIGRATED_FROM_KEY = "unlost.migrated_from";

/** Rows copied per table, and what they mean for the operator. */
export interface MigrateStoreResult {
  /** True when the target already held this copy of this source: nothing was written. */
  readonly alreadyMigrated: boolean;
  /** Rows copied, per table. */
  readonly tables: Readonly<Record<string, number>>;
  /** Updates not yet handled (pending or in flight), and dead letters. */
  readonly updates: { readonly open: number; readonly dead: number };
  /** Jobs not yet sent (queued or in flight), and outbox dead letters (failed jobs). */
  readonly jobs: { readonly open: number; readonly failed: number };
  /** Unfinished journal updates turned into inbox rows before the copy. */
  readonly adoptedFromJournal: number;
  /** The polling offset carried over (null: the bot never polled). */
  readonly offset: number | null;
}

/** Options of {@link migrateStore}. */
export interface MigrateStoreOptions {
  /** The time (ms epoch) against which leases are judged; default now. */
  readonly now?: number;
}

/**
 * The tables copied, in an order that needs no deferred checks, and the columns that hold a
 * chat id (a number or a string in SQLite, JSON text in PostgreSQL).
 */
const TABLES: ReadonlyArray<{ readonly name: string; readonly chatIdColumns?: readonly string[] }> = [
  { name: "inbox" },
  { name: "chat_queue" },
  { name: "inbox_done_counts" },
  { name: "outbox_broadcasts" },
  { name: "outbox_jobs", chatIdColumns: ["chat_id"] },
  { name: "outbox_heads" },
  { name: "outbox_unreachable", chatIdColumns: ["chat_id"] },
  { name: "outbox_users", chatIdColumns: ["chat_id"] },
  { name: "outbox_audit", chatIdColumns: ["chat_id"] },
  { name: "offline_windows" },
  { name: "kv" },
  { name: "bot_data" },
];

/** The tables whose presence of rows makes a target "not empty". */
const TARGET_CONTENT = ["inbox", "outbox_jobs", "kv", "bot_data", "offline_windows", "inbox_journal", "outbox_audit"];

/** bigserial columns: their sequences must continue after the copied values. */
const SEQUENCES: ReadonlyArray<readonly [table: string, column: string]> = [
  ["outbox_jobs", "seq"],
  ["outbox_audit", "id"],
  ["offline_windows", "id"],
  ["inbox_journal", "batch"],
];

/** PostgreSQL takes at most 65 535 parameters per statement. */
const MAX_PARAMETERS = 60_000;

/** What identifies the source's content at the time of a copy (a later change makes a re-run refuse). */
interface SourceMark {
  readonly from: string;
  readonly offset: number | null;
  readonly maxUpdateId: number | null;
  readonly maxJobSeq: number | null;
  readonly rows: number;
}

/**
 * Copies `source` (a SQLite store whose bot is stopped) into `target` (a PostgreSQL store,
 * empty), in one transaction on the target.
 *
 * @throws UnlostError `CONFLICT` when a process holds a lease of the source (its bot runs, or
 * was killed less than a lease ago); `INVALID_ARGUMENT` when the target holds data (of another
 * bot, or of this one after it ran there, or from an older copy of a source that changed since);
 * `STORE_FAILURE` when a store fails (nothing is written to the target then).
 */
export async function migrateStore(source: SqliteStore, target: PostgresStore, options: MigrateStoreOptions = {}): Promise<MigrateStoreResult> {
  const now = options.now ?? Date.now();
  const db = source.database.handle;
  const held = db.prepare("SELECT name, owner, expires_at FROM leases WHERE expires_at > ? ORDER BY name").all(now) as Array<{ name: string; owner: string; expires_at: number }>;
  if (held.length > 0) {
    const first = held[0] as { name: string; owner: string; expires_at: number };
    throw new UnlostError(
      "CONFLICT",
      `the bot on ${source.location} is running: instance ${first.owner} holds its "${first.name}" lease until ${new Date(first.expires_at).toISOString()}. Stop every process of the bot first (a process killed moments ago keeps its lease until then), and run migrate-store again.`,
      { details: { leases: held.map((l) => ({ name: l.name, owner: l.owner, expiresAt: l.expires_at })) } },
    );
  }
  // Unfinished journal batches become inbox rows (as the next start would make them).
  let adoptedFromJournal = 0;
  const journal = source.inbox.journal;
  if (journal !== undefined) for (const owner of await journal.owners()) adoptedFromJournal += await journal.adopt(owner, { now });

  const mark = sourceMark(source);
  return target.database.write("copy a SQLite store", async (tx) => {
    // One copy at a time into a schema: a second one waits, then finds the target not empty.
    await tx.run("SELECT pg_advisory_xact_lock(hashtext('unlost migrate-store'), hashtext(current_schema()))");
    const existing = await targetContent(tx);
    if (existing.length > 0) {
      const previous = await tx.one<{ value: string }>("SELECT value FROM kv WHERE key = $1", [MIGRATED_FROM_KEY]);
      if (previous !== undefined && sameMark(previous.value, mark)) return summary(source, true, {}, adoptedFromJournal);
      throw new UnlostError(
        "INVALID_ARGUMENT",
        `the target ${target.location} is not empty (${existing.join(", ")}): migrate-store copies into an empty schema only, so that no bot's data is mixed with another's. ` +
          (previous !== undefined
            ? "It was migrated from this source before, and the source changed since (the bot ran on SQLite again?); drop the target schema (DROP SCHEMA … CASCADE) and copy again, or keep the target as it is."
            : "Give another schema (--schema), or drop this one if it holds nothing you need."),
        { details: { nonEmpty: existing } },
      );
    }
    const tables: Record<string, number> = {};
    for (const table of TABLES) tables[table.name] = await copyTable(source, tx, table.name, table.chatIdColumns ?? []);
    const runtime = db.prepare("SELECT poll_offset, last_beat FROM runtime WHERE id = 1").get() as { poll_offset: number | null; last_beat: number | null } | undefined;
    await tx.run("UPDATE runtime SET poll_offset = $1, last_beat = $2 WHERE id = 1", [runtime?.poll_offset ?? null, runtime?.last_beat ?? null]);
    const diverged = db.prepare("SELECT n FROM outbox_counters WHERE name = 'diverged'").get() as { n: number } | undefined;
    if (diverged !== undefined) await tx.run("UPDATE outbox_counters SET n = $1 WHERE name = 'diverged'", [diverged.n]);
    for (const [table, column] of SEQUENCES) {
      await tx.run(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), COALESCE(max(${column}), 1), max(${column}) IS NOT NULL) FROM ${table}`);
    }
    // Read back in the same transaction: a row that did not land aborts the whole copy.
    for (const [name, n] of Object.entries(tables)) {
      const landed = (await tx.one<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${name}`))?.n ?? 0;
      if (landed !== n) throw new UnlostError("STORE_FAILURE", `copying ${name}: ${n} rows read from ${source.location} but ${landed} in the target; nothing was kept.`);
    }
    await tx.run("INSERT INTO kv (key, value) VALUES ($1, $2)", [MIGRATED_FROM_KEY, JSON.stringify({ ...mark, at: now })]);
    return summary(source, false, tables, adoptedFromJournal);
  });
}

/** Copies every row of `table`; returns how many. */
async function copyTable(source: SqliteStore, tx: Tx, table: string, chatIdColumns: readonly string[]): Promise<number> {
  const db = source.database.handle;
  const info = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string; pk: number }>;
  const columns = info.map((c) => c.name);
  // Pages in primary key order: stable whatever the table's storage (rowid or not).
  const key = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  // The bound bot id's marker of an earlier copy is not carried along (this copy writes its own).
  const where = table === "kv" ? ` WHERE key <> '${MIGRATED_FROM_KEY}'` : "";
  // Pages read with .all(), not an open iterator: the connection must stay free between the
  // awaits (the store's own checkpoint timer uses it). The source does not change meanwhile:
  // no process of its bot runs.
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  const page = db.prepare(`SELECT ${columns.join(", ")} FROM ${table}${where} ORDER BY ${(key.length > 0 ? key : columns).join(", ")} LIMIT ? OFFSET ?`).raw(true);
  const encode = columns.map((c) => chatIdColumns.includes(c));
  let copied = 0;
  for (;;) {
    const rows = page.all(perStatement, copied) as unknown[][];
    if (rows.length === 0) break;
    const params: unknown[] = [];
    const tuples = rows.map((row) => `(${row.map((value, i) => {
      params.push(encode[i] === true && value !== null ? JSON.stringify(value) : value);
      return `$${params.length}`;
    }).join(", ")})`);
    await tx.run(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`, params);
    copied += rows.length;
  }
  return copied;
}

/** The target's tables that hold rows (and the offset, when set). */
async function targetContent(tx: Tx): Promise<string[]> {
  const found: string[] = [];
  for (const table of TARGET_CONTENT) {
    if ((await tx.one(`SELECT 1 FROM ${table} LIMIT 1`)) !== undefined) found.push(table);
  }
  const runtime = await tx.one<{ poll_offset: number | null }>("SELECT poll_offset FROM runtime WHERE id = 1");
  if (runtime?.poll_offset !== null && runtime?.poll_offset !== undefined) found.push("polling offset");
  return found;
}

function sourceMark(source: SqliteStore): SourceMark {
  const db = source.database.handle;
  const one = (sql: string): number | null => ((db.prepare(sql).get() as { v: number | null } | undefined)?.v ?? null);
  const rows = TABLES.reduce((n, t) => n + (one(`SELECT count(*) AS v FROM ${t.name}${t.name === "kv" ? ` WHERE key <> '${MIGRATED_FROM_KEY}'` : ""}`) ?? 0), 0);
  return {
    from: source.location,
    offset: one("SELECT poll_offset AS v FROM runtime WHERE id = 1"),
    maxUpdateId: one("SELECT max(update_id) AS v FROM inbox"),
    maxJobSeq: one("SELECT max(seq) AS v FROM outbox_jobs"),
    rows,
  };
}

function sameMark(stored: string, mark: SourceMark): boolean {
  try {
    const previous = JSON.parse(stored) as Partial<SourceMark>;
    return previous.from === mark.from && previous.offset === mark.offset && previous.maxUpdateId === mark.maxUpdateId && previous.maxJobSeq === mark.maxJobSeq && previous.rows === mark.rows;
  } catch {
    return false;
  }
}

function summary(source: SqliteStore, alreadyMigrated: boolean, tables: Record<string, number>, adoptedFromJournal: number): MigrateStoreResult {
  const db = source.database.handle;
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
  return {
    alreadyMigrated,
    tables,
    updates: { open: count("SELECT count(*) AS n FROM inbox WHERE state IN ('pending', 'inflight')"), dead: count("SELECT count(*) AS n FROM inbox WHERE state = 'dead'") },
    jobs: { open: count("SELECT count(*) AS n FROM outbox_jobs WHERE state IN ('queued', 'sending')"), failed: count("SELECT count(*) AS n FROM outbox_jobs WHERE state = 'failed'") },
    adoptedFromJournal,
    offset: (db.prepare("SELECT poll_offset AS v FROM runtime WHERE id = 1").get() as { v: number | null } | undefined)?.v ?? null,
  };
}
