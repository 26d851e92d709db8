/**
 * {@link InspectStore} on SQLite: the operator's reads (dashboard, `unlost trace`).
 *
 * @module
 */
import type { BroadcastProgress, Job } from "../../outbound/types.js";
import type { InboxRecord } from "../inbox-types.js";
import type { HandlerAttempt, InspectStore, JobListOptions, UpdateListOptions } from "../inspect-types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { Page } from "../outbox-types.js";
import { inspectJobsWhere, inspectLimit, inspectUpdatesWhere, likePrefix } from "../inspect-validate.js";
import { requireInt } from "../validate.js";
import { ATTEMPT_COLUMNS, toAttempt, type AttemptRow } from "./attempts.js";
import type { SqliteDatabase } from "./database.js";
import { broadcastProgress } from "./outbox-broadcasts.js";
import { parseCursor } from "./outbox-dead-letters.js";
import { JOB_COLUMNS, toJob, type JobRow } from "./outbox-rows.js";
import { INBOX_COLUMNS, toInboxRecord, type InboxRow } from "./rows.js";

/** {@link InspectStore} on SQLite. */
export class SqliteInspect implements InspectStore {
  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(private readonly db: SqliteDatabase) {}

  /** {@inheritDoc InspectStore.attempts} */
  async attempts(updateId: number): Promise<HandlerAttempt[]> {
    requireInt("updateId", updateId, Number.MIN_SAFE_INTEGER);
    const rows = this.db.read("handler attempts", () =>
      this.db.statement(`SELECT ${ATTEMPT_COLUMNS} FROM inbox_attempts WHERE update_id = ? ORDER BY seq`).all(updateId),
    ) as AttemptRow[];
    return rows.map(toAttempt);
  }

  /** {@inheritDoc InspectStore.updates} */
  async updates(options: UpdateListOptions = {}): Promise<InboxRecord[]> {
    const where = inspectUpdatesWhere(options, () => "?");
    const limit = inspectLimit(options.limit);
    const sql = `SELECT ${INBOX_COLUMNS} FROM inbox WHERE ${where.sql} ORDER BY update_id ${options.newestFirst === true ? "DESC" : ""} LIMIT ?`;
    const rows = this.db.read("list updates", () => this.db.statement(sql).all(...where.params, limit)) as InboxRow[];
    return rows.map(toInboxRecord);
  }

  /** {@inheritDoc InspectStore.jobs} */
  async jobs(options: JobListOptions = {}): Promise<Page<Job>> {
    const limit = inspectLimit(options.limit);
    const cursor = parseCursor(options.cursor);
    const where = inspectJobsWhere(options, () => "?", chatKeyOf);
    const terms = [where.sql];
    const params: unknown[] = [...where.params];
    if (options.keyPrefix !== undefined) {
      // A range on the idempotency key's unique index, not LIKE: the prefix is user text.
      terms.push("idem_key >= ? AND idem_key < ?");
      params.push(...likePrefix(options.keyPrefix));
    }
    const desc = options.newestFirst === true;
    if (cursor !== undefined) {
      terms.push(desc ? "seq < ?" : "seq > ?");
      params.push(cursor);
    }
    const sql = `SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE ${terms.join(" AND ")} ORDER BY seq ${desc ? "DESC" : ""} LIMIT ?`;
    const rows = this.db.read("list jobs", () => this.db.statement(sql).all(...params, limit + 1)) as (JobRow & { seq: number })[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toJob), nextCursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
  }

  /** {@inheritDoc InspectStore.broadcasts} */
  async broadcasts(options: { readonly limit?: number } = {}): Promise<BroadcastProgress[]> {
    const limit = inspectLimit(options.limit);
    return this.db.read("list broadcasts", () => {
      const ids = this.db.statement("SELECT id FROM outbox_broadcasts ORDER BY created_at DESC, id LIMIT ?").all(limit) as { id: string }[];
      return ids.map((r) => broadcastProgress(this.db, r.id)).filter((p): p is BroadcastProgress => p !== null);
    });
  }
}
