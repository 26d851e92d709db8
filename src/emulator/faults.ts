/**
 * Faults on demand. A test (or the HTTP control endpoint) adds rules; every Bot API call asks
 * the plan what should go wrong with it. Randomness comes from a seeded generator, so a run
 * with the same seed and the same calls fails the same calls.
 */
import { createRandom, type Random } from "./random.js";

/** What can go wrong with one call. */
export type Fault =
  /** Answer normally, but only after `ms` (plus up to `jitterMs`) of added latency. */
  | { kind: "latency"; ms: number; jitterMs?: number }
  /** Drop the connection without an answer; the call has no effect (ECONNRESET). */
  | { kind: "reset" }
  /** Never answer, until the client gives up; the call has no effect. */
  | { kind: "hang" }
  /** Answer with a 5xx; the call has no effect. */
  | { kind: "server-error"; status: 500 | 502 | 503 | 504 }
  /** Answer 429 `retry after N`, as in a flood-wait storm; the call has no effect. */
  | { kind: "flood"; retryAfter: number }
  /** The ambiguous fault: the call takes effect (a message is delivered) but the answer is lost. */
  | { kind: "ambiguous" }
  /** Nothing listens: connections are refused (while the rule is active). */
  | { kind: "outage" };

/** A rule that applies a fault to a share of matching calls. */
export interface FaultRule {
  /** What goes wrong. */
  fault: Fault;
  /** Share of matching calls affected, 0..1. Default 1. */
  probability?: number;
  /** Only calls of these Bot API methods (case-insensitive). Default: all methods. */
  methods?: readonly string[];
  /** Only calls whose `chat_id` is one of these. Default: all chats. */
  chatIds?: readonly number[];
  /** Affect at most this many calls, then the rule retires. Default: unlimited. */
  times?: number;
  /** The rule is active for this many real milliseconds from now. Default: until removed. */
  durationMs?: number;
}

/** An active rule, as listed by {@link FaultPlan.list}. */
export interface ActiveFaultRule extends FaultRule {
  /** Id to remove the rule with. */
  readonly id: number;
  /** Calls affected so far. */
  readonly hits: number;
  /** Real-time epoch ms after which the rule no longer applies (undefined: never). */
  readonly expiresAt: number | undefined;
}

/** What the plan decided for one call. */
export interface FaultDecision {
  /** Added latency in ms (0 when none). */
  latencyMs: number;
  /** The failure to apply after the latency, if any. */
  failure: Exclude<Fault, { kind: "latency" }> | undefined;
}

/** Counters of what was injected, by fault kind. */
export type FaultCounters = Record<Fault["kind"], number>;

const NO_FAULT: FaultDecision = { latencyMs: 0, failure: undefined };

/** The set of active fault rules of one emulator. */
export class FaultPlan {
  private rules: Array<FaultRule & { id: number; hits: number; expiresAt: number | undefined }> = [];
  private nextId = 1;
  private random: Random;
  private readonly counters: FaultCounters = {
    latency: 0, reset: 0, hang: 0, "server-error": 0, flood: 0, ambiguous: 0, outage: 0,
  };
  /** Called whenever the rules change, so the transport can start or end an outage. */
  onChange: (() => void) | undefined;

  constructor(seed: number) {
    this.random = createRandom(seed);
  }

  /** Re-seeds the generator, for a reproducible sequence from here on. */
  seed(seed: number): void {
    this.random = createRandom(seed);
  }

  /** Adds a rule and returns its id. */
  add(rule: FaultRule): number {
    validateRule(rule);
    const id = this.nextId++;
    const expiresAt = rule.durationMs === undefined ? undefined : Date.now() + rule.durationMs;
    this.rules.push({ ...rule, methods: rule.methods?.map((m) => m.toLowerCase()), id, hits: 0, expiresAt });
    this.onChange?.();
    return id;
  }

  /** Removes one rule; true when it existed. */
  remove(id: number): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    this.onChange?.();
    return this.rules.length !== before;
  }

  /** Removes every rule (an ongoing outage ends too). */
  clear(): void {
    this.rules = [];
    this.onChange?.();
  }

  /** The active rules. */
  list(): ActiveFaultRule[] {
    this.expire();
    return this.rules.map((r) => ({ ...r }));
  }

  /** How many faults of each kind were injected so far. */
  injected(): FaultCounters {
    return { ...this.counters };
  }

  /**
   * While a global (unscoped) outage rule is active: when it ends (epoch ms, or `Infinity`
   * until removed). Undefined when there is no outage. A scoped outage cannot refuse a
   * connection before knowing the method, so it resets the connection instead.
   */
  outageEndsAt(): number | undefined {
    this.expire();
    let end: number | undefined;
    for (const r of this.rules) {
      if (r.fault.kind !== "outage" || r.methods !== undefined || r.chatIds !== undefined) continue;
      end = Math.max(end ?? 0, r.expiresAt ?? Number.POSITIVE_INFINITY);
    }
    return end;
  }

  /** Decides what goes wrong with a call of `method` to `chatId`. */
  decide(method: string, chatId: number | undefined): FaultDecision {
    if (this.rules.length === 0) return NO_FAULT;
    this.expire();
    const name = method.toLowerCase();
    let latencyMs = 0;
    for (const rule of this.rules) {
      if (rule.methods !== undefined && !rule.methods.includes(name)) continue;
      if (rule.chatIds !== undefined && (chatId === undefined || !rule.chatIds.includes(chatId))) continue;
      if (rule.times !== undefined && rule.hits >= rule.times) continue;
      if (this.random.next() >= (rule.probability ?? 1)) continue;
      rule.hits++;
      this.counters[rule.fault.kind]++;
      if (rule.fault.kind === "latency") {
        latencyMs += rule.fault.ms + (rule.fault.jitterMs ? this.random.next() * rule.fault.jitterMs : 0);
        continue;
      }
      return { latencyMs, failure: rule.fault };
    }
    return latencyMs === 0 ? NO_FAULT : { latencyMs, failure: undefined };
  }

  private expire(): void {
    const now = Date.now();
    const before = this.rules.length;
    this.rules = this.rules.filter(
      (r) => (r.expiresAt === undefined || r.expiresAt > now) && (r.times === undefined || r.hits < r.times),
    );
    if (this.rules.length !== before) this.onChange?.();
  }
}

function validateRule(rule: FaultRule): void {
  const p = rule.probability ?? 1;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`fault probability must be between 0 and 1, got ${String(p)}`);
  const kinds: ReadonlyArray<Fault["kind"]> = ["latency", "reset", "hang", "server-error", "flood", "ambiguous", "outage"];
  if (!kinds.includes(rule.fault.kind)) {
    throw new RangeError(`unknown fault kind "${String(rule.fault.kind)}"; use one of ${kinds.join(", ")}`);
  }
  if (rule.fault.kind === "server-error" && ![500, 502, 503, 504].includes(rule.fault.status)) {
    throw new RangeError(`server-error status must be 500, 502, 503 or 504, got ${String(rule.fault.status)}`);
  }
  if (rule.fault.kind === "flood" && !(Number.isInteger(rule.fault.retryAfter) && rule.fault.retryAfter >= 1)) {
    throw new RangeError(`flood retryAfter must be an integer >= 1 (seconds)`);
  }
  if (rule.fault.kind === "latency" && !(rule.fault.ms >= 0)) throw new RangeError(`latency ms must be >= 0`);
  if (rule.durationMs !== undefined && !(rule.durationMs > 0)) throw new RangeError(`durationMs must be > 0`);
  if (rule.times !== undefined && !(Number.isInteger(rule.times) && rule.times >= 1)) {
    throw new RangeError(`times must be an integer >= 1`);
  }
}
