/**
 * The runtime's public face: what `createRuntime` returns ({@link Runtime}), its stats and its
 * inbox dead-letter operations. Types only; the composition root is runtime.ts.
 *
 * @module
 */
import type { Breaker, BreakerOptions, BreakerStatus } from "../guards/index.js";
import type { Dispatcher } from "../inbound/dispatcher.js";
import type { WebhookAdapterName, WebhookHandlers } from "../inbound/webhook/index.js";
import type { Outbox } from "../outbound/outbox.js";
import type { Tasks } from "../tasks/index.js";
import type { ScheduleFunction, ScheduleOptions, ScheduleSpec, ScheduleStatus } from "../scheduler/index.js";
import type { DeadLetter, DeadLetterListOptions, DeadLetterPage, DeadLetterSelector, InboxStats, OfflineWindow, Store } from "../store/index.js";

/** Dead-letter operations of the inbox. */
export interface InboxDeadLetters {
  /** A page of dead letters (filter by chat, update type, error text). */
  list(options?: DeadLetterListOptions): Promise<DeadLetterPage>;
  /** One dead letter, or null. */
  get(updateId: number): Promise<DeadLetter | null>;
  /** Puts dead letters back in their chats' queues; returns how many. */
  retry(selector: DeadLetterSelector): Promise<number>;
  /** Deletes dead letters for good; returns how many. */
  purge(selector: DeadLetterSelector): Promise<number>;
}

/** What the runtime has done, for logs, health checks and tests. */
export interface RuntimeStats {
  /** Counts of the durable inbox. */
  readonly inbox: InboxStats;
  /** Updates handled, failed tries (timed-out ones among them), dead letters, recoveries, in flight since start. */
  readonly dispatcher: ReturnType<Dispatcher["stats"]>;
  /** Updates skipped by catch-up policies since start. */
  readonly skipped: number;
  /** The offline window found at start, if any. */
  readonly offlineWindow: OfflineWindow | null;
}

/** A running (or startable) unlost runtime. */
export interface Runtime {
  /** This process's id in the store. */
  readonly instanceId: string;
  /** True between `start()` and `stop()`. */
  readonly isRunning: boolean;
  /** Opens the store, recovers, starts receiving and handling. Resolves once running. */
  start(): Promise<void>;
  /**
   * Stops receiving, lets in-flight handlers finish within the shutdown deadline, and closes
   * the store. Unfinished updates stay in the inbox and are handled after the next start.
   */
  stop(): Promise<void>;
  /** Resolves when the runtime stopped; rejects if it stopped on a fatal error (e.g. a rejected token). */
  wait(): Promise<void>;
  /** The store (after `start`). */
  readonly store: Store;
  /** Dead letters of the inbox (after `start`). */
  readonly deadLetters: InboxDeadLetters;
  /** Counters and inbox state (after `start`). */
  stats(): Promise<RuntimeStats>;
  /** The durable outbox: send, notify, broadcast, job status, stats, dead letters, audit (after `start`). */
  readonly outbox: Outbox;
  /** The admin server's URL (`http://127.0.0.1:<port>`) while it listens (option `admin`); else undefined. */
  readonly adminUrl: string | undefined;
  /**
   * The webhook as a handler for your own server, like grammY's `webhookCallback(bot, adapter)`,
   * with unlost's guarantees: the secret is checked (401), the body read up to
   * `webhook.maxBodyBytes` (413), the update stored in the inbox and flushed before the 200
   * (`durability`), a re-sent `update_id` answered 200 and handled once, 500 when the store
   * fails and 503 before `start()` has opened the store or once `stop()` began, so that
   * Telegram re-sends instead of the update being lost. Needs `mode: "webhook"` and
   * `webhook.listen: false`; mount it at the path of `webhook.url`. Bodies a framework already
   * parsed (`express.json()`, fastify) are accepted. May be called before `start()`.
   *
   * @example
   * ```ts
   * const runtime = createRuntime(bot, { mode: "webhook", webhook: { url: "https://bot.example.com/telegram", listen: false } });
   * app.post("/telegram", runtime.webhookCallback("express"));   // an Express app
   * await runtime.start();                                        // registers the webhook
   * ```
   * @throws UnlostError `INVALID_CONFIG` unless the runtime is in webhook mode with
   * `webhook.listen: false`; `INVALID_ARGUMENT` for a framework there is no adapter for.
   */
  webhookCallback<A extends WebhookAdapterName>(adapter: A): WebhookHandlers[A];
  /**
   * Runs `fn` on a schedule beside message handling: a cron expression (UTC, croner's syntax,
   * e.g. `"*\/5 * * * *"`) or an interval (`{ every: "2h" }`, anchored to the epoch). Its last
   * and next run are kept in the store: a restart neither skips a due run silently nor runs a
   * finished one again; runs missed while down run once at start (or are skipped and logged,
   * `missed: "skip"`); one run at a time across processes on one store; a failing run is
   * retried with backoff (`attempts`), one past `timeoutMs` fails (its `signal` is aborted).
   * May be called before or after `start()`. See docs/runtime.md ("Schedules").
   *
   * @example
   * ```ts
   * runtime.schedule("audience-scan", { every: "2h" }, async ({ signal }) => { await scan({ signal }); });
   * runtime.schedule("digest", "0 8 * * *", () => runtime.outbox.broadcast(subscribers, "sendMessage", { text: "Good morning" }), { missed: "skip" });
   * ```
   * @throws UnlostError `INVALID_ARGUMENT` for a bad name, timing or option, or a name used twice
   */
  schedule(name: string, spec: ScheduleSpec, fn: ScheduleFunction, options?: ScheduleOptions): void;
  /** Every schedule on the store: its timing, last and next run, last result and error, whether it runs now (after `start`). */
  schedules(): Promise<ScheduleStatus[]>;
  /**
   * A circuit breaker for an external service (the same one for the same name): after
   * `opensAfter` failures it opens and `execute` fails at once with `UnlostError("CIRCUIT_OPEN")`
   * (`details.retryAfterMs`) until a probe after `halfOpenAfterMs` succeeds. A schedule whose
   * run meets an open breaker fails that try and is retried with backoff.
   *
   * @example
   * ```ts
   * const downloads = runtime.breaker("download-service", { opensAfter: 5, halfOpenAfterMs: 30_000 });
   * const file = await downloads.execute((signal) => fetch(url, { signal }).then((r) => r.arrayBuffer()));
   * ```
   */
  breaker(name: string, options?: BreakerOptions): Breaker;
  /** Every breaker's state (closed, open, half-open), when it opened and why. */
  breakers(): BreakerStatus[];
  /**
   * Durable tasks: long work started by handlers (`ctx.unlost.task(kind, payload)`, added with
   * the update's completion, exactly once) or by any code (`tasks.add`), run by
   * `tasks.handle(kind, fn, { concurrency, perUser, perUserQueueLimit, attempts, backoff,
   * timeoutMs })` beside message handling: a global limit per kind and a per-user one (across
   * processes), retries with backoff, `CIRCUIT_OPEN` retried after the breaker's half-open time
   * without using an attempt, dead letters, cancel, progress, a temp folder per task removed
   * when it ends, sends through the outbox keyed by the task. A stop lets running tasks finish
   * within `tasks.graceMs`, then queues them again. See docs/tasks.md.
   *
   * @example
   * ```ts
   * const service = runtime.breaker("download-service");
   * runtime.tasks.handle("download", async ({ payload, chatId, tmpDir, signal, api }) => {
   *   const file = join(tmpDir, "video.mp4");
   *   await service.execute((s) => download((payload as { url: string }).url, file, s), signal);
   *   await api.sendVideo(chatId!, new InputFile(file));
   * }, { concurrency: 4, perUser: 1, perUserQueueLimit: 3, attempts: 5 });
   * ```
   */
  readonly tasks: Tasks;
}

