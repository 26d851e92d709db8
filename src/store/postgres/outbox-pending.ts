/**
 * The outbox on PostgreSQL is not implemented yet (issue #14): every operation rejects with a
 * `STORE_FAILURE` that says so (details `notImplemented: true`), never silently doing nothing.
 * Written out method by method (not a Proxy) so that the compiler checks it against
 * {@link OutboxStore} and points here when the port changes.
 *
 * @module
 */
import type { AuditEntry, BroadcastProgress, ClaimedJob, Job, JobClaim, OutboxStats, UnreachableChat } from "../../outbound/types.js";
import type { EnqueueResult, JobSettleResult, OutboxAuditStore, OutboxDeadLetterStore, OutboxStore, Page, RemovedJobs } from "../outbox-types.js";
import { notImplemented } from "./errors.js";

function refuse<T>(section: string, operation: string): Promise<T> {
  return Promise.reject(notImplemented(section, operation));
}

/** {@link OutboxDeadLetterStore} placeholder: every call rejects. */
class PendingOutboxDeadLetters implements OutboxDeadLetterStore {
  /** Not implemented on PostgreSQL yet. */
  list(): Promise<Page<Job>> { return refuse("outbox.deadLetters", "list"); }
  /** Not implemented on PostgreSQL yet. */
  get(): Promise<Job | null> { return refuse("outbox.deadLetters", "get"); }
  /** Not implemented on PostgreSQL yet. */
  retry(): Promise<number> { return refuse("outbox.deadLetters", "retry"); }
  /** Not implemented on PostgreSQL yet. */
  purge(): Promise<RemovedJobs> { return refuse("outbox.deadLetters", "purge"); }
}

/** {@link OutboxAuditStore} placeholder: every call rejects. */
class PendingOutboxAudit implements OutboxAuditStore {
  /** Not implemented on PostgreSQL yet. */
  list(): Promise<Page<AuditEntry>> { return refuse("outbox.audit", "list"); }
  /** Not implemented on PostgreSQL yet. */
  prune(): Promise<number> { return refuse("outbox.audit", "prune"); }
}

/** {@link OutboxStore} placeholder for PostgreSQL: every call rejects with "not implemented on PostgreSQL yet". */
export class PendingPgOutbox implements OutboxStore {
  /** {@inheritDoc OutboxStore.deadLetters} */
  readonly deadLetters: OutboxDeadLetterStore = new PendingOutboxDeadLetters();
  /** {@inheritDoc OutboxStore.audit} */
  readonly audit: OutboxAuditStore = new PendingOutboxAudit();
  /** Not implemented on PostgreSQL yet. */
  enqueue(): Promise<EnqueueResult[]> { return refuse("outbox", "enqueue"); }
  /** Not implemented on PostgreSQL yet. */
  recordDelivered(): Promise<void> { return refuse("outbox", "recordDelivered"); }
  /** Not implemented on PostgreSQL yet. */
  chatHasPending(): Promise<boolean> { return refuse("outbox", "chatHasPending"); }
  /** Not implemented on PostgreSQL yet. */
  claim(): Promise<ClaimedJob[]> { return refuse("outbox", "claim"); }
  /** Not implemented on PostgreSQL yet. */
  settle(): Promise<JobSettleResult> { return refuse("outbox", "settle"); }
  /** Not implemented on PostgreSQL yet. */
  settleMany(): Promise<JobSettleResult[]> { return refuse("outbox", "settleMany"); }
  /** Not implemented on PostgreSQL yet. */
  extendLease(): Promise<JobClaim | null> { return refuse("outbox", "extendLease"); }
  /** Not implemented on PostgreSQL yet. */
  expireClaims(): Promise<number> { return refuse("outbox", "expireClaims"); }
  /** Not implemented on PostgreSQL yet. */
  inflightOwners(): Promise<string[]> { return refuse("outbox", "inflightOwners"); }
  /** Not implemented on PostgreSQL yet. */
  get(): Promise<Job | null> { return refuse("outbox", "get"); }
  /** Not implemented on PostgreSQL yet. */
  getByKey(): Promise<Job | null> { return refuse("outbox", "getByKey"); }
  /** Not implemented on PostgreSQL yet. */
  stats(): Promise<OutboxStats> { return refuse("outbox", "stats"); }
  /** Not implemented on PostgreSQL yet. */
  prune(): Promise<RemovedJobs> { return refuse("outbox", "prune"); }
  /** Not implemented on PostgreSQL yet. */
  markUnreachable(): Promise<void> { return refuse("outbox", "markUnreachable"); }
  /** Not implemented on PostgreSQL yet. */
  clearUnreachable(): Promise<boolean> { return refuse("outbox", "clearUnreachable"); }
  /** Not implemented on PostgreSQL yet. */
  isUnreachable(): Promise<UnreachableChat | null> { return refuse("outbox", "isUnreachable"); }
  /** Not implemented on PostgreSQL yet. */
  listUnreachable(): Promise<UnreachableChat[]> { return refuse("outbox", "listUnreachable"); }
  /** Not implemented on PostgreSQL yet. */
  rememberUser(): Promise<void> { return refuse("outbox", "rememberUser"); }
  /** Not implemented on PostgreSQL yet. */
  chatOfUser(): Promise<number | string | null> { return refuse("outbox", "chatOfUser"); }
  /** Not implemented on PostgreSQL yet. */
  broadcastProgress(): Promise<BroadcastProgress | null> { return refuse("outbox", "broadcastProgress"); }
  /** Not implemented on PostgreSQL yet. */
  pauseBroadcast(): Promise<boolean> { return refuse("outbox", "pauseBroadcast"); }
  /** Not implemented on PostgreSQL yet. */
  resumeBroadcast(): Promise<boolean> { return refuse("outbox", "resumeBroadcast"); }
  /** Not implemented on PostgreSQL yet. */
  openBlobs(): Promise<string[]> { return refuse("outbox", "openBlobs"); }
  /** Not implemented on PostgreSQL yet. */
  cancelBroadcast(): Promise<RemovedJobs> { return refuse("outbox", "cancelBroadcast"); }
}
