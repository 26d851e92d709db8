/**
 * The bot's shared rate slots on PostgreSQL (see ../pacing-types.ts): one autocommit call of
 * `pace_reserve` (pacing-schema.ts) per batch of sends, one statement per penalty.
 *
 * @module
 */
import type { EpochMs } from "../inbox-types.js";
import type { PacingStore, ReserveSlotsOptions, SlotAnswer, SlotGrant, SlotRequest } from "../pacing-types.js";
import type { PgDatabase } from "./database.js";

interface ReserveRow {
  granted_at: Array<number | null>;
  wait_ms: number[];
  bot_ready_at: number;
}

/** {@link PacingStore} on PostgreSQL. */
export class PgPacing implements PacingStore {
  constructor(private readonly db: PgDatabase) {}

  /** {@inheritDoc PacingStore.reserve} */
  async reserve(requests: readonly SlotRequest[], options: ReserveSlotsOptions): Promise<SlotGrant> {
    const now = Math.round(options.now ?? this.db.clock());
    const { free, paid, chat, group } = options.limits;
    const limits = [free.intervalMs, free.toleranceMs, paid.intervalMs, paid.toleranceMs, chat.intervalMs, chat.toleranceMs, group.limit, group.windowMs];
    const rows = await this.db.single<ReserveRow>(
      "reserve send slots",
      `SELECT granted_at, wait_ms, bot_ready_at FROM ${this.db.schema}.pace_reserve($1, $2, $3, $4, $5, $6, $7)`,
      [now, Math.max(0, Math.round(options.horizonMs)), requests.map((r) => r.chatKey), requests.map((r) => r.group), requests.map((r) => r.paid), limits, options.prune === true],
    );
    const row = rows[0] as ReserveRow;
    const slots = requests.map((_, i): SlotAnswer => {
      const at = row.granted_at[i];
      return at === null || at === undefined ? { waitMs: Number(row.wait_ms[i] ?? 0) } : { at: Number(at) };
    });
    return { slots, botReadyAt: Number(row.bot_ready_at) };
  }

  /** {@inheritDoc PacingStore.penalize} */
  async penalize(chatKey: string | null, until: EpochMs): Promise<void> {
    const at = Math.round(until);
    if (chatKey === null) {
      await this.db.single("record a rate limit", `UPDATE ${this.db.schema}.pacing_bot SET penalty_until = greatest(penalty_until, $1) WHERE id = 1`, [at]);
      return;
    }
    await this.db.single(
      "record a rate limit",
      `INSERT INTO ${this.db.schema}.pacing_chats AS c (chat_key, penalty_until, idle_at) VALUES ($1, $2, $2)
       ON CONFLICT (chat_key) DO UPDATE SET penalty_until = greatest(c.penalty_until, excluded.penalty_until), idle_at = greatest(c.idle_at, excluded.idle_at)`,
      [chatKey, at],
    );
  }
}
