/**
 * Applies settle effects inside the settle's transaction, as ../sqlite/effects.ts does (the
 * checks before any write are shared: `validateEffects`).
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { StoreEffect } from "../effects.js";
import { deleteData, upsertData } from "./data.js";
import type { Tx } from "./database.js";
import { notImplemented } from "./errors.js";
import { upsertValue } from "./state.js";

export { validateEffects } from "../sqlite/effects.js";

/** Applies `effects` in order; must be called inside a write transaction. */
export async function applyEffects(tx: Tx, effects: readonly StoreEffect[], now: number): Promise<void> {
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
        // Refused before anything of the settle commits: the whole transaction rolls back.
        throw notImplemented("outbox", "enqueue (settle effect)");
      default: {
        const unknown: never = effect;
        throw new UnlostError("INVALID_ARGUMENT", `Unknown store effect: ${JSON.stringify(unknown)}`);
      }
    }
  }
}
