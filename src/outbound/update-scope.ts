/**
 * Which update a send belongs to. The dispatcher runs each update's handlers inside a scope;
 * the outbox transformer reads it to give every send a deterministic idempotency key (the
 * update and the send's position in the handler), so a handler re-run after a crash finds its
 * earlier sends instead of sending them again.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The scope of one handler run. */
export interface UpdateScope {
  /** Bot id and update id: stable across retries and restarts. */
  readonly updateKey: string;
  /** How many outbox calls this run has made so far (the next call's position). */
  calls: number;
}

const storage = new AsyncLocalStorage<UpdateScope>();
const bypass = new AsyncLocalStorage<true>();

/** Runs `fn` as the handling of one update. */
export function runInUpdateScope<T>(updateKey: string, fn: () => T): T {
  return storage.run({ updateKey, calls: 0 }, fn);
}

/** The scope of the handler currently running, if any. */
export function currentUpdateScope(): UpdateScope | undefined {
  return storage.getStore();
}

/** Runs `fn` with the outbox transformer passed through (the delivery loop's own calls). */
export function runDirect<T>(fn: () => T): T {
  return bypass.run(true, fn);
}

/** True inside {@link runDirect}. */
export function isDirect(): boolean {
  return bypass.getStore() === true;
}
