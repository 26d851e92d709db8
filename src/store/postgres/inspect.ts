/**
 * {@link InspectStore} on PostgreSQL: the operator's reads (dashboard, `unlost trace`), the same
 * filters as SQLite's (../sqlite/inspect.ts).
 *
 * @module
 */
import type { BroadcastProgress, Job } from "../../outbound/types.js";
import type { InboxRecord } from "../inbox-types.js";
import type { HandlerAttempt, InspectStore, JobListOptions, UpdateListOptions } from "../inspect-types.js";
import { inspectJobsWhere, inspectLimit, inspectUpdatesWhere } from "../inspect-validate.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { Page } from "../outbox-types.js";
import { requireInt } from "../validate.js";
import { ATTEMPT_COLUMNS, toAttempt, type AttemptRow } from "../sqlite/attempts.js";
import { parseCursor } from "../sqlite/outbox-dead-letters.js";
import { INBOX_COLUMNS, toInboxRecord, type InboxRow } from "../sqlite/rows.js";
import type { PgDatabase } from "./database.js";
import { broadcastProgress } from "./outbox-broadcasts.js";
import { JOB_COLUMNS, toPgJob, type PgJobRow } from "./outbox-rows.js";

/** Numbered parameter markers from `$first` on. */
function marks(first = 1): () => string {
  let n = first - 1;
  return () => `$${++n}`;
}

/** {@link InspectStore} on PostgreSQL. */
export class PgInspect implements InspectStore {
  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(private readonly db: PgDatabase) {}

  /** {@inheritDoc InspectStore.attempts} */
  async attempts(updateId: number): Promise<HandlerAttempt[]> {
    requireInt("updateId", updateId, Number.MIN_SAFE_INTEGER);
    const rows = await this.db.read("handler attempts", (tx) =>
      tx.rows<AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM inbox_attempts WHERE update_id = $1 ORDER BY seq`, [updateId]),
    );
    return rows.map(toAttempt);
  }

  /** {@inheritDoc InspectStore.updates} */
  async updates(options: UpdateListOptions = {}): Promise<InboxRecord[]> {
    const mark = marks();
    const where = inspectUpdatesWhere(options, mark);
    const limit = inspectLimit(options.limit);
    const sql = `SELECT ${INBOX_COLUMNS} FROM inbox WHERE ${where.sql} ORDER BY update_id ${options.newestFirst === true ? "DESC" : ""} LIMIT ${mark()}`;
    const rows = await this.db.read("list updates", (tx) => tx.rows<InboxRow>(sql, [...where.params, limit]));
    return rows.map(toInboxRecord);
  }

  /** {@inheritDoc InspectStore.jobs} */
  async jobs(options: JobListOptions = {}): Promise<Page<Job>> {
    const limit = inspectLimit(options.limit);
    const cursor = parseCursor(options.cursor);
    const mark = marks();
    const where = inspectJobsWhere(options, mark, chatKeyOf);
    const terms = [where.sql];
    const params: unknown[] = [...where.params];
    if (options.keyPrefix !== undefined) {
      // starts_with, not LIKE (the prefix is user text) nor a range (the column's collation may not be byte order).
      terms.push(`starts_with(idem_key, ${mark()})`);
      params.push(options.keyPrefix);
    }
    const desc = options.newestFirst === true;
    if (cursor !== undefined) {
      terms.push(`seq ${desc ? "<" : ">"} ${mark()}`);
      params.push(cursor);
    }
    const sql = `SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE ${terms.join(" AND ")} ORDER BY seq ${desc ? "DESC" : ""} LIMIT ${mark()}`;
    const rows = await this.db.read("list jobs", (tx) => tx.rows<PgJobRow>(sql, [...params, limit + 1]));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toPgJob), nextCursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
  }

  /** {@inheritDoc InspectStore.broadcasts} */
  async broadcasts(options: { readonly limit?: number } = {}): Promise<BroadcastProgress[]> {
    const limit = inspectLimit(options.limit);
    return this.db.read("list broadcasts", async (tx) => {
      const ids = await tx.rows<{ id: string }>("SELECT id FROM outbox_broadcasts ORDER BY created_at DESC, id LIMIT $1", [limit]);
      const all: BroadcastProgress[] = [];
      for (const { id } of ids) {
        const progress = await broadcastProgress(tx, id);
        if (progress !== null) all.push(progress);
      }
      return all;
    });
  }
}
