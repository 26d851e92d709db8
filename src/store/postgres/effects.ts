/**
 * Applies settle effects inside the settle's transaction, as ../sqlite/effects.ts does (the
 * checks before any write are shared: `validateEffects`).
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { StoreEffect } from "../effects.js";
import { chatKeyOf } from "../outbox-validate.js";
import { lockChats, OUTBOX_LOCK_CLASS } from "./chat-locks.js";
import { deleteData, upsertData } from "./data.js";
import type { PgDatabase, Tx } from "./database.js";
import { enqueueJobs } from "./outbox-enqueue.js";
import { upsertValue } from "./state.js";
import { insertTask } from "./tasks.js";

export { validateEffects } from "../effects-validate.js";

/**
 * Takes, in one statement, the outbox locks of every chat the effects enqueue to: a batch of
 * settles then never waits for one chat while holding another (see chat-locks.ts). Call after
 * the inbox's chat locks, before applying the effects.
 */
export async function lockEffectChats(tx: Tx, effects: readonly StoreEffect[]): Promise<void> {
  const chats = effects.flatMap((e) => (e.kind === "outbox.enqueue" ? e.jobs.map((j) => chatKeyOf(j.chatId)) : []));
  await lockChats(tx, chats, OUTBOX_LOCK_CLASS);
}

/** Applies `effects` in order; must be called inside a write transaction. */
export async function applyEffects(db: PgDatabase, tx: Tx, effects: readonly StoreEffect[], now: number): Promise<void> {
  for (const effect of effects) {
    switch (effect.kind) {
      case "kv.set":
        await upsertValue(tx, effect.key, effect.value);
        break;
      case "kv.delete":
        await tx.run("DELETE FROM kv WHERE key = $1", [effect.key]);
        break;
      case "kv.increment":
        // As SQLite's CAST(value AS INTEGER): the value's leading integer, 0 when it has none,
        // rather than failing the settle over a value changed by hand.
        await tx.run(
          `INSERT INTO kv AS kv (key, value) VALUES ($1, $2::bigint::text)
           ON CONFLICT (key) DO UPDATE
           SET value = (coalesce(substring(kv.value from '^\\s*([-+]?[0-9]{1,18})')::bigint, 0) + $2::bigint)::text`,
          [effect.key, effect.by ?? 1],
        );
        break;
      case "data.set":
        await upsertData(tx, effect.key, effect.value, now);
        break;
      case "data.delete":
        await deleteData(tx, effect.key);
        break;
      case "outbox.enqueue":
        // The same rows as OutboxStore.enqueue, in the settle's transaction: exactly once with it.
        await enqueueJobs(db, tx, effect.jobs, now);
        break;
      case "task.add":
        // As TaskStore.add, in the settle's transaction: a replayed update adds nothing.
        await insertTask(tx, effect.task, now);
        break;
      default: {
        const unknown: never = effect;
        throw new UnlostError("INVALID_ARGUMENT", `Unknown store effect: ${JSON.stringify(unknown)}`);
      }
    }
  }
}
