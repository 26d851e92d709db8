/**
 * Applies settle effects inside the settle's transaction.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { StoreEffect } from "../effects.js";
import { deleteData, upsertData } from "./data.js";
import type { SqliteDatabase } from "./database.js";
import { enqueueJobs } from "./outbox-enqueue.js";
import { insertTask } from "./tasks.js";

export { validateEffects } from "../effects-validate.js";

/** Applies `effects` in order; must be called inside a write transaction. */
export function applyEffects(db: SqliteDatabase, effects: readonly StoreEffect[], now: number): void {
  for (const effect of effects) {
    switch (effect.kind) {
      case "kv.set":
        db.statement("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
          effect.key,
          effect.value,
        );
        break;
      case "kv.delete":
        db.statement("DELETE FROM kv WHERE key = ?").run(effect.key);
        break;
      case "kv.increment":
        // A non-numeric old value counts as 0 (CAST gives 0), rather than failing the settle.
        // (better-sqlite3 binds only anonymous `?` positionally, hence the repeated value; JS numbers
        // bind as REAL, hence the CAST to INTEGER so the text reads "2", not "2.0".)
        db.statement(
          `INSERT INTO kv (key, value) VALUES (?, CAST(CAST(? AS INTEGER) AS TEXT))
           ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(kv.value AS INTEGER) + CAST(? AS INTEGER) AS TEXT)`,
        ).run(effect.key, effect.by ?? 1, effect.by ?? 1);
        break;
      case "data.set":
        upsertData(db, effect.key, effect.value, now);
        break;
      case "data.delete":
        deleteData(db, effect.key);
        break;
      case "outbox.enqueue":
        // The same rows as OutboxStore.enqueue, in the settle's transaction: exactly once with it.
        enqueueJobs(db, effect.jobs, now);
        break;
      case "task.add":
        // As TaskStore.add, in the settle's transaction: a replayed update adds nothing.
        insertTask(db, effect.task, now);
        break;
      default: {
        const unknown: never = effect;
        throw new UnlostError("INVALID_ARGUMENT", `Unknown store effect: ${JSON.stringify(unknown)}`);
      }
    }
  }
}
