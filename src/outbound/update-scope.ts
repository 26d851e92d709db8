/**
 * Which update a send belongs to, without AsyncLocalStorage (on Node 20 it turns on promise
 * hooks process-wide, which cost more per update than the whole rest of the dispatcher).
 * grammY builds a fresh `Api` for every update's context; unlost installs on it a transformer
 * bound to that update's scope, so every send made through `ctx` gets a deterministic
 * idempotency key: the update and the send's position in the handler. Its `options` are bound
 * to the same scope (see `api-clones.ts`): an `Api` built from them, such as each step of a
 * conversation, takes its keys from the same sequence.
 */

/** The scope of one handler run. */
export interface UpdateScope {
  /**
   * Bot id and update id: stable across retries and restarts (`:catch` appended while the
   * bot's error handler runs, see `HandlingInfo.enterErrorHandler`).
   */
  updateKey: string;
  /** How many outbox calls this run has made so far (the next call's position). */
  calls: number;
}

/** A new scope for the handling of one update. */
export function newUpdateScope(updateKey: string): UpdateScope {
  return { updateKey, calls: 0 };
}

/**
 * Marks a payload as the delivery loop's own call, which the outbox transformer passes
 * straight through. A symbol key is invisible to grammY's JSON and multipart serialisation.
 */
export const DIRECT_CALL: unique symbol = Symbol("unlost.direct-call");

/** Returns `payload` marked as a direct call. */
export function markDirect<T extends object>(payload: T): T {
  Object.defineProperty(payload, DIRECT_CALL, { value: true, enumerable: false });
  return payload;
}

/** True when `payload` was marked by {@link markDirect}. */
export function isDirect(payload: unknown): boolean {
  return typeof payload === "object" && payload !== null && (payload as { [DIRECT_CALL]?: boolean })[DIRECT_CALL] === true;
}
