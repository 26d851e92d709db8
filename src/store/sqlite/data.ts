/**
 * Bot data on SQLite: the `bot_data` table (key, value, updated_at), written directly or by the
 * `data.set` / `data.delete` settle effects.
 *
 * @module
 */
import type { BotDataStore, DataEntry, DataListOptions } from "../data-types.js";
import { requireDataKey, requireDataValue } from "../data-validate.js";
import type { EpochMs } from "../inbox-types.js";
import { requireInt, requireTime } from "../validate.js";
import type { SqliteDatabase } from "./database.js";

/**
 * Past every key that starts with a prefix, in SQLite's order of text (UTF-8 bytes): the prefix
 * followed by the highest code point. (A key whose character after the prefix is U+10FFFF itself
 * is not listed; no key unlost's adapters make has one.)
 */
const PAST_PREFIX = "\u{10FFFF}";

/** Stores `value` under `key`; inside a write transaction (a settle's, or `set`'s own). */
export function upsertData(db: SqliteDatabase, key: string, value: string, now: number): void {
  db.statement(
    `INSERT INTO bot_data (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  ).run(key, value, now);
}

/** Deletes `key`; inside a write transaction. Returns whether it existed. */
export function deleteData(db: SqliteDatabase, key: string): boolean {
  return db.statement("DELETE FROM bot_data WHERE key = ?").run(key).changes === 1;
}

/** {@link BotDataStore} on SQLite. */
export class SqliteData implements BotDataStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc BotDataStore.get} */
  async get(key: string): Promise<string | null> {
    requireDataKey(key);
    const row = this.db.read("read bot data", () => this.db.statement("SELECT value FROM bot_data WHERE key = ?").get(key)) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  /** {@inheritDoc BotDataStore.set} */
  async set(key: string, value: string, options: { readonly now?: EpochMs } = {}): Promise<void> {
    requireDataValue(requireDataKey(key), value);
    const now = requireTime("now", options.now ?? this.db.clock());
    this.db.write("write bot data", () => upsertData(this.db, key, value, now));
  }

  /** {@inheritDoc BotDataStore.delete} */
  async delete(key: string): Promise<boolean> {
    requireDataKey(key);
    return this.db.write("delete bot data", () => deleteData(this.db, key));
  }

  /** {@inheritDoc BotDataStore.list} */
  async list(options: DataListOptions): Promise<DataEntry[]> {
    const prefix = requireDataKey(options?.prefix);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const after = options.after === undefined ? "" : requireDataKey(options.after);
    const rows = this.db.read("list bot data", () =>
      this.db
        .statement("SELECT key, value, updated_at FROM bot_data WHERE key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?")
        .all(prefix, prefix + PAST_PREFIX, after, limit),
    ) as { key: string; value: string; updated_at: number }[];
    return rows.map((r) => ({ key: r.key, value: r.value, updatedAt: r.updated_at }));
  }
}
