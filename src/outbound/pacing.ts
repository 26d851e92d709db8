/**
 * Pacing of outgoing messages under Telegram's flood limits, so that Telegram (and the
 * emulator, which enforces the same limits) never has to answer 429.
 *
 * Every send takes a slot from several buckets at once: the bot's global bucket (30/s, or the
 * paid-broadcast bucket at 1000/s for jobs with `allow_paid_broadcast`) and its chat's bucket
 * (~1/s for private chats; 20 per minute for groups, supergroups and channels). A slot is taken
 * only when every bucket has one, so a refused reservation costs nothing.
 *
 * Why our buckets are smaller than Telegram's: Telegram measures when a request *arrives*,
 * we measure when it *leaves*. Network and event-loop jitter can bunch requests together on
 * the way, and a restart forgets what was sent in the last second. Running at Telegram's
 * sustained rate but with a smaller burst leaves Telegram's bucket with spare tokens to absorb
 * that: with a global burst of 5 against Telegram's 30, up to ~0.8 s of jitter is harmless,
 * while the long-run rate stays exactly 30/s.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import { FLOOD_LIMITS, isGroupChatId } from "../telegram/limits.js";

/** A token bucket's shape: sustained rate and how many may go at once. */
export interface BucketLimit {
  /** Sustained sends per second. */
  readonly perSecond: number;
  /** Sends allowed back to back after a quiet period (≥ 1). */
  readonly burst: number;
}

/** A sliding window: at most `limit` sends in any `windowMs`. */
export interface WindowLimit {
  readonly limit: number;
  readonly windowMs: number;
}

/** The limits a {@link Pacer} keeps to. Defaults: {@link DEFAULT_PACING_LIMITS}. */
export interface PacingLimits {
  /** All sends of the bot without `allow_paid_broadcast`. */
  readonly global: BucketLimit;
  /** Sends with `allow_paid_broadcast` (and, as a ceiling, all sends together). */
  readonly paidBroadcast: BucketLimit;
  /** Each private chat; groups are paced by this too, on top of {@link group}. */
  readonly perChat: BucketLimit;
  /** Each group, supergroup or channel (negative chat id or `@username`). */
  readonly group: WindowLimit;
}

/**
 * Telegram's limits with safety margins: global 30/s (burst 5 of Telegram's 30), paid
 * 1000/s (burst 50 of 1000), per chat 1/s (burst 2 of 3), per group 20 per 61 s (Telegram:
 * 20 per 60 s; the extra second absorbs jitter at the window's edge).
 */
export const DEFAULT_PACING_LIMITS: PacingLimits = {
  global: { perSecond: FLOOD_LIMITS.perBotPerSecond, burst: 5 },
  paidBroadcast: { perSecond: FLOOD_LIMITS.paidBroadcastPerSecond, burst: 50 },
  perChat: { perSecond: FLOOD_LIMITS.perChat.perSecond, burst: FLOOD_LIMITS.perChat.burst - 1 },
  group: { limit: FLOOD_LIMITS.perGroupPerMinute, windowMs: 61_000 },
};

/** What a send is, for pacing. */
export interface PacingKey {
  /** The target chat (`@username` counts as a group or channel). */
  readonly chatId: number | string;
  /** The job sets `allow_paid_broadcast` (paced at 1000/s instead of 30/s). */
  readonly paidBroadcast: boolean;
}

/** The answer of {@link Pacer.reserve}: a slot was taken, or how long to wait for one. */
export type Reservation = { readonly ok: true } | { readonly ok: false; readonly waitMs: number };

/** A slot of {@link SendPacer.reserveMany}: send after `delayMs`, or none (ask again in `waitMs`). */
export type Slot = { readonly ok: true; readonly delayMs: number } | { readonly ok: false; readonly waitMs: number };

/**
 * What the delivery loop and direct sends pace by: the in-memory {@link Pacer} (one process,
 * SQLite) or the {@link SharedPacer} (every process of a bot on one PostgreSQL store). The
 * outbox does not know which.
 */
export interface SendPacer {
  /** The limits in force. */
  readonly limits: PacingLimits;
  /**
   * Slots for several sends, in order (a shared pacer asks the store once for all of them, and
   * for the reservations of other callers in the same turn of the event loop). A granted slot
   * must be used after its `delayMs`; a refused one took nothing.
   */
  reserveMany(keys: readonly PacingKey[]): Promise<readonly Slot[]>;
  /** Obeys a 429's `retry_after` for a chat or, for `"global"`, for everything. */
  penalize(scope: "global" | number | string, retryAfterMs: number): void;
  /** How many sends a delivery loop may usefully claim now. */
  globalCapacity(paidBroadcast?: boolean): number;
  /** How long a delivery loop with work but no capacity may sleep, ms. */
  nextReadyInMs(paidBroadcast?: boolean): number;
  /** A penalty known here that forbids sending to `key` now (ms left, 0: none): checked after a slot's delay. */
  penaltyMs(key: PacingKey): number;
}

/** Options of {@link Pacer}. */
export interface PacerOptions {
  /** Limits to keep to (merged over {@link DEFAULT_PACING_LIMITS}). */
  readonly limits?: Partial<PacingLimits>;
  /** The clock, epoch ms. Default `Date.now`; tests inject a fake one. */
  readonly now?: () => number;
  /**
   * When 429s with chat scope hit this many different chats within 2 s, the flood is the
   * bot's, not the chats': everything is slowed. Default 3; 0 disables.
   */
  readonly escalateAfterChats?: number;
}

// Floating-point refills can leave 0.9999999 tokens after waiting exactly the computed time;
// that must count as a whole token, or a loop that sleeps `waitMs` would spin.
const EPSILON = 1e-6;

class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly ratePerMs: number;
  constructor(private readonly limit: BucketLimit, now: number) {
    this.tokens = limit.burst;
    this.updatedAt = now;
    this.ratePerMs = limit.perSecond / 1000;
  }
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1 - EPSILON) return 0;
    return Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerMs));
  }
  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }
  /** Whole tokens available now. */
  available(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.tokens + EPSILON));
  }
  /** Full again: forgetting it changes nothing. */
  idle(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst - EPSILON;
  }
  private refill(now: number): void {
    const elapsed = now - this.updatedAt;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsed * this.ratePerMs);
    this.updatedAt = now;
  }
}

class SlidingWindow {
  private readonly times: number[] = [];
  constructor(private readonly limit: WindowLimit) {}
  waitMs(now: number): number {
    this.expire(now);
    if (this.times.length < this.limit.limit) return 0;
    return Math.max(1, (this.times[0] ?? now) + this.limit.windowMs - now);
  }
  take(now: number): void {
    this.times.push(now);
  }
  idle(now: number): boolean {
    this.expire(now);
    return this.times.length === 0;
  }
  private expire(now: number): void {
    while (this.times.length > 0 && (this.times[0] ?? 0) <= now - this.limit.windowMs) this.times.shift();
  }
}

/**
 * One chat's limits. A class, not an object literal: see `RunScope` in update-scope.ts on V8's
 * pretenuring (chats forgotten and met again were allocated straight in the old generation).
 */
class ChatState {
  /** No send to this chat before this time (a 429's retry_after). */
  penaltyUntil = 0;
  /** The last reservation for this chat. */
  usedAt: number;
  constructor(
    readonly bucket: TokenBucket,
    readonly window: SlidingWindow | undefined,
    now: number,
  ) {
    this.usedAt = now;
  }
}

/** Chats are forgotten once idle, checked every this many reservations (memory stays flat). */
const PRUNE_EVERY = 1024;

/**
 * An idle chat is forgotten only after this long without a send: a chat answered every few
 * seconds would otherwise be forgotten and made again over and over (garbage-collector work
 * that grows the old generation while a backlog drains).
 */
const FORGET_CHAT_AFTER_MS = 10_000;
const ESCALATION_WINDOW_MS = 2000;

/**
 * Token buckets for Telegram's flood limits on an injectable clock. One per bot; not shared
 * across processes (a second process sending for the same bot needs its own share).
 *
 * @example
 * ```ts
 * const pacer = new Pacer();
 * const r = pacer.reserve({ chatId: 42, paidBroadcast: false });
 * if (r.ok) await send(); else deferFor(r.waitMs);
 * ```
 */
export class Pacer implements SendPacer {
  /** The limits in force. */
  readonly limits: PacingLimits;
  private readonly now: () => number;
  private readonly global: TokenBucket;
  private readonly paid: TokenBucket;
  private readonly chats = new Map<string, ChatState>();
  private globalPenaltyUntil = 0;
  private readonly escalation: PenaltyEscalation;
  private reservations = 0;

  constructor(options: PacerOptions = {}) {
    this.limits = { ...DEFAULT_PACING_LIMITS, ...options.limits };
    validateLimits(this.limits);
    this.now = options.now ?? Date.now;
    this.escalation = new PenaltyEscalation(options.escalateAfterChats ?? 3);
    const t = this.now();
    this.global = new TokenBucket(this.limits.global, t);
    this.paid = new TokenBucket(this.limits.paidBroadcast, t);
  }

  /** Milliseconds until a send for `key` could be reserved (0: now). Takes nothing. */
  waitMs(key: PacingKey): number {
    const now = this.now();
    const chat = this.chats.get(chatKey(key.chatId));
    return Math.max(this.botWait(key.paidBroadcast, now), chat === undefined ? 0 : chatWait(chat, now));
  }

  /**
   * Takes a slot for one send to `key.chatId` when the bot's bucket and the chat's buckets
   * all have one; otherwise takes nothing and says how long to wait. Call it right before
   * the request leaves: a slot taken but not used is simply lost (which is safe).
   */
  reserve(key: PacingKey): Reservation {
    const now = this.now();
    const chat = this.chatState(key.chatId, now);
    const wait = Math.max(this.botWait(key.paidBroadcast, now), chatWait(chat, now));
    if (wait > 0) return { ok: false, waitMs: wait };
    // Paid sends and free sends are one stream to Telegram: the paid bucket is also the
    // ceiling of all sends together, the global one only of the free ones.
    this.paid.take(now);
    if (!key.paidBroadcast) this.global.take(now);
    chat.bucket.take(now);
    chat.window?.take(now);
    chat.usedAt = now;
    if (++this.reservations % PRUNE_EVERY === 0) this.prune(now);
    return { ok: true };
  }

  /** {@inheritDoc SendPacer.reserveMany} In memory: every slot is now or refused. */
  reserveMany(keys: readonly PacingKey[]): Promise<readonly Slot[]> {
    return Promise.resolve(keys.map((key): Slot => {
      const r = this.reserve(key);
      return r.ok ? { ok: true, delayMs: 0 } : r;
    }));
  }

  /** {@inheritDoc SendPacer.penaltyMs} */
  penaltyMs(key: PacingKey): number {
    const now = this.now();
    const chat = this.chats.get(chatKey(key.chatId));
    return Math.max(0, this.globalPenaltyUntil - now, (chat?.penaltyUntil ?? 0) - now);
  }

  /**
   * Obeys a 429's `retry_after`: nothing is sent to `scope` (a chat, or everything for
   * `"global"`) for `retryAfterMs`. Without knowing whose limit was hit, pass `"global"`.
   * Several chats penalized within 2 s mean the bot's own limit was hit: everything slows.
   */
  penalize(scope: "global" | number | string, retryAfterMs: number): void {
    const now = this.now();
    const until = now + Math.max(0, retryAfterMs);
    if (scope === "global") {
      this.globalPenaltyUntil = Math.max(this.globalPenaltyUntil, until);
      return;
    }
    const chat = this.chatState(scope, now);
    chat.penaltyUntil = Math.max(chat.penaltyUntil, until);
    const global = this.escalation.note(chatKey(scope), now, until);
    if (global !== undefined) this.globalPenaltyUntil = Math.max(this.globalPenaltyUntil, global);
  }

  /**
   * Milliseconds until the bot's bucket has a slot for a free send (or a paid one with
   * `paidBroadcast`), penalties included: how long a delivery loop with work may sleep.
   */
  nextReadyInMs(paidBroadcast = false): number {
    return this.botWait(paidBroadcast, this.now());
  }

  /**
   * How many sends the bot's bucket would allow right now (0 during a global penalty): how
   * many jobs a delivery loop may usefully claim. Chat limits may still refuse some of them.
   */
  globalCapacity(paidBroadcast = false): number {
    const now = this.now();
    if (this.globalPenaltyUntil > now) return 0;
    const paid = this.paid.available(now);
    return paidBroadcast ? paid : Math.min(paid, this.global.available(now));
  }

  /** Chats currently tracked (idle ones are forgotten as reservations go on). */
  get trackedChats(): number {
    return this.chats.size;
  }

  private botWait(paidBroadcast: boolean, now: number): number {
    const penalty = Math.max(0, this.globalPenaltyUntil - now);
    const bucket = paidBroadcast ? this.paid.waitMs(now) : Math.max(this.global.waitMs(now), this.paid.waitMs(now));
    return Math.max(penalty, bucket);
  }

  private chatState(chatId: number | string, now: number): ChatState {
    const key = chatKey(chatId);
    let state = this.chats.get(key);
    if (state === undefined) {
      const group = isGroupChatId(chatId);
      state = new ChatState(new TokenBucket(this.limits.perChat, now), group ? new SlidingWindow(this.limits.group) : undefined, now);
      this.chats.set(key, state);
    }
    return state;
  }

  private prune(now: number): void {
    for (const [key, state] of this.chats) {
      if (now - state.usedAt >= FORGET_CHAT_AFTER_MS && state.penaltyUntil <= now && state.bucket.idle(now) && (state.window?.idle(now) ?? true)) this.chats.delete(key);
    }
  }
}

/**
 * 429s with chat scope on this many different chats within 2 s mean the flood is the bot's,
 * not the chats': the caller then slows everything until the latest of their penalties.
 */
export class PenaltyEscalation {
  private recent: Array<{ at: number; chat: string; until: number }> = [];
  /** `afterChats` 0 disables escalation. */
  constructor(private readonly afterChats: number) {}
  /** Notes a chat's penalty; returns until when everything is to wait, when it escalates. */
  note(chat: string, now: number, until: number): number | undefined {
    if (this.afterChats <= 0) return undefined;
    this.recent = this.recent.filter((p) => p.at > now - ESCALATION_WINDOW_MS);
    this.recent.push({ at: now, chat, until });
    if (new Set(this.recent.map((p) => p.chat)).size < this.afterChats) return undefined;
    const latest = Math.max(...this.recent.map((p) => p.until));
    this.recent = [];
    return latest;
  }
}

function chatWait(chat: ChatState, now: number): number {
  return Math.max(0, chat.penaltyUntil - now, chat.bucket.waitMs(now), chat.window?.waitMs(now) ?? 0);
}

/** `42`, `"42"` and `"@name"`/`"@Name"` must share one state when they are one chat. */
export function chatKey(chatId: number | string): string {
  return typeof chatId === "number" ? String(chatId) : chatId.trim().toLowerCase();
}

/** Checks limits; throws `INVALID_CONFIG` naming the bad one. */
export function validateLimits(limits: PacingLimits): void {
  const buckets: Array<[string, BucketLimit]> = [["global", limits.global], ["paidBroadcast", limits.paidBroadcast], ["perChat", limits.perChat]];
  for (const [name, b] of buckets) {
    if (!(b.perSecond > 0) || !(b.burst >= 1)) {
      throw new UnlostError("INVALID_CONFIG", `pacing limit ${name} needs perSecond > 0 and burst >= 1 (got ${b.perSecond}/s, burst ${b.burst}); fix the outbox's pacing limits`, { details: { field: name } });
    }
  }
  if (!(limits.group.limit >= 1) || !(limits.group.windowMs > 0)) {
    throw new UnlostError("INVALID_CONFIG", `pacing limit group needs limit >= 1 and windowMs > 0 (got ${limits.group.limit} per ${limits.group.windowMs} ms); fix the outbox's pacing limits`, { details: { field: "group" } });
  }
}
