/**
 * The SQLite inbox journal (see journal-types.ts): a fetched batch is one `inbox_journal` row
 * plus one `inbox_journal_updates` row holding its updates as a JSON array; a completion flush
 * is one `inbox_journal_done` row and one `settled` update per open batch it touches. Only
 * moved updates (failed handlers) and adopted ones (owner gone) become `inbox` rows. A closed
 * batch is marked (`closed_at`), kept for `find` and deleted by `prune` after the retention,
 * in small transactions (see {@link SqliteJournal.pruneClosed}).
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type {
  InboxJournal,
  JournalAppendOptions,
  JournalAppendResult,
  JournalCompletion,
  JournalOpenOptions,
  JournalOpenUpdate,
  JournalStats,
  JournalUpdateRecord,
} from "../journal-types.js";
import { FIND_CANDIDATES, journalRecord, type StoredBatch, type StoredDone } from "../journal-history.js";
import { deriveUpdateMeta, requireUpdateId, type RawUpdate } from "../update-meta.js";
import { requireInt, requireText, requireTime, invalid } from "../validate.js";
import { parseBatch, prepareCompletion, type PreparedCompletion, type PreparedMove } from "../journal-prepare.js";
import { enqueuePending } from "./chat-queue.js";
import { recordAttempt } from "./attempts.js";
import { ACKNOWLEDGED_SOON, type SqliteDatabase } from "./database.js";
import { applyEffects } from "./effects.js";
import { keepUnstorable, prepareUnstorable } from "./dead-letters.js";
import { assertFence } from "./lease.js";

/** Length of a done-count bucket (`inbox_done_counts.minute`), ms. */
const MINUTE_MS = 60_000;

interface BatchRow {
  batch: number;
  owner: string;
  count: number;
  settled: number;
  next_offset: number | null;
  closed_at: number | null;
}

/** {@link InboxJournal} on SQLite. Reached as `SqliteInbox.journal`. */
export class SqliteJournal implements InboxJournal {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc InboxJournal.append} */
  async append(updates: readonly RawUpdate[], options: JournalAppendOptions): Promise<JournalAppendResult> {
    const owner = requireText("owner", options?.owner);
    const nextOffset = requireInt("nextOffset", options.nextOffset, Number.MIN_SAFE_INTEGER);
    const now = requireTime("now", options.now ?? this.db.clock());
    if (options.json !== undefined && typeof options.json !== "string") invalid("json must be the updates' JSON text.");
    let ids = updates.map((u) => requireUpdateId(u));
    let sorted = updates;
    for (let i = 1; i < ids.length; i++) {
      if (ids[i]! < ids[i - 1]!) {
        const order = ids.map((_, j) => j).sort((a, b) => ids[a]! - ids[b]!);
        sorted = order.map((j) => updates[j]!);
        ids = order.map((j) => ids[j]!);
        break;
      }
    }
    const completion = options.completion === undefined ? undefined : prepareCompletion(this.db, options.completion, now);
    const unstorable = options.unstorable === undefined ? undefined : prepareUnstorable(this.db, options.unstorable);
    const db = this.db;
    return db.write("append to the journal", (): JournalAppendResult => {
      if (options.fence !== undefined) assertFence(db, options.fence, "journal append");
      // The owner's completions since its last write ride along: one transaction, not two.
      if (completion !== undefined) this.applyCompletion(owner, completion, now);
      // Below the stored offset means confirmed to Telegram, hence already stored (journal or row).
      const stored = (db.statement("SELECT poll_offset FROM runtime WHERE id = 1").get() as { poll_offset: number | null })
        .poll_offset;
      let kept: RawUpdate[] = [];
      let keptIds: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if ((stored !== null && id < stored) || (i > 0 && id === ids[i - 1])) continue;
        kept.push(sorted[i]!);
        keptIds.push(id);
      }
      if (kept.length > 0) {
        // Rows in the batch's id range (a webhook delivery, an ingest without offset): a PK
        // range seek, empty in the common case.
        const rows = db
          .statement("SELECT update_id FROM inbox WHERE update_id BETWEEN ? AND ?")
          .all(keptIds[0], keptIds[keptIds.length - 1]) as { update_id: number }[];
        if (rows.length > 0) {
          const exists = new Set(rows.map((r) => r.update_id));
          kept = kept.filter((_, i) => !exists.has(keptIds[i]!));
          keptIds = keptIds.filter((id) => !exists.has(id));
        }
      }
      // With the offset: it moves past them only if they are kept.
      const unstored = unstorable === undefined ? {} : { unstorable: keepUnstorable(db, unstorable, now) };
      db.statement("UPDATE runtime SET poll_offset = ? WHERE id = 1").run(nextOffset);
      if (kept.length === 0) return { batch: 0, receivedAt: now, updates: kept, blockedChats: [], ...unstored };
      const { lastInsertRowid } = db
        .statement("INSERT INTO inbox_journal (owner, received_at, first_id, last_id, count, next_offset) VALUES (?, ?, ?, ?, ?, ?)")
        .run(owner, now, keptIds[0], keptIds[keptIds.length - 1], kept.length, nextOffset);
      const batch = Number(lastInsertRowid);
      // The text as received, when it is exactly what is kept (the common case): no re-serialising.
      const json = options.json !== undefined && kept.length === updates.length && sorted === updates ? options.json : JSON.stringify(kept);
      db.statement("INSERT INTO inbox_journal_updates (batch, updates) VALUES (?, ?)").run(batch, json);
      return { batch, receivedAt: now, updates: kept, blockedChats: this.blocked(kept), ...unstored };
    }, ACKNOWLEDGED_SOON);
  }

  /** Chats of `updates` with unfinished rows; derives chat keys only when some chat has rows. */
  private blocked(updates: readonly RawUpdate[]): string[] {
    const db = this.db;
    if (db.statement("SELECT 1 FROM chat_queue LIMIT 1").get() === undefined) return [];
    const chats = [...new Set(updates.map((u) => deriveUpdateMeta(u).chatKey))];
    return this.rowChats(chats);
  }

  /** Which of `chats` have a `chat_queue` row (primary key seeks). */
  private rowChats(chats: readonly string[]): string[] {
    if (chats.length === 0) return [];
    const rows = this.db
      .statement("SELECT chat_key FROM chat_queue WHERE chat_key IN (SELECT value FROM json_each(?))")
      .all(JSON.stringify(chats)) as { chat_key: string }[];
    return rows.map((r) => r.chat_key);
  }

  /** {@inheritDoc InboxJournal.complete} */
  async complete(completion: JournalCompletion): Promise<void> {
    const owner = requireText("owner", completion?.owner);
    const now = requireTime("now", completion.now ?? this.db.clock());
    const prepared = prepareCompletion(this.db, completion, now);
    if (prepared === undefined) return;
    this.db.write("complete journal updates", () => this.applyCompletion(owner, prepared, now));
  }

  /** Writes a validated completion; inside the write transaction. */
  private applyCompletion(owner: string, c: PreparedCompletion, now: number): void {
    const db = this.db;
    const offsets = this.assertOwned(owner, c.batches, c.closed, c.settles);
    for (const [batch, ids] of c.settles) {
      // A batch closed below needs no record of the updates it completes now (closing marks it
      // fully settled, at this time), unless some are moved: `find` must tell those apart.
      const moved = c.movedIds.get(batch);
      if (c.closed.has(batch) && moved === undefined) continue;
      const { settled } = db
        .statement("UPDATE inbox_journal SET settled = settled + ? WHERE batch = ? RETURNING settled")
        .get(ids.length, batch) as { settled: number };
      db.statement("INSERT INTO inbox_journal_done (batch, seq, ids, at, moved) VALUES (?, ?, ?, ?, ?)")
        .run(batch, settled, JSON.stringify(ids), now, moved === undefined ? null : JSON.stringify(moved));
    }
    for (const m of c.moved) this.insertMoved(m, owner, now, offsets.get(m.batch) ?? null);
    applyEffects(db, c.effects, now);
    if (c.doneCount > 0) {
      db.statement(
        "INSERT INTO inbox_done_counts (minute, n) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET n = n + excluded.n",
      ).run(Math.floor(now / MINUTE_MS), c.doneCount);
    }
    // Kept for the trace, pruned after the retention: one small update instead of three deletes,
    // but the batch's JSON now reaches the database file (a WAL checkpoint), as a row's would.
    const close = db.statement("UPDATE inbox_journal SET closed_at = ?, settled = count WHERE batch = ?");
    for (const batch of c.closed) close.run(now, batch);
  }

  /**
   * The ownership fence of `complete`: every referenced batch must still be open and `owner`'s
   * (adopt closes an owner's batches, so a batch closed or gone was taken over). A batch to
   * close must have all its updates settled, so a caller's mistake cannot silently drop
   * updates. Returns each batch's polling offset (for the rows of moved updates).
   */
  private assertOwned(owner: string, batches: readonly number[], closed: ReadonlySet<number>, settles: ReadonlyMap<number, number[]>): Map<number, number | null> {
    // One primary-key seek per batch: a flush references one or two batches, and a json_each
    // list costs several times a seek.
    const byBatch = this.db.statement("SELECT batch, owner, count, settled, next_offset, closed_at FROM inbox_journal WHERE batch = ?");
    const offsets = new Map<number, number | null>();
    for (const batch of batches) {
      const row = byBatch.get(batch) as BatchRow | undefined;
      if (row === undefined || row.owner !== owner || row.closed_at !== null) {
        throw new UnlostError(
          "CONFLICT",
          `Refused journal completion of ${owner}: batch ${batch} is no longer its own ` +
            `(${row === undefined || row.closed_at !== null ? "adopted, already closed or pruned" : `now owned by ${row.owner}`}). The journal was taken ` +
            `over; its unfinished updates are inbox rows now, so drop the in-memory copy. Nothing was written.`,
          { details: { owner, batch, currentOwner: row?.owner ?? null, journalTakenOver: true } },
        );
      }
      if (closed.has(batch) && row.settled + (settles.get(batch)?.length ?? 0) < row.count) {
        invalid(
          `Cannot close journal batch ${batch}: ${row.count - row.settled - (settles.get(batch)?.length ?? 0)} of its ` +
            `${row.count} updates are neither done nor moved. Nothing was written.`,
        );
      }
      offsets.set(batch, row.next_offset);
    }
    return offsets;
  }

  /**
   * Stores a moved update as a pending (retry) or dead row; an existing row wins. Its failed
   * try, by `owner`, goes to the history.
   */
  private insertMoved(m: PreparedMove, owner: string, now: number, pollOffset: number | null): void {
    const db = this.db;
    const { changes } = db
      .statement(
        `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at,
                            attempts, last_error, last_stack, settled_at, via, via_offset)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'poll', ?) ON CONFLICT (update_id) DO NOTHING`,
      )
      .run(
        m.updateId,
        m.chatKey,
        m.updateType,
        m.messageDate,
        m.receivedAt,
        m.raw,
        m.dead ? "dead" : "pending",
        m.dueAt,
        m.attempts,
        m.error,
        m.stack,
        m.dead ? now : null,
        pollOffset,
      );
    if (changes === 1) recordAttempt(db, { updateId: m.updateId, attempt: Math.max(m.attempts, 1), owner, startedAt: null, endedAt: now, outcome: m.dead ? "dead" : "retry", error: m.error });
    // A retry blocks its chat until done or dead: it becomes (or queues behind) the chat's head.
    if (changes === 1 && !m.dead) enqueuePending(db, m.chatKey, m.updateId, m.dueAt);
  }

  /** Deletes a batch's records (all three tables): pruning. */
  private deleteBatch(batch: number): void {
    const db = this.db;
    db.statement("DELETE FROM inbox_journal_done WHERE batch = ?").run(batch);
    db.statement("DELETE FROM inbox_journal_updates WHERE batch = ?").run(batch);
    db.statement("DELETE FROM inbox_journal WHERE batch = ?").run(batch);
  }

  /** {@inheritDoc InboxJournal.adopt} */
  async adopt(owner: string, options: { readonly now?: EpochMs } = {}): Promise<number> {
    requireText("owner", owner);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("adopt journal", () => {
      const batches = db
        .statement(
          `SELECT j.batch, j.received_at, j.count, j.settled, j.next_offset, u.updates FROM inbox_journal j
           JOIN inbox_journal_updates u ON u.batch = j.batch WHERE j.owner = ? AND j.closed_at IS NULL ORDER BY j.batch`,
        )
        .all(owner) as { batch: number; received_at: number; count: number; settled: number; next_offset: number | null; updates: string }[];
      const open: { update: RawUpdate; id: number; receivedAt: number; offset: number | null }[] = [];
      for (const b of batches) {
        if (b.settled >= b.count) continue;
        const done = new Set<number>();
        for (const row of db.statement("SELECT ids FROM inbox_journal_done WHERE batch = ?").all(b.batch) as { ids: string }[]) {
          for (const id of JSON.parse(row.ids) as number[]) done.add(id);
        }
        for (const update of parseBatch(b.updates, b.batch)) {
          if (!done.has(update.update_id)) open.push({ update, id: update.update_id, receivedAt: b.received_at, offset: b.next_offset });
        }
      }
      // update_id order overall, so each chat's first open update becomes its head.
      open.sort((a, b) => a.id - b.id);
      const insert = db.statement(
        `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, via, via_offset)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, 'poll', ?) ON CONFLICT (update_id) DO NOTHING`,
      );
      let inserted = 0;
      for (const { update, id, receivedAt, offset } of open) {
        const meta = deriveUpdateMeta(update);
        const { changes } = insert.run(id, meta.chatKey, meta.updateType, meta.messageDate, receivedAt, JSON.stringify(update), now, offset);
        if (changes === 0) continue;
        inserted += 1;
        enqueuePending(db, meta.chatKey, id, now);
      }
      // Closed, not settled: `find` tells an adopted batch by its settled count below its count.
      const close = db.statement("UPDATE inbox_journal SET closed_at = ? WHERE batch = ?");
      for (const b of batches) close.run(now, b.batch);
      return inserted;
    });
  }

  /** {@inheritDoc InboxJournal.owners} */
  async owners(): Promise<string[]> {
    const rows = this.db.read("list journal owners", () =>
      this.db.statement("SELECT DISTINCT owner FROM inbox_journal INDEXED BY inbox_journal_open WHERE closed_at IS NULL").all(),
    ) as { owner: string }[];
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc InboxJournal.chatsWithRowWork} */
  async chatsWithRowWork(chatKeys: readonly string[]): Promise<string[]> {
    if (!Array.isArray(chatKeys)) invalid("chatKeys must be an array of strings.");
    for (const key of chatKeys) requireText("chatKeys[]", key);
    return this.db.read("check chats with rows", () => this.rowChats(chatKeys));
  }

  /** {@inheritDoc InboxJournal.stats} */
  async stats(): Promise<JournalStats> {
    return this.db.read("journal stats", () => this.countOpen());
  }

  /** {@inheritDoc InboxJournal.openUpdates} */
  async openUpdates(options: JournalOpenOptions): Promise<JournalOpenUpdate[]> {
    const before = requireTime("receivedBefore", options?.receivedBefore);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const db = this.db;
    return db.read("list open journal updates", () => {
      // Open batches are few and short-lived; only old ones are parsed (usually none). The
      // partial index of open batches keeps the closed ones (kept for the trace) out of the scan.
      const batches = db
        .statement(
          `SELECT j.batch, j.owner, j.received_at, u.updates FROM inbox_journal j INDEXED BY inbox_journal_open
           JOIN inbox_journal_updates u ON u.batch = j.batch
           WHERE j.closed_at IS NULL AND j.received_at <= ? AND j.count > j.settled ORDER BY j.batch`,
        )
        .all(before) as { batch: number; owner: string; received_at: number; updates: string }[];
      const open: JournalOpenUpdate[] = [];
      for (const b of batches) {
        const done = new Set<number>();
        for (const row of db.statement("SELECT ids FROM inbox_journal_done WHERE batch = ?").all(b.batch) as { ids: string }[]) {
          for (const id of JSON.parse(row.ids) as number[]) done.add(id);
        }
        for (const update of parseBatch(b.updates, b.batch)) {
          if (done.has(update.update_id)) continue;
          const meta = deriveUpdateMeta(update);
          open.push({ updateId: update.update_id, chatKey: meta.chatKey, updateType: meta.updateType, receivedAt: b.received_at, owner: b.owner });
        }
      }
      // Batches hold increasing ids, but a re-fetch may interleave: sort before cutting.
      return open.sort((a, b) => a.updateId - b.updateId).slice(0, limit);
    });
  }

  /** {@inheritDoc InboxJournal.find} */
  async find(updateId: number): Promise<JournalUpdateRecord | null> {
    requireInt("updateId", updateId, 0);
    const db = this.db;
    return db.read("find a journal update", () => {
      // The first batches ending at or after it: the one covering it comes first (ranges do not
      // overlap). Not `first_id <= id` in SQL: for an id in no batch it would scan every later one.
      const batches = db
        .statement(
          `SELECT j.batch, j.owner, j.received_at, j.next_offset, j.count, j.settled, j.closed_at, j.first_id, u.updates
           FROM inbox_journal j JOIN inbox_journal_updates u ON u.batch = j.batch
           WHERE j.last_id >= ? ORDER BY j.last_id LIMIT ?`,
        )
        .all(updateId, FIND_CANDIDATES) as (StoredBatch & { first_id: number })[];
      const done = db.statement("SELECT at, ids, moved FROM inbox_journal_done WHERE batch = ? ORDER BY seq");
      for (const b of batches) {
        if (b.first_id > updateId) continue;
        const record = journalRecord(b, done.all(b.batch) as StoredDone[], updateId);
        if (record !== null) return record;
      }
      return null;
    });
  }

  /**
   * Deletes up to `limit` batches closed before `closedBefore` (oldest first), inside the
   * caller's transaction; returns how many. `SqliteInbox.prune` calls it in small
   * transactions, yielding between them: better-sqlite3 blocks the event loop while it runs.
   *
   * @internal
   */
  pruneClosed(closedBefore: number, limit: number): number {
    const rows = this.db
      .statement("SELECT batch FROM inbox_journal WHERE closed_at IS NOT NULL AND closed_at < ? ORDER BY closed_at LIMIT ?")
      .all(closedBefore, limit) as { batch: number }[];
    for (const r of rows) this.deleteBatch(r.batch);
    return rows.length;
  }

  /**
   * The journal's open counts, inside the caller's transaction (`SqliteInbox.stats` folds them
   * into its snapshot). Reads only open batches' small rows.
   *
   * @internal
   */
  countOpen(): JournalStats {
    const row = this.db
      .statement(
        `SELECT count(*) AS batches, coalesce(sum(max(count - settled, 0)), 0) AS open,
                min(CASE WHEN count > settled THEN received_at END) AS oldest
         FROM inbox_journal INDEXED BY inbox_journal_open WHERE closed_at IS NULL`,
      )
      .get() as { batches: number; open: number; oldest: number | null };
    return { openBatches: row.batches, open: row.open, oldestOpenReceivedAt: row.oldest };
  }

  /**
   * Journal updates completed and not yet pruned (they have no rows), inside the caller's
   * transaction.
   *
   * @internal
   */
  countDone(): number {
    return (this.db.statement("SELECT coalesce(sum(n), 0) AS n FROM inbox_done_counts").get() as { n: number }).n;
  }

  /**
   * Deletes the done-count buckets that end at or before `handledBefore` (a bucket straddling
   * it is kept whole), inside the caller's transaction. Returns how many completions they held.
   *
   * @internal
   */
  pruneDone(handledBefore: number): number {
    const rows = this.db
      .statement("DELETE FROM inbox_done_counts WHERE minute < ? RETURNING n")
      .all(Math.floor(handledBefore / MINUTE_MS)) as { n: number }[];
    return rows.reduce((sum, r) => sum + r.n, 0);
  }
}
