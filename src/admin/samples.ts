/**
 * The overview's charts' data: a small ring of per-interval samples kept in memory by the admin
 * server (30 minutes at the default 5 s). With a running bot the rates come from its counters;
 * for a store served alone (`unlost dashboard`) they are derived from the store's counts (done,
 * dead letters, delivered and failed jobs), and what only the bot knows (429s) stays unknown.
 * Sampling reads the same counts as a scrape, once per interval, and only while the server listens.
 *
 * @module
 */
import type { AdminSource } from "./source.js";
import { probeStore } from "./store-probe.js";

/** Default interval between samples, ms. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 5_000;
/** Samples kept (30 min at 5 s). */
export const SAMPLES_KEPT = 360;

/** What happened during one interval, and the gauges at its end. Null: not known from this source. */
export interface Sample {
  /** The end of the interval (ms epoch). */
  readonly at: number;
  /** The interval's length, ms. */
  readonly intervalMs: number;
  /** Updates stored in the interval. */
  readonly received: number | null;
  /** Updates completed. */
  readonly handled: number | null;
  /** Failed handler tries (bot), or new dead letters (store alone). */
  readonly failed: number | null;
  /** Requests sent to the Bot API by the outbox (bot only). */
  readonly sendRequests: number | null;
  /** Messages delivered. */
  readonly delivered: number | null;
  /** Messages failed for good. */
  readonly sendsFailed: number | null;
  /** 429 answers (bot only). */
  readonly responses429: number | null;
  /** Unfinished updates at the end. */
  readonly backlog: number | null;
  /** Age of the oldest unfinished update at the end, s. */
  readonly oldestAgeSeconds: number | null;
  /** Queued outbox jobs at the end. */
  readonly queued: number | null;
}

/** Running totals a sample is the difference of. */
interface Totals {
  readonly received?: number;
  readonly handled?: number;
  readonly failed?: number;
  readonly sendRequests?: number;
  readonly delivered?: number;
  readonly sendsFailed?: number;
  readonly responses429?: number;
}

/** Takes samples of a source at an interval into a ring. */
export class Sampler {
  private readonly ring: Sample[] = [];
  private previous: { at: number; totals: Totals; backlog: number | null } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly source: AdminSource, readonly intervalMs = DEFAULT_SAMPLE_INTERVAL_MS, private readonly kept = SAMPLES_KEPT) {}

  /** The samples, oldest first. */
  samples(): readonly Sample[] {
    return this.ring;
  }

  /** Starts sampling (a first reading at once: the base of the first interval). Idempotent. */
  start(): void {
    if (this.timer !== undefined) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; the ring is kept (a restarted server goes on from it). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.previous = undefined;
  }

  /** Takes one reading; a sample once there is a previous one. Never rejects. */
  async tick(): Promise<void> {
    if (this.busy) return; // a slow store: skip rather than pile up reads
    this.busy = true;
    try {
      const at = this.source.clock();
      const probe = await probeStore(this.source);
      const runtime = this.source.runtime;
      let totals: Totals;
      if (runtime !== undefined) {
        const c = runtime.counters();
        const d = runtime.delivery();
        totals = { received: c.received, handled: c.handled, failed: c.failed, ...(d === undefined ? {} : { sendRequests: d.sent, delivered: d.delivered, sendsFailed: d.failed, responses429: d.responses429 }) };
      } else if (probe.ok) {
        totals = { handled: probe.inbox.done, failed: probe.inbox.dead, delivered: probe.outbox.byState.delivered, sendsFailed: probe.outbox.byState.failed };
      } else {
        totals = {};
      }
      const backlog = probe.ok ? probe.inbox.pending + probe.inbox.inflight : null;
      const prev = this.previous;
      this.previous = { at, totals, backlog };
      if (prev === undefined) return;
      // Counts can go down in the store (prune, purge): a negative difference is no event.
      const diff = (key: keyof Totals): number | null => {
        const now = totals[key];
        const before = prev.totals[key];
        return now === undefined || before === undefined ? null : Math.max(0, now - before);
      };
      const handled = diff("handled");
      let received = diff("received");
      // Alone, arrivals are what was finished plus what the backlog grew by.
      if (runtime === undefined && handled !== null && backlog !== null && prev.backlog !== null) received = Math.max(0, handled + (diff("failed") ?? 0) + backlog - prev.backlog);
      this.ring.push({
        at, intervalMs: at - prev.at, received, handled, failed: diff("failed"), sendRequests: diff("sendRequests"), delivered: diff("delivered"), sendsFailed: diff("sendsFailed"), responses429: diff("responses429"),
        backlog, oldestAgeSeconds: probe.ok ? probe.inbox.oldestOpenAgeMs / 1_000 : null, queued: probe.ok ? probe.outbox.byState.queued : null,
      });
      if (this.ring.length > this.kept) this.ring.splice(0, this.ring.length - this.kept);
    } finally {
      this.busy = false;
    }
  }
}
