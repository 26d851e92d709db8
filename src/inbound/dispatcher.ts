/**
 * The dispatcher: takes updates from the durable inbox and runs the user's handlers on them.
 * Each chat's updates run one at a time in `update_id` order (the inbox only hands out a
 * chat's head); different chats run in parallel up to `concurrency`. Completions are written
 * in batches (one transaction per batch), which is what makes durability cheap.
 *
 * Updates taken over from a process that died (*recovered*) are *suspects*: any of them may be
 * what killed it, or none (an unrelated `kill -9`). A suspect's next run is isolated (see
 * {@link IsolationGate}): no ordinary handler of this process starts, the running ones are
 * waited for, then the suspects run in a group with nothing else, marked in the store as
 * isolated. The group is as large as the suspects' claims allow: a suspect lost from an
 * ordinary run may run with up to `concurrency` others; one lost from an isolated group of k
 * runs in a group of at most ⌈k/2⌉ (bisection: a poison update is alone after log₂ k more
 * deaths, while the healthy ones of its group complete); one lost while alone runs alone. Only a
 * death while alone counts against an update (`isolatedDeaths`); more than `maxRecoveries` of
 * them make it a dead letter without running it again. A suspect that completes or throws is
 * cleared: its next claim is an ordinary one.
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { Claim, ClaimedUpdate, FusedClaimOptions, InboxStore, SettleOutcome, SettleRequest, StoreEffect } from "../store/index.js";
import { BatchWriter } from "../shared/batch-writer.js";
import { StoreRetry } from "../shared/store-retry.js";
import { Waker } from "../shared/waker.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { IsolationGate } from "./isolation-gate.js";

/**
 * An update to handle and what is known of its delivery: a claimed inbox row
 * ({@link ClaimedUpdate} is one) or a journal entry.
 */
export type HandledUpdate = Pick<
  ClaimedUpdate,
  "updateId" | "chatKey" | "updateType" | "messageDate" | "receivedAt" | "update" | "attempt" | "recoveries" | "recovered" | "lastError"
> & {
  /**
   * True only for the first run of an update just fetched into this process's journal: no
   * earlier run of it can have sent anything, so its sends need no lookup by key before they
   * leave (see `outbound/direct-send.ts`). Rows (retries, recovered updates, retried dead
   * letters, whose attempts restart at 1) never are.
   */
  readonly firstRun?: boolean;
};

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
  /**
   * Deaths of its process while the update ran alone (isolated) that it may cause and still be
   * run again; one more makes it a dead letter (it is what kills the process).
   */
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
  /**
   * The process's isolation gate, shared with its other dispatcher (the journal's), so that a
   * suspect runs with nothing else of the process. Default: one of its own.
   */
  readonly gate?: IsolationGate;
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
  /** Runs of recovered updates (suspects) isolated from the rest of the process. */
  readonly isolated: number;
  readonly inFlight: number;
}

/**
 * Where a claimed update's run is: waiting for the gate (not started), running as an ordinary
 * run (counted in the gate) or isolated (a suspect's), or over (ended, or past its deadline).
 */
type RunMode = "waiting" | "ordinary" | "isolated" | "over";

/** A claimed update being handled: the {@link HandlerRun} of its handler. */
interface Running extends HandlerRun {
  readonly update: ClaimedUpdate;
  /** The claim (renewed by `extendLeases`: same token, later lease end). */
  claim: Claim;
  /** When the handler started (Date.now()): its deadline counts from here. +Infinity until then. */
  startedAt: number;
  /** When the lease was last taken or renewed (Date.now()). */
  renewedAt: number;
  timedOut: UnlostError | undefined;
  mode: RunMode;
}

/** A recovered update waiting for its isolated run, and the largest group it may run in. */
interface Suspect {
  readonly running: Running;
  readonly bound: number;
}

/**
 * The largest isolation group for an update recovered from a claim that ran as `lost` (see
 * `ClaimedUpdate.recoveredIsolation`): a group as large as the dispatcher's concurrency after an
 * ordinary run, half the lost group after a group's death, alone after a death alone.
 */
export function isolationBound(lost: number | null): number {
  if (lost === null || lost <= 0) return Number.POSITIVE_INFINITY;
  return lost === 1 ? 1 : Math.ceil(lost / 2);
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
  /** Completions the store could not take are recorded again (see StoreRetry), not dropped. */
  private readonly settleRetry = new StoreRetry();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly waker = new Waker();
  private leaseTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly counters = { handled: 0, failed: 0, deadLettered: 0, recovered: 0, stale: 0, timedOut: 0, isolated: 0 };
  private readonly gate: IsolationGate;
  /** Recovered updates waiting for their isolated run, in claim order. */
  private suspects: Suspect[] = [];
  /** Ordinary claims that arrived while the gate was held: they start when it opens. */
  private deferred: Running[] = [];
  /** The isolation phase in progress (it holds the gate), if any. */
  private isolating: Promise<void> | undefined;
  /** Wakes the isolation phase: ordinary runs ended, a group's run ended, stopping. */
  private readonly isolationWaker = new Waker();
  /** Runs of the current isolated group still going. */
  private groupLeft = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: DispatcherOptions) {
    this.gate = options.gate ?? new IsolationGate();
  }

  /** Starts claiming. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.unsubscribe ??= this.gate.subscribe(() => this.isolationWaker.wake());
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
    // While suspects run isolated, claiming more would only make claims that wait (and that a
    // crash meanwhile would turn into suspects without their having run).
    if (this.gate.held) return 0;
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
    this.isolationWaker.wake();
    await this.loop;
    this.loop = undefined;
    // Gives back the suspects and deferred claims that did not start.
    await this.isolating;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.active.size > 0 && Date.now() < deadline) {
      await this.waker.sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    clearInterval(this.leaseTimer);
    clearInterval(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.settleRetry.flushNow();
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
      if ((free === 0 || claimed.length < free || this.active.size + this.reserved >= concurrency) && !this.waker.woken && !this.stopping) {
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
    if (c.isolatedDeaths > maxRecoveries) {
      // Its process died every time it ran alone: it is what kills it. Do not run it again.
      const error = `gave up: its process died ${c.isolatedDeaths} time(s) while it ran alone (more than inbox.maxRecoveries = ${maxRecoveries}); it is probably what crashes the bot`;
      logger.error({ updateId: c.updateId, chatKey: c.chatKey, isolatedDeaths: c.isolatedDeaths, recoveries: c.recoveries }, "an update killed its process every time it ran alone; it becomes a dead letter without running again");
      this.track(c);
      this.finish(c, { kind: "dead", error, stack: null }, []);
      return;
    }
    const running = this.track(c);
    if (c.recovered) {
      this.counters.recovered++;
      logger.warn(
        { updateId: c.updateId, chatKey: c.chatKey, attempt: c.attempt, recoveries: c.recoveries, lostRunIsolation: c.recoveredIsolation, isolatedDeaths: c.isolatedDeaths },
        "recovered an update whose worker died while handling it; it runs next isolated from the rest of this process",
      );
      this.suspect(running);
      return;
    }
    if (this.gate.held) {
      this.deferred.push(running);
      return;
    }
    this.launch(running, "ordinary");
  }

  /** Starts the handler of a tracked update. */
  private launch(running: Running, mode: "ordinary" | "isolated"): void {
    const c = running.update;
    running.mode = mode;
    running.startedAt = Date.now();
    if (mode === "ordinary") this.gate.began();
    this.options.handle(c, running).then(
      (effects) => {
        if (running.timedOut !== undefined) return this.lateCompletion(c, "returned");
        this.ended(running);
        this.finish(c, { kind: "done" }, effects);
      },
      (error: unknown) => {
        if (running.timedOut !== undefined) return this.lateCompletion(c, "threw");
        this.ended(running);
        this.fail(c, error);
      },
    );
  }

  /** A run ended or passed its deadline: tells the gate, or the isolation phase (once). */
  private ended(running: Running): void {
    if (running.mode === "ordinary") this.gate.ended();
    else if (running.mode === "isolated" && --this.groupLeft === 0) this.isolationWaker.wake();
    running.mode = "over";
  }

  /** Records `c` as in flight (until its settle is written); not started yet. */
  private track(c: ClaimedUpdate): Running {
    const running: Running = {
      update: c, claim: c.claim, startedAt: Number.POSITIVE_INFINITY, renewedAt: Date.now(), timedOut: undefined, onTimeout: undefined, mode: "waiting",
    };
    this.active.set(c.updateId, running);
    return running;
  }

  /** Queues a recovered update for an isolated run; the first suspect starts an isolation phase. */
  private suspect(running: Running): void {
    this.suspects.push({ running, bound: isolationBound(running.update.recoveredIsolation) });
    if (this.isolating !== undefined) return;
    // Held at once: ordinary claims of this same batch must not start before the suspects.
    this.gate.hold();
    this.isolating = this.isolate().finally(() => {
      this.isolating = undefined;
    });
  }

  /**
   * The isolation phase: waits until no ordinary handler of the process runs, then runs the
   * suspects group by group, each group with nothing else; then opens the gate again and starts
   * what was deferred. On stop, the suspects and deferred claims not started are given back.
   */
  private async isolate(): Promise<void> {
    const { inbox, logger, idleMs } = this.options;
    try {
      // The rest of the claim that brought the first suspect is begun in this same turn: let
      // its other suspects join the first group.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.suspects.length > 0 && !this.stopping) {
        // Wait for the ordinary runs of both dispatchers (the gate wakes us when they end).
        for (;;) {
          this.isolationWaker.reset();
          if (this.gate.running === 0 || this.stopping) break;
          await this.isolationWaker.sleep(idleMs);
        }
        if (this.stopping) break;
        const group = this.takeGroup();
        let marked: readonly boolean[];
        try {
          marked = await inbox.isolate(group.map((g) => g.running.claim));
        } catch (error) {
          // Run them anyway: unmarked, a crash during the run only keeps them suspects.
          logger.warn({ err: error, count: group.length }, "marking isolated claims failed; the suspects run anyway (a crash now counts against none of them)");
          marked = group.map(() => true);
        }
        if (this.stopping) {
          this.suspects.unshift(...group);
          break;
        }
        const runs: Running[] = [];
        group.forEach((g, i) => {
          if (marked[i] === true) runs.push(g.running);
          else {
            // Its lease ran out and another worker claimed it: not ours to run.
            this.active.delete(g.running.update.updateId);
            this.counters.stale++;
            logger.warn({ updateId: g.running.update.updateId }, "lost the claim of a recovered update before its isolated run; another worker has it");
          }
        });
        if (runs.length === 0) continue;
        logger.warn(
          { updateIds: runs.map((r) => r.update.updateId), group: runs.length, waiting: this.suspects.length },
          runs.length === 1
            ? "running a recovered update alone (nothing else of this process runs): if the process dies now, this update counts as what killed it"
            : "running recovered updates isolated from the rest of this process, to find out whether one of them kills it",
        );
        this.counters.isolated += runs.length;
        this.groupLeft = runs.length;
        for (const r of runs) this.launch(r, "isolated");
        while (this.groupLeft > 0 && !this.stopping) {
          this.isolationWaker.reset();
          if (this.groupLeft === 0) break;
          await this.isolationWaker.sleep(1_000);
        }
        // The group is over only once its settles are committed: until then its claims are
        // still marked isolated in the store, and a death during the next group would count
        // against an update that had already finished.
        await this.completions.flush();
      }
    } finally {
      for (const g of this.suspects.splice(0)) this.finish(g.running.update, { kind: "release" }, []);
      this.gate.release();
      for (const r of this.deferred.splice(0)) {
        if (this.stopping) this.finish(r.update, { kind: "release" }, []);
        else this.launch(r, "ordinary");
      }
      this.waker.wake();
    }
  }

  /**
   * The next isolated group, in claim order: as many suspects as fit the smallest bound among
   * them (and `concurrency`); the others wait for a later group.
   */
  private takeGroup(): Suspect[] {
    const group: Suspect[] = [];
    const rest: Suspect[] = [];
    let limit = this.options.concurrency;
    for (const g of this.suspects) {
      if (group.length < Math.min(limit, g.bound)) {
        group.push(g);
        limit = Math.min(limit, g.bound);
      } else {
        rest.push(g);
      }
    }
    this.suspects = rest;
    return group;
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
      // JavaScript cannot stop it: it no longer keeps suspects (or the next group) waiting.
      this.ended(running);
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
    const limit = this.stopping || this.gate.held ? 0 : Math.max(0, this.options.concurrency - (this.active.size - batch.length) - this.reserved);
    this.reserved += limit;
    try {
      ({ results, claimed } = await inbox.settleAndClaim(batch, { now: clock(), claim: { owner, limit, leaseMs } }));
    } catch (error) {
      // The store could not be reached: the completions wait and are recorded again (fenced by
      // their claims), instead of their handlers running again once the leases expire.
      const retryInMs = this.settleRetry.schedule(error, () => { for (const r of batch) this.completions.add(r); });
      if (retryInMs !== undefined) {
        logger.warn({ err: error, count: batch.length, retryInMs }, "recording completions failed; retrying");
        return;
      }
      // The claims stay in flight; their leases expire and the updates are tried again.
      logger.error({ err: error, count: batch.length }, "recording completions failed; these updates will be retried after their leases expire");
      for (const r of batch) this.active.delete(r.claim.updateId);
      this.wake();
      return;
    } finally {
      this.reserved -= limit;
    }
    this.settleRetry.succeeded();
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
