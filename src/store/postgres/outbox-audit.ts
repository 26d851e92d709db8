/**
 * The outbox's audit log on PostgreSQL (`outbox_audit`; see ../sqlite/outbox-audit.ts). Entries
 * are written by the settle (outbox-settle.ts); this is the reading and retention side.
 *
 * @module
 */
import type { AuditEntry, EpochMs } from "../../outbound/types.js";
import { chatKeyOf, requireChatId } from "../outbox-validate.js";
import type { AuditListOptions, OutboxAuditStore, Page } from "../outbox-types.js";
import { parseCursor } from "../sqlite/outbox-dead-letters.js";
import { requireInt, requireTime } from "../validate.js";
import type { PgDatabase } from "./database.js";
import { decodeChatId } from "./outbox-rows.js";

interface AuditRow {
  id: number;
  job_id: string;
  chat_id: string;
  method: string;
  outcome: "delivered" | "failed";
  message_id: number | null;
  error: string | null;
  at: number;
  payload: string | null;
}

/** {@link OutboxAuditStore} on PostgreSQL. */
export class PgOutboxAudit implements OutboxAuditStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc OutboxAuditStore.list} */
  async list(options: AuditListOptions = {}): Promise<Page<AuditEntry>> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 1000);
    const after = parseCursor(options.cursor);
    const terms: string[] = [];
    const params: (string | number)[] = [];
    const next = (value: string | number): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (options.chatId !== undefined) terms.push(`chat_key = ${next(chatKeyOf(requireChatId("chatId", options.chatId)))}`);
    if (options.since !== undefined) terms.push(`at >= ${next(requireTime("since", options.since))}`);
    if (after !== undefined) terms.push(`id > ${next(after)}`);
    const sql =
      "SELECT id, job_id, chat_id, method, outcome, message_id, error, at, payload FROM outbox_audit" +
      (terms.length === 0 ? "" : ` WHERE ${terms.join(" AND ")}`) +
      ` ORDER BY id LIMIT ${next(limit + 1)}`;
    const rows = await this.db.read("list audit log", (tx) => tx.rows<AuditRow>(sql, params));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        jobId: r.job_id,
        chatId: decodeChatId(r.chat_id),
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
    return this.db.write("prune audit log", (tx) =>
      tx.run("DELETE FROM outbox_audit WHERE id IN (SELECT id FROM outbox_audit WHERE at < $1 LIMIT $2)", [before, limit]),
    );
  }
}
