/**
 * The runtime: a grammY bot run by unlost instead of `bot.start()`. It wires the durable store,
 * the source of updates (long polling or a webhook), the dispatcher that runs the bot's
 * handlers, catch-up policies, downtime tracking, pruning and graceful shutdown.
 */
import { BotError, GrammyError, HttpError, type Bot, type Context } from "grammy";
import type { Update, WebhookInfo } from "grammy/types";
import { Scrubber, UnlostError } from "../errors/index.js";
import { createCatchUpPolicy, describeUpdate, type CatchUpAction, type CatchUpPolicy, type UpdateFacts } from "../inbound/catch-up/index.js";
import { Dispatcher, type HandledUpdate, type HandlerRun, type UpdateHandler } from "../inbound/dispatcher.js";
import { GetUpdatesClient } from "../inbound/intake/get-updates-client.js";
import type { JournalDispatcher } from "../inbound/journal-dispatcher.js";
import { startDispatchers } from "../inbound/dispatchers.js";
import { createDowntimeMonitor, type DowntimeMonitor } from "../inbound/downtime/index.js";
import { Poller } from "../inbound/poller.js";
import { handleWithInfo, installUpdateInfo, type ApiHook } from "../inbound/update-info.js";
import {
  createWebhookIngest, registerWebhook, serviceUnavailable, webhookAdapter, webhookSecret,
  type RegisterWebhookOptions, type WebhookAdapterName, type WebhookHandle, type WebhookHandlers, type WebhookIngest, type WebhookReceiver,
} from "../inbound/webhook/index.js";
import { acknowledgeGate, openStore, type Store, type StoreEffect } from "../store/index.js";
import { startOutbound, type Outbound } from "../outbound/service.js";
import { BreakerRegistry, type Breaker, type BreakerOptions, type BreakerStatus } from "../guards/index.js";
import { ScheduleRegistry, type ScheduleFunction, type ScheduleOptions, type ScheduleSpec, type ScheduleStatus } from "../scheduler/index.js";
import type { Outbox } from "../outbound/outbox.js";
import { TaskService, taskApiFactory, withTaskTracking, type Tasks } from "../tasks/index.js";
import { outboxTransformer } from "../outbound/transformer.js";
import { ApiCloneRouter } from "../outbound/api-clones.js";
import { HandlingInfo } from "./handling-info.js";
import { dataSource, type DataSource } from "../state/attempt-data.js";
import { UncommittedWrites } from "../state/uncommitted-writes.js";
import { createLogger, scrubberOf, type Logger } from "./logger.js";
import { adoptGoneJournals, instanceGone, newInstanceId, recoverDeadInstances } from "./liveness.js";
import { StoreOutageLog } from "./store-outage.js";
import { WorkerLease } from "./worker-lease.js";
import { callErrorHandler, hasOwnErrorHandler } from "./error-handler.js";
import { handOverPolling } from "./hand-over.js";
import { resolveOptions, type ResolvedOptions, type RuntimeOptions } from "./options.js";
import type { InboxDeadLetters, Runtime, RuntimeStats } from "./runtime-api.js";
export type { InboxDeadLetters, Runtime, RuntimeStats } from "./runtime-api.js";
import { startOutboxHousekeeping } from "../outbound/housekeeping.js";
import { RuntimeOperations, type RuntimeOperationsParts } from "../admin/runtime-operations.js";
import type { HandlerTimings } from "../admin/handler-timings.js";
import type { UpdatesState } from "../admin/source.js";
import { UserMemory } from "./user-memory.js";

/** What a handler commits with its completion when it commits nothing (shared, never mutated). */
const NO_EFFECTS: readonly StoreEffect[] = Object.freeze([]);
/** The catch-up decision when there is no policy. */
const HANDLE: CatchUpAction = Object.freeze({ kind: "handle" });

/** The password in a PostgreSQL store URL (scrubbed like the token), if any. */
function storePassword(store: ResolvedOptions["store"]): string | undefined {
  const url = typeof store === "string" ? store : store !== undefined && "url" in store ? store.url : undefined;
  if (url === undefined) return undefined;
  try {
    const password = new URL(url).password;
    return password === "" ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/**
 * Runs a grammY bot with unlost: durable inbox, per-chat order, retries, dead letters,
 * catch-up after downtime. Use it instead of `bot.start()`.
 *
 * @example
 * ```ts
 * import { Bot } from "grammy";
 * import { createRuntime } from "unlost";
 *
 * const bot = new Bot(process.env.BOT_TOKEN!);
 * bot.on("message:text", (ctx) => ctx.reply(`you said ${ctx.message.text}`));
 * await createRuntime(bot, { catchUp: { notifyOffline: true } }).start();
 * ```
 */
export function createRuntime<C extends Context>(bot: Bot<C>, options: RuntimeOptions = {}): Runtime {
  return new UnlostRuntime(bot as unknown as Bot<Context>, resolveOptions(options));
}

class UnlostRuntime implements Runtime {
  readonly instanceId: string;
  private readonly scheduleRegistry = new ScheduleRegistry();
  private readonly breakerRegistry: BreakerRegistry;
  private readonly taskService: TaskService;
  private readonly logger: Logger;
  /** Store outages: their log lines, and the quieting of the failures they cause. */
  private readonly outage = new StoreOutageLog();
  private readonly outageLogger: Logger;
  /**
   * The secrets of this bot (its token, the webhook secret): one scrubber shared by the
   * logger, the store and the errors, so text is cleaned where it enters them.
   */
  private readonly scrubber: Scrubber;
  private readonly clock: () => number;
  private openedStore: Store | undefined;
  private ownsStore = false;
  private dispatcher: Dispatcher | undefined;
  /** Long polling's fast path (see JournalDispatcher); undefined when off or not polling. */
  private journal: JournalDispatcher | undefined;
  private poller: Poller | undefined;
  /** The lean getUpdates client, when the bot's API client allows it (see GetUpdatesClient). */
  private getUpdatesClient: GetUpdatesClient | undefined;
  private outbound: Outbound | undefined;
  /** Routes the sends of `Api`s built from the bot's client options (conversations' per-step Api) through the outbox. */
  private readonly clones: ApiCloneRouter | undefined;
  /** Users seen in private chats (for `notify`) and unreachable chats their user reopens. */
  private readonly users: UserMemory;
  private receiver: WebhookReceiver | undefined;
  /** The webhook core behind `webhookCallback` (with `webhook.listen: false`), from `start()` on. */
  private webhookIngest: WebhookIngest | undefined;
  private downtime: DowntimeMonitor | undefined;
  private policy: CatchUpPolicy | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** Renews the worker lease; runs until the very end of a stop (handlers finishing need it). */
  private heartbeat: NodeJS.Timeout | undefined;
  private workerLease: WorkerLease | undefined;
  private running = false;
  /** The store, bot identity, worker lease and outbox: up once (see `prepare`). */
  private prepared: Promise<Store> | undefined;
  private stopping: Promise<void> | undefined;
  private skipped = 0;
  private fatalError: UnlostError | undefined;
  /** When the first updates after start were stored (what came then had waited at Telegram). */
  private firstIngestAt: number | undefined;
  /** A completion batch will enqueue sends: wake the delivery loop after it is written. */
  private sendsCommitted = false;
  /**
   * Bot data written by journal completions not committed yet (a chat's next update reads
   * them): new at every start, as the journal dispatcher is.
   */
  private uncommitted = new UncommittedWrites();
  /** Where handlers' storage adapters read bot data: {@link uncommitted}, then the store. */
  private data: DataSource = dataSource(this.uncommitted, () => this.store.data);
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  private readonly finished: Promise<void>;
  private signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  /** The admin server and alerts (options `admin`, `alerts`), and the per-run timings the server shows. */
  private readonly ops: RuntimeOperations | undefined;
  private readonly timings: HandlerTimings | undefined;
  /** Updates stored in the inbox since start (for the admin server's metrics). */
  private received = 0;

  constructor(private readonly bot: Bot<Context>, private readonly options: ResolvedOptions) {
    this.instanceId = options.instanceId ?? newInstanceId();
    this.clock = options.clock ?? Date.now;
    // A logger made by createLogger (the CLI's) keeps its scrubber, which learns the token
    // here; any other logger given is the user's to clean.
    this.scrubber = (options.logger === undefined ? undefined : scrubberOf(options.logger)) ?? new Scrubber();
    this.scrubber.add(bot.token, options.webhook?.secretToken, storePassword(options.store));
    const logger = options.logger ?? createLogger({ scrubber: this.scrubber });
    // One line per store outage, not one per failed operation (see store-outage.ts).
    this.logger = this.outage.quiet(logger);
    this.outageLogger = logger;
    this.breakerRegistry = new BreakerRegistry({ logger: this.logger, clock: this.clock });
    this.taskService = new TaskService(options.tasks);
    this.users = new UserMemory({ outbox: () => this.openedStore?.outbox, clock: this.clock, logger: this.logger });
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.finished.catch(() => undefined); // observed through wait()
    // Now, not at start: a `bot.api` send before `start()` (a startup notice) goes through the
    // outbox like one after it, instead of straight to Telegram (see `prepare`).
    if (options.outbox.enabled) {
      bot.api.config.use(outboxTransformer(this.outboxForSend));
      // An Api built from `bot.api.options` (a plugin's clone of the client) sends through the
      // outbox too; `bot.api`'s own client, which the delivery loop uses, keeps the original
      // options (see ApiCloneRouter).
      this.clones = new ApiCloneRouter(bot.token, bot.api.options);
      this.clones.install(bot.api, this.outboxForSend);
    }
    this.ops = RuntimeOperations.create(options, this.opsView());
    this.timings = this.ops?.timings;
  }

  /** What the admin server and alerts read: closures over this runtime, read when they ask. */
  private opsView(): RuntimeOperationsParts {
    return {
      mode: this.options.mode, scrubber: this.scrubber, logger: this.logger, clock: this.clock,
      store: () => this.openedStore, botName: () => `@${this.bot.botInfo.username}`, adminChatIds: this.options.downtime.adminChatIds,
      // High priority through the outbox; without it (outbox.enabled: false), straight.
      send: (chatId, text) => this.outbound?.outbox.sendText(chatId, text, { priority: "high" }) ?? this.bot.api.sendMessage(chatId, text),
      state: (): UpdatesState => (!this.running ? (this.stopping === undefined ? "starting" : "stopped") : this.options.mode === "webhook" ? "webhook" : this.poller?.polling === true ? "polling" : "standby"),
      counters: () => {
        const d = this.dispatcherStats();
        return { received: this.received, handled: d.handled, failed: d.failed, deadLettered: d.deadLettered, timedOut: d.timedOut, skipped: this.skipped, inFlight: d.inFlight };
      },
      delivery: () => this.outbound?.delivery.stats(),
      breakers: () => this.breakerRegistry.status(),
      schedules: () => this.scheduleRegistry.status(),
      // The runtime's own: they wake the dispatcher and the delivery loop, and remove purged jobs' files.
      deadLetters: () => (this.outbound === undefined ? undefined : { inbox: this.deadLetters, outbox: this.outbound.outbox.deadLetters }),
      broadcasts: () => this.outbound?.outbox,
    };
  }

  get adminUrl(): string | undefined {
    return this.ops?.url;
  }

  get isRunning(): boolean {
    return this.running;
  }

  get store(): Store {
    if (this.openedStore === undefined) throw new UnlostError("STOPPED", "the runtime has no store yet: call start() first");
    return this.openedStore;
  }

  get outbox(): Outbox {
    return this.outboxOrThrow();
  }

  get deadLetters(): InboxDeadLetters {
    const dead = () => this.store.inbox.deadLetters;
    return {
      list: (o) => dead().list(o),
      get: (id) => dead().get(id),
      retry: async (selector) => {
        const n = await dead().retry(selector, { now: this.clock() });
        this.dispatcher?.wake();
        return n;
      },
      purge: (selector) => dead().purge(selector),
    };
  }

  wait(): Promise<void> {
    return this.finished;
  }

  schedule(name: string, spec: ScheduleSpec, fn: ScheduleFunction, options: ScheduleOptions = {}): void {
    this.scheduleRegistry.add(name, spec, fn, options);
  }

  schedules(): Promise<ScheduleStatus[]> {
    return this.scheduleRegistry.status();
  }

  breaker(name: string, options: BreakerOptions = {}): Breaker {
    return this.breakerRegistry.get(name, options);
  }

  breakers(): BreakerStatus[] {
    return this.breakerRegistry.status();
  }

  get tasks(): Tasks {
    return this.taskService;
  }

  webhookCallback<A extends WebhookAdapterName>(adapter: A): WebhookHandlers[A] {
    const { mode, webhook } = this.options;
    if (mode !== "webhook" || webhook === undefined) {
      throw new UnlostError("INVALID_CONFIG", `runtime.webhookCallback() needs mode "webhook" with webhook: { url, listen: false }; this runtime is in mode "${mode}".`);
    }
    if (webhook.listen) {
      throw new UnlostError("INVALID_CONFIG", "runtime.webhookCallback() needs webhook.listen: false; this runtime serves the webhook on its own listener (webhook.port). Set webhook.listen: false to receive it in your own server instead.");
    }
    return webhookAdapter(adapter, this.handleWebhook);
  }

  /** A delivery through `webhookCallback`: 503 (Telegram re-sends) until the store is open. */
  private readonly handleWebhook: WebhookHandle = (delivery) => {
    const ingest = this.webhookIngest;
    if (ingest !== undefined) return ingest.handle(delivery);
    this.logger.debug("webhook request before start(): answering 503 so that Telegram re-sends it");
    return Promise.resolve(serviceUnavailable("The bot is starting; send again later."));
  };

  async stats(): Promise<RuntimeStats> {
    return {
      inbox: await this.store.inbox.stats({ now: this.clock() }),
      dispatcher: this.dispatcherStats(),
      skipped: this.skipped,
      offlineWindow: this.downtime?.lastWindow ?? null,
    };
  }

  /** The row dispatcher's counters plus the journal dispatcher's. */
  private dispatcherStats(): RuntimeStats["dispatcher"] {
    const rows = this.dispatcher?.stats() ?? { handled: 0, failed: 0, deadLettered: 0, recovered: 0, stale: 0, timedOut: 0, isolated: 0, inFlight: 0 };
    const journal = this.journal?.stats();
    if (journal === undefined) return rows;
    return {
      ...rows,
      handled: rows.handled + journal.handled,
      failed: rows.failed + journal.failed,
      deadLettered: rows.deadLettered + journal.deadLettered,
      timedOut: rows.timedOut + journal.timedOut,
      inFlight: rows.inFlight + journal.inFlight,
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { options, logger } = this;
    try {
      // First: /readyz says "starting" while the store opens and the bot is identified.
      await this.ops?.startServer();
      // The store, the bot's identity and the outbox may be up already: a `bot.api` send made
      // before `start()` brings them up (see `prepare`).
      const store = await this.prepare();
      const now = this.clock();
      this.downtime = createDowntimeMonitor({
        state: store.state,
        clock: this.clock,
        logger,
        heartbeatMs: options.downtime.heartbeatMs,
        alertAfterMs: options.downtime.alertAfterMs,
        adminChatIds: options.downtime.adminChatIds,
        botName: `@${this.bot.botInfo.username}`,
        send: (chatId: number, text: string) => this.bot.api.sendMessage(chatId, text),
      });
      const window = await this.downtime.start();
      const recovered =
        (await adoptGoneJournals(store, this.instanceId, now, logger, { includeSelf: true })) +
        (await recoverDeadInstances(store, this.instanceId, now, logger));
      const stats = await store.inbox.stats({ now });
      // Updates sent while the bot was down are still at Telegram, not in the inbox yet.
      const webhookInfo = await this.bot.api.getWebhookInfo().catch(() => undefined);
      const atTelegram = webhookInfo?.pending_update_count ?? 0;
      const backlog = stats.pending + stats.inflight + atTelegram;
      logger.info(
        {
          mode: options.mode,
          store: `${store.kind}:${store.location}`,
          instanceId: this.instanceId,
          bot: this.bot.botInfo.username,
          backlog,
          backlogInInbox: stats.pending + stats.inflight,
          backlogAtTelegram: webhookInfo === undefined ? null : atTelegram,
          oldestBacklogAgeMs: stats.oldestOpenAgeMs,
          deadLetters: stats.dead,
          recoveredClaims: recovered,
          offlineMs: window?.durationMs ?? null,
        },
        backlog > 0 ? "unlost started; catching up on the backlog" : "unlost started",
      );

      // Before any handler runs: `ctx.unlost.task` checks its queue limit in the store.
      await this.taskService.start({ store, owner: this.instanceId, clock: this.clock, logger, api: taskApiFactory(this.bot, () => this.outbound?.outbox) });
      this.policy = createCatchUpPolicy(options.catchUp);
      installUpdateInfo(this.bot);
      this.uncommitted = new UncommittedWrites();
      this.data = dataSource(this.uncommitted, () => store.data);
      // On PostgreSQL, rows by default: every process of the bot claims and handles them.
      const journalPolling = options.mode === "polling" && (options.inbox.journal ?? store.kind !== "postgres") && store.inbox.journal !== undefined;
      const journal = journalPolling ? store.inbox.journal : undefined;
      const dispatchers = startDispatchers({
        inbox: store.inbox, journal, owner: this.instanceId, settings: options.inbox, logger, clock: this.clock,
        handleRow: this.handleRow, handleUpdate: this.handleUpdate,
        polling: () => this.poller?.polling === true,
        committed: () => {
          this.wakeDelivery();
          this.taskService.committed();
        },
        journalOptions: journal === undefined ? {} : {
          ownership: (this.workerLease as WorkerLease).journalOwnership(journal),
          uncommitted: withTaskTracking(this.uncommitted, this.taskService),
        },
      });
      this.dispatcher = dispatchers.rows;
      this.journal = dispatchers.journal;
      if (options.mode === "webhook") await this.startWebhook(store);
      else await this.startPolling(store, webhookInfo);
      this.startHousekeeping(store);
      this.breakerRegistry.recordTo(store.state, this.instanceId);
      await this.scheduleRegistry.start({ store, owner: this.instanceId, clock: this.clock, logger });
      this.ops?.startAlerts();
      this.running = true;
      if (options.shutdown.handleSignals) this.installSignals();
    } catch (error) {
      await this.teardown();
      // Handed to user code: an HTTP client's error may quote the `/bot<token>/` URL.
      throw this.scrubber.scrubError(error);
    }
  }

  /**
   * The first half of `start()`: opens the store, identifies the bot (getMe), checks the
   * store's binding, takes the worker lease (renewed from here on) and starts the outbox. Run
   * once, by `start()` or by the first `bot.api` send before it: such a send is then durable,
   * paced and answered like one after `start()`, and awaiting it before `start()` cannot hang.
   * No update is fetched before `start()`. A failure lets the next call try again.
   */
  private prepare(): Promise<Store> {
    if (this.prepared !== undefined) return this.prepared;
    const prepared = this.prepareOnce();
    this.prepared = prepared;
    prepared.catch(() => { if (this.prepared === prepared) this.prepared = undefined; });
    return prepared;
  }

  private async prepareOnce(): Promise<Store> {
    const { options, logger } = this;
    const store = await this.openTheStore();
    this.outage.watch(store, this.outageLogger);
    for (const warning of store.warnings ?? []) logger.warn({ fix: warning.fix }, `${warning.message} ${warning.fix}`);
    await this.initBot();
    // Before anything talks to Telegram for the store (getUpdates confirms the stored offset,
    // the outbox sends stored jobs): a store of another bot would do both for the wrong bot.
    await this.checkBinding(store);
    this.workerLease = new WorkerLease(store, this.instanceId, options.downtime.heartbeatMs * 3, options.downtime.heartbeatMs, this.clock);
    await this.workerLease.renew();
    this.startHeartbeat(store);
    // The outbox first: everything the runtime itself sends (downtime alerts, offline
    // notices) is durable too.
    if (options.outbox.enabled) {
      this.outbound = await startOutbound({
        store, api: this.bot.api, owner: this.instanceId, clock: this.clock, logger,
        concurrency: options.outbox.concurrency, leaseMs: options.outbox.leaseMs, idleMs: options.outbox.idleMs,
        limits: options.outbox.limits, defaults: options.outbox.defaults, acknowledge: acknowledgeGate(store, options.durability),
        onUnreachable: (chatId) => { if (typeof chatId === "number") this.users.unreachable.add(chatId); },
        installTransformer: false,
      });
      for (const chat of await store.outbox.listUnreachable()) if (typeof chat.chatId === "number") this.users.unreachable.add(chat.chatId);
    }
    return store;
  }

  /** The outbox for a `bot.api` send: now, or once `prepare` brought it up. */
  private readonly outboxForSend = async (): Promise<Outbox> => {
    if (this.stopping !== undefined) throw new UnlostError("STOPPED", "the runtime was stopped: bot.api sends go through its outbox, which is closed");
    await this.prepare();
    return this.outboxOrThrow();
  };

  async stop(): Promise<void> {
    if (this.stopping !== undefined) return this.stopping;
    this.stopping = (async () => {
      const deadline = this.options.shutdown.deadlineMs;
      this.logger.info({ deadlineMs: deadline }, "stopping: no new updates are taken; in-flight handlers may finish");
      await this.teardown();
      if (this.fatalError !== undefined) this.settle.reject(this.fatalError);
      else this.settle.resolve();
    })();
    return this.stopping;
  }

  /** Wakes the delivery loop when committed completions enqueued sends. */
  private wakeDelivery(): void {
    if (!this.sendsCommitted) return;
    this.sendsCommitted = false;
    this.outbound?.delivery.wake();
  }

  private async teardown(): Promise<void> {
    this.running = false;
    // What `prepare` brought up is closed below: a later start (after a failed one) prepares anew.
    this.prepared = undefined;
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.signalHandlers = [];
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // First: a probe must not find a stopping bot ready, and scrapes must not meet a closed store.
    await this.ops?.stop();
    await this.poller?.stop();
    this.getUpdatesClient?.close();
    await this.receiver?.close();
    // Answers 503 from now on (kept, so later requests get it too) and lets ingests in progress finish.
    await this.webhookIngest?.close(this.options.shutdown.deadlineMs);
    const deadline = this.options.shutdown.deadlineMs;
    // Both stop taking work at once (the row dispatcher must not claim what the journal hands
    // over below), then finish what runs, up to the deadline.
    const [fromJournal, fromRows] = await Promise.all([this.journal?.stop(deadline), this.dispatcher?.stop(deadline), this.scheduleRegistry.stop(deadline), this.taskService.stop()]);
    await handOverPolling({ journal: this.journal === undefined ? undefined : this.openedStore?.inbox.journal, poller: this.poller, instanceId: this.instanceId, clock: this.clock, logger: this.logger }, fromJournal);
    const result = fromRows === undefined ? undefined : { abandoned: fromRows.abandoned + (fromJournal?.abandoned ?? 0) };
    if (result !== undefined) {
      this.logger.info({ ...this.dispatcherStats(), abandoned: result.abandoned }, result.abandoned > 0 ? "stopped; unfinished updates stay in the inbox and are handled after the next start" : "stopped");
    }
    // After the handlers: they may be waiting for their sends.
    const sending = await this.outbound?.stop(this.options.shutdown.deadlineMs);
    if (sending !== undefined && sending.abandoned > 0) this.logger.info({ abandoned: sending.abandoned }, "sends still in flight are taken over after the next start");
    await this.downtime?.stop().catch((e: unknown) => this.logger.warn({ err: e }, "final heartbeat failed"));
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    // Not handed over (handlers still ran at the deadline): the poller lease runs out by itself.
    this.poller?.abandonLease();
    // Every claim is settled, so nothing needs this instance's lease any more.
    if (result?.abandoned === 0 && (sending?.abandoned ?? 0) === 0) await this.workerLease?.release();
    this.outage.stop();
    if (this.ownsStore) {
      await this.openedStore?.close();
      // An in-memory store's blobs went with it; its temp folder is not left behind.
      await this.outbound?.removeTemporaryBlobs().catch((e: unknown) => this.logger.warn({ err: e }, "removing the temporary blob folder failed"));
    }
  }

  private async openTheStore(): Promise<Store> {
    const given = this.options.store;
    if (given !== undefined && typeof given !== "string" && "inbox" in given) {
      this.openedStore = given;
      return given;
    }
    const options = typeof given === "string" ? { url: given } : (given ?? {});
    this.openedStore = await openStore({ ...options, clock: this.clock, scrub: this.scrubber.scrub });
    this.ownsStore = true;
    return this.openedStore;
  }

  /**
   * Binds the store to this bot on its first start, and refuses a store bound to another bot:
   * polling it with this token would send that bot's offset to getUpdates and so confirm (drop)
   * this bot's waiting updates, and its outbox would send the other bot's messages.
   */
  private async checkBinding(store: Store): Promise<void> {
    const me = this.bot.botInfo;
    const bound = await store.state.bindBot(me.id);
    if (bound === me.id) return;
    throw new UnlostError(
      "STORE_BOT_MISMATCH",
      `the store at ${store.location} belongs to bot ${bound}, but this token is bot ${me.id}'s (@${me.username}); nothing was fetched or sent. Give this bot its own store (another --data folder, or UNLOST_DATA_DIR / store.path), or use bot ${bound}'s token with this one.`,
      { details: { storeBotId: bound, botId: me.id, store: store.location } },
    );
  }

  /** getMe, retried on network errors; a rejected token is fatal. */
  private async initBot(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.bot.init();
        return;
      } catch (error) {
        if (error instanceof GrammyError && error.error_code === 401) {
          throw new UnlostError("UNAUTHORIZED", "Telegram rejected the bot token (401 Unauthorized). Check the token you gave unlost (BOT_TOKEN): it may be mistyped or revoked in @BotFather.", { cause: error });
        }
        if (!(error instanceof HttpError) && !(error instanceof GrammyError && error.error_code >= 500)) throw error;
        const wait = Math.min(30_000, 500 * 2 ** attempt);
        this.logger.warn({ err: error, retryInMs: wait }, "cannot reach Telegram to identify the bot (getMe); retrying");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async startPolling(store: Store, info: WebhookInfo | undefined): Promise<void> {
    const { options, logger } = this;
    if (info !== undefined && info.url !== "") {
      logger.warn({ pending: info.pending_update_count }, "a webhook was set; switching to polling (pending updates are kept)");
      await this.bot.api.deleteWebhook({ drop_pending_updates: false });
    }
    if (options.polling.client === "lean") this.getUpdatesClient = GetUpdatesClient.forBot(this.bot);
    const fetchUpdates = this.getUpdatesClient?.fetch;
    this.poller = new Poller({
      ...(fetchUpdates === undefined ? {} : { fetchUpdates }),
      api: this.bot.api,
      inbox: store.inbox,
      state: store.state,
      leases: store.leases,
      owner: this.instanceId,
      logger,
      clock: this.clock,
      limit: options.polling.limit,
      timeoutSeconds: options.polling.timeoutSeconds,
      allowedUpdates: options.polling.allowedUpdates,
      leaseTtlMs: options.polling.leaseTtlMs,
      holderGone: (holder, now) => instanceGone(store, holder, now),
      ...(this.dispatcher === undefined || this.journal !== undefined ? {} : { handOff: this.dispatcher }),
      ...(this.journal === undefined
        ? {}
        : {
            journal: { dispatcher: this.journal, maxOpen: Math.max(options.inbox.maxBuffered, 2 * options.inbox.concurrency) },
            // Adopt the journal of the instance that polled before (if it is gone) before
            // fetching newer updates, so its older ones block their chats first.
            beforePolling: async () => {
              if ((await adoptGoneJournals(store, this.instanceId, this.clock(), logger)) > 0) this.dispatcher?.wake();
            },
          }),
      onIngested: (n: number) => this.ingested(n),
      acknowledge: acknowledgeGate(store, options.durability),
      onFatal: (error) => this.fatal(error),
    });
    this.poller.start();
  }

  private async startWebhook(store: Store): Promise<void> {
    const config = this.options.webhook;
    if (config === undefined) throw new UnlostError("INVALID_CONFIG", 'mode "webhook" needs webhook.url');
    const secretToken = await webhookSecret(store.state, config.secretToken === undefined ? {} : { configured: config.secretToken });
    // A generated secret is known only now: from here on it is scrubbed like the token.
    this.scrubber.add(secretToken);
    const core = {
      inbox: store.inbox,
      secretToken,
      maxBodyBytes: config.maxBodyBytes,
      logger: this.logger,
      clock: this.clock,
      onIngested: (n: number) => this.ingested(n),
      acknowledge: acknowledgeGate(store, this.options.durability),
    };
    if (config.listen) {
      // Loaded only here: the built-in listener (Hono and its Node server, ~8 MB of a process's
      // memory) is not needed by a polling bot nor by one mounted in its own server.
      const { createWebhookReceiver } = await import("../inbound/webhook/receiver.js");
      this.receiver = createWebhookReceiver({ ...core, path: config.path ?? (new URL(config.url).pathname || "/") });
      const listening = await this.receiver.listen({ port: config.port, host: config.host });
      this.logger.info({ listening: listening.url, publicUrl: config.url }, "webhook receiver listening");
    } else {
      // From here on, webhookCallback() handlers store what they receive.
      this.webhookIngest = createWebhookIngest(core);
      this.logger.info({ publicUrl: config.url }, "webhook mode without a listener of its own: updates arrive through runtime.webhookCallback() in your server");
    }
    if (config.register) {
      await registerWebhook(this.bot.api, {
        url: config.url,
        secretToken,
        maxConnections: config.maxConnections,
        // Update type names are validated by Telegram; unlost passes them through.
        ...(this.options.polling.allowedUpdates === undefined ? {} : { allowedUpdates: this.options.polling.allowedUpdates as RegisterWebhookOptions["allowedUpdates"] & object }),
      });
    }
  }

  /** Heartbeat of the worker lease, recovery of dead instances, pruning. */
  private startHousekeeping(store: Store): void {
    const { options, logger } = this;
    const prune = setInterval(() => {
      const handledBefore = this.clock() - options.inbox.retentionMs;
      void store.inbox
        .prune({ handledBefore })
        .then((n) => { if (n > 0) logger.info({ pruned: n }, "pruned handled updates past their retention"); })
        .catch((error: unknown) => logger.warn({ err: error }, "pruning failed"));
    }, options.inbox.pruneIntervalMs);
    prune.unref();
    this.timers.push(prune);
    if (this.outbound !== undefined) {
      const o = options.outbox;
      this.timers.push(...startOutboxHousekeeping({
        store, outbound: this.outbound, logger, clock: this.clock, botName: () => this.bot.botInfo.username, adminChatIds: options.downtime.adminChatIds,
        pruneIntervalMs: options.inbox.pruneIntervalMs, retentionMs: o.retentionMs, auditRetentionMs: o.auditRetentionMs,
        failureAlertThreshold: o.failureAlertThreshold, failureAlertWindowMs: o.failureAlertWindowMs,
      }));
    }
  }

  /** Renews the worker lease (from `prepare` on: the outbox's claims need it) and, once running, recovers dead instances. */
  private startHeartbeat(store: Store): void {
    const { options, logger } = this;
    this.heartbeat = setInterval(() => {
      const now = this.clock();
      void this.workerLease?.renew()
        // While stopping, only the lease: taking over others' work is for a running instance.
        .then(() => (this.running ? recoverDeadInstances(store, this.instanceId, now, logger) : 0))
        .then((n) => { if (n > 0) this.dispatcher?.wake(); })
        .catch((error: unknown) => logger.warn({ err: error }, "heartbeat failed"));
    }, options.downtime.heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * An inbox row's run: alone in its chat. The journal may hold the chat's later updates (a
   * retried dead letter's chat goes on meanwhile) and may be running one: the row waits for it
   * to end, and the chat's journal updates wait for the row.
   */
  private readonly handleRow: UpdateHandler = (claimed, run) => {
    const journal = this.journal;
    if (journal === undefined) return this.handleUpdate(claimed, run);
    return journal.holdChat(claimed.chatKey).then(() => this.handleUpdate(claimed, run));
  };

  private readonly handleUpdate: UpdateHandler = (claimed, run) => {
    try {
      return this.handle(claimed, run);
    } catch (error) {
      // Not async (see `handle`), so a synchronous throw must still reach the dispatcher as a rejection.
      return Promise.reject(error);
    }
  };

  private handle(claimed: HandledUpdate, run: HandlerRun): Promise<readonly StoreEffect[]> {
    const update = claimed.update as unknown as Update;
    const facts = describeUpdate({
      update,
      receivedAt: claimed.receivedAt,
      now: this.clock(),
      downtime: this.downtime,
      // Stored before start, or in the first batch after it: it waited while the bot was down.
      pendingAtStart: claimed.receivedAt <= (this.firstIngestAt ?? Number.POSITIVE_INFINITY),
    });
    const action = this.policy?.decide(facts) ?? HANDLE;
    const remembering = action.kind === "skip" ? undefined : this.users.remember(facts.chatId, update);
    // The common case runs without an async frame of its own: one less allocation per update.
    if (action.kind === "skip" || action.notice !== undefined || remembering !== undefined) return this.handleSlowly(claimed, run, facts, action, remembering);
    return this.runHandlers(claimed, run, facts);
  }

  /** {@link handleUpdate} when the catch-up policy acts or a user must be remembered first. */
  private async handleSlowly(claimed: HandledUpdate, run: HandlerRun, facts: UpdateFacts, action: CatchUpAction, remembering: Promise<void> | undefined): Promise<readonly StoreEffect[]> {
    if (action.kind === "skip") {
      this.skipped++;
      this.logger.info({ updateId: claimed.updateId, reason: action.reason, ageMs: facts.ageMs }, "update skipped by the catch-up policy");
      if (action.answerCallback !== undefined) {
        const a = action.answerCallback;
        await this.bot.api.answerCallbackQuery(a.callbackQueryId, { text: a.text, show_alert: a.showAlert }).catch((e: unknown) =>
          this.logger.info({ err: e }, "could not answer a stale button press (Telegram no longer accepts an answer)"),
        );
      }
      return NO_EFFECTS;
    }
    if (action.notice !== undefined) {
      await this.bot.api.sendMessage(action.notice.chatId, action.notice.text).catch((e: unknown) => this.logger.warn({ err: e }, "the offline notice could not be sent"));
    }
    if (remembering !== undefined) await remembering;
    return this.runHandlers(claimed, run, facts);
  }

  /** Runs the bot's middleware on the update with `ctx.unlost`; resolves with what to commit with its completion. */
  private runHandlers(claimed: HandledUpdate, run: HandlerRun, facts: UpdateFacts): Promise<readonly StoreEffect[]> {
    // With an admin server: the run's duration from `facts.now` and the update's lag, at one
    // more clock read per run (see HandlerTimings).
    const timings = this.timings;
    const info = new HandlingInfo(claimed, facts, `${this.bot.botInfo.id}:${claimed.updateId}`, this.outboxOrThrow, this.options.inbox.maxAttempts, this.data, this.journal !== undefined, this.timedOutTry, this.taskService);
    // The dispatcher aborts `ctx.unlost.signal` through `info` at the deadline (the catch-up
    // steps before may already have used the time up).
    run.onTimeout = info;
    if (run.timedOut !== undefined) info.timedOut(run.timedOut);
    const handled = handleWithInfo(this.bot, claimed.update as unknown as Update, info, this.outbound === undefined ? undefined : this.installUpdateTransformer);
    // Without an error handler of the user's, no extra promise per update.
    const caught = hasOwnErrorHandler(this.bot) ? handled.catch((error: unknown) => callErrorHandler(this.bot, error, info, this.logger)) : handled;
    // A run settles after its sends are stored (a send it did not await included: a completion
    // committed first would lose it to a crash) and its direct sends recorded (a later run
    // finds them by key).
    const handling = caught.then(
      () => this.sendsSettled(info),
      async (error: unknown) => {
        timings?.ended(facts.now, this.clock());
        await this.sendsSettled(info);
        info.ended();
        throw error;
      },
    );
    return handling.then(() => {
      info.ended();
      timings?.ended(facts.now, this.clock(), claimed.receivedAt);
      if (!info.enqueued && !info.tasksAdded) return info.committedEffects;
      return info.effects().then((effects) => {
        if (effects.some((e) => e.kind === "outbox.enqueue")) this.sendsCommitted = true;
        return effects;
      });
    });
  }

  /** See `runHandlers`: nothing to wait for in the common case (every send awaited, none direct). */
  private sendsSettled(info: HandlingInfo): Promise<void> | undefined {
    const stored = info.sendsStored();
    if (stored === undefined) return undefined;
    return stored.then(() => (info.sentDirect ? this.outbound?.outbox.directRecorded() : undefined));
  }

  /**
   * A try passed its deadline: the bot's error handler hears of it like of a thrown error (a
   * `BotError` with the `HANDLER_TIMEOUT` error and the run's context), since the try failed.
   * Its sends are keyed apart, as for any failed try; whatever it does is not awaited by the
   * dispatcher, which has moved on.
   */
  private readonly timedOutTry = (info: HandlingInfo, reason: Error): void => {
    const ctx = info.context;
    if (ctx === undefined || !hasOwnErrorHandler(this.bot)) return;
    void callErrorHandler(this.bot, new BotError(reason, ctx), info, this.logger).catch(() => undefined);
  };

  /**
   * Installs the update's outbox transformer on its `ctx.api` (when the handler first uses
   * it): its sends get keys from the update and their position (see UpdateScope). Its
   * `options` get the same scope, so an `Api` built from them (each step of a conversation)
   * sends through the outbox with the next keys of the same sequence (see ApiCloneRouter).
   */
  private readonly installUpdateTransformer: ApiHook = (api, info) => {
    const outbox = this.outbound?.outbox;
    if (outbox === undefined) return;
    const scope = (info as HandlingInfo).sendScope();
    api.config.use(outboxTransformer(outbox, scope));
    this.clones?.install(api, outbox, scope);
  };

  /** After updates were stored: note the first batch's time, wake the dispatcher. */
  private ingested(inserted: number): void {
    this.received += inserted;
    this.firstIngestAt ??= this.clock();
    // Journal batches go straight to the journal dispatcher; the row dispatcher has nothing new.
    if (this.journal === undefined) this.dispatcher?.wake();
  }

  private readonly outboxOrThrow = (): Outbox => {
    if (this.outbound !== undefined) return this.outbound.outbox;
    if (!this.options.outbox.enabled) throw new UnlostError("INVALID_CONFIG", "the outbox is switched off (outbox.enabled: false); runtime.outbox and ctx.unlost.enqueue need it");
    // Not started yet (or stopped): the outbox comes up with the store. A send through `bot.api`
    // before start() does that on its own (see `prepare`); the outbox object does not.
    throw new UnlostError("STOPPED", "the outbox is not open yet: call runtime.start() first (or send with bot.api, which opens it), or it was stopped");
  };

  private fatal(error: UnlostError): void {
    // wait() hands it to user code; its causes may quote the token.
    this.scrubber.scrubError(error);
    this.logger.fatal({ err: error }, error.message);
    // Recorded before stopping: stop() settles wait(), and must reject it with this error.
    this.fatalError ??= error;
    void this.stop();
  }

  private installSignals(): void {
    let received = 0;
    const onSignal = (): void => {
      received++;
      if (received === 1) {
        this.logger.info("signal received: stopping gracefully (send it again to exit at once; nothing is lost either way)");
        void this.stop();
      } else {
        this.logger.warn("second signal: exiting now; unfinished updates are handled after the next start");
        process.exit(130);
      }
    };
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.on(signal, onSignal);
      this.signalHandlers.push([signal, onSignal]);
    }
  }
}
