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
} from "./journal-types.js";
export type { LeaseFence, LeaseGrant, LeaseInfo, LeaseStore } from "./lease-types.js";
export type { PacingStore, ReserveSlotsOptions, SlotAnswer, SlotGrant, SlotLimits, SlotRequest } from "./pacing-types.js";
export type { OfflineWindow, StateStore } from "./state-types.js";
export type { StoreEffect, KvSetEffect, KvDeleteEffect, KvIncrementEffect, DataSetEffect, DataDeleteEffect, OutboxEnqueueEffect } from "./effects.js";
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
export { PostgresStore, DEFAULT_PG_SCHEMA, PG_SCHEMA_VERSION } from "./postgres/index.js";
