/**
 * Dead letters on SQLite: rows of `inbox` in state `dead`.
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
} from "../inbox-types.js";
import { requireInt, requireTime, validateSelector } from "../validate.js";
import { enqueuePending } from "./chat-queue.js";
import type { SqliteDatabase } from "./database.js";
import { INBOX_COLUMNS, toDeadLetter, type InboxRow } from "./rows.js";

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

function parseCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^\d{1,16}$/.test(cursor)) {
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
    requireInt("updateId", updateId, 0);
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
          `UPDATE inbox SET state = 'pending', due_at = ?, attempts = 0, settled_at = NULL, lease_until = NULL
           WHERE ${where.sql} RETURNING update_id, chat_key`,
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
    return db.write("purge dead letters", () => db.statement(`DELETE FROM inbox WHERE ${where.sql}`).run(...where.params).changes);
  }
}
