/**
 * The outbox's audit log on SQLite (`outbox_audit`). Entries are written by the settle (see
 * outbox-settle.ts); this is the reading and retention side.
 *
 * @module
 */
import type { AuditEntry, EpochMs } from "../../outbound/types.js";
import { chatKeyOf, requireChatId } from "../outbox-validate.js";
import type { AuditListOptions, OutboxAuditStore, Page } from "../outbox-types.js";
import { requireInt, requireTime } from "../validate.js";
import type { SqliteDatabase } from "./database.js";
import { parseCursor } from "./outbox-dead-letters.js";

interface AuditRow {
  id: number;
  job_id: string;
  chat_id: number | string;
  method: string;
  outcome: "delivered" | "failed";
  message_id: number | null;
  error: string | null;
  at: number;
  payload: string | null;
}

/** {@link OutboxAuditStore} on SQLite. */
export class SqliteOutboxAudit implements OutboxAuditStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc OutboxAuditStore.list} */
  async list(options: AuditListOptions = {}): Promise<Page<AuditEntry>> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 1000);
    const after = parseCursor(options.cursor);
    const terms: string[] = [];
    const params: (string | number)[] = [];
    if (options.chatId !== undefined) {
      terms.push("chat_key = ?");
      params.push(chatKeyOf(requireChatId("chatId", options.chatId)));
    }
    if (options.since !== undefined) {
      terms.push("at >= ?");
      params.push(requireTime("since", options.since));
    }
    if (after !== undefined) {
      terms.push("id > ?");
      params.push(after);
    }
    const sql =
      "SELECT id, job_id, chat_id, method, outcome, message_id, error, at, payload FROM outbox_audit" +
      (terms.length === 0 ? "" : ` WHERE ${terms.join(" AND ")}`) +
      " ORDER BY id LIMIT ?";
    const rows = this.db.read("list audit log", () => this.db.statement(sql).all(...params, limit + 1)) as AuditRow[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        jobId: r.job_id,
        chatId: r.chat_id,
        method: r.method,
        outcome: r.outcome,
        messageId: r.message_id,
        error: r.error,
        at: r.at,
        payload: r.payload,
      })),
      nextCursor: rows.length > limit && last !== undefined ? String(last.id) : null,
    };
  }

  /** {@inheritDoc OutboxAuditStore.prune} */
  async prune(options: { readonly before: EpochMs; readonly limit?: number }): Promise<number> {
    const before = requireTime("before", options.before);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const db = this.db;
    return db.write("prune audit log", () =>
      db.statement("DELETE FROM outbox_audit WHERE id IN (SELECT id FROM outbox_audit WHERE at < ? LIMIT ?)").run(before, limit).changes,
    );
  }
}
