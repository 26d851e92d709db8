/**
 * Telegram's flood control, as the emulator enforces it: ~1 message/s per chat with a small
 * burst, 20 messages/min per group, 30 messages/s per bot (1000/s for calls with
 * `allow_paid_broadcast`). A call over a limit is answered with 429 and `retry_after`.
 * All buckets read the emulator clock, so advancing it refills them.
 */
import { FLOOD_LIMITS } from "../telegram/limits.js";
import { tooManyRequests } from "./api-error.js";

/** Limits of the emulator; `false` in {@link EmulatorOptions.limits} switches them all off. */
export interface RateLimits {
  /** Messages per second to one private chat, and how many may burst. Default 1/s, burst 3. */
  perChat: { perSecond: number; burst: number };
  /** Messages per minute to one group or supergroup (sliding window). Default 20. */
  perGroupPerMinute: number;
  /** Messages per second per bot across all chats. Default 30. */
  perBotPerSecond: number;
  /** Messages per second per bot for calls with `allow_paid_broadcast`. Default 1000. */
  paidBroadcastPerSecond: number;
}

/** Telegram's published limits (from src/telegram/limits.ts, which the outbox paces by). */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  perChat: { ...FLOOD_LIMITS.perChat },
  perGroupPerMinute: FLOOD_LIMITS.perGroupPerMinute,
  perBotPerSecond: FLOOD_LIMITS.perBotPerSecond,
  paidBroadcastPerSecond: FLOOD_LIMITS.paidBroadcastPerSecond,
};

/** A classic token bucket: `capacity` tokens, refilled at `ratePerMs`. */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  constructor(private readonly capacity: number, private readonly ratePerMs: number, now: number) {
    this.tokens = capacity;
    this.updatedAt = now;
  }
  /** Milliseconds until one token is available (0 when one is available now). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.ratePerMs;
  }
  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }
  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.ratePerMs);
    this.updatedAt = now;
  }
}

/** At most `limit` events in any `windowMs`: how Telegram words the group limit. */
class SlidingWindow {
  private readonly times: number[] = [];
  constructor(private readonly limit: number, private readonly windowMs: number) {}
  waitMs(now: number): number {
    while (this.times.length > 0 && (this.times[0] ?? 0) <= now - this.windowMs) this.times.shift();
    if (this.times.length < this.limit) return 0;
    return (this.times[0] ?? now) + this.windowMs - now;
  }
  take(now: number): void {
    this.times.push(now);
  }
}

interface Limiter {
  waitMs(now: number): number;
  take(now: number): void;
}

/** What a send is, for the limiter. */
export interface SendKey {
  /** The target chat id. */
  chatId: number;
  /** True for groups and supergroups (20/min), false for private chats (1/s). */
  isGroup: boolean;
  /** True when the call set `allow_paid_broadcast`. */
  paidBroadcast: boolean;
}

/** One bot's flood control. */
export class RateLimiter {
  private readonly chats = new Map<number, Limiter>();
  private readonly global: TokenBucket;
  private readonly paid: TokenBucket;

  constructor(private readonly limits: RateLimits, private readonly now: () => number) {
    const t = now();
    this.global = new TokenBucket(limits.perBotPerSecond, limits.perBotPerSecond / 1000, t);
    this.paid = new TokenBucket(limits.paidBroadcastPerSecond, limits.paidBroadcastPerSecond / 1000, t);
  }

  /**
   * Takes one message slot for a send or throws 429 with the number of seconds to wait.
   * Nothing is taken when the call is refused. A media group counts as one send: Telegram
   * accepts a 10-item album to a private chat, which a per-item count would forbid.
   */
  acquire(key: SendKey): void {
    const now = this.now();
    const bucket = key.paidBroadcast ? this.paid : this.global;
    const chat = this.chatLimiter(key, now);
    const wait = Math.max(bucket.waitMs(now), chat.waitMs(now));
    if (wait > 0) throw tooManyRequests(Math.max(1, Math.ceil(wait / 1000)));
    bucket.take(now);
    chat.take(now);
  }

  private chatLimiter(key: SendKey, now: number): Limiter {
    let limiter = this.chats.get(key.chatId);
    if (limiter === undefined) {
      limiter = key.isGroup
        ? new SlidingWindow(this.limits.perGroupPerMinute, 60_000)
        : new TokenBucket(this.limits.perChat.burst, this.limits.perChat.perSecond / 1000, now);
      this.chats.set(key.chatId, limiter);
    }
    return limiter;
  }
}
