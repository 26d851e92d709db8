/**
 * The two ways a runtime hands updates to handlers, made together: the row dispatcher (an inbox
 * row per update, claimed by chat head — every process on PostgreSQL, retries and recovered
 * updates everywhere) and, for a polling bot with a journal, the journal dispatcher (the
 * fetched batch handled in memory by the process that polled it). They share one isolation
 * gate: a suspect (an update recovered from a dead process) runs with nothing else of this
 * process, journal handlers included.
 *
 * @module
 */
import type { Logger } from "pino";
import type { InboxJournal, InboxStore } from "../store/index.js";
import type { BackoffOptions } from "./backoff.js";
import { Dispatcher, type UpdateHandler } from "./dispatcher.js";
import { IsolationGate } from "./isolation-gate.js";
import { JournalDispatcher, type JournalDispatcherOptions } from "./journal-dispatcher.js";

/** The inbox settings both dispatchers use (the runtime's `inbox` options). */
export interface DispatchSettings {
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly maxRecoveries: number;
  readonly backoff: BackoffOptions;
  readonly handlerTimeoutMs: number;
  readonly idleMs: number;
}

/** What {@link startDispatchers} needs. */
export interface StartDispatchers {
  readonly inbox: InboxStore;
  /** The journal, when updates are journaled (a polling bot whose store has one, unless switched off). */
  readonly journal: InboxJournal | undefined;
  readonly owner: string;
  readonly settings: DispatchSettings;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Runs an inbox row's update (alone in its chat, see the runtime's `handleRow`). */
  readonly handleRow: UpdateHandler;
  /** Runs a journaled update. */
  readonly handleUpdate: UpdateHandler;
  /** With a journal: whether this process polls (inbox rows are then the poller's alone). */
  readonly polling: () => boolean;
  /** Something was committed that may have given the outbox or the task runner work. */
  readonly committed: () => void;
  /** The journal dispatcher's ownership check and uncommitted-effects tracking. */
  readonly journalOptions: Pick<JournalDispatcherOptions, "ownership" | "uncommitted">;
}

/** Starts the row dispatcher and, with a journal, the journal dispatcher. */
export function startDispatchers(o: StartDispatchers): { readonly rows: Dispatcher; readonly journal: JournalDispatcher | undefined } {
  const s = o.settings;
  const gate = new IsolationGate();
  let journalDispatcher: JournalDispatcher | undefined;
  const rows = new Dispatcher({
    gate,
    inbox: o.inbox,
    owner: o.owner,
    handle: o.handleRow,
    // With a journal, inbox rows are the poller's: it alone can order a chat's row between
    // the chat's journal updates (see the runtime's `handleRow`).
    ...(o.journal !== undefined ? { mayClaim: o.polling } : {}),
    logger: o.logger,
    clock: o.clock,
    concurrency: s.concurrency,
    leaseMs: s.leaseMs,
    maxAttempts: s.maxAttempts,
    maxRecoveries: s.maxRecoveries,
    backoff: s.backoff,
    handlerTimeoutMs: s.handlerTimeoutMs,
    idleMs: s.idleMs,
    onSettled: () => {
      // A settled retry may unblock a chat waiting in the journal.
      void journalDispatcher?.checkBlocked();
      o.committed();
    },
  });
  rows.start();
  if (o.journal !== undefined) {
    journalDispatcher = new JournalDispatcher({
      journal: o.journal,
      gate,
      owner: o.owner,
      handle: o.handleUpdate,
      logger: o.logger,
      clock: o.clock,
      concurrency: s.concurrency,
      maxAttempts: s.maxAttempts,
      backoff: s.backoff,
      handlerTimeoutMs: s.handlerTimeoutMs,
      blockedCheckMs: s.idleMs,
      onCommitted: ({ moved }) => {
        if (moved > 0) rows.wake();
        o.committed();
      },
      ...o.journalOptions,
    });
    journalDispatcher.start();
  }
  return { rows, journal: journalDispatcher };
}
