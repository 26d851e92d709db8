/**
 * unlost: a crash-safe runtime for grammY Telegram bots. Every update handled, every message
 * delivered: through crashes, restarts, long downtime, flaky networks, rate limits and bad
 * input.
 *
 * Commonly used: {@link createRuntime} (instead of `bot.start()`), the {@link UnlostFlavor}
 * context flavor (`ctx.unlost`), sessions and conversations committed with each update
 * ({@link unlostSession}, {@link unlostConversationStorage}) and the error model ({@link UnlostError}).
 * Webhooks in your own server: `runtime.webhookCallback("express" | "fastify" | "hono" | "http" | "std/http")`.
 * Background work: `runtime.schedule`, `runtime.breaker` and durable tasks (`runtime.tasks`,
 * `ctx.unlost.task`). For experts: the store ({@link openStore}) and the logger. The Bot API emulator is a separate
 * entry point: `unlost/emulator`.
 *
 * @module
 */

// Commonly used
export { createRuntime } from "./runtime/runtime.js";
export type { Runtime, RuntimeStats, InboxDeadLetters } from "./runtime/runtime.js";
export type { RuntimeOptions } from "./runtime/options.js";
export type { AdminOptions } from "./admin/options.js";
export type {
  WebhookAdapterName, WebhookHandlers, ExpressWebhookHandler, ExpressRequestLike, FastifyWebhookHandler, FastifyRequestLike, FastifyReplyLike,
  HonoWebhookHandler, HonoContextLike, HttpWebhookHandler, StdHttpWebhookHandler,
} from "./inbound/webhook/adapters/index.js";
export type { UnlostFlavor, UnlostUpdateInfo } from "./inbound/update-info.js";
export { floodGuard } from "./inbound/catch-up/flood-guard.js";
export type { Breaker, BreakerOptions, BreakerStatus, BreakerTrigger } from "./guards/index.js";
export type { ScheduleSpec, ScheduleOptions, ScheduleRun, ScheduleFunction, ScheduleStatus, MissedRunPolicy } from "./scheduler/index.js";
export { runInWorker } from "./tasks/index.js";
export type { RunInWorkerOptions } from "./tasks/index.js";
export type { Tasks, TaskHandlerOptions, TaskAddOptions, TaskRun, TaskFunction, TaskInfo, TaskStats, TaskDeadLetters } from "./tasks/index.js";
export type { TaskState, TaskCancelResult, TaskDeadLetterSelector, TaskStore, TaskRecord } from "./store/index.js";
export {
  unlostSession, unlostLazySession, unlostConversationStorage, unlostStorage, UnlostStorage, SESSION_PREFIX, CONVERSATIONS_PREFIX,
} from "./state/index.js";
export type {
  UnlostSessionOptions, UnlostConversationStorage, UnlostConversationStorageOptions, ConversationContextAdapter, UnlostStorageOptions, StoreSource,
} from "./state/index.js";
export type { FloodGuard, FloodGuardOptions } from "./inbound/catch-up/flood-guard.js";
export type { BotSetup, BotSetupContext, UnlostContext } from "./cli/bot-module.js";
export { UnlostError, isUnlostError, redactSecrets, Scrubber } from "./errors/index.js";
export type { Scrub } from "./errors/index.js";
export type { UnlostErrorCode, UnlostErrorOptions } from "./errors/index.js";
export { UnlostGrammyError } from "./outbound/send-error.js";
export type { SendFailure } from "./outbound/send-error.js";

// For experts
export { openStore, DEFAULT_SQLITE_PATH } from "./store/index.js";
export type {
  Store, StoreOptions, SqliteStoreOptions, PostgresStoreOptions, StoreWarning, StoreEffect, DeadLetter, DeadLetterPage, DeadLetterSelector,
  DeadLetterListOptions, InboxStats, OfflineWindow, BotDataStore, DataEntry, DataListOptions,
} from "./store/index.js";
export { createLogger, silentLogger } from "./runtime/logger.js";
export type { Logger, LogOptions } from "./runtime/logger.js";
export { createCatchUpPolicy, OFFLINE_NOTICE_TEXTS } from "./inbound/catch-up/index.js";
export type { CatchUpOptions } from "./inbound/catch-up/index.js";
