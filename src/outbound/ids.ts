/**
 * Job ids: time-sortable (so listing by id lists by creation) and unique without coordination
 * (several processes enqueue into one store): 12 hex digits of milliseconds, 12 random hex.
 */
import { randomBytes } from "node:crypto";

/** A new job id, e.g. `0194f0c2a1b3-9f2c4e1a7b6d`. */
export function newJobId(now: number = Date.now()): string {
  return `${Math.floor(now).toString(16).padStart(12, "0")}-${randomBytes(6).toString("hex")}`;
}

/** A new broadcast id. */
export function newBroadcastId(now: number = Date.now()): string {
  return `b-${newJobId(now)}`;
}
