/**
 * Job ids: time-sortable (so listing by id lists by creation) and unique without coordination
 * (several processes enqueue into one store): 12 hex digits of milliseconds, then 12 hex digits
 * that are random per process and count up within it.
 *
 * Why not 6 random bytes per id: `randomBytes` for every reply was ~3% of a replying bot's CPU
 * (bench:echo). A process draws 6 random bytes once; ids made in the same millisecond by one
 * process differ by their counter, and by two processes by their random start (2^48 of them).
 */
import { randomBytes } from "node:crypto";

const SPACE = 2 ** 48;
/** This process's position in the id space: random start, +1 per id (wrapping). */
let next = randomBytes(6).readUIntBE(0, 6);

/** A new job id, e.g. `0194f0c2a1b3-9f2c4e1a7b6d`. */
export function newJobId(now: number = Date.now()): string {
  next = (next + 1) % SPACE;
  return `${Math.floor(now).toString(16).padStart(12, "0")}-${next.toString(16).padStart(12, "0")}`;
}

/** A new broadcast id. */
export function newBroadcastId(now: number = Date.now()): string {
  return `b-${newJobId(now)}`;
}
