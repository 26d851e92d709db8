/**
 * The dispatcher: takes updates from the durable inbox and runs the user's handlers on them.
 * Each chat's updates run one at a time in `update_id` order (the inbox only hands out a
 * chat's head); different chats run in parallel up to `concurrency`. Completions are written
 * in batches (one transaction per batch), which is what makes durability cheap.
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { Claim, ClaimedUpdate, FusedClaimOptions, InboxStore, SettleOutcome, SettleRequest, StoreEffect } from "../store/index.js";
import { BatchWriter } from "../shared/batch-writer.js";
import { Waker } from "../shared/waker.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";

/**
 * An update to handle and what is known of its delivery: a claimed inbox row
 * ({@link ClaimedUpdate} is one) or a journal entry.
 */
export type HandledUpdate = Pick<
  ClaimedUpdate,
  "updateId" | "chatKey" | "updateType" | "messageDate" | "receivedAt" | "update" | "attempt" | "recoveries" | "recovered" | "lastError"
>;

/** Told once when a handler run passes its deadline (`ctx.unlost` aborts its `signal`). */
export interface TimeoutListener {
  /** The run passed its deadline; `reason` is the error its try failed with. */
  timedOut(reason: UnlostError): void;
}

/**
 * One handler run as its dispatcher tracks it, handed to the {@link UpdateHandler} so that the
 * run can learn of its deadline. It is the dispatcher's own per-run object (the journal's item,
 * the row dispatcher's running entry): no allocation per update for it.
 */
export interface HandlerRun {
  /** Set by the dispatcher when the run passed its deadline: the error its try failed with. */
  readonly timedOut: UnlostError | undefined;
  /** Set by the handler: told when the run passes its deadline (at most once). */
  onTimeout: TimeoutListener | undefined;
}

/**
 * Runs the handlers of one update; returns the writes to commit with its completion. Throws when
 * the handlers failed. `run` tells of the deadline; a run that passed it is failed by the
 * dispatcher, and what the promise settles to afterwards is refused.
 */
export type UpdateHandler = (update: HandledUpdate, run: HandlerRun) => Promise<readonly StoreEffect[]>;

/** The error a handler run that passed its deadline fails with. */
export function handlerTimeoutError(update: Pick<HandledUpdate, "updateId" | "chatKey" | "attempt">, timeoutMs: number): UnlostError {
  const error = new UnlostError(
    "HANDLER_TIMEOUT",
    `handler did not finish within ${timeoutMs}ms (inbox.handlerTimeoutMs); this try counts as failed and whatever it completes later is refused`,
    { details: { updateId: update.updateId, chatKey: update.chatKey, attempt: update.attempt, timeoutMs } },
  );
  // Made by the dispatcher's sweep, not where the handler hangs: that stack would mislead a
  // reader of the dead letter.
  error.stack = `${error.name}: ${error.message}`;
  return error;
}

/**
 * How often a dispatcher looks for runs past their deadline: a tenth of the timeout (a run is
 * failed at most 10 % late), between 10 ms and 1 s. One interval per dispatcher, instead of a
 * timer per update, keeps the per-update cost at a timestamp.
 */
export function deadlineSweepMs(timeoutMs: number): number {
  return Math.min(1_000, Math.max(10, Math.floor(timeoutMs / 10)));
}

/** Tells `run`'s listener it timed out; a listener's own failure must not stop the sweep. */
export function notifyTimeout(run: HandlerRun, reason: UnlostError, logger: Logger): void {
  try {
    run.onTimeout?.timedOut(reason);
  } catch (error) {
    logger.warn({ err: error }, "aborting the signal of a timed-out handler threw");
  }
}

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  readonly inbox: InboxStore;
  /** This process's owner id for claims. */
  readonly owner: string;
  readonly handle: UpdateHandler;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Updates handled at once (each from a different chat). */
  readonly concurrency: number;
  /** Claim lease, ms; extended while a handler runs. */
  readonly leaseMs: number;
  /** Failed tries (the handler threw) before an update becomes a dead letter. */
  readonly maxAttempts: number;
  /** Take-overs from dead processes before an update is given up (it may be what kills them). */
  readonly maxRecoveries: number;
  /** Delay between tries. */
  readonly backoff: BackoffOptions;
  /**
   * A handler run longer than this, ms, is failed (retried after the backoff, or a dead letter
   * after `maxAttempts`) and its chat goes on; its late completion is refused. 0 or absent: no
   * limit.
   */
  readonly handlerTimeoutMs?: number;
  /** How long to sleep when there is nothing to claim, unless woken. */
  readonly idleMs: number;
  /** Called after a batch of completions was written (e.g. to wake the outbox). */
  readonly onSettled?: () => void;
  /**
   * False while this process must leave inbox rows to another (the poller, whose journal may
   * hold the same chats' later updates: only it can run a row and its chat's journal updates
   * one after the other). Default: always may.
   */
  readonly mayClaim?: () => boolean;
}

/**
 * How a source of updates (the poller) hands work to the dispatcher without a claim
 * transaction of its own: it asks for a {@link HandOff.reserve reservation} of free slots, lets
 * its ingest claim up to that many (`IngestOptions.claim`), then gives the claims to
 * {@link HandOff.adopt} (always, also when the ingest failed: that frees the slots).
 */
export interface HandOff {
  /** Reserves the free slots; claim at most `limit` with these options. */
  reserve(): FusedClaimOptions;
  /**
   * Runs the claims made with `reservation` and frees the rest of the reserved slots.
   * `ingested` false: the ingest failed (nothing was claimed).
   */
  adopt(claimed: readonly ClaimedUpdate[], reservation: FusedClaimOptions, ingested?: boolean): void;
}

/** Counters of the dispatcher. */
export interface DispatcherStats {
  readonly handled: number;
  readonly failed: number;
  readonly deadLettered: number;
  readonly recovered: number;
  readonly stale: number;
  /** Handler runs failed because they passed `handlerTimeoutMs`. */
  readonly timedOut: number;
  readonly inFlight: number;
}

/** A claimed update being handled: the {@link HandlerRun} of its handler. */
interface Running extends HandlerRun {
  readonly update: ClaimedUpdate;
  /** The claim (renewed by `extendLeases`: same token, later lease end). */
  claim: Claim;
  /** When the handler started (Date.now()): its deadline counts from here. */
  readonly startedAt: number;
  /** When the lease was last taken or renewed (Date.now()). */
  renewedAt: number;
  timedOut: UnlostError | undefined;
}

/**
 * Claims, handles and settles updates until stopped. Work comes from three places: its own
 * claims (on start, when woken, and every `idleMs`), the claims a batch of completions makes in
 * its own transaction (`settleAndClaim`), and hand-offs from the poller's ingest ({@link HandOff}).
 */
export class Dispatcher implements HandOff {
  private readonly active = new Map<number, Running>();
  /** Slots promised to claims being made (hand-offs, fused claims) but not yet running. */
  private reserved = 0;
  private handedOffAll = false;
  private readonly completions = new BatchWriter<SettleRequest>((batch) => this.settle(batch));
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly waker = new Waker();
  private leaseTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly counters = { handled: 0, failed: 0, deadLettered: 0, recovered: 0, stale: 0, timedOut: 0 };

  constructor(private readonly options: DispatcherOptions) {}

  /** Starts claiming. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run();
    this.leaseTimer = setInterval(() => void this.extendLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    this.leaseTimer.unref();
    const timeoutMs = this.options.handlerTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      this.deadlineTimer = setInterval(() => this.sweepDeadlines(timeoutMs), deadlineSweepMs(timeoutMs));
      this.deadlineTimer.unref();
    }
  }

  /** Tells the dispatcher there may be new work (after an ingest). */
  wake(): void {
    // Right after a hand-off that had room to spare, the ingest itself claimed all there was.
    if (this.handedOffAll) return;
    this.waker.wake();
  }

  /** {@inheritDoc HandOff.reserve} */
  reserve(): FusedClaimOptions {
    const limit = this.stopping || this.loop === undefined ? 0 : this.free();
    this.reserved += limit;
    return { owner: this.options.owner, limit, leaseMs: this.options.leaseMs };
  }

  /** {@inheritDoc HandOff.adopt} */
  adopt(claimed: readonly ClaimedUpdate[], reservation: FusedClaimOptions, ingested = true): void {
    this.reserved -= reservation.limit;
    if (ingested && claimed.length < reservation.limit) {
      // The ingest's claim took every ready head: a wake for this ingest (in this same
      // synchronous turn) would only run an empty claim.
      this.handedOffAll = true;
      queueMicrotask(() => {
        this.handedOffAll = false;
      });
    }
    for (const c of claimed) this.begin(c);
  }

  private free(): number {
    return Math.max(0, this.options.concurrency - this.active.size - this.reserved);
  }

  /** Counters so far. */
  stats(): DispatcherStats {
    return { ...this.counters, inFlight: this.active.size };
  }

  /**
   * Stops claiming and waits for running handlers up to `deadlineMs`. Finished ones are
   * settled; unfinished ones stay claimed in the store and are recovered after a restart.
   * Returns how many were still running at the deadline.
   */
  async stop(deadlineMs: number): Promise<{ abandoned: number }> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.active.size > 0 && Date.now() < deadline) {
      await this.waker.sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    clearInterval(this.leaseTimer);
    clearInterval(this.deadlineTimer);
    this.deadlineTimer = undefined;
    await this.completions.flush();
    return { abandoned: this.active.size };
  }

  private async run(): Promise<void> {
    const { inbox, owner, leaseMs, concurrency, logger } = this.options;
    while (!this.stopping) {
      this.waker.reset();
      if (this.options.mayClaim?.() === false) {
        await this.waker.sleep(this.options.idleMs);
        continue;
      }
      const free = this.free();
      let claimed: ClaimedUpdate[] = [];
      if (free > 0) {
        this.reserved += free;
        try {
          claimed = await inbox.claim({ owner, limit: free, leaseMs, now: this.options.clock() });
        } catch (error) {
          logger.error({ err: error }, "claiming updates from the inbox failed; retrying");
          await this.waker.sleep(this.options.idleMs);
          continue;
        } finally {
          this.reserved -= free;
        }
        for (const c of claimed) this.begin(c);
      }
      // Sleep unless more work may be waiting right away.
      if ((claimed.length < free || this.active.size + this.reserved >= concurrency) && !this.waker.woken && !this.stopping) {
        await this.waker.sleep(this.options.idleMs);
      }
    }
  }

  private begin(c: ClaimedUpdate): void {
    const { maxRecoveries, logger } = this.options;
    if (this.stopping) {
      // Claimed while stopping (a hand-off or a fused claim in flight): give it back unstarted.
      this.track(c);
      this.finish(c, { kind: "release" }, []);
      return;
    }
    if (c.recovered) {
      this.counters.recovered++;
      logger.warn({ updateId: c.updateId, chatKey: c.chatKey, attempt: c.attempt, recoveries: c.recoveries }, "recovered an update whose worker died while handling it");
    }
    if (c.recoveries > maxRecoveries) {
      // It keeps killing its worker (or keeps being abandoned): do not run it again.
      const error = `gave up: the process handling it died ${c.recoveries} time(s) (more than inbox.maxRecoveries = ${maxRecoveries}); it may be what crashes the bot`;
      this.track(c);
      this.finish(c, { kind: "dead", error, stack: null }, []);
      return;
    }
    const running = this.track(c);
    this.options.handle(c, running).then(
      (effects) => {
        if (running.timedOut === undefined) this.finish(c, { kind: "done" }, effects);
        else this.lateCompletion(c, "returned");
      },
      (error: unknown) => {
        if (running.timedOut === undefined) this.fail(c, error);
        else this.lateCompletion(c, "threw");
      },
    );
  }

  /** Records `c` as in flight (until its settle is written). */
  private track(c: ClaimedUpdate): Running {
    const now = Date.now();
    const running: Running = { update: c, claim: c.claim, startedAt: now, renewedAt: now, timedOut: undefined, onTimeout: undefined };
    this.active.set(c.updateId, running);
    return running;
  }

  /**
   * Fails the runs that passed their deadline: settled like a thrown error (retry or dead
   * letter), which frees their chat and their slot. Their handlers may still be running; what
   * they complete later is refused ({@link lateCompletion}), and the store would refuse it
   * too (the settle ended this claim).
   */
  private sweepDeadlines(timeoutMs: number): void {
    const due = Date.now() - timeoutMs;
    for (const running of this.active.values()) {
      if (running.timedOut !== undefined || running.startedAt > due) continue;
      const error = handlerTimeoutError(running.update, timeoutMs);
      running.timedOut = error;
      this.counters.timedOut++;
      notifyTimeout(running, error, this.options.logger);
      this.fail(running.update, error);
    }
  }

  /** A run failed at its deadline ended after all: nothing of it is recorded. */
  private lateCompletion(c: ClaimedUpdate, how: "returned" | "threw"): void {
    this.options.logger.warn(
      { updateId: c.updateId, chatKey: c.chatKey, attempt: c.attempt, handler: how },
      "a handler that timed out finished late; its completion and its commitWithCompletion effects were refused (sends it made went out)",
    );
  }

  private fail(c: ClaimedUpdate, error: unknown): void {
    const { maxAttempts, logger, backoff, clock } = this.options;
    const err = unwrap(error);
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.counters.failed++;
    // Tries that ended because the process died are not failures of the handler.
    const failures = c.attempt - c.recoveries;
    if (failures >= maxAttempts) {
      logger.error({ err, updateId: c.updateId, chatKey: c.chatKey, attempts: c.attempt, failures }, "handler failed on its last try; the update is now a dead letter and its chat moves on");
      this.finish(c, { kind: "dead", error: message, stack: err instanceof Error ? (err.stack ?? null) : null }, []);
      return;
    }
    const delay = backoffDelay(failures, backoff);
    logger.warn({ err, updateId: c.updateId, chatKey: c.chatKey, attempt: c.attempt, retryInMs: delay }, "handler failed; the update will be retried");
    this.finish(c, { kind: "retry", at: clock() + delay, error: message }, []);
  }

  private finish(c: ClaimedUpdate, outcome: SettleOutcome, effects: readonly StoreEffect[]): void {
    // One transaction for every completion of this turn of the event loop.
    this.completions.add(effects.length > 0 ? { claim: c.claim, outcome, effects } : { claim: c.claim, outcome });
  }

  private async settle(batch: SettleRequest[]): Promise<void> {
    const { inbox, logger, clock, owner, leaseMs } = this.options;
    let results: readonly string[];
    let claimed: readonly ClaimedUpdate[] = [];
    // The slots this batch frees (and any others free) are filled in the same transaction.
    const limit = this.stopping ? 0 : Math.max(0, this.options.concurrency - (this.active.size - batch.length) - this.reserved);
    this.reserved += limit;
    try {
      ({ results, claimed } = await inbox.settleAndClaim(batch, { now: clock(), claim: { owner, limit, leaseMs } }));
    } catch (error) {
      // The claims stay in flight; their leases expire and the updates are tried again.
      logger.error({ err: error, count: batch.length }, "recording completions failed; these updates will be retried after their leases expire");
      for (const r of batch) this.active.delete(r.claim.updateId);
      this.wake();
      return;
    } finally {
      this.reserved -= limit;
    }
    this.options.onSettled?.();
    batch.forEach((request, i) => {
      this.active.delete(request.claim.updateId);
      if (results[i] === "stale") {
        this.counters.stale++;
        logger.warn({ updateId: request.claim.updateId }, "a completion arrived after the update was taken over by another worker; it was not counted");
      } else if (request.outcome.kind === "done") {
        this.counters.handled++;
      } else if (request.outcome.kind === "dead") {
        this.counters.deadLettered++;
        logger.error({ updateId: request.claim.updateId, error: request.outcome.error }, "update moved to the dead letters");
      }
    });
    for (const c of claimed) this.begin(c);
    // The fused claim took every ready head that fitted; more can only be waiting if it filled
    // all its slots (they will come with the next completions) or after a stale settle.
    if (results.includes("stale")) this.wake();
  }

  private async extendLeases(): Promise<void> {
    const { inbox, leaseMs, clock, logger } = this.options;
    const threshold = Date.now() - leaseMs / 3;
    for (const [id, running] of this.active) {
      // A timed-out run's settle is on its way: its claim needs no more time.
      if (running.renewedAt > threshold || running.timedOut !== undefined) continue;
      try {
        const renewed = await inbox.extendLease(running.claim, leaseMs, { now: clock() });
        if (renewed === null) logger.warn({ updateId: id }, "lost the claim of a running handler (its lease ran out); another worker may run it too");
        else {
          running.claim = renewed;
          running.renewedAt = Date.now();
        }
      } catch (error) {
        logger.warn({ err: error, updateId: id }, "extending a claim failed");
      }
    }
  }
}

/** grammY wraps handler errors in BotError; the cause is what the user threw. */
export function unwrap(error: unknown): unknown {
  if (error instanceof Error && error.name === "BotError" && "error" in error) return (error as { error: unknown }).error;
  return error;
}
