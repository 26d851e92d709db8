/**
 * The outbox's dead letters on PostgreSQL: rows of `outbox_jobs` in state `failed` (see
 * ../sqlite/outbox-dead-letters.ts).
 *
 * @module
 */
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
import { parseCursor } from "../sqlite/outbox-dead-letters.js";
import { requireInt, requireTime } from "../validate.js";
import { lockChats, OUTBOX_LOCK_CLASS } from "./chat-locks.js";
import type { PgDatabase } from "./database.js";
import { refreshHead } from "./outbox-heads.js";
import { JOB_COLUMNS, blobsOf, toPgJob, type PgJobRow } from "./outbox-rows.js";

/** A WHERE clause over failed rows; its parameters are numbered from `first`. */
interface Where {
  readonly sql: string;
  readonly params: (string | number)[];
}

function filterWhere(filter: OutboxDeadLetterFilter, first = 1): Where {
  const terms = ["state = 'failed'"];
  const params: (string | number)[] = [];
  const next = (value: string | number): string => {
    params.push(value);
    return `$${first + params.length - 1}`;
  };
  if (filter.chatId !== undefined) terms.push(`chat_key = ${next(chatKeyOf(filter.chatId))}`);
  if (filter.reason !== undefined) terms.push(`failure_reason = ${next(filter.reason)}`);
  // strpos() is a plain substring test: no LIKE wildcards to escape in user text.
  if (filter.errorContains !== undefined && filter.errorContains !== "") terms.push(`strpos(last_error, ${next(filter.errorContains)}) > 0`);
  return { sql: terms.join(" AND "), params };
}

function selectorWhere(selector: OutboxDeadLetterSelector, first = 1): Where {
  validateJobSelector(selector);
  if ("id" in selector) return { sql: `state = 'failed' AND id = $${first}`, params: [selector.id] };
  if ("all" in selector) return { sql: "state = 'failed'", params: [] };
  return filterWhere(selector.filter, first);
}

/** {@link OutboxDeadLetterStore} on PostgreSQL. */
export class PgOutboxDeadLetters implements OutboxDeadLetterStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc OutboxDeadLetterStore.list} */
  async list(options: OutboxDeadLetterListOptions = {}): Promise<Page<Job>> {
    const limit = requireInt("limit", options.limit ?? 50, 1, 1000);
    const after = parseCursor(options.cursor);
    const where = filterWhere(options);
    const params: (string | number)[] = [...where.params];
    let sql = `SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE ${where.sql}`;
    if (after !== undefined) {
      params.push(after);
      sql += ` AND seq > $${params.length}`;
    }
    params.push(limit + 1);
    sql += ` ORDER BY seq LIMIT $${params.length}`;
    const rows = await this.db.read("list outbox dead letters", (tx) => tx.rows<PgJobRow>(sql, params));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toPgJob), nextCursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
  }

  /** {@inheritDoc OutboxDeadLetterStore.retry} */
  async retry(selector: OutboxDeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    const chatsWhere = selectorWhere(selector);
    const where = selectorWhere(selector, 2);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("retry outbox dead letters", async (tx) => {
      const chats = (await tx.rows<{ chat_key: string }>(`SELECT DISTINCT chat_key FROM outbox_jobs WHERE ${chatsWhere.sql}`, chatsWhere.params)).map((c) => c.chat_key);
      await lockChats(tx, chats, OUTBOX_LOCK_CLASS);
      const rows = await tx.rows<{ chat_key: string }>(
        `UPDATE outbox_jobs SET state = 'queued', due_at = $1, attempts = 0, failure_reason = NULL, finished_at = NULL,
           updated_at = $1, lease_until = NULL
         WHERE ${where.sql} AND chat_key = ANY($${2 + where.params.length}::text[]) RETURNING chat_key`,
        [now, ...where.params, chats],
      );
      // The job keeps its seq: the head upkeep puts it before its chat's later queued jobs.
      for (const chatKey of new Set(rows.map((r) => r.chat_key))) await refreshHead(tx, chatKey, now);
      return rows.length;
    });
  }

  /** {@inheritDoc OutboxDeadLetterStore.purge} */
  async purge(selector: OutboxDeadLetterSelector): Promise<RemovedJobs> {
    const where = selectorWhere(selector);
    // Failed jobs are in no chat's queue, so deleting them needs no head upkeep.
    const rows = await this.db.write("purge outbox dead letters", (tx) =>
      tx.rows<{ id: string; blobs: string }>(`DELETE FROM outbox_jobs WHERE ${where.sql} RETURNING id, blobs`, where.params),
    );
    return { count: rows.length, blobs: rows.flatMap(blobsOf) };
  }
}
