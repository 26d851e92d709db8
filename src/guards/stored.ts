/**
 * Breakers' last known states in the store, so that `unlost status` (another process, the bot
 * running or not) shows which services a bot found down: a breaker lives in the memory of the
 * process that uses it, and each change of its state is written here (best effort: a failed
 * write is logged, the breaker works on).
 *
 * @module
 */
import type { StateStore } from "../store/index.js";
import type { BreakerStatus } from "./breaker.js";

const INDEX_KEY = "unlost:breakers";
const keyOf = (name: string): string => `unlost:breaker:${name}`;

/** A breaker's state as last recorded. */
export interface StoredBreaker extends BreakerStatus {
  /** When the state was recorded (ms epoch). */
  readonly recordedAt: number;
  /** The process that recorded it. */
  readonly instance: string;
}

/** Records a breaker's new state (and its name in the index on first use). */
export async function recordBreaker(state: StateStore, status: BreakerStatus, instance: string, now: number): Promise<void> {
  const names = await storedNames(state);
  if (!names.includes(status.name)) await state.setValue(INDEX_KEY, JSON.stringify([...names, status.name].sort()));
  const stored: StoredBreaker = { ...status, recordedAt: now, instance };
  await state.setValue(keyOf(status.name), JSON.stringify(stored));
}

/** Every breaker recorded on this store, by name. */
export async function storedBreakers(store: { readonly state: StateStore }): Promise<StoredBreaker[]> {
  const out: StoredBreaker[] = [];
  for (const name of await storedNames(store.state)) {
    const text = await store.state.getValue(keyOf(name));
    if (text !== null) out.push(JSON.parse(text) as StoredBreaker);
  }
  return out;
}

async function storedNames(state: StateStore): Promise<string[]> {
  const text = await state.getValue(INDEX_KEY);
  return text === null ? [] : (JSON.parse(text) as string[]);
}
