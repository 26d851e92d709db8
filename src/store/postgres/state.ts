/**
 * Runtime state on PostgreSQL: the single `runtime` row (offset, heartbeat), offline windows and
 * the `kv` table. Same semantics as ../sqlite/state.ts.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { OfflineWindow, StateStore } from "../state-types.js";
import { requireInt, requireText, requireTime } from "../validate.js";
import { BOUND_BOT_KEY } from "../sqlite/state.js";
import type { PgDatabase, Tx } from "./database.js";

interface RuntimeRow {
  poll_offset: number | null;
  last_beat: number | null;
}

async function readRuntime(tx: Tx, lock = false): Promise<RuntimeRow> {
  return (await tx.one<RuntimeRow>(`SELECT poll_offset, last_beat FROM runtime WHERE id = 1${lock ? " FOR UPDATE" : ""}`)) ?? {
    poll_offset: null,
    last_beat: null,
  };
}

async function readBoundBot(tx: Tx): Promise<number | null> {
  const row = await tx.one<{ value: string }>("SELECT value FROM kv WHERE key = $1", [BOUND_BOT_KEY]);
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

/** Sets a kv value inside a transaction (`setValue`, the `kv.set` effect). */
export async function upsertValue(tx: Tx, key: string, value: string): Promise<void> {
  await tx.run("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]);
}

/** {@link StateStore} on PostgreSQL. */
export class PgState implements StateStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc StateStore.offset} */
  async offset(): Promise<number | null> {
    return this.db.read("read offset", async (tx) => (await readRuntime(tx)).poll_offset);
  }

  /** {@inheritDoc StateStore.beat} */
  async beat(now?: EpochMs): Promise<void> {
    const at = requireTime("now", now ?? this.db.clock());
    await this.db.write("heartbeat", (tx) => tx.run("UPDATE runtime SET last_beat = $1 WHERE id = 1", [at]));
  }

  /** {@inheritDoc StateStore.lastBeat} */
  async lastBeat(): Promise<EpochMs | null> {
    return this.db.read("read heartbeat", async (tx) => (await readRuntime(tx)).last_beat);
  }

  /** {@inheritDoc StateStore.recordStart} */
  async recordStart(now?: EpochMs): Promise<OfflineWindow | null> {
    const at = requireTime("now", now ?? this.db.clock());
    return this.db.write("record start", async (tx) => {
      // The row lock makes read-then-write atomic against another process's start.
      const last = (await readRuntime(tx, true)).last_beat;
      await tx.run("UPDATE runtime SET last_beat = $1 WHERE id = 1", [at]);
      if (last === null) return null;
      // A clock that went backwards gives an empty window, not a negative one.
      const from = Math.min(last, at);
      await tx.run("INSERT INTO offline_windows (from_time, to_time) VALUES ($1, $2)", [from, at]);
      return { from, to: at, durationMs: at - from };
    });
  }

  /** {@inheritDoc StateStore.offlineWindows} */
  async offlineWindows(options: { readonly limit?: number } = {}): Promise<OfflineWindow[]> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 10_000);
    const rows = await this.db.read("list offline windows", (tx) =>
      tx.rows<{ from_time: number; to_time: number }>("SELECT from_time, to_time FROM offline_windows ORDER BY id DESC LIMIT $1", [limit]),
    );
    return rows.map((r) => ({ from: r.from_time, to: r.to_time, durationMs: r.to_time - r.from_time }));
  }

  /** {@inheritDoc StateStore.getValue} */
  async getValue(key: string): Promise<string | null> {
    requireText("key", key, 1000);
    const row = await this.db.read("read value", (tx) => tx.one<{ value: string }>("SELECT value FROM kv WHERE key = $1", [key]));
    return row?.value ?? null;
  }

  /** {@inheritDoc StateStore.setValue} */
  async setValue(key: string, value: string): Promise<void> {
    requireText("key", key, 1000);
    if (typeof value !== "string") requireText("value", value);
    await this.db.write("write value", (tx) => upsertValue(tx, key, value));
  }

  /** {@inheritDoc StateStore.deleteValue} */
  async deleteValue(key: string): Promise<boolean> {
    requireText("key", key, 1000);
    return this.db.write("delete value", async (tx) => (await tx.run("DELETE FROM kv WHERE key = $1", [key])) === 1);
  }

  /** {@inheritDoc StateStore.bindBot} */
  async bindBot(botId: number): Promise<number> {
    const id = requireBotId(botId);
    return this.db.write("bind the store to a bot", async (tx) => {
      // ON CONFLICT DO NOTHING: two processes binding a new store at once cannot both win; the
      // loser reads the winner's id (its insert waited for the winner's commit).
      await tx.run("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [BOUND_BOT_KEY, String(id)]);
      return (await readBoundBot(tx)) ?? id;
    });
  }

  /** {@inheritDoc StateStore.boundBot} */
  async boundBot(): Promise<number | null> {
    return this.db.read("read the bound bot", (tx) => readBoundBot(tx));
  }
}
