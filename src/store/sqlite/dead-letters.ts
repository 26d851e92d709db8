/**
 * Dead letters on SQLite: rows of `inbox` in state `dead`. Unstorable updates (no valid
 * `update_id`) are dead rows too, under negative ids (Telegram's are never negative), so that
 * listing, showing, counting and purging treat them like the others.
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
import { MAX_ERROR_LENGTH, MAX_UNSTORABLE_LENGTH, requireInt, requireTime, validateSelector } from "../validate.js";
import { enqueuePending } from "./chat-queue.js";
import type { SqliteDatabase } from "./database.js";
import { INBOX_COLUMNS, toDeadLetter, type InboxRow } from "./rows.js";
import { forgetOrphanAttempts } from "./attempts.js";

/** A WHERE clause over dead rows and its parameters. */
interface Where {
  readonly sql: string;
  readonly params: (string | number)[];
}

function filterWhere(filter: DeadLetterFilter): Where {
  const terms = ["state = 'dead'"];
  const params: (string | number)[] = [];
  if (filter.chatKey !== undefined) {
    terms.push("chat_key = ?");
    params.push(filter.chatKey);
  }
  if (filter.updateType !== undefined) {
    terms.push("update_type = ?");
    params.push(filter.updateType);
  }
  if (filter.errorContains !== undefined && filter.errorContains !== "") {
    // instr() is a plain substring test: no LIKE wildcards to escape in user text.
    terms.push("instr(last_error, ?) > 0");
    params.push(filter.errorContains);
  }
  return { sql: terms.join(" AND "), params };
}

function selectorWhere(selector: DeadLetterSelector): Where {
  validateSelector(selector);
  if ("updateId" in selector) return { sql: "state = 'dead' AND update_id = ?", params: [selector.updateId] };
  if ("all" in selector) return { sql: "state = 'dead'", params: [] };
  return filterWhere(selector.filter);
}

/** Unstorable updates, checked and scrubbed before the transaction. */
export interface PreparedUnstorable {
  readonly raw: string;
  readonly error: string;
}

/** Checks and scrubs `unstorable` (see `IngestOptions.unstorable`); empty when none. */
export function prepareUnstorable(db: SqliteDatabase, unstorable: readonly UnstorableUpdate[] | undefined): PreparedUnstorable[] {
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
 * Keeps unstorable updates as dead rows under new negative ids, skipping text already kept
 * (a re-fetched batch, a re-sent webhook body). Inside the caller's write transaction.
 * Returns how many were kept.
 */
export function keepUnstorable(db: SqliteDatabase, unstorable: readonly PreparedUnstorable[], now: number): number {
  if (unstorable.length === 0) return 0;
  const known = db.statement("SELECT 1 FROM inbox WHERE update_id < 0 AND json_extract(raw, '$.unstorable') = ? LIMIT 1");
  const lowest = db.statement("SELECT MIN(update_id) AS id FROM inbox");
  const insert = db.statement(
    `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, attempts,
                        last_error, settled_at)
     VALUES (?, ?, ?, NULL, ?, ?, 'dead', ?, 0, ?, ?)`,
  );
  let kept = 0;
  for (const u of unstorable) {
    if (known.get(u.raw) !== undefined) continue;
    const id = Math.min(0, (lowest.get() as { id: number | null }).id ?? 0) - 1;
    insert.run(id, UNSTORABLE, UNSTORABLE, now, JSON.stringify({ update_id: id, unstorable: u.raw }), now, u.error, now);
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

/** {@link DeadLetterStore} on SQLite. */
export class SqliteDeadLetters implements DeadLetterStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc DeadLetterStore.list} */
  async list(options: DeadLetterListOptions = {}): Promise<DeadLetterPage> {
    const limit = requireInt("limit", options.limit ?? 50, 1, 1000);
    const after = parseCursor(options.cursor);
    const where = filterWhere(options);
    const sql =
      `SELECT ${INBOX_COLUMNS} FROM inbox WHERE ${where.sql}` +
      (after === undefined ? "" : " AND update_id > ?") +
      " ORDER BY update_id LIMIT ?";
    const params = [...where.params, ...(after === undefined ? [] : [after]), limit + 1];
    const rows = this.db.read("list dead letters", () => this.db.statement(sql).all(...params)) as InboxRow[];
    const items = rows.slice(0, limit).map(toDeadLetter);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last !== undefined ? String(last.updateId) : null };
  }

  /** {@inheritDoc DeadLetterStore.get} */
  async get(updateId: number): Promise<DeadLetter | null> {
    requireInt("updateId", updateId, Number.MIN_SAFE_INTEGER);
    const row = this.db.read("get dead letter", () =>
      this.db.statement(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE update_id = ? AND state = 'dead'`).get(updateId),
    ) as InboxRow | undefined;
    return row === undefined ? null : toDeadLetter(row);
  }

  /** {@inheritDoc DeadLetterStore.retry} */
  async retry(selector: DeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    const where = selectorWhere(selector);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("retry dead letters", () => {
      const rows = db
        .statement(
          `UPDATE inbox SET state = 'pending', due_at = ?, attempts = 0, isolated_deaths = 0, isolation = NULL, settled_at = NULL, lease_until = NULL
           WHERE ${where.sql} AND update_id >= 0 RETURNING update_id, chat_key`,
        )
        .all(now, ...where.params) as { update_id: number; chat_key: string }[];
      for (const row of rows) enqueuePending(db, row.chat_key, row.update_id, now);
      return rows.length;
    });
  }

  /** {@inheritDoc DeadLetterStore.purge} */
  async purge(selector: DeadLetterSelector): Promise<number> {
    const where = selectorWhere(selector);
    const db = this.db;
    // Dead letters are in no chat queue, so deleting them needs no queue maintenance.
    return db.write("purge dead letters", () => {
      const { changes } = db.statement(`DELETE FROM inbox WHERE ${where.sql}`).run(...where.params);
      if (changes > 0) forgetOrphanAttempts(db);
      return changes;
    });
  }
}
