/**
 * A flood guard that counts updates by when the user *sent* them, not by when they reached the
 * bot. Rate limiters that count arrivals (such as `@grammyjs/ratelimiter`) see the backlog a bot
 * catches up on after downtime (minutes of ordinary messages arriving within a second) as a
 * flood and drop real messages; this guard lets that backlog through and still cuts a user who
 * really sent many messages within a short time.
 *
 * @module
 */
import type { Context, MiddlewareFn, NextFunction } from "grammy";
import { UnlostError } from "../../errors/index.js";
import { deriveMessageDate, type RawUpdate } from "../../store/update-meta.js";
import type { UnlostUpdateInfo } from "../update-info.js";

/** Options of {@link floodGuard}. */
export interface FloodGuardOptions<C extends Context = Context> {
  /** How many updates a key may pass within {@link windowMs} (an integer >= 1). */
  readonly limit: number;
  /** The window, in ms of *message date* (an integer >= 1). */
  readonly windowMs: number;
  /**
   * Called (and awaited) for an update the guard drops, e.g. to tell the user to slow down.
   * Its errors fail the update like a handler's (it is retried).
   */
  readonly onLimitExceeded?: (ctx: C) => unknown;
  /**
   * Whose updates are counted together. Default: the sender (`ctx.from.id`), else the chat
   * (`ctx.chat.id`, e.g. channel posts). Return `undefined` to let an update through uncounted.
   */
  readonly keyOf?: (ctx: C) => string | number | undefined;
  /**
   * At most this many keys are remembered (default 10 000); beyond it the least recently seen
   * key is forgotten, so memory stays bounded however many users write.
   */
  readonly maxKeys?: number;
  /**
   * The clock (ms epoch), default `Date.now`: the arrival time of updates handled without
   * unlost, and when idle keys are forgotten.
   */
  readonly clock?: () => number;
}

/** The middleware {@link floodGuard} returns, with a look at its memory. */
export type FloodGuard<C extends Context = Context> = MiddlewareFn<C> & {
  /** How many keys the guard remembers now (bounded by `maxKeys`). */
  readonly trackedKeys: () => number;
};

/** What the guard remembers of one key: its most recently passed updates. */
interface KeyState {
  /** Dates (ms) of the last passed updates, in handling order. */
  dates: number[];
  /** Their update ids: a retried update (same id) is not counted again. */
  ids: number[];
  /** When the key was last seen, on the guard's clock: idle keys are forgotten. */
  seenAt: number;
}

const DEFAULT_MAX_KEYS = 10_000;

/**
 * Middleware that lets each key (by default each user) pass at most `limit` updates whose
 * dates lie within `windowMs` of one another, and drops the rest.
 *
 * An update's time is Telegram's date of it (`ctx.unlost.messageDate`: `edit_date` for edits,
 * else `date`, seconds turned into ms). Updates without a date (callback queries, inline
 * queries) fall back to their arrival: `ctx.unlost.receivedAt` under unlost, else the clock.
 * So fifty messages a user sent over ten minutes while the bot was down, delivered within a
 * second after it starts, all pass; fifty sent within one second do not. Arrival-dated updates
 * from a backlog all share about the same arrival time, so a long backlog of button presses can
 * still be limited: pick a `keyOf` that returns `undefined` for them if that matters.
 *
 * A dropped update is not an error: the guard does not call `next`, so the update *completes*
 * (under unlost it is marked done, never retried nor dead-lettered); it is dropped on purpose.
 * Dropped updates do not count against the key. A retry of an update that passed (same
 * `update_id`) passes again without being counted twice.
 *
 * Memory is bounded: each key keeps the dates of its last `2 * limit` passed updates, keys
 * idle for `windowMs` on the clock are forgotten lazily, and at most `maxKeys` keys are kept
 * (least recently seen go first). Forgetting only makes the guard more lenient, never stricter. The state lives in this
 * process: with several instances each counts its own share.
 *
 * @example
 * ```ts
 * bot.use(floodGuard({
 *   limit: 5, windowMs: 2_000,
 *   onLimitExceeded: (ctx) => ctx.reply("Slow down, please."),
 * }));
 * ```
 *
 * @throws UnlostError `INVALID_ARGUMENT` when `limit`, `windowMs` or `maxKeys` is not an
 * integer >= 1.
 */
export function floodGuard<C extends Context = Context>(options: FloodGuardOptions<C>): FloodGuard<C> {
  const { limit, windowMs } = options;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  for (const [name, value] of [["limit", limit], ["windowMs", windowMs], ["maxKeys", maxKeys]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new UnlostError("INVALID_ARGUMENT", `floodGuard: ${name} must be an integer >= 1, got ${String(value)}`);
    }
  }
  const clock = options.clock ?? Date.now;
  const keyOf = options.keyOf ?? defaultKey;
  // Insertion order is recency order (a seen key is re-inserted): the first key is the least
  // recently seen, which makes both the idle sweep and the cap cheap.
  const keys = new Map<string | number, KeyState>();

  /** Forgets keys idle for a window (they are in recency order, so stop at the first fresh one). */
  function forgetIdle(now: number): void {
    for (const [key, state] of keys) {
      if (now - state.seenAt < windowMs && keys.size <= maxKeys) return;
      keys.delete(key);
    }
  }

  const middleware = async (ctx: C, next: NextFunction): Promise<void> => {
    const key = keyOf(ctx);
    if (key === undefined) return next();
    const now = clock();
    const info = (ctx as { unlost?: UnlostUpdateInfo }).unlost;
    const at = info !== undefined
      ? info.messageDate ?? info.receivedAt
      : deriveMessageDate(ctx.update as unknown as RawUpdate) ?? now;
    const id = ctx.update.update_id;

    let state = keys.get(key);
    if (state !== undefined) keys.delete(key);
    else state = { dates: [], ids: [], seenAt: now };
    state.seenAt = now;
    keys.set(key, state);
    forgetIdle(now);

    if (state.ids.includes(id)) return next();
    // Dates within a window either side: a backlog from several chats is not strictly in date
    // order, so an update can be older than ones already counted.
    let near = 0;
    for (const d of state.dates) if (Math.abs(d - at) < windowMs) near++;
    if (near >= limit) {
      await options.onLimitExceeded?.(ctx);
      return;
    }
    // The last 2 * limit passed updates, in the order they were handled: bounded per key, and
    // enough for an in-order stream (at most `limit` of them can lie within a window) with room
    // for a backlog from several chats, whose dates interleave.
    state.dates.push(at);
    state.ids.push(id);
    if (state.dates.length > 2 * limit) {
      state.dates.shift();
      state.ids.shift();
    }
    return next();
  };
  return Object.assign(middleware, { trackedKeys: () => keys.size });
}

/** The sender, else the chat; undefined (not counted) for updates with neither. */
function defaultKey(ctx: Context): string | number | undefined {
  return ctx.from?.id ?? (ctx.chat === undefined ? undefined : `chat:${ctx.chat.id}`);
}
