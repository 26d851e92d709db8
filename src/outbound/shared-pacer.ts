/**
 * Pacing shared by every process sending for one bot: the slots come from the store's shared
 * buckets (see src/store/pacing-types.ts; PostgreSQL), so N processes together stay within
 * Telegram's limits instead of each taking the whole of them, and a 429's `retry_after` seen
 * by one holds back all.
 *
 * Round trips stay low: every reservation asked for in one turn of the event loop (a claimed
 * batch of jobs, concurrent direct sends) goes to the store as one statement, and slots are
 * granted up to a short horizon ahead (default 1 s), so a busy sender asks about twice a second
 * for a batch of slots rather than once per send. A slot that a crash leaves unused is simply
 * lost (safe: it only slows the others a little).
 *
 * @module
 */
import type { Logger } from "../runtime/logger.js";
import type { PacingStore, SlotLimits, SlotRequest } from "../store/index.js";
import { isGroupChatId } from "../telegram/limits.js";
import { chatKey, DEFAULT_PACING_LIMITS, PenaltyEscalation, validateLimits, type PacingKey, type PacingLimits, type SendPacer, type Slot } from "./pacing.js";

/** Options of {@link SharedPacer}. */
export interface SharedPacerOptions {
  /** The store's shared slots. */
  readonly store: PacingStore;
  /** Limits (merged over {@link DEFAULT_PACING_LIMITS}); every process of a bot must use the same. */
  readonly limits?: Partial<PacingLimits>;
  /** The clock, epoch ms (the processes' clocks must agree, as for leases: NTP). */
  readonly now?: () => number;
  /** How far ahead slots are granted, ms. Default 1000. */
  readonly horizonMs?: number;
  /** Chat-scope 429s on this many chats within 2 s slow everything (default 3; 0 disables). */
  readonly escalateAfterChats?: number;
  /** Where a failed store call is reported. */
  readonly logger?: Logger;
}

/** When the store cannot be asked (PostgreSQL down), sends wait this long and ask again. */
const STORE_DOWN_WAIT_MS = 1_000;
/** Idle chats are forgotten by the store every this many reservation calls. */
const PRUNE_EVERY = 256;

interface Pending {
  readonly requests: SlotRequest[];
  readonly resolve: (slots: readonly Slot[]) => void;
}

/** A {@link SendPacer} whose buckets live in the store, shared by every process. */
export class SharedPacer implements SendPacer {
  /** {@inheritDoc SendPacer.limits} */
  readonly limits: PacingLimits;
  private readonly store: PacingStore;
  private readonly now: () => number;
  private readonly horizonMs: number;
  private readonly slotLimits: SlotLimits;
  private readonly escalation: PenaltyEscalation;
  private readonly logger: Logger | undefined;
  /** The earliest free slot as the store last said (other processes' slots included). */
  private botReadyAt = 0;
  /** Penalties this process knows of (its own 429s); the store holds them for everyone. */
  private globalPenaltyUntil = 0;
  private readonly chatPenalties = new Map<string, number>();
  private queue: Pending[] = [];
  private scheduled = false;
  private calls = 0;
  private storeDown = false;

  constructor(options: SharedPacerOptions) {
    this.limits = { ...DEFAULT_PACING_LIMITS, ...options.limits };
    validateLimits(this.limits);
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.horizonMs = Math.max(0, options.horizonMs ?? 1_000);
    this.escalation = new PenaltyEscalation(options.escalateAfterChats ?? 3);
    this.logger = options.logger;
    this.slotLimits = slotLimitsOf(this.limits);
  }

  /** {@inheritDoc SendPacer.reserveMany} */
  reserveMany(keys: readonly PacingKey[]): Promise<readonly Slot[]> {
    if (keys.length === 0) return Promise.resolve([]);
    const requests = keys.map((k): SlotRequest => ({ chatKey: chatKey(k.chatId), group: isGroupChatId(k.chatId), paid: k.paidBroadcast }));
    return new Promise((resolve) => {
      this.queue.push({ requests, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  /** {@inheritDoc SendPacer.penalize} Recorded in the store (for every process) and here. */
  penalize(scope: "global" | number | string, retryAfterMs: number): void {
    const now = this.now();
    const until = now + Math.max(0, retryAfterMs);
    let key: string | null = null;
    if (scope === "global") {
      this.globalPenaltyUntil = Math.max(this.globalPenaltyUntil, until);
    } else {
      key = chatKey(scope);
      this.chatPenalties.set(key, Math.max(this.chatPenalties.get(key) ?? 0, until));
      for (const [k, t] of this.chatPenalties) if (t <= now) this.chatPenalties.delete(k);
    }
    const global = key === null ? undefined : this.escalation.note(key, now, until);
    if (global !== undefined) this.globalPenaltyUntil = Math.max(this.globalPenaltyUntil, global);
    this.botReadyAt = Math.max(this.botReadyAt, this.globalPenaltyUntil);
    const record = async (): Promise<void> => {
      await this.store.penalize(key, until);
      if (global !== undefined) await this.store.penalize(null, global);
    };
    record().catch((error: unknown) => this.logger?.warn({ err: error }, "recording a 429's retry_after in the store failed; this process obeys it, the others may not"));
  }

  /** {@inheritDoc SendPacer.globalCapacity} Slots that fit in the horizon as the store last said. */
  globalCapacity(paidBroadcast = false): number {
    const now = this.now();
    if (this.globalPenaltyUntil > now) return 0;
    const bucket = paidBroadcast ? this.limits.paidBroadcast : this.limits.global;
    const interval = 1000 / bucket.perSecond;
    const most = Math.ceil(this.horizonMs / interval) + bucket.burst;
    const ahead = now + this.horizonMs - Math.max(now, this.botReadyAt);
    if (ahead < 0) return 0;
    return Math.min(most, Math.floor(ahead / interval) + 1);
  }

  /**
   * {@inheritDoc SendPacer.nextReadyInMs} Until half the horizon is free again: a sender then
   * asks for half a horizon of slots at once rather than one slot per call.
   */
  nextReadyInMs(): number {
    const now = this.now();
    return Math.max(0, this.globalPenaltyUntil - now, this.botReadyAt - now - this.horizonMs / 2);
  }

  /** {@inheritDoc SendPacer.penaltyMs} */
  penaltyMs(key: PacingKey): number {
    const now = this.now();
    return Math.max(0, this.globalPenaltyUntil - now, (this.chatPenalties.get(chatKey(key.chatId)) ?? 0) - now);
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const requests = batch.flatMap((p) => p.requests);
    let slots: Slot[];
    try {
      const grant = await this.store.reserve(requests, { limits: this.slotLimits, horizonMs: this.horizonMs, now: this.now(), prune: ++this.calls % PRUNE_EVERY === 0 });
      const now = this.now();
      this.botReadyAt = Math.max(grant.botReadyAt, this.globalPenaltyUntil);
      slots = grant.slots.map((s): Slot => ("at" in s ? { ok: true, delayMs: Math.max(0, s.at - now) } : { ok: false, waitMs: Math.max(1, s.waitMs) }));
      if (this.storeDown) this.logger?.info("the store answers again; shared pacing resumed");
      this.storeDown = false;
    } catch (error) {
      // No slot without the store: sending anyway could exceed the limits other processes pace by.
      if (!this.storeDown) this.logger?.error({ err: error }, "reserving send slots in the store failed; sends wait until it answers");
      this.storeDown = true;
      this.botReadyAt = Math.max(this.botReadyAt, this.now() + this.horizonMs + STORE_DOWN_WAIT_MS);
      slots = requests.map(() => ({ ok: false, waitMs: STORE_DOWN_WAIT_MS }));
    }
    let i = 0;
    for (const p of batch) {
      p.resolve(slots.slice(i, i + p.requests.length));
      i += p.requests.length;
    }
  }
}

/** The pacer's limits in the store's GCRA terms (interval 1000/rate, tolerance (burst − 1) × interval). */
export function slotLimitsOf(limits: PacingLimits): SlotLimits {
  const gcra = (b: { perSecond: number; burst: number }) => ({ intervalMs: 1000 / b.perSecond, toleranceMs: (b.burst - 1) * (1000 / b.perSecond) });
  return { free: gcra(limits.global), paid: gcra(limits.paidBroadcast), chat: gcra(limits.perChat), group: { limit: limits.group.limit, windowMs: limits.group.windowMs } };
}
