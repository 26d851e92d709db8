/**
 * The journal's history of one update, read the same way on every backend: which batch holds
 * it (kept after closing until pruned), and what its completion records say became of it.
 * Used by `InboxJournal.find` (for `unlost trace`), never on the hot path.
 *
 * @module
 */
import type { JournalUpdateRecord, JournalUpdateState } from "./journal-types.js";
import { parseBatch } from "./journal-prepare.js";
import { deriveUpdateMeta, type RawUpdate } from "./update-meta.js";

/**
 * Closed journal batches deleted per transaction by `InboxStore.prune`: each is a few rows (its updates'
 * JSON, up to 100 updates, and its completion records), so a transaction stays well under a
 * millisecond or two and the event loop is never held for long.
 */
export const JOURNAL_PRUNE_CHUNK = 50;

/** How many batches whose id range covers an update `find` looks into (ranges do not overlap: one, normally). */
export const FIND_CANDIDATES = 8;

/** A batch's row and its updates' JSON, as both backends select them for `find`. */
export interface StoredBatch {
  readonly batch: number;
  readonly owner: string;
  readonly received_at: number;
  readonly next_offset: number | null;
  readonly count: number;
  readonly settled: number;
  readonly closed_at: number | null;
  readonly updates: string;
}

/** One completion record of a batch (`inbox_journal_done`). */
export interface StoredDone {
  /** The flush's time; null for records written before unlost kept it. */
  readonly at: number | null;
  /** The ids it settled (done and moved), JSON. */
  readonly ids: string;
  /** The ids among them it moved to the rows, JSON; null when none. */
  readonly moved: string | null;
}

/** The update `updateId` in `batch` (its JSON holds it), or undefined. */
export function updateInBatch(b: StoredBatch, updateId: number): { raw: string; update: RawUpdate } | undefined {
  const update = parseBatch(b.updates, b.batch).find((u) => u.update_id === updateId);
  return update === undefined ? undefined : { raw: JSON.stringify(update), update };
}

/**
 * What became of `updateId` of batch `b`, from the batch's completion records: settled in a
 * flush (done, or moved when that flush moved it), else — with no record — still open, done
 * in the flush that closed the batch (a closing flush writes no record unless it moves some
 * update, and marks the batch fully settled), or handed to the rows by an adoption (which
 * closes a batch without settling it).
 */
export function journalRecord(b: StoredBatch, done: readonly StoredDone[], updateId: number): JournalUpdateRecord | null {
  const found = updateInBatch(b, updateId);
  if (found === undefined) return null;
  let state: JournalUpdateState | undefined;
  let completedAt: number | null = null;
  for (const d of done) {
    if (!(JSON.parse(d.ids) as number[]).includes(updateId)) continue;
    state = d.moved !== null && (JSON.parse(d.moved) as number[]).includes(updateId) ? "moved" : "done";
    completedAt = d.at;
    break;
  }
  if (state === undefined) {
    if (b.closed_at === null) state = "open";
    else if (b.settled >= b.count) [state, completedAt] = ["done", b.closed_at];
    else state = "adopted";
  }
  const meta = deriveUpdateMeta(found.update);
  return {
    updateId,
    batch: b.batch,
    owner: b.owner,
    receivedAt: b.received_at,
    nextOffset: b.next_offset,
    state,
    completedAt,
    closedAt: b.closed_at,
    raw: found.raw,
    chatKey: meta.chatKey,
    updateType: meta.updateType,
    messageDate: meta.messageDate,
  };
}
