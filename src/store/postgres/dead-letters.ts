/**
 * Dead letters on PostgreSQL: rows of `inbox` in state `dead`, unstorable updates under
 * negative ids, exactly as ../sqlite/dead-letters.ts.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterListOptions,
  DeadLetterPage,
  DeadLetterSelector,
  DeadLetterStore,
  EpochMs,
  UnstorableUpdate,
} from "../inbox-types.js";
import { UNSTORABLE } from "../inbox-types.js";
import { INBOX_COLUMNS, toDeadLetter, type InboxRow } from "../sqlite/rows.js";
import { forgetOrphanAttempts } from "./attempts.js";
import { MAX_ERROR_LENGTH, MAX_UNSTORABLE_LENGTH, requireInt, requireTime, validateSelector } from "../validate.js";
import { lockChats } from "./chat-locks.js";
import { enqueuePending } from "./chat-queue.js";
import type { PgDatabase, Tx } from "./database.js";

/** A WHERE clause over dead rows; its parameters are numbered from `$first`. */
interface Where {
  readonly sql: string;
  readonly params: (string | number)[];
}

function filterWhere(filter: DeadLetterFilter, first = 1): Where {
  const terms = ["state = 'dead'"];
  const params: (string | number)[] = [];
  const next = (value: string | number): string => {
    params.push(value);
    return `$${first + params.length - 1}`;
  };
  if (filter.chatKey !== undefined) terms.push(`chat_key = ${next(filter.chatKey)}`);
  if (filter.updateType !== undefined) terms.push(`update_type = ${next(filter.updateType)}`);
  // strpos() is a plain substring test: no LIKE wildcards to escape in user text.
  if (filter.errorContains !== undefined && filter.errorContains !== "") terms.push(`strpos(last_error, ${next(filter.errorContains)}) > 0`);
  return { sql: terms.join(" AND "), params };
}

function selectorWhere(selector: DeadLetterSelector, first = 1): Where {
  validateSelector(selector);
  if ("updateId" in selector) return { sql: `state = 'dead' AND update_id = $${first}`, params: [selector.updateId] };
  if ("all" in selector) return { sql: "state = 'dead'", params: [] };
  return filterWhere(selector.filter, first);
}

/** Unstorable updates, checked and scrubbed before the transaction. */
export interface PreparedUnstorable {
  readonly raw: string;
  readonly error: string;
}

/** Checks and scrubs `unstorable` (see `IngestOptions.unstorable`); empty when none. */
export function prepareUnstorable(db: PgDatabase, unstorable: readonly UnstorableUpdate[] | undefined): PreparedUnstorable[] {
  if (unstorable === undefined) return [];
  if (!Array.isArray(unstorable)) throw new UnlostError("INVALID_ARGUMENT", "unstorable must be an array of { raw, error }.");
  return unstorable.map((u) => {
    if (typeof u?.raw !== "string" || typeof u.error !== "string") {
      throw new UnlostError("INVALID_ARGUMENT", "unstorable[] must be objects { raw: string, error: string }.");
    }
    return { raw: db.freeText(u.raw, MAX_UNSTORABLE_LENGTH), error: db.freeText(u.error, MAX_ERROR_LENGTH) };
  });
}

/**
 * Keeps unstorable updates as dead rows under new negative ids, skipping text already kept.
 * Inside the caller's write transaction; the chat lock of `unstorable` serializes the choice of
 * the next negative id between processes. Returns how many were kept.
 */
export async function keepUnstorable(tx: Tx, unstorable: readonly PreparedUnstorable[], now: number): Promise<number> {
  if (unstorable.length === 0) return 0;
  await lockChats(tx, [UNSTORABLE]);
  let kept = 0;
  for (const u of unstorable) {
    const known = await tx.one("SELECT 1 FROM inbox WHERE update_id < 0 AND (raw::jsonb ->> 'unstorable') = $1 LIMIT 1", [u.raw]);
    if (known !== undefined) continue;
    const lowest = await tx.one<{ id: number | null }>("SELECT min(update_id) AS id FROM inbox");
    const id = Math.min(0, lowest?.id ?? 0) - 1;
    await tx.run(
      `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, attempts, last_error, settled_at)
       VALUES ($1, $2, $2, NULL, $3, $4, 'dead', $3, 0, $5, $3)`,
      [id, UNSTORABLE, now, JSON.stringify({ update_id: id, unstorable: u.raw }), u.error],
    );
    kept++;
  }
  return kept;
}

function parseCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^-?\d{1,16}$/.test(cursor)) {
    throw new UnlostError("INVALID_ARGUMENT", `Not a dead-letter cursor: ${JSON.stringify(cursor)}; pass a nextCursor back unchanged.`);
  }
  return Number(cursor);
}

/** {@link DeadLetterStore} on PostgreSQL. */
export class PgDeadLetters implements DeadLetterStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc DeadLetterStore.list} */
  async list(options: DeadLetterListOptions = {}): Promise<DeadLetterPage> {
    const limit = requireInt("limit", options.limit ?? 50, 1, 1000);
    const after = parseCursor(options.cursor);
    const where = filterWhere(options);
    const params: (string | number)[] = [...where.params];
    let sql = `SELECT ${INBOX_COLUMNS} FROM inbox WHERE ${where.sql}`;
    if (after !== undefined) {
      params.push(after);
      sql += ` AND update_id > $${params.length}`;
    }
    params.push(limit + 1);
    sql += ` ORDER BY update_id LIMIT $${params.length}`;
    const rows = await this.db.read("list dead letters", (tx) => tx.rows<InboxRow>(sql, params));
    const items = rows.slice(0, limit).map(toDeadLetter);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last !== undefined ? String(last.updateId) : null };
  }

  /** {@inheritDoc DeadLetterStore.get} */
  async get(updateId: number): Promise<DeadLetter | null> {
    requireInt("updateId", updateId, Number.MIN_SAFE_INTEGER);
    const row = await this.db.read("get dead letter", (tx) =>
      tx.one<InboxRow>(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE update_id = $1 AND state = 'dead'`, [updateId]),
    );
    return row === undefined ? null : toDeadLetter(row);
  }

  /** {@inheritDoc DeadLetterStore.retry} */
  async retry(selector: DeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    const where = selectorWhere(selector, 2);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("retry dead letters", async (tx) => {
      // The chats first, then their locks, then the rows of those chats (read again under the
      // locks; a row that died meanwhile in another chat waits for the next retry).
      const chats = await tx.rows<{ chat_key: string }>(`SELECT DISTINCT chat_key FROM inbox WHERE ${selectorWhere(selector).sql} AND update_id >= 0`, where.params);
      await lockChats(tx, chats.map((c) => c.chat_key));
      const rows = await tx.rows<{ update_id: number; chat_key: string }>(
        `UPDATE inbox SET state = 'pending', due_at = $1, attempts = 0, isolated_deaths = 0, isolation = NULL, settled_at = NULL, lease_until = NULL
         WHERE ${where.sql} AND update_id >= 0 AND chat_key = ANY($${2 + where.params.length}::text[]) RETURNING update_id, chat_key`,
        [now, ...where.params, chats.map((c) => c.chat_key)],
      );
      await enqueuePending(tx, rows.map((r) => ({ chatKey: r.chat_key, updateId: r.update_id })), now);
      return rows.length;
    });
  }

  /** {@inheritDoc DeadLetterStore.purge} */
  async purge(selector: DeadLetterSelector): Promise<number> {
    const where = selectorWhere(selector);
    // Dead letters are in no chat queue, so deleting them needs no queue maintenance.
    return this.db.write("purge dead letters", async (tx) => {
      const count = await tx.run(`DELETE FROM inbox WHERE ${where.sql}`, where.params);
      if (count > 0) await forgetOrphanAttempts(tx);
      return count;
    });
  }
}
