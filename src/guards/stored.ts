/**
 * Breakers' last known states in the store, so that `unlost status` (another process, the bot
 * running or not) shows which services a bot found down: a breaker lives in the memory of the
 * process that uses it, and each change of its state is written here (best effort: a failed
 * write is logged, the breaker works on).
 *
 * @module
 */
import type { StateStore } from "../store/index.js";
import { NamedRecords } from "../store/named-records.js";
import type { BreakerStatus } from "./breaker.js";

const records = (state: StateStore): NamedRecords<StoredBreaker> => new NamedRecords(state, "unlost:breaker:", "unlost:breakers");

/** A breaker's state as last recorded. */
export interface StoredBreaker extends BreakerStatus {
  /** When the state was recorded (ms epoch). */
  readonly recordedAt: number;
  /** The process that recorded it. */
  readonly instance: string;
}

/** Records a breaker's new state (and its name in the index on first use). */
export async function recordBreaker(state: StateStore, status: BreakerStatus, instance: string, now: number): Promise<void> {
  const breakers = records(state);
  await breakers.remember(status.name);
  await breakers.write(status.name, { ...status, recordedAt: now, instance });
}

/** Every breaker recorded on this store, by name. */
export async function storedBreakers(store: { readonly state: StateStore }): Promise<StoredBreaker[]> {
  const breakers = records(store.state);
  const out: StoredBreaker[] = [];
  for (const name of await breakers.names()) {
    const stored = await breakers.read(name);
    if (stored !== null) out.push(stored);
  }
  return out;
}
