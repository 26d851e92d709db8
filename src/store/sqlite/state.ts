/**
 * Runtime state on SQLite: the single `runtime` row (offset, heartbeat), offline windows and
 * the `kv` table.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { OfflineWindow, StateStore } from "../state-types.js";
import { requireInt, requireText, requireTime } from "../validate.js";
import type { SqliteDatabase } from "./database.js";

/**
 * The kv key of the bot the store is bound to. A key rather than a column: the binding is one
 * value read once per start, and a key needs no schema migration.
 */
export const BOUND_BOT_KEY = "unlost.bot_id";

interface RuntimeRow {
  poll_offset: number | null;
  last_beat: number | null;
}

function readRuntime(db: SqliteDatabase): RuntimeRow {
  return (db.statement("SELECT poll_offset, last_beat FROM runtime WHERE id = 1").get() as RuntimeRow | undefined) ?? {
    poll_offset: null,
    last_beat: null,
  };
}

function readBoundBot(db: SqliteDatabase): number | null {
  const row = db.statement("SELECT value FROM kv WHERE key = ?").get(BOUND_BOT_KEY) as { value: string } | undefined;
  if (row === undefined) return null;
  const id = Number(row.value);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new UnlostError("STORE_FAILURE", `the store's bound bot id (kv key "${BOUND_BOT_KEY}") is ${JSON.stringify(row.value)}, not a bot id; it was changed by hand. Delete that key to bind the store again on the next start.`);
  }
  return id;
}

function requireBotId(botId: number): number {
  if (!Number.isSafeInteger(botId) || botId <= 0) {
    throw new UnlostError("INVALID_ARGUMENT", `botId must be a bot's id (a positive integer, the id of getMe), got ${String(botId)}`);
  }
  return botId;
}

/** {@link StateStore} on SQLite. */
export class SqliteState implements StateStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc StateStore.offset} */
  async offset(): Promise<number | null> {
    return this.db.read("read offset", () => readRuntime(this.db).poll_offset);
  }

  /** {@inheritDoc StateStore.beat} */
  async beat(now?: EpochMs): Promise<void> {
    const at = requireTime("now", now ?? this.db.clock());
    this.db.write("heartbeat", () => this.db.statement("UPDATE runtime SET last_beat = ? WHERE id = 1").run(at));
  }

  /** {@inheritDoc StateStore.lastBeat} */
  async lastBeat(): Promise<EpochMs | null> {
    return this.db.read("read heartbeat", () => readRuntime(this.db).last_beat);
  }

  /** {@inheritDoc StateStore.recordStart} */
  async recordStart(now?: EpochMs): Promise<OfflineWindow | null> {
    const at = requireTime("now", now ?? this.db.clock());
    const db = this.db;
    return db.write("record start", () => {
      const last = readRuntime(db).last_beat;
      db.statement("UPDATE runtime SET last_beat = ? WHERE id = 1").run(at);
      if (last === null) return null;
      // A clock that went backwards gives an empty window, not a negative one.
      const from = Math.min(last, at);
      db.statement("INSERT INTO offline_windows (from_time, to_time) VALUES (?, ?)").run(from, at);
      return { from, to: at, durationMs: at - from };
    });
  }

  /** {@inheritDoc StateStore.offlineWindows} */
  async offlineWindows(options: { readonly limit?: number } = {}): Promise<OfflineWindow[]> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 10_000);
    const rows = this.db.read("list offline windows", () =>
      this.db.statement("SELECT from_time, to_time FROM offline_windows ORDER BY id DESC LIMIT ?").all(limit),
    ) as { from_time: number; to_time: number }[];
    return rows.map((r) => ({ from: r.from_time, to: r.to_time, durationMs: r.to_time - r.from_time }));
  }

  /** {@inheritDoc StateStore.getValue} */
  async getValue(key: string): Promise<string | null> {
    requireText("key", key, 1000);
    const row = this.db.read("read value", () => this.db.statement("SELECT value FROM kv WHERE key = ?").get(key)) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  /** {@inheritDoc StateStore.setValue} */
  async setValue(key: string, value: string): Promise<void> {
    requireText("key", key, 1000);
    if (typeof value !== "string") requireText("value", value);
    this.db.write("write value", () =>
      this.db
        .statement("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(key, value),
    );
  }

  /** {@inheritDoc StateStore.bindBot} */
  async bindBot(botId: number): Promise<number> {
    const id = requireBotId(botId);
    const db = this.db;
    // One write transaction: two processes starting at once on a new store cannot both bind it.
    return db.write("bind the store to a bot", () => {
      const bound = readBoundBot(db);
      if (bound !== null) return bound;
      db.statement("INSERT INTO kv (key, value) VALUES (?, ?)").run(BOUND_BOT_KEY, String(id));
      return id;
    });
  }

  /** {@inheritDoc StateStore.boundBot} */
  async boundBot(): Promise<number | null> {
    return this.db.read("read the bound bot", () => readBoundBot(this.db));
  }

  /** {@inheritDoc StateStore.deleteValue} */
  async deleteValue(key: string): Promise<boolean> {
    requireText("key", key, 1000);
    return this.db.write("delete value", () => this.db.statement("DELETE FROM kv WHERE key = ?").run(key).changes === 1);
  }
}
