/**
 * Bot data on PostgreSQL: the `bot_data` table (key, value, updated_at), written directly or by
 * the `data.set` / `data.delete` settle effects. Same semantics as ../sqlite/data.ts; `key` is
 * `COLLATE "C"` so that the prefix range below is a range of UTF-8 bytes, as in SQLite.
 *
 * @module
 */
import type { BotDataStore, DataEntry, DataListOptions } from "../data-types.js";
import { requireDataKey, requireDataValue } from "../data-validate.js";
import type { EpochMs } from "../inbox-types.js";
import { requireInt, requireTime } from "../validate.js";
import type { PgDatabase, Tx } from "./database.js";

/**
 * Past every key that starts with a prefix, in byte order: the prefix followed by the highest
 * code point (as on SQLite; a key whose character after the prefix is U+10FFFF is not listed).
 */
const PAST_PREFIX = "\u{10FFFF}";

/** Stores `value` under `key`; inside a write transaction (a settle's, or `set`'s own). */
export async function upsertData(tx: Tx, key: string, value: string, now: number): Promise<void> {
  await tx.run(
    `INSERT INTO bot_data (key, value, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    [key, value, now],
  );
}

/** Deletes `key`; inside a write transaction. Returns whether it existed. */
export async function deleteData(tx: Tx, key: string): Promise<boolean> {
  return (await tx.run("DELETE FROM bot_data WHERE key = $1", [key])) === 1;
}

/** {@link BotDataStore} on PostgreSQL. */
export class PgData implements BotDataStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc BotDataStore.get} */
  async get(key: string): Promise<string | null> {
    requireDataKey(key);
    const row = await this.db.read("read bot data", (tx) => tx.one<{ value: string }>("SELECT value FROM bot_data WHERE key = $1", [key]));
    return row?.value ?? null;
  }

  /** {@inheritDoc BotDataStore.set} */
  async set(key: string, value: string, options: { readonly now?: EpochMs } = {}): Promise<void> {
    requireDataValue(requireDataKey(key), value);
    const now = requireTime("now", options.now ?? this.db.clock());
    await this.db.write("write bot data", (tx) => upsertData(tx, key, value, now));
  }

  /** {@inheritDoc BotDataStore.delete} */
  async delete(key: string): Promise<boolean> {
    requireDataKey(key);
    return this.db.write("delete bot data", (tx) => deleteData(tx, key));
  }

  /** {@inheritDoc BotDataStore.list} */
  async list(options: DataListOptions): Promise<DataEntry[]> {
    const prefix = requireDataKey(options?.prefix);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const after = options.after === undefined ? "" : requireDataKey(options.after);
    const rows = await this.db.read("list bot data", (tx) =>
      tx.rows<{ key: string; value: string; updated_at: number }>(
        "SELECT key, value, updated_at FROM bot_data WHERE key >= $1 AND key < $2 AND key > $3 ORDER BY key LIMIT $4",
        [prefix, prefix + PAST_PREFIX, after, limit],
      ),
    );
    return rows.map((r) => ({ key: r.key, value: r.value, updatedAt: r.updated_at }));
  }
}
