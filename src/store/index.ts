/**
 * unlost's durable store: the inbox of updates, the outbox of sends, runtime state, leases and
 * bot data.
 *
 * @module
 */
export { openStore } from "./open.js";
export { acknowledgeGate, type AcknowledgeGate, type Durability } from "./durability.js";
export type { Store, StoreKind, StoreOptions, SqliteStoreOptions, PostgresStoreOptions, StoreWarning, Clock } from "./types.js";
export type {
  Claim,
  ClaimOptions,
  ClaimedUpdate,
  DeadLetter,
  DeadLetterFilter,
  DeadLetterListOptions,
  DeadLetterPage,
  DeadLetterSelector,
  DeadLetterStore,
  EpochMs,
  FusedClaimOptions,
  InboxRecord,
  InboxState,
  InboxStats,
  InboxStore,
  InboxUpdate,
  IngestOptions,
  IngestResult,
  PruneOptions,
  RunningOptions,
  RunningUpdate,
  SettleAndClaimOptions,
  UnstorableUpdate,
  SettleAndClaimResult,
  SettleOutcome,
  SettleRequest,
  SettleResult,
  UpdateVia,
} from "./inbox-types.js";
export type {
  InboxJournal,
  JournalAppendOptions,
  JournalAppendResult,
  JournalCompletion,
  JournalMove,
  JournalOpenOptions,
  JournalOpenUpdate,
  JournalStats,
  JournalUpdateRecord,
  JournalUpdateState,
} from "./journal-types.js";
export type { HandlerAttempt, InspectStore, JobListOptions, UpdateListOptions } from "./inspect-types.js";
export { MAX_ATTEMPTS_KEPT } from "./inspect-types.js";
export type { ReachabilityChange, StoreReachability } from "./reachability-types.js";
export type { LeaseFence, LeaseGrant, LeaseInfo, LeaseStore } from "./lease-types.js";
export type { PacingStore, ReserveSlotsOptions, SlotAnswer, SlotGrant, SlotLimits, SlotRequest } from "./pacing-types.js";
export type { OfflineWindow, StateStore } from "./state-types.js";
export type { StoreEffect, KvSetEffect, KvDeleteEffect, KvIncrementEffect, DataSetEffect, DataDeleteEffect, OutboxEnqueueEffect, TaskAddEffect } from "./effects.js";
export type {
  ClaimedTask, NewTask, TaskAddResult, TaskCancelResult, TaskClaimOptions, TaskCount, TaskDeadLetterListOptions, TaskDeadLetterSelector,
  TaskKindLimit, TaskLease, TaskLeaseResult, TaskOutcome, TaskRecord, TaskState, TaskStore,
} from "./task-types.js";
export { validateNewTask, MAX_TASK_JSON_LENGTH, MAX_TASK_ID_LENGTH, MAX_TASK_KIND_LENGTH } from "./task-validate.js";
export type { BotDataStore, DataEntry, DataListOptions } from "./data-types.js";
export { MAX_DATA_KEY_LENGTH, MAX_DATA_VALUE_LENGTH, requireDataKey, requireDataValue } from "./data-validate.js";
export type {
  AtTime,
  AuditListOptions,
  ChatId,
  DeliveredSend,
  EnqueueResult,
  JobClaimOptions,
  JobSettleRequest,
  JobSettleResult,
  OutboxAuditStore,
  OutboxDeadLetterFilter,
  OutboxDeadLetterListOptions,
  OutboxDeadLetterSelector,
  OutboxDeadLetterStore,
  OutboxPruneOptions,
  OutboxStore,
  RememberedUser,
  Page,
  RemovedJobs,
} from "./outbox-types.js";
export { UNSTORABLE } from "./inbox-types.js";
export { chatKeyOf } from "./outbox-validate.js";
export {
  deriveChatKey,
  deriveMessageDate,
  deriveUpdateMeta,
  deriveUpdateType,
  requireUpdateId,
  unstorableReason,
  type RawUpdate,
  type UpdateMeta,
} from "./update-meta.js";
export { SqliteStore, DEFAULT_SQLITE_PATH, SQLITE_SCHEMA_VERSION } from "./sqlite/index.js";
// The PostgreSQL backend itself (and `pg`) is loaded only when a store asks for it (see open.ts):
// a bot on the embedded default does not carry it in memory.
export { PG_SCHEMA_VERSION } from "./postgres/schema.js";
