/**
 * The outbox's dead letters on SQLite: rows of `outbox_jobs` in state `failed`.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs, Job } from "../../outbound/types.js";
import { chatKeyOf, validateJobSelector } from "../outbox-validate.js";
import type {
  OutboxDeadLetterFilter,
  OutboxDeadLetterListOptions,
  OutboxDeadLetterSelector,
  OutboxDeadLetterStore,
  Page,
  RemovedJobs,
} from "../outbox-types.js";
import { requireInt, requireTime } from "../validate.js";
import type { SqliteDatabase } from "./database.js";
import { refreshHead } from "./outbox-heads.js";
import { JOB_COLUMNS, blobsOf, toJob, type JobRow } from "./outbox-rows.js";

/** A WHERE clause over failed rows and its parameters. */
interface Where {
  readonly sql: string;
  readonly params: (string | number)[];
}

function filterWhere(filter: OutboxDeadLetterFilter): Where {
  const terms = ["state = 'failed'"];
  const params: (string | number)[] = [];
  if (filter.chatId !== undefined) {
    terms.push("chat_key = ?");
    params.push(chatKeyOf(filter.chatId));
  }
  if (filter.reason !== undefined) {
    terms.push("failure_reason = ?");
    params.push(filter.reason);
  }
  if (filter.errorContains !== undefined && filter.errorContains !== "") {
    // instr() is a plain substring test: no LIKE wildcards to escape in user text.
    terms.push("instr(last_error, ?) > 0");
    params.push(filter.errorContains);
  }
  return { sql: terms.join(" AND "), params };
}

function selectorWhere(selector: OutboxDeadLetterSelector): Where {
  validateJobSelector(selector);
  if ("id" in selector) return { sql: "state = 'failed' AND id = ?", params: [selector.id] };
  if ("all" in selector) return { sql: "state = 'failed'", params: [] };
  return filterWhere(selector.filter);
}

/** Parses a page cursor (a `seq` or audit id, as text). */
export function parseCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^\d{1,16}$/.test(cursor)) {
    throw new UnlostError("INVALID_ARGUMENT", `Not a page cursor: ${JSON.stringify(cursor)}; pass a nextCursor back unchanged.`);
  }
  return Number(cursor);
}

/** {@link OutboxDeadLetterStore} on SQLite. */
export class SqliteOutboxDeadLetters implements OutboxDeadLetterStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc OutboxDeadLetterStore.list} */
  async list(options: OutboxDeadLetterListOptions = {}): Promise<Page<Job>> {
    const limit = requireInt("limit", options.limit ?? 50, 1, 1000);
    const after = parseCursor(options.cursor);
    const where = filterWhere(options);
    const sql =
      `SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE ${where.sql}` +
      (after === undefined ? "" : " AND seq > ?") +
      " ORDER BY seq LIMIT ?";
    const params = [...where.params, ...(after === undefined ? [] : [after]), limit + 1];
    const rows = this.db.read("list outbox dead letters", () => this.db.statement(sql).all(...params)) as JobRow[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toJob), nextCursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
  }

  /** {@inheritDoc OutboxDeadLetterStore.retry} */
  async retry(selector: OutboxDeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    const where = selectorWhere(selector);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("retry outbox dead letters", () => {
      const rows = db
        .statement(
          `UPDATE outbox_jobs SET state = 'queued', due_at = ?, attempts = 0, failure_reason = NULL, finished_at = NULL,
             updated_at = ?, lease_until = NULL
           WHERE ${where.sql} RETURNING chat_key`,
        )
        .all(now, now, ...where.params) as { chat_key: string }[];
      // The job keeps its seq: the head upkeep puts it before its chat's later queued jobs.
      for (const chatKey of new Set(rows.map((r) => r.chat_key))) refreshHead(db, chatKey, now);
      return rows.length;
    });
  }

  /** {@inheritDoc OutboxDeadLetterStore.purge} */
  async purge(selector: OutboxDeadLetterSelector): Promise<RemovedJobs> {
    const where = selectorWhere(selector);
    const db = this.db;
    // Failed jobs are in no chat's queue, so deleting them needs no head upkeep.
    const rows = db.write("purge outbox dead letters", () =>
      db.statement(`DELETE FROM outbox_jobs WHERE ${where.sql} RETURNING id, blobs`).all(...where.params),
    ) as { id: string; blobs: string }[];
    return { count: rows.length, blobs: rows.flatMap(blobsOf) };
  }
}
