/**
 * Which update a send belongs to, without AsyncLocalStorage (on Node 20 it turns on promise
 * hooks process-wide, which cost more per update than the whole rest of the dispatcher).
 * grammY builds a fresh `Api` for every update's context; unlost installs on it a transformer
 * bound to that update's scope, so every send made through `ctx` gets a deterministic
 * idempotency key: the update and the send's position in the handler. Its `options` are bound
 * to the same scope (see `api-clones.ts`): an `Api` built from them, such as each step of a
 * conversation, takes its keys from the same sequence.
 */
import type { Priority } from "./types.js";

/** The scope of one handler run. */
export interface UpdateScope {
  /**
   * Bot id and update id: stable across retries and restarts (`:catch` appended while the
   * bot's error handler runs, see `HandlingInfo.enterErrorHandler`).
   */
  updateKey: string;
  /** How many outbox calls this run has made so far (the next call's position). */
  calls: number;
  /**
   * The outbox priority of this scope's sends. Default `high`: a reply to a user. Background
   * work (a task's sends) uses `normal`, so that users' replies go first when both wait for
   * Telegram's rate limits.
   */
  priority?: Priority;
  /**
   * Sends may leave without a job stored first (see `direct-send.ts`): only on the first run
   * of a fresh update, until that run passes its deadline (a late send of a timed-out run
   * could otherwise race the retry's send under the same key).
   */
  direct: boolean;
  /** A send went direct: the run's settle waits until it is recorded (see `DirectSender`). */
  sentDirect: boolean;
  /**
   * The run's sends until each is stored (queued) or delivered (direct): the run settles only
   * after all of them, so a send the handler did not await is never lost with a completion
   * committed before it was stored. Made on the first send.
   */
  pending: Array<Promise<unknown>> | undefined;
  /**
   * An earlier run of this update may have been cut off by a crash after sending direct and
   * before recording it: a send not found under its key may repeat one, so its job is stored
   * with an ambiguous attempt on record (duplicates stay accounted for).
   */
  mayRepeat: boolean;
  /**
   * Not the update's first run (a retry, or a run after its process died): an earlier run may
   * have answered its button press already (see `outboxTransformer`).
   */
  rerun: boolean;
}

/**
 * A scope as a class instance, not an object literal: V8 may decide to allocate an object
 * literal's objects straight in its old generation once enough of them outlived a scavenge
 * ("pretenuring", decided per allocation site). A run's scope holds its pending sends, so a
 * pretenured scope, dead but not yet collected, kept each run's send machinery alive into the
 * old generation too (bench:echo with `--allow-natives-syntax`: 98% of scopes were allocated
 * old). Class instances are not pretenured that way.
 */
class RunScope implements UpdateScope {
  calls = 0;
  sentDirect = false;
  pending: Array<Promise<unknown>> | undefined = undefined;
  declare priority?: Priority;
  constructor(
    public updateKey: string,
    public direct: boolean,
    public mayRepeat: boolean,
    public rerun: boolean,
  ) {}
}

/** A new scope for the handling of one update. */
export function newUpdateScope(updateKey: string, direct = false, mayRepeat = false, rerun = false, priority?: Priority): UpdateScope {
  const scope = new RunScope(updateKey, direct, mayRepeat, rerun);
  if (priority !== undefined) scope.priority = priority;
  return scope;
}

/**
 * Marks a payload as the delivery loop's own call, which the outbox transformer passes
 * straight through. A symbol key is invisible to grammY's JSON and multipart serialisation.
 * It is enumerable so that it survives a transformer of the user's that copies the payload
 * before unlost's sees it (`prev(method, { ...payload, parse_mode }, signal)`, as parse-mode
 * v1's `parseMode()` does): without it the delivery would be taken for a new send and
 * enqueued again, behind itself.
 */
export const DIRECT_CALL: unique symbol = Symbol("unlost.direct-call");

/** Returns `payload` marked as a direct call. */
export function markDirect<T extends object>(payload: T): T {
  Object.defineProperty(payload, DIRECT_CALL, { value: true, enumerable: true });
  return payload;
}

/** True when `payload` was marked by {@link markDirect}. */
export function isDirect(payload: unknown): boolean {
  return typeof payload === "object" && payload !== null && (payload as { [DIRECT_CALL]?: boolean })[DIRECT_CALL] === true;
}
