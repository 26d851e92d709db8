/**
 * The one gate every acknowledgement passes: "acknowledged means on disk".
 *
 * @module
 */
import type { Store } from "./types.js";

/** What an acknowledgement survives: see `RuntimeOptions.durability`. */
export type Durability = "disk" | "process";

/** Resolves when what was stored so far may be acknowledged. */
export type AcknowledgeGate = () => Promise<void>;

const NOW: AcknowledgeGate = () => Promise.resolve();

/**
 * The gate for `durability`: with `"disk"` the store's flush ({@link Store.sync}, grouped: one
 * flush per batch of callers), with `"process"` nothing to wait for (a commit survives a
 * killed process, not a power cut).
 */
export function acknowledgeGate(store: Store, durability: Durability): AcknowledgeGate {
  return durability === "process" ? NOW : () => store.sync();
}
