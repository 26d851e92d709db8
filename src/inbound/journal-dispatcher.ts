/**
 * The journal dispatcher: runs the handlers of the updates this process polled and stored in
 * the inbox journal (see `src/store/journal-types.ts`), scheduling them in memory.
 *
 * Why in memory: the poller that stored a batch already holds its updates, parsed; handing
 * them over without a claim transaction and recording completions one transaction per turn of
 * the event loop is what makes a durable inbox as fast as an in-memory runner. What keeps it
 * safe is that nothing here is the only copy: every update stays in the journal until its
 * completion is committed, and the journal of an instance that is gone is turned into ordinary
 * inbox rows (`InboxJournal.adopt`), which the row {@link Dispatcher} handles with leases and
 * recovery counting.
 *
 * Rules:
 * - Each chat's updates run one at a time in `update_id` order; chats run in parallel up to
 *   `concurrency`. A chat's next update starts when the previous handler returned (its
 *   completion may still be on its way to the store: after a crash both are handled again, in
 *   order).
 * - A handler that throws leaves the journal: the update becomes an inbox row due after the
 *   backoff (or a dead letter when `maxAttempts` is 1), and its chat is *blocked* here until
 *   the chat has no unfinished rows any more (checked in the store every `blockedCheckMs`, and
 *   when {@link JournalDispatcher.checkBlocked} is called after the row dispatcher settled).
 * - Chats that already have unfinished rows when a batch arrives are blocked the same way, so a
 *   chat's older updates (retries, adopted backlog) always run before its newer ones.
 * - A handler still running `handlerTimeoutMs` after it started is failed like one that threw
 *   (its update moves to the rows), and its chat is released; whatever its promise settles to
 *   later is refused (nothing of it is recorded).
 * - While the row dispatcher runs updates recovered from a dead process isolated (the shared
 *   {@link IsolationGate} is held), no handler starts here; each run here counts in the gate
 *   until it ends (or passes its deadline), so that the suspects wait for them.
 *
 * @module
 */
import type { Logger } from "../runtime/logger.js";
import type { InboxJournal, JournalAppendOptions, JournalAppendResult, JournalCompletion, JournalMove, RawUpdate, StoreEffect } from "../store/index.js";
import { chatKeyOfType, deriveUpdateType, messageDateOfType } from "../store/update-meta.js";
import { isUnlostError, UnlostError } from "../errors/index.js";
import { Waker } from "../shared/waker.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { IsolationGate } from "./isolation-gate.js";
import { deadlineSweepMs, handlerTimeoutError, notifyTimeout, unwrap, type HandledUpdate, type HandlerRun, type TimeoutListener, type UpdateHandler } from "./dispatcher.js";

/**
 * Told of the effects of completions accepted here and not committed yet. A chat's next update
 * starts before its previous completion is written (see the module comment): whoever reads what
 * effects write (the bot data adapters: a session written by one update, read by the next)
 * looks at these first.
 */
export interface UncommittedEffects {
  /** A completion's effects were accepted: a later flush writes them. */
  added(effects: readonly StoreEffect[]): void;
  /** These effects were committed, or dropped for good (the journal was taken over). */
  removed(effects: readonly StoreEffect[]): void;
}

/** Options of {@link JournalDispatcher}. */
export interface JournalDispatcherOptions {
  readonly journal: InboxJournal;
  /** This process's instance id: the owner of the batches it appends. */
  readonly owner: string;
  readonly handle: UpdateHandler;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Updates handled at once (each from a different chat). */
  readonly concurrency: number;
  /** Failed tries before an update becomes a dead letter (the first try happens here). */
  readonly maxAttempts: number;
  /** Delay before the retry of a failed update. */
  readonly backoff: BackoffOptions;
  /**
   * A handler run longer than this, ms, is failed (moved to the rows for a retry, or a dead
   * letter) and its chat goes on; its late completion is refused. 0 or absent: no limit.
   */
  readonly handlerTimeoutMs?: number;
  /** How often chats blocked by unfinished rows are checked again, ms. */
  readonly blockedCheckMs: number;
  /**
   * While a backlog is being fetched (the last batch was full), how long completions may wait
   * for the next {@link JournalDispatcher.append} to ride along with before they are written on
   * their own, ms. Default 10: draining a backlog, every completion is committed in an
   * append's transaction. Otherwise (polling is idle) they are written at the end of the
   * event loop's turn, as soon as possible.
   */
  readonly flushDelayMs?: number;
  /** After a flush that committed handlers' effects or moved updates to the rows. */
  readonly onCommitted?: (info: { readonly moved: number }) => void;
  /** Told of effects accepted but not committed yet (see {@link UncommittedEffects}). */
  readonly uncommitted?: UncommittedEffects;
  /**
   * Whether the journal is still this process's to run. Others adopt the journal of an
   * instance they think gone (its liveness lease ran out: dead, or paused by SIGSTOP, a frozen
   * VM, a long GC); a handler started after that would run an update the adopter runs too.
   * So no handler starts unless `fresh()`; otherwise `confirm()` (renew the liveness, check
   * the store still has this journal) decides: true goes on, false drops the journal here.
   */
  readonly ownership?: { fresh(): boolean; confirm(): Promise<boolean> };
  /**
   * The process's isolation gate, shared with the row dispatcher: no handler starts here while
   * it is held (suspects run isolated). Default: none (nothing ever holds it).
   */
  readonly gate?: IsolationGate;
}

/** Counters of the journal dispatcher. */
export interface JournalDispatcherStats {
  /** Updates whose completion is committed. */
  readonly handled: number;
  /** Handler failures (each moved its update to the rows). */
  readonly failed: number;
  /** Updates that became dead letters here. */
  readonly deadLettered: number;
  /** Handler runs failed because they passed `handlerTimeoutMs`. */
  readonly timedOut: number;
  /** Handlers running now. */
  readonly inFlight: number;
  /** Updates accepted and not yet completed (queued, running or being recorded). */
  readonly open: number;
  /** Chats waiting for their unfinished rows. */
  readonly blockedChats: number;
}

/**
 * A journal update; it is also what the handler gets, and its {@link HandlerRun} (no second
 * object per run: a journal update runs once here).
 */
interface Item extends HandledUpdate, HandlerRun {
  readonly batch: number;
  /** When its handler started (Date.now()), while it runs with a deadline. */
  startedAt: number;
  /** Its index in `runningSlots` while it runs with a deadline, else -1. */
  slot: number;
  timedOut: UnlostError | undefined;
  onTimeout: TimeoutListener | undefined;
}

/**
 * {@link Item} as a class instance rather than an object literal: V8 allocates an object
 * literal's objects straight in the old generation once enough of them outlived a scavenge
 * (per allocation site; buffered items do, while a backlog drains). An old item, dead but not
 * yet collected, then keeps its update and its run's context, API client and sends alive into
 * the old generation too (bench:echo). Instances of a class are not pretenured that way.
 */
class JournalItem implements Item {
  readonly attempt = 1;
  readonly recoveries = 0;
  readonly recovered = false;
  readonly lastError = null;
  readonly firstRun = true;
  startedAt = 0;
  slot = -1;
  timedOut: UnlostError | undefined = undefined;
  onTimeout: TimeoutListener | undefined = undefined;
  constructor(
    readonly batch: number,
    readonly updateId: number,
    readonly chatKey: string,
    readonly updateType: string,
    readonly messageDate: number | null,
    readonly receivedAt: number,
    readonly update: RawUpdate,
  ) {}
}

interface ChatQueue {
  /**
   * The chat's updates in order; those before `next` ran and are cleared (`undefined`): a busy
   * chat's window is compacted only now and then, and a finished item must not keep its
   * update, context and handler state alive meanwhile (bench:echo: up to 64 finished runs
   * per chat, ~4 KiB each, held by 1,000 busy chats).
   */
  readonly items: Array<Item | undefined>;
  /** Index of the next item to run. */
  next: number;
  running: boolean;
  /** Waiting for the chat's unfinished inbox rows. */
  blocked: boolean;
  /** The blocking move is not committed yet: the store cannot tell yet, so do not ask it. */
  moveUncommitted: boolean;
  /**
   * Nothing of the chat is here any more, but its queue stays in `chats` until idle queues are
   * forgotten in bulk (see `forgetIdleChats`): deleting and adding a map entry per update made
   * the map rehash its table over and over (V8 promotes those tables: old-generation growth).
   */
  idle: boolean;
}

/** One flush's worth of completions. */
interface Pending {
  done: Array<{ batch: number; updateId: number }>;
  moved: JournalMove[];
  effects: StoreEffect[];
  /** Chats whose blocking move is in this flush. */
  movedChats: string[];
}

const emptyPending = (): Pending => ({ done: [], moved: [], effects: [], movedChats: [] });

const RESOLVED: Promise<void> = Promise.resolve();

/** Longest wait between retries of a flush that failed. */
const MAX_FLUSH_RETRY_MS = 5_000;

/** How many emptied chat queues are kept for reuse. */
const MAX_FREE_QUEUES = 1024;

/** Idle chat queues are forgotten once there are more than this many, and more than busy ones. */
const IDLE_QUEUES_KEPT = 4096;

/** Completions written on their own at once when this many are waiting. */
const FLUSH_AT_COUNT = 2_000;

/** True for the store's refusal of a completion because another instance adopted the journal. */
function journalTakenOver(error: unknown): boolean {
  return isUnlostError(error, "CONFLICT") && (error as { details?: { journalTakenOver?: boolean } }).details?.journalTakenOver === true;
}

/** Schedules journal updates in memory, per chat in order; see the module comment. */
export class JournalDispatcher {
  private readonly chats = new Map<string, ChatQueue>();
  /** Emptied queues for reuse (see newQueue). */
  private readonly freeQueues: ChatQueue[] = [];
  /** Queues in `chats` that are {@link ChatQueue.idle}. */
  private idleQueues = 0;
  /** Chats whose head may start, in the order they became ready. */
  private ready: string[] = [];
  private readyAt = 0;
  /** Open updates per batch; a batch whose count reaches 0 after a flush is closed. */
  private readonly remaining = new Map<number, number>();
  private pending = emptyPending();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  /** The last appended batch was full: another append is coming right away. */
  private backlog = false;
  /** The journal write in progress (a flush or an append): writes never overlap. */
  private flushing: Promise<void> | undefined;
  /** Updates accepted whose handler has not ended yet (queued or running): the back-pressure. */
  private unfinished = 0;
  /** `whenOpenBelow`'s limit while the poller waits (wakes it only when it matters). */
  private waitLimit = Number.POSITIVE_INFINITY;
  private flushFailures = 0;
  private active = 0;
  private openCount = 0;
  private blockedCount = 0;
  private stopping = false;
  /** Bumped when the journal was taken over: handlers started before it record nothing. */
  private generation = 0;
  private blockedTimer: NodeJS.Timeout | undefined;
  /** The pump scheduled by {@link accept}. */
  private pumpImmediate: NodeJS.Immediate | undefined;
  private readonly drained = new Waker();
  /** An ownership confirmation is running (see `confirmOwnership`). */
  private confirming = false;
  /** Rows waiting for a chat's running journal handler to end (see `holdChat`); usually empty. */
  private readonly idleWaiters = new Map<string, Array<() => void>>();
  private readonly counters = { handled: 0, failed: 0, deadLettered: 0, timedOut: 0 };
  /**
   * The runs that have a deadline, in reusable slots (at most `concurrency` of them): what the
   * deadline sweep scans. Slots and a free list rather than a Set: no allocation per update.
   */
  private readonly runningSlots: Array<Item | undefined> = [];
  private readonly freeSlots: number[] = [];
  private deadlineTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: JournalDispatcherOptions) {}

  /** Starts the periodic check of blocked chats. */
  start(): void {
    this.stopping = false;
    // The gate opened again: start what waited for it.
    this.unsubscribe ??= this.options.gate?.subscribe(() => {
      if (!this.options.gate!.held) this.pump();
    });
    this.blockedTimer ??= setInterval(() => void this.checkBlocked(), this.options.blockedCheckMs);
    this.blockedTimer.unref();
    const timeoutMs = this.options.handlerTimeoutMs ?? 0;
    if (timeoutMs > 0 && this.deadlineTimer === undefined) {
      this.deadlineTimer = setInterval(() => this.sweepDeadlines(timeoutMs), deadlineSweepMs(timeoutMs));
      this.deadlineTimer.unref();
    }
  }

  /**
   * Updates accepted whose handlers have not ended yet (queued or running): the poller waits
   * while there are too many. (Completions not yet committed do not count: they are written
   * with the next append.)
   */
  get open(): number {
    return this.unfinished;
  }

  /**
   * Appends a fetched batch to the journal as this process's, with the completions gathered
   * since the last write in the same transaction, and takes its updates. The poller's only
   * write: after a failure (thrown, as the store's), the completions are kept for the next.
   */
  async append(
    updates: readonly RawUpdate[],
    options: Omit<JournalAppendOptions, "owner" | "completion">,
    more = false,
  ): Promise<JournalAppendResult> {
    // `more`: the batch was full, so the next one follows at once and completions can wait for it.
    this.backlog = more;
    while (this.flushing !== undefined) await this.flushing;
    const batch = this.takePending();
    const writing = this.write(batch, updates, options);
    this.flushing = settled(writing, () => {
      this.flushing = undefined;
    });
    const result = (await writing) as JournalAppendResult;
    this.accept(result);
    return result;
  }

  /** Chat queues held in memory, idle ones included (bounded: see `forgetIdleChats`). */
  get chatQueues(): number {
    return this.chats.size;
  }

  /** Counters so far. */
  stats(): JournalDispatcherStats {
    return { ...this.counters, inFlight: this.active, open: this.openCount, blockedChats: this.blockedCount };
  }

  /** Takes the updates of a batch just appended to the journal by this process. */
  accept(result: JournalAppendResult): void {
    const { batch, receivedAt, updates, blockedChats } = result;
    if (batch === 0 || updates.length === 0) return;
    this.remaining.set(batch, updates.length);
    this.openCount += updates.length;
    this.unfinished += updates.length;
    for (const key of blockedChats) this.block(key, false);
    for (const update of updates) {
      const updateType = deriveUpdateType(update);
      // Journal updates run once here: a failed one continues as a row, with its attempt count.
      const item = new JournalItem(batch, update.update_id, chatKeyOfType(update, updateType), updateType, messageDateOfType(update, updateType), receivedAt, update);
      let chat = this.chats.get(item.chatKey);
      if (chat === undefined) {
        chat = this.newQueue();
        this.chats.set(item.chatKey, chat);
      } else if (chat.idle) this.wakeQueue(chat);
      chat.items.push(item);
      if (chat.items.length - chat.next === 1 && !chat.running && !chat.blocked) this.ready.push(item.chatKey);
    }
    // Start the handlers on the next turn of the event loop, not now: the poller is about to
    // send the next getUpdates, and the emulator (or Telegram) prepares it while they run.
    // Started now, their synchronous parts would all run before that request leaves.
    this.pumpImmediate ??= setImmediate(() => {
      this.pumpImmediate = undefined;
      this.pump();
    });
  }

  /** Resolves once fewer than `limit` updates are {@link open}, on stop, or after `maxWaitMs`. */
  async whenOpenBelow(limit: number, maxWaitMs: number): Promise<void> {
    const until = Date.now() + maxWaitMs;
    this.waitLimit = limit;
    try {
      while (this.unfinished >= limit && !this.stopping && Date.now() < until) {
        this.drained.reset();
        await this.drained.sleep(Math.max(1, until - Date.now()));
      }
    } finally {
      this.waitLimit = Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Asks the store which blocked chats still have unfinished rows, and lets the others go on.
   * Called on a timer, and by the runtime after the row dispatcher settled updates.
   */
  /**
   * Before an inbox row of chat `key` runs in this process (a retried dead letter, an adopted
   * update, a retry): keeps the chat's journal updates from starting — blocked as for any
   * unfinished row, until {@link checkBlocked} finds none left — and resolves once none of
   * them runs, so the row runs alone in its chat. A chat the journal holds nothing of
   * resolves at once (a batch appended meanwhile sees the row and blocks the chat itself).
   */
  holdChat(key: string): Promise<void> {
    const chat = this.chats.get(key);
    if (chat === undefined || chat.idle) return RESOLVED;
    this.block(key, false);
    if (!chat.running) return RESOLVED;
    return new Promise((resolve) => {
      const waiting = this.idleWaiters.get(key);
      if (waiting === undefined) this.idleWaiters.set(key, [resolve]);
      else waiting.push(resolve);
    });
  }

  async checkBlocked(): Promise<void> {
    if (this.blockedCount === 0) return;
    const keys: string[] = [];
    for (const [key, chat] of this.chats) if (chat.blocked && !chat.moveUncommitted) keys.push(key);
    if (keys.length === 0) return;
    let still: Set<string>;
    try {
      still = new Set(await this.options.journal.chatsWithRowWork(keys));
    } catch (error) {
      this.options.logger.warn({ err: error }, "checking chats that wait for retried updates failed; checking again soon");
      return;
    }
    for (const key of keys) {
      const chat = this.chats.get(key);
      if (chat === undefined || !chat.blocked || chat.moveUncommitted || still.has(key)) continue;
      chat.blocked = false;
      this.blockedCount--;
      if (chat.next < chat.items.length) {
        if (!chat.running) this.ready.push(key);
      } else if (!chat.running) {
        // Nothing of it left here (it was only held for its rows).
        this.rest(chat);
      }
    }
    this.pump();
  }

  /**
   * Stops starting handlers, waits for running ones up to `deadlineMs` and records what
   * finished. Updates not completed stay in the journal; the next start adopts them.
   */
  async stop(deadlineMs: number): Promise<{ abandoned: number }> {
    this.stopping = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.drained.wake();
    clearInterval(this.blockedTimer);
    this.blockedTimer = undefined;
    this.cancelFlush();
    const deadline = Date.now() + deadlineMs;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - Date.now()))));
    clearInterval(this.deadlineTimer);
    this.deadlineTimer = undefined;
    await this.flush();
    return { abandoned: this.active };
  }

  /**
   * A chat queue, reused when one is free: with many chats each queue lives for one update
   * or a few, and a fresh object and array per update is avoidable garbage-collector work.
   */
  private newQueue(): ChatQueue {
    const chat = this.freeQueues.pop();
    if (chat === undefined) return { items: [], next: 0, running: false, blocked: false, moveUncommitted: false, idle: false };
    return chat;
  }

  /** Nothing of `chat` is left here: it stays in `chats`, idle, until forgotten in bulk. */
  private rest(chat: ChatQueue): void {
    chat.items.length = 0;
    chat.next = 0;
    chat.idle = true;
    if (++this.idleQueues > IDLE_QUEUES_KEPT && this.idleQueues * 2 > this.chats.size) this.forgetIdleChats();
  }

  /** An idle queue gets work again. */
  private wakeQueue(chat: ChatQueue): void {
    chat.idle = false;
    this.idleQueues--;
  }

  /** Forgets the idle queues: the map stays as large as the chats with work, plus a bounded slack. */
  private forgetIdleChats(): void {
    for (const [key, chat] of this.chats) {
      if (!chat.idle) continue;
      this.chats.delete(key);
      this.recycle(chat);
    }
    this.idleQueues = 0;
  }

  /** Returns an emptied queue (deleted from `chats`) for reuse. */
  private recycle(chat: ChatQueue): void {
    chat.items.length = 0;
    chat.next = 0;
    chat.running = false;
    chat.blocked = false;
    chat.moveUncommitted = false;
    chat.idle = false;
    if (this.freeQueues.length < MAX_FREE_QUEUES) this.freeQueues.push(chat);
  }

  private block(key: string, moveUncommitted: boolean): void {
    let chat = this.chats.get(key);
    if (chat === undefined) {
      chat = this.newQueue();
      this.chats.set(key, chat);
    } else if (chat.idle) this.wakeQueue(chat);
    if (!chat.blocked) this.blockedCount++;
    chat.blocked = true;
    chat.moveUncommitted ||= moveUncommitted;
  }

  private pump(): void {
    const { concurrency, ownership, gate } = this.options;
    if (gate?.held === true) return;
    if (ownership !== undefined && this.readyAt < this.ready.length && !ownership.fresh()) {
      this.confirmOwnership(ownership);
      return;
    }
    while (this.active < concurrency && this.readyAt < this.ready.length && !this.stopping) {
      const key = this.ready[this.readyAt++]!;
      const chat = this.chats.get(key);
      if (chat === undefined || chat.running || chat.blocked || chat.next >= chat.items.length) continue;
      this.run(chat, chat.items[chat.next]!);
    }
    if (this.readyAt > 1024 && this.readyAt * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyAt);
      this.readyAt = 0;
    }
  }

  /** Confirms ownership (see `JournalDispatcherOptions.ownership`) before handlers start again. */
  private confirmOwnership(ownership: NonNullable<JournalDispatcherOptions["ownership"]>): void {
    if (this.confirming) return;
    this.confirming = true;
    const generation = this.generation;
    ownership.confirm().then(
      (owned) => {
        this.confirming = false;
        if (generation !== this.generation) return;
        if (owned) this.pump();
        else this.takenOver(new UnlostError("CONFLICT", "this instance's liveness lease ran out (was the process paused?) and another instance adopted its journal", { details: { journalTakenOver: true } }));
      },
      (error: unknown) => {
        this.confirming = false;
        this.options.logger.warn({ err: error }, "cannot confirm that this instance still owns its journal; its handlers wait");
        setTimeout(() => this.pump(), this.options.blockedCheckMs).unref();
      },
    );
  }

  private run(chat: ChatQueue, item: Item): void {
    chat.running = true;
    this.active++;
    const gate = this.options.gate;
    gate?.began();
    if (this.deadlineTimer !== undefined) this.takeSlot(item);
    const generation = this.generation;
    const stale = (): boolean => {
      if (generation === this.generation) return false;
      this.active--;
      return true;
    };
    this.options
      .handle(item, item)
      .then(
        (effects) => {
          // Failed at its deadline (its chat went on): the late completion is refused.
          if (item.timedOut !== undefined) return this.lateCompletion(item, "returned");
          gate?.ended();
          this.releaseSlot(item);
          if (stale()) return;
          this.pending.done.push({ batch: item.batch, updateId: item.updateId });
          if (effects.length > 0) {
            for (const e of effects) this.pending.effects.push(e);
            // Before the chat's next update can start (below, in `finished`).
            this.options.uncommitted?.added(effects);
          }
          this.finished(chat, item, false);
        },
        (error: unknown) => {
          if (item.timedOut !== undefined) return this.lateCompletion(item, "threw");
          gate?.ended();
          this.releaseSlot(item);
          if (!stale()) this.failed(chat, item, error);
        },
      );
  }

  /** Puts a run that has a deadline in a slot the sweep scans. */
  private takeSlot(item: Item): void {
    item.startedAt = Date.now();
    const slot = this.freeSlots.pop() ?? this.runningSlots.length;
    this.runningSlots[slot] = item;
    item.slot = slot;
  }

  private releaseSlot(item: Item): void {
    const slot = item.slot;
    if (slot < 0) return;
    item.slot = -1;
    // Slots are cleared when the journal is taken over: this one may be another run's now.
    if (this.runningSlots[slot] !== item) return;
    this.runningSlots[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /**
   * Fails the runs that passed their deadline: like a handler that threw, the update moves to
   * the rows (retry after the backoff, or dead letter) and the chat is released. The handler
   * may still be running; what it completes later is refused ({@link lateCompletion}).
   */
  private sweepDeadlines(timeoutMs: number): void {
    const due = Date.now() - timeoutMs;
    for (const item of this.runningSlots) {
      if (item === undefined || item.startedAt > due) continue;
      const chat = this.chats.get(item.chatKey);
      this.releaseSlot(item);
      if (chat === undefined) continue; // taken over meanwhile: not this dispatcher's any more
      const error = handlerTimeoutError(item, timeoutMs);
      item.timedOut = error;
      this.counters.timedOut++;
      // It may never return: it must not keep the suspects of an isolation phase waiting.
      this.options.gate?.ended();
      notifyTimeout(item, error, this.options.logger);
      this.failed(chat, item, error);
    }
  }

  /** A run failed at its deadline ended after all: nothing of it is recorded. */
  private lateCompletion(item: Item, how: "returned" | "threw"): void {
    this.options.logger.warn(
      { updateId: item.updateId, chatKey: item.chatKey, attempt: item.attempt, handler: how },
      "a handler that timed out finished late; its completion and its commitWithCompletion effects were refused (sends it made went out)",
    );
  }

  private failed(chat: ChatQueue, item: Item, error: unknown): void {
    const { maxAttempts, logger, backoff, clock } = this.options;
    const err = unwrap(error);
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.counters.failed++;
    if (maxAttempts <= 1) {
      logger.error({ err, updateId: item.updateId, chatKey: item.chatKey, attempts: 1 }, "handler failed on its last try; the update is now a dead letter and its chat moves on");
      this.pending.moved.push({ batch: item.batch, update: item.update, receivedAt: item.receivedAt, attempts: 1, outcome: { kind: "dead", error: message, stack: err instanceof Error ? (err.stack ?? null) : null } });
      this.counters.deadLettered++;
      this.finished(chat, item, false);
      return;
    }
    const delay = backoffDelay(1, backoff);
    logger.warn({ err, updateId: item.updateId, chatKey: item.chatKey, attempt: 1, retryInMs: delay }, "handler failed; the update will be retried");
    this.pending.moved.push({ batch: item.batch, update: item.update, receivedAt: item.receivedAt, attempts: 1, outcome: { kind: "retry", at: clock() + delay, error: message } });
    this.pending.movedChats.push(item.chatKey);
    this.finished(chat, item, true);
  }

  /** The handler of `item` ended: the chat goes on (or waits for its retried update). */
  private finished(chat: ChatQueue, item: Item, blocks: boolean): void {
    this.active--;
    if (--this.unfinished < this.waitLimit) this.drained.wake();
    chat.running = false;
    chat.items[chat.next++] = undefined;
    if (this.idleWaiters.size > 0) this.releaseIdle(item.chatKey);
    if (blocks) this.block(item.chatKey, true);
    if (chat.next >= chat.items.length) {
      if (!chat.blocked) this.rest(chat);
      else {
        chat.items.length = 0;
        chat.next = 0;
      }
    } else {
      // A busy chat's queue is a sliding window: drop what ran, now and then.
      if (chat.next > 64 && chat.next * 2 > chat.items.length) {
        chat.items.splice(0, chat.next);
        chat.next = 0;
      }
      if (!chat.blocked) this.ready.push(item.chatKey);
    }
    this.scheduleFlush();
    this.pump();
  }

  /** Lets the rows waiting for chat `key` run (see `holdChat`). */
  private releaseIdle(key: string): void {
    const waiting = this.idleWaiters.get(key);
    if (waiting === undefined) return;
    this.idleWaiters.delete(key);
    for (const resolve of waiting) resolve();
  }

  /** Completions wait for the next append, at most `flushDelayMs` (or until many are waiting). */
  private scheduleFlush(): void {
    if (this.pending.done.length + this.pending.moved.length >= FLUSH_AT_COUNT) {
      this.cancelFlush();
      void this.flush();
      return;
    }
    if (this.flushTimer !== undefined || this.flushImmediate !== undefined) return;
    const flush = (): void => {
      this.cancelFlush();
      void this.flush();
    };
    // Idle polling: no append is coming to ride along with, so write at the end of this turn
    // (a kill right after a handler then finds its completion written, as on the row path).
    if (this.backlog) this.flushTimer = setTimeout(flush, this.options.flushDelayMs ?? 10);
    else this.flushImmediate = setImmediate(flush);
  }

  private cancelFlush(): void {
    clearTimeout(this.flushTimer);
    clearImmediate(this.flushImmediate);
    this.flushTimer = undefined;
    this.flushImmediate = undefined;
  }

  /** The completions gathered so far, taken out for a write. */
  private takePending(): Pending {
    const batch = this.pending;
    this.pending = emptyPending();
    this.cancelFlush();
    return batch;
  }

  /** Writes the completions gathered so far on their own (one transaction); resolves when written. */
  private async flush(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    if (this.pending.done.length === 0 && this.pending.moved.length === 0) return;
    const writing = this.write(this.takePending());
    this.flushing = settled(writing, () => {
      this.flushing = undefined;
    });
    await writing;
  }

  /**
   * Commits `batch` of completions, alone or with an append of `updates` (then returns the
   * append's result, and throws its failures after keeping the completions for the next
   * write). Bookkeeping happens only after the commit.
   */
  private async write(batch: Pending, updates?: readonly RawUpdate[], append?: Omit<JournalAppendOptions, "owner" | "completion">): Promise<JournalAppendResult | undefined> {
    const { journal, owner, logger, clock } = this.options;
    // Batches this write completes: their records go in the same transaction.
    const counts = new Map<number, number>();
    for (const d of batch.done) counts.set(d.batch, (counts.get(d.batch) ?? 0) + 1);
    for (const m of batch.moved) counts.set(m.batch, (counts.get(m.batch) ?? 0) + 1);
    const closed: number[] = [];
    for (const [b, n] of counts) if ((this.remaining.get(b) ?? 0) - n <= 0) closed.push(b);
    const empty = batch.done.length === 0 && batch.moved.length === 0;
    const completion: Omit<JournalCompletion, "owner" | "now"> = { done: batch.done, moved: batch.moved, effects: batch.effects, closed };
    let result: JournalAppendResult | undefined;
    try {
      if (updates !== undefined) {
        result = await journal.append(updates, { ...append!, owner, ...(empty ? {} : { completion }) });
      } else {
        await journal.complete({ owner, ...completion, now: clock() });
      }
    } catch (error) {
      if (journalTakenOver(error)) {
        if (batch.effects.length > 0) this.options.uncommitted?.removed(batch.effects);
        this.takenOver(error);
        // The batch itself is new and this process's: store it without the refused completions.
        return updates === undefined ? undefined : journal.append(updates, { ...append!, owner });
      }
      // Keep them: written with the next write (a later write must not overtake this one).
      this.pending = merge(batch, this.pending);
      if (updates !== undefined) throw error;
      if (isUnlostError(error, "STOPPED")) {
        // The store is closed (a stop whose deadline passed while handlers ran): nothing can be
        // recorded any more; the updates stay in the journal and are taken over as after a kill.
        logger.warn({ count: batch.done.length + batch.moved.length }, "the store closed before these completions could be recorded; their updates are handled again after the next start");
        return undefined;
      }
      this.flushFailures++;
      const retryInMs = Math.min(MAX_FLUSH_RETRY_MS, 50 * 2 ** this.flushFailures);
      logger.error({ err: error, count: batch.done.length + batch.moved.length, retryInMs }, "recording completions failed; retrying (the updates stay in the journal meanwhile)");
      await new Promise((r) => setTimeout(r, retryInMs));
      this.scheduleFlush();
      return undefined;
    }
    this.flushFailures = 0;
    if (!empty) this.committed(batch, counts);
    return result;
  }

  /** After `batch` of completions was committed. */
  private committed(batch: Pending, counts: ReadonlyMap<number, number>): void {
    for (const [b, n] of counts) {
      const left = (this.remaining.get(b) ?? 0) - n;
      if (left <= 0) this.remaining.delete(b);
      else this.remaining.set(b, left);
    }
    this.openCount -= batch.done.length + batch.moved.length;
    this.counters.handled += batch.done.length;
    if (batch.effects.length > 0) this.options.uncommitted?.removed(batch.effects);
    for (const key of batch.movedChats) {
      const chat = this.chats.get(key);
      if (chat !== undefined) chat.moveUncommitted = false;
    }
    if (batch.effects.length > 0 || batch.moved.length > 0) this.options.onCommitted?.({ moved: batch.moved.length });
  }

  /**
   * The store says another instance adopted this process's journal (it thought this one was
   * gone): those updates are rows now, handled there. Forget them here; running handlers
   * finish, but their completions are not recorded.
   */
  private takenOver(error: unknown): void {
    this.options.logger.error({ err: error, dropped: this.openCount }, "this instance's journal was taken over by another instance (it was thought gone); its updates are handled there now");
    this.chats.clear();
    this.idleQueues = 0;
    this.ready = [];
    this.readyAt = 0;
    this.remaining.clear();
    if (this.pending.effects.length > 0) this.options.uncommitted?.removed(this.pending.effects);
    this.pending = emptyPending();
    this.openCount = 0;
    this.unfinished = 0;
    this.blockedCount = 0;
    // Running handlers end unrecorded (see `stale` in run): no deadline to keep for them.
    this.runningSlots.length = 0;
    this.freeSlots.length = 0;
    this.generation++;
    // The journal is not this process's any more: nothing of it runs here to wait for.
    for (const key of [...this.idleWaiters.keys()]) this.releaseIdle(key);
    this.drained.wake();
  }
}

/**
 * A promise that settles (never rejects) when `promise` does, after `then`: what later writes
 * wait for. The write's own failure reaches its caller through `promise` itself.
 */
function settled(promise: Promise<unknown>, then: () => void): Promise<void> {
  return promise.then(then, then);
}

function merge(a: Pending, b: Pending): Pending {
  return {
    done: [...a.done, ...b.done],
    moved: [...a.moved, ...b.moved],
    effects: [...a.effects, ...b.effects],
    movedChats: [...a.movedChats, ...b.movedChats],
  };
}

