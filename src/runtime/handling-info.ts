/**
 * `ctx.unlost` of one handler run, and what the run commits with its completion.
 *
 * A class rather than an object literal with closures: the runtime makes one per update, and
 * at tens of thousands of updates per second two closures and their scope per update are
 * measurable allocation (and garbage-collector) work.
 *
 * @module
 */
import type { Context } from "grammy";
import type { UpdateFacts } from "../inbound/catch-up/index.js";
import type { HandledUpdate, TimeoutListener } from "../inbound/dispatcher.js";
import type { UnlostUpdateInfo } from "../inbound/update-info.js";
import type { Outbox, SendOptions } from "../outbound/outbox.js";
import type { TaskAddOptions } from "../tasks/types.js";
import { UnlostError } from "../errors/index.js";
import type { NewJob } from "../outbound/types.js";
import { newUpdateScope, type UpdateScope } from "../outbound/update-scope.js";
import type { StoreEffect } from "../store/index.js";
import { ATTEMPT_DATA, AttemptData, type DataSource } from "../state/attempt-data.js";
import type { TaskService } from "../tasks/service.js";
import type { NewTask } from "../store/index.js";

const NO_EFFECTS: readonly StoreEffect[] = Object.freeze([]);

/** {@link UnlostUpdateInfo} of one run, gathering its effects; told of the run's deadline. */
export class HandlingInfo implements UnlostUpdateInfo, TimeoutListener {
  readonly updateId: number;
  readonly idempotencyKey: string;
  readonly ageMs: number;
  readonly messageDate: number | null;
  readonly receivedAt: number;
  readonly arrivedWhileDown: boolean;
  readonly attempt: number;
  readonly recovered: boolean;
  readonly willRetry: boolean;
  /** The first run of a fresh update (see `HandledUpdate.firstRun`): its sends may go direct. */
  #firstRun: boolean;
  /** An earlier run may have sent direct and died before recording it (see `UpdateScope.mayRepeat`). */
  readonly #mayRepeat: boolean;
  /** The keys of this run's sends through `ctx.api` (see UpdateScope); made on the first send. */
  #scope: UpdateScope | undefined;
  /** The bot's error handler runs: its sends are keyed apart from the handler's. */
  #catching = false;
  /** Made on first use: most handlers commit nothing with their completion. */
  #effects: StoreEffect[] | undefined;
  #queued: Array<Promise<NewJob[]>> | undefined;
  #commit: UnlostUpdateInfo["commitWithCompletion"] | undefined;
  #enqueue: UnlostUpdateInfo["enqueue"] | undefined;
  #task: UnlostUpdateInfo["task"] | undefined;
  /** Made when a handler first reads `signal`: most never do, and most runs never time out. */
  #abort: AbortController | undefined;
  /** Why the run was aborted (its deadline passed), once it was. */
  #abortReason: Error | undefined;
  /** This try's bot data (sessions, conversations); made when a storage adapter first uses it. */
  #data: AttemptData | undefined;
  /** This try's tasks, in call order, until each passed its checks (rejected ones are left out). */
  #tasks: Array<Promise<NewTask | undefined>> | undefined;
  /**
   * Tasks of this try being checked or checked (the queue limit counts them; see
   * `TaskService.prepare`). Made by the first `task`: as a field initializer, V8 allocated this
   * array in the old generation for 99 % of runs (an allocation site it pretenured), one per
   * update, most of them never used.
   */
  #taskList: NewTask[] | undefined;

  /**
   * @param claimed the update as the dispatcher hands it over
   * @param facts its catch-up facts (age, arrived while down)
   * @param idempotencyKey `<bot id>:<update_id>`
   * @param outbox the outbox for `enqueue` (throws when it is switched off)
   * @param maxAttempts `inbox.maxAttempts`: whether a failure of this try is retried
   * @param data where the try's bot data comes from (uncommitted writes, then the store)
   * @param directSends whether first runs send direct in this runtime (journal polling)
   * @param onTimedOut told when the run passes its deadline (one function per runtime)
   * @param taskService what `task` adds through (checks, ids)
   */
  constructor(
    claimed: HandledUpdate,
    facts: Pick<UpdateFacts, "ageMs" | "arrivedWhileDown">,
    idempotencyKey: string,
    private readonly outbox: () => Outbox,
    maxAttempts: number,
    private readonly data: DataSource,
    directSends = false,
    private readonly onTimedOut?: (info: HandlingInfo, reason: Error) => void,
    private readonly taskService?: TaskService,
  ) {
    this.updateId = claimed.updateId;
    this.idempotencyKey = idempotencyKey;
    this.ageMs = facts.ageMs;
    this.messageDate = claimed.messageDate;
    this.receivedAt = claimed.receivedAt;
    this.arrivedWhileDown = facts.arrivedWhileDown;
    this.attempt = claimed.attempt;
    this.recovered = claimed.recovered;
    this.#firstRun = directSends && claimed.firstRun === true;
    // Any other run in such a runtime is a row: a retry, an update adopted from a journal whose
    // process died or stopped past its deadline, or one retried from the dead letters; after an
    // adoption, even later tries cannot tell whether the cut-off first run sent something, so
    // every row run's new sends carry the doubt (at worst an ambiguous attempt too many).
    this.#mayRepeat = directSends && claimed.firstRun !== true;
    // As the dispatchers count: deaths of the process are not failures of the handler.
    this.willRetry = claimed.attempt - claimed.recoveries < maxAttempts;
  }

  /**
   * The scope keying this run's sends through `ctx.api`. The error handler's sends get a scope
   * of their own (`<update key>:catch`), so their keys do not depend on how many sends the
   * handler made before it failed: a retried update whose handler fails at another point still
   * replays the same "sorry" at the same key, and it is delivered once.
   */
  sendScope(): UpdateScope {
    return (this.#scope ??= newUpdateScope(this.#catching ? `${this.idempotencyKey}:catch` : this.idempotencyKey, this.#firstRun && this.#abortReason === undefined, this.#mayRepeat, this.attempt > 1 || this.recovered || this.#mayRepeat));
  }

  /** The bot's error handler is about to run for this try: its sends start a scope of their own. */
  enterErrorHandler(): void {
    this.#catching = true;
    const scope = this.#scope;
    if (scope !== undefined) {
      scope.updateKey = `${this.idempotencyKey}:catch`;
      scope.calls = 0;
    }
  }

  // The two methods are getters of functions made on first use: nothing per update for a
  // handler that does not use them, and they keep working when destructured
  // (`const { enqueue } = ctx.unlost`).

  /** {@inheritDoc UnlostUpdateInfo.commitWithCompletion} */
  get commitWithCompletion(): UnlostUpdateInfo["commitWithCompletion"] {
    return (this.#commit ??= (effect) => {
      (this.#effects ??= []).push(effect);
    });
  }

  /** {@inheritDoc UnlostUpdateInfo.enqueue} */
  get enqueue(): UnlostUpdateInfo["enqueue"] {
    return (this.#enqueue ??= (method: string, payload: Record<string, unknown>, options: SendOptions = {}): string[] => {
      const prepared = this.outbox().prepare(method, payload, options, null);
      (this.#queued ??= []).push(prepared.jobs);
      return prepared.ids;
    });
  }

  /** {@inheritDoc UnlostUpdateInfo.task} */
  get task(): UnlostUpdateInfo["task"] {
    return (this.#task ??= (kind, payload, options) => this.addTask(kind, payload, options ?? {}));
  }

  private addTask(kind: string, payload: unknown, options: TaskAddOptions): Promise<string> {
    const service = this.taskService;
    if (service === undefined) return Promise.reject(new UnlostError("STOPPED", "ctx.unlost.task needs the runtime's tasks (this update is not run by a started runtime)"));
    // The position is taken now, synchronously: concurrent calls get the order they were made in.
    const position = (this.#tasks ??= []).length;
    const ctx = this.context;
    const prepared = service.prepare({
      kind, payload, options, id: `${this.idempotencyKey}:task:${position}`,
      from: ctx?.from?.id ?? null, chat: ctx?.chat?.id ?? null, earlier: (this.#taskList ??= []),
    });
    this.#tasks.push(prepared.then((t) => t, () => undefined));
    const id = prepared.then((t) => t.id);
    // A refusal is the handler's to see by awaiting; one it did not await must not crash the process.
    id.catch(() => undefined);
    return id;
  }

  /** Tasks were added with `task` (their effects are committed with the completion). */
  get tasksAdded(): boolean {
    return this.#tasks !== undefined;
  }

  /**
   * This try's bot data, for unlost's storage adapters (`unlostSession`, conversations): its
   * writes are committed with the completion, through {@link commitWithCompletion}.
   */
  get [ATTEMPT_DATA](): AttemptData {
    return (this.#data ??= new AttemptData(this.data, this.commitWithCompletion));
  }

  /** {@inheritDoc UnlostUpdateInfo.signal} */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#abortReason !== undefined) this.#abort.abort(this.#abortReason);
    }
    return this.#abort.signal;
  }

  /** The run's context, once grammY made it (see {@link bindContext}). */
  context: Context | undefined;

  /** {@inheritDoc ContextAware.bindContext} */
  bindContext(ctx: Context): void {
    this.context = ctx;
  }

  /**
   * The run passed its deadline: aborts `signal` (now, or when it is first read), and tells
   * the runtime (which calls `bot.catch`: the try failed, though the handler never threw).
   */
  timedOut(reason: Error): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#firstRun = false;
    if (this.#scope !== undefined) this.#scope.direct = false;
    this.#abort?.abort(reason);
    this.onTimedOut?.(this, reason);
  }

  /** A send of this run went direct: its record must be written before the run settles. */
  get sentDirect(): boolean {
    return this.#scope?.sentDirect === true;
  }

  /**
   * Resolves once every send this run made through `ctx` is stored or delivered (undefined
   * when it made none): awaited sends are already; a send the handler did not await may not be.
   */
  sendsStored(): Promise<unknown> | undefined {
    const scope = this.#scope;
    const pending = scope?.pending;
    if (pending === undefined) return undefined;
    // Handed over: the scope lets go of them (see `ended`).
    scope!.pending = undefined;
    return Promise.allSettled(pending);
  }

  /**
   * The run has settled: lets go of what only the run needed, its context. V8 may have put
   * objects of this run in its old generation (grammY's per-update API client, pretenured);
   * dead but not yet collected, they keep alive whatever they still point to until the next
   * full GC, and that grows the old generation (bench:echo, `--trace-gc-nvp`: ~1 KiB per reply
   * less with this and `sendsStored` letting go of the settled sends).
   */
  ended(): void {
    this.context = undefined;
  }

  /** Sends were enqueued with `enqueue` (their jobs are committed with the completion). */
  get enqueued(): boolean {
    return this.#queued !== undefined;
  }

  /** After the handler succeeded: the effects to commit with its completion. */
  async effects(): Promise<readonly StoreEffect[]> {
    if (this.#tasks !== undefined) {
      // Refused ones (queue full) are the handler's to answer; the others commit with the completion.
      for (const task of await Promise.all(this.#tasks)) if (task !== undefined) (this.#effects ??= []).push({ kind: "task.add", task });
      this.#tasks = [];
    }
    const queued = this.#queued;
    if (queued === undefined) return this.#effects ?? NO_EFFECTS;
    const jobs = (await Promise.all(queued)).flat();
    if (jobs.length > 0) (this.#effects ??= []).push({ kind: "outbox.enqueue", jobs });
    return this.#effects ?? NO_EFFECTS;
  }

  /** The effects gathered so far (no enqueued sends). */
  get committedEffects(): readonly StoreEffect[] {
    return this.#effects ?? NO_EFFECTS;
  }
}
