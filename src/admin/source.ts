/**
 * What the admin server reads: a store, and when a bot runs, the runtime's counters and
 * state. Everything is read at request time (a scrape, a probe), so the runtime does no work
 * for the admin server between requests beyond {@link HandlerTimings}.
 *
 * @module
 */
import type { Scrub } from "../errors/index.js";
import type { DeliveryStats } from "../outbound/delivery.js";
import type { DeadLetterSelector, OutboxDeadLetterSelector, Store } from "../store/index.js";
import type { BreakerStatus } from "../guards/index.js";
import type { ScheduleStatus } from "../scheduler/index.js";
import type { HandlerTimings } from "./handler-timings.js";

/**
 * Where updates come from now: `polling` (this instance holds the poller lease), `standby`
 * (another instance polls; this one handles what is in the inbox and takes over if it dies),
 * `webhook`, or not running: `starting` (before `start()` finished) and `stopped`.
 */
export type UpdatesState = "polling" | "standby" | "webhook" | "starting" | "stopped";

/** Counters of a runtime since it started (they restart at 0 with the process). */
export interface RuntimeCounters {
  /** Updates stored in the inbox (new ones; re-sent duplicates not counted). */
  readonly received: number;
  /** Updates whose handlers completed. */
  readonly handled: number;
  /** Failed tries (handlers that threw or timed out); each is retried or dead-lettered. */
  readonly failed: number;
  /** Updates that became dead letters. */
  readonly deadLettered: number;
  /** Tries that passed `inbox.handlerTimeoutMs` (counted in `failed` too). */
  readonly timedOut: number;
  /** Updates skipped by catch-up policies. */
  readonly skipped: number;
  /** Handler runs in progress now. */
  readonly inFlight: number;
}

/** A running bot, as the admin server sees it. */
export interface RuntimeView {
  /** How updates arrive. */
  readonly mode: "polling" | "webhook";
  /** Where updates come from now. */
  state(): UpdatesState;
  /** Counters since start. */
  counters(): RuntimeCounters;
  /** The delivery loop's counters; undefined when the outbox is off or not started. */
  delivery(): DeliveryStats | undefined;
  /** Handler durations and update lags. */
  readonly timings: HandlerTimings;
  /** The runtime's circuit breakers (`runtime.breakers()`). */
  breakers?(): readonly BreakerStatus[];
  /** The runtime's schedules with their stored state (`runtime.schedules()`). */
  schedules?(): Promise<readonly ScheduleStatus[]>;
}

/** Retry and purge of dead letters; each returns how many it affected. */
export interface DeadLetterActions {
  readonly inbox: { retry(selector: DeadLetterSelector): Promise<number>; purge(selector: DeadLetterSelector): Promise<number> };
  readonly outbox: { retry(selector: OutboxDeadLetterSelector): Promise<number>; purge(selector: OutboxDeadLetterSelector): Promise<number> };
}

/** Pause, resume and cancel of broadcasts (a runtime's own wake its delivery loop). */
export interface BroadcastActions {
  /** False for an unknown broadcast. */
  pauseBroadcast(broadcastId: string): Promise<boolean>;
  /** False for an unknown broadcast. */
  resumeBroadcast(broadcastId: string): Promise<boolean>;
  /** How many queued messages were cancelled. */
  cancelBroadcast(broadcastId: string): Promise<number>;
}

/** Everything the admin server reads. */
export interface AdminSource {
  /** The open store; undefined before it is opened or after it is closed. */
  store(): Store | undefined;
  /** The clock of the store's timestamps (ms epoch). */
  readonly clock: () => number;
  /** Removes secrets (bot token, webhook secret, admin token) from text before it is answered. */
  readonly scrub: Scrub;
  /** The running bot; absent for a store served without one (`unlost dashboard`). */
  readonly runtime?: RuntimeView;
  /**
   * How dead letters are retried and purged: a runtime's own operations (they wake its
   * dispatcher and delivery loop, and remove purged jobs' files). Default: the store's.
   */
  readonly deadLetters?: () => DeadLetterActions | undefined;
  /** How broadcasts are paused, resumed and cancelled: a runtime's outbox (it wakes its delivery loop). Default: the store's. */
  readonly broadcasts?: () => BroadcastActions | undefined;
}
