/**
 * `GET /metrics`: Prometheus text from a registry of the runtime's own (never prom-client's
 * global one: two runtimes in a process, or a bot that uses prom-client itself, must not mix),
 * with Node's default process metrics. unlost's metrics are read at scrape time from what the
 * runtime and the store already count, so the hot paths do no work for them; only the two
 * histograms are fed per update (see handler-timings.ts).
 *
 * @module
 */
import { collectDefaultMetrics, Registry, type Metric } from "prom-client";
import type { DeliveryStats } from "../outbound/delivery.js";
import type { JobState, OutboxStats, Priority } from "../outbound/types.js";
import type { InboxStats } from "../store/index.js";
import type { HistogramSnapshot, LightHistogram } from "./light-histogram.js";
import type { AdminSource, RuntimeCounters, UpdatesState } from "./source.js";
import { probeStore } from "./store-probe.js";
import { BACKGROUND_FAMILIES, type BackgroundSnapshot } from "./background-metrics.js";

/** One sample of a metric family. */
interface Sample {
  readonly value: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** For a histogram's `_bucket`, `_sum` and `_count` lines. */
  readonly metricName?: string;
}

/** What one scrape read; each part is absent when its source is (no runtime, store down). */
interface Snapshot {
  readonly storeUp: boolean;
  readonly inbox?: InboxStats;
  readonly outbox?: OutboxStats;
  readonly counters?: RuntimeCounters;
  readonly delivery?: DeliveryStats;
  readonly state?: UpdatesState;
  readonly background?: BackgroundSnapshot;
}

/** A metric family computed from a snapshot. */
interface Family {
  /** A runtime's own counts: not shown for a store served without a bot (`unlost dashboard`). */
  readonly runtime?: true;
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly samples: (s: Snapshot) => readonly Sample[];
}

const one = (value: number | undefined): readonly Sample[] => (value === undefined ? [] : [{ value }]);
const seconds = (ms: number): number => ms / 1_000;

const JOB_STATES: readonly JobState[] = ["queued", "sending", "delivered", "failed", "cancelled"];
const PRIORITIES: readonly Priority[] = ["critical", "high", "normal", "low"];

/** unlost's metric families, except the histograms (see {@link histogramFamily}). */
const FAMILIES: readonly Family[] = [
  { name: "unlost_store_up", type: "gauge", help: "1 when the store answered this scrape, 0 when it failed or did not answer in time.", samples: (s) => [{ value: s.storeUp ? 1 : 0 }] },
  { runtime: true, name: "unlost_updates_received_total", type: "counter", help: "Updates stored in the inbox by this process (re-sent duplicates not counted).", samples: (s) => one(s.counters?.received) },
  { runtime: true, name: "unlost_updates_handled_total", type: "counter", help: "Updates whose handlers completed in this process.", samples: (s) => one(s.counters?.handled) },
  { runtime: true, name: "unlost_updates_failed_total", type: "counter", help: "Failed handler tries (threw or timed out); each is retried or becomes a dead letter.", samples: (s) => one(s.counters?.failed) },
  { runtime: true, name: "unlost_updates_dead_lettered_total", type: "counter", help: "Updates that became dead letters in this process.", samples: (s) => one(s.counters?.deadLettered) },
  { runtime: true, name: "unlost_updates_skipped_total", type: "counter", help: "Updates skipped by catch-up policies (too old after a downtime).", samples: (s) => one(s.counters?.skipped) },
  { runtime: true, name: "unlost_handler_timeouts_total", type: "counter", help: "Handler tries that passed inbox.handlerTimeoutMs (also counted as failed).", samples: (s) => one(s.counters?.timedOut) },
  { runtime: true, name: "unlost_handlers_in_flight", type: "gauge", help: "Handler runs in progress in this process.", samples: (s) => one(s.counters?.inFlight) },
  { name: "unlost_inbox_backlog", type: "gauge", help: "Updates stored and not finished (pending, waiting for a retry, or running).", samples: (s) => one(s.inbox === undefined ? undefined : s.inbox.pending + s.inbox.inflight) },
  { name: "unlost_inbox_oldest_age_seconds", type: "gauge", help: "How long the oldest unfinished update has been in the inbox (0 when none).", samples: (s) => one(s.inbox === undefined ? undefined : seconds(s.inbox.oldestOpenAgeMs)) },
  {
    name: "unlost_outbox_jobs", type: "gauge",
    help: 'Outbox jobs by state; queued jobs also by priority, the other states with priority="all".',
    samples: (s) => {
      const o = s.outbox;
      if (o === undefined) return [];
      return JOB_STATES.flatMap((state): Sample[] =>
        state === "queued"
          ? PRIORITIES.map((priority) => ({ value: o.queuedByPriority[priority], labels: { state, priority } }))
          : [{ value: o.byState[state], labels: { state, priority: "all" } }],
      );
    },
  },
  { name: "unlost_outbox_oldest_queued_age_seconds", type: "gauge", help: "How long the oldest queued outbox job has waited (0 when none).", samples: (s) => one(s.outbox === undefined ? undefined : seconds(s.outbox.oldestQueuedAgeMs)) },
  {
    runtime: true, name: "unlost_sends_total", type: "counter",
    // No "retried": a handler's direct send that fails is handed to the delivery loop without
    // passing through its retry count; requests − delivered − failed gives the retried attempts.
    help: "Final outcomes of messages sent by this process: delivered, or failed for good (an outbox dead letter).",
    samples: (s) => {
      const d = s.delivery;
      if (d === undefined) return [];
      return [{ value: d.delivered, labels: { result: "delivered" } }, { value: d.failed, labels: { result: "failed" } }];
    },
  },
  { runtime: true, name: "unlost_send_requests_total", type: "counter", help: "Requests sent to the Bot API by the outbox of this process (attempts).", samples: (s) => one(s.delivery?.sent) },
  { runtime: true, name: "unlost_responses_429_total", type: "counter", help: "429 Too Many Requests answers from Telegram to this process's sends.", samples: (s) => one(s.delivery?.responses429) },
  { runtime: true, name: "unlost_ambiguous_sends_total", type: "counter", help: "Attempts that may or may not have been delivered (connection lost after the request left, or a sender that died); the next attempt may duplicate a message.", samples: (s) => one(s.delivery?.ambiguous) },
  {
    name: "unlost_dead_letters", type: "gauge",
    help: 'Dead letters kept: kind="inbox" (updates whose handlers kept failing), kind="outbox" (messages that failed for good).',
    samples: (s) => [
      ...(s.inbox === undefined ? [] : [{ value: s.inbox.dead, labels: { kind: "inbox" } }]),
      ...(s.outbox === undefined ? [] : [{ value: s.outbox.byState.failed, labels: { kind: "outbox" } }]),
    ],
  },
];

/** Only for a polling bot: a webhook bot has no poller, and a 0 there would look like an outage. */
const POLLER_UP: Family = {
  name: "unlost_poller_up", type: "gauge",
  help: "1 while this process holds the poller lease and polls; 0 when it stands by (another instance polls), starts or stopped. Summed over instances it should be 1.",
  samples: (s) => [{ value: s.state === "polling" ? 1 : 0 }],
};

/** A histogram family in seconds from a {@link LightHistogram} kept in ms. */
function histogramFamily(name: string, help: string, histogram: LightHistogram): Family {
  return {
    name, help, type: "histogram",
    samples: () => histogramSamples(name, histogram.snapshot()),
  };
}

function histogramSamples(name: string, h: HistogramSnapshot): Sample[] {
  const samples: Sample[] = h.bounds.map((bound, i) => ({ metricName: `${name}_bucket`, labels: { le: String(seconds(bound)) }, value: h.cumulative[i] ?? 0 }));
  samples.push({ metricName: `${name}_bucket`, labels: { le: "+Inf" }, value: h.count });
  samples.push({ metricName: `${name}_sum`, value: seconds(h.sum) });
  samples.push({ metricName: `${name}_count`, value: h.count });
  return samples;
}

/** The metrics of one admin source. */
export interface AdminMetrics {
  /** The registry (unlost's families and Node's default metrics); add your own if you like. */
  readonly registry: Registry;
  /** Reads the sources and renders the Prometheus text. */
  render(): Promise<string>;
  /** The content type of {@link render}'s text. */
  readonly contentType: string;
}

/**
 * Builds the registry of an admin source: unlost's families (the runtime's only with a
 * runtime), the poller's only when polling, and Node's default process metrics.
 */
export function createAdminMetrics(source: AdminSource): AdminMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const runtime = source.runtime;
  const background: readonly Family[] = BACKGROUND_FAMILIES.map((f) => ({ ...f, samples: (s: Snapshot) => f.samples(s.background ?? {}) }));
  const families = [...FAMILIES, ...background].filter((f) => runtime !== undefined || f.runtime !== true);
  if (runtime !== undefined) {
    families.push(
      histogramFamily("unlost_handler_duration_seconds", "How long handler runs took (every try, successful or not).", runtime.timings.duration),
      histogramFamily("unlost_update_lag_seconds", "From an update's arrival (stored in the inbox) to its handlers' completion, for completed runs.", runtime.timings.lag),
    );
    if (runtime.mode === "polling") families.push(POLLER_UP);
  }
  // The families read the snapshot of the scrape being rendered: `registry.metrics()` calls
  // every family's `get()` synchronously, right after the snapshot is set, so concurrent
  // scrapes cannot mix snapshots.
  let current: Snapshot = { storeUp: false };
  for (const family of families) {
    const metric = {
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: "sum",
      get: () => Promise.resolve({ name: family.name, help: family.help, type: family.type, aggregator: "sum", values: family.samples(current) }),
      reset: () => undefined,
    };
    // prom-client's registry needs only these members of a metric (name, type, get, reset);
    // its `Metric` type names its own classes, whose per-observation bookkeeping is what this
    // module avoids.
    registry.registerMetric(metric as unknown as Metric);
  }

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      const probe = await probeStore(source);
      const snapshot: Snapshot = {
        storeUp: probe.ok,
        ...(probe.ok ? { inbox: probe.inbox, outbox: probe.outbox } : {}),
        ...(runtime === undefined ? {} : { counters: runtime.counters(), state: runtime.state() }),
      };
      const delivery = runtime?.delivery();
      const withDelivery = delivery === undefined ? snapshot : { ...snapshot, delivery };
      current = { ...withDelivery, background: await readBackground(source, probe.ok) };
      return registry.metrics();
    },
  };
}

/** Breakers and schedules of the running bot, tasks from the store; a part that fails to read is left out. */
async function readBackground(source: AdminSource, storeUp: boolean): Promise<BackgroundSnapshot> {
  const store = storeUp ? source.store() : undefined;
  const [tasks, schedules] = await Promise.all([
    store?.tasks.counts().catch(() => undefined),
    source.runtime?.schedules?.().catch(() => undefined),
  ]);
  const breakers = source.runtime?.breakers?.();
  return { ...(tasks === undefined ? {} : { tasks }), ...(schedules === undefined ? {} : { schedules }), ...(breakers === undefined ? {} : { breakers }) };
}
