/**
 * The PostgreSQL inbox journal (see ../journal-types.ts), with the semantics of
 * ../sqlite/journal.ts: a fetched batch is one `inbox_journal` row plus one
 * `inbox_journal_updates` row holding its updates as a JSON array; a completion flush is one
 * `inbox_journal_done` row and one `settled` update per open batch it touches. Only moved
 * updates (failed handlers) and adopted ones (owner gone) become `inbox` rows. A closed batch
 * is marked (`closed_at`), kept for `find` and deleted by `prune` after the retention.
 *
 * Across processes: the ownership check of a completion reads the batches `FOR UPDATE` (in
 * batch order), and `adopt` locks the owner's batches the same way, so a late completion and
 * an adoption serialize: whichever commits second sees the other's result (the completion is
 * refused once adopted). Rows created here take their chats' locks (chat-locks.ts).
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
import { lockChats } from "./chat-locks.js";
import { enqueuePending } from "./chat-queue.js";
import { recordAttempt } from "./attempts.js";
import type { PgDatabase, Tx } from "./database.js";
import { keepUnstorable, prepareUnstorable } from "./dead-letters.js";
import { applyEffects, lockEffectChats } from "./effects.js";
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

/** The done ids recorded for `batch`. */
async function doneIds(tx: Tx, batch: number): Promise<Set<number>> {
  const done = new Set<number>();
  for (const row of await tx.rows<{ ids: string }>("SELECT ids FROM inbox_journal_done WHERE batch = $1", [batch])) {
    for (const id of JSON.parse(row.ids) as number[]) done.add(id);
  }
  return done;
}

/** Which of `chats` have a `chat_queue` row (unfinished rows: blocked for the journal). */
async function rowChats(tx: Tx, chats: readonly string[]): Promise<string[]> {
  if (chats.length === 0) return [];
  const rows = await tx.rows<{ chat_key: string }>("SELECT chat_key FROM chat_queue WHERE chat_key = ANY($1::text[])", [chats]);
  return rows.map((r) => r.chat_key);
}

/** The journal's open counts, inside the caller's transaction (folded into `InboxStore.stats`). */
export async function countOpen(tx: Tx): Promise<JournalStats> {
  const row = await tx.one<{ batches: number; open: number; oldest: number | null }>(
    `SELECT count(*)::int AS batches, coalesce(sum(greatest(count - settled, 0)), 0)::int AS open,
            min(CASE WHEN count > settled THEN received_at END) AS oldest
     FROM inbox_journal WHERE closed_at IS NULL`,
  );
  return { openBatches: row?.batches ?? 0, open: row?.open ?? 0, oldestOpenReceivedAt: row?.oldest ?? null };
}

/** Journal updates completed and not yet pruned (they have no rows), inside the caller's transaction. */
export async function countDone(tx: Tx): Promise<number> {
  return (await tx.one<{ n: number }>("SELECT coalesce(sum(n), 0)::bigint AS n FROM inbox_done_counts"))?.n ?? 0;
}

/**
 * Deletes the done-count buckets that end at or before `handledBefore` (a bucket straddling it
 * is kept whole), inside the caller's transaction. Returns how many completions they held.
 */
export async function pruneDone(tx: Tx, handledBefore: number): Promise<number> {
  const rows = await tx.rows<{ n: number }>("DELETE FROM inbox_done_counts WHERE minute < $1 RETURNING n", [Math.floor(handledBefore / MINUTE_MS)]);
  return rows.reduce((sum, r) => sum + r.n, 0);
}

/**
 * Deletes up to `limit` batches closed before `closedBefore` (oldest first), inside the
 * caller's transaction, in one statement; returns how many. `PgInbox.prune` calls it in small
 * transactions, so that no long one holds locks.
 */
export async function pruneClosed(tx: Tx, closedBefore: number, limit: number): Promise<number> {
  const rows = await tx.rows<{ batch: number }>(
    `WITH gone AS (
       SELECT batch FROM inbox_journal WHERE closed_at IS NOT NULL AND closed_at < $1 ORDER BY closed_at LIMIT $2
     ), done AS (DELETE FROM inbox_journal_done WHERE batch IN (SELECT batch FROM gone)),
        updates AS (DELETE FROM inbox_journal_updates WHERE batch IN (SELECT batch FROM gone))
     DELETE FROM inbox_journal WHERE batch IN (SELECT batch FROM gone) RETURNING batch`,
    [closedBefore, limit],
  );
  return rows.length;
}

/** {@link InboxJournal} on PostgreSQL. Reached as `PgInbox.journal`. */
export class PgJournal implements InboxJournal {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
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
    return this.db.write("append to the journal", async (tx): Promise<JournalAppendResult> => {
      if (options.fence !== undefined) await assertFence(tx, options.fence, "journal append");
      // The owner's completions since its last write ride along: one transaction, not two.
      if (completion !== undefined) await this.applyCompletion(tx, owner, completion, now);
      // Below the stored offset means confirmed to Telegram, hence already stored (journal or
      // row). The row lock serializes appends (and ingests' offset writes) with each other.
      // One statement reads the offset, the rows already in the batch's id range (a webhook
      // delivery, an ingest without offset: a primary-key range scan, empty in the common
      // case) and whether any chat has rows at all (else no chat can be blocked).
      const state = await tx.one<{ poll_offset: number | null; existing: number[]; any_rows: boolean }>(
        `SELECT poll_offset,
                ARRAY(SELECT update_id FROM inbox WHERE update_id BETWEEN $1 AND $2) AS existing,
                EXISTS (SELECT 1 FROM chat_queue) AS any_rows
           FROM runtime WHERE id = 1 FOR UPDATE OF runtime`,
        [ids[0] ?? 0, ids[ids.length - 1] ?? -1],
      );
      const stored = state?.poll_offset ?? null;
      const exists = new Set((state?.existing ?? []).map(Number));
      const kept: RawUpdate[] = [];
      const keptIds: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if ((stored !== null && id < stored) || (i > 0 && id === ids[i - 1]) || exists.has(id)) continue;
        kept.push(sorted[i]!);
        keptIds.push(id);
      }
      // With the offset: it moves past them only if they are kept.
      const unstored = unstorable === undefined ? {} : { unstorable: await keepUnstorable(tx, unstorable, now) };
      if (kept.length === 0) {
        await tx.run("UPDATE runtime SET poll_offset = $1 WHERE id = 1", [nextOffset]);
        return { batch: 0, receivedAt: now, updates: kept, blockedChats: [], ...unstored };
      }
      // The text as received, when it is exactly what is kept (the common case): no re-serialising.
      const json = options.json !== undefined && kept.length === updates.length && sorted === updates ? options.json : JSON.stringify(kept);
      // The offset, the batch and its updates: one statement.
      const inserted = await tx.one<{ batch: number }>(
        `WITH moved AS (UPDATE runtime SET poll_offset = $6 WHERE id = 1),
              journal AS (
                INSERT INTO inbox_journal (owner, received_at, first_id, last_id, count, next_offset) VALUES ($1, $2, $3, $4, $5, $6) RETURNING batch
              )
         INSERT INTO inbox_journal_updates (batch, updates) SELECT batch, $7 FROM journal RETURNING batch`,
        [owner, now, keptIds[0], keptIds[keptIds.length - 1], kept.length, nextOffset, json],
      );
      const blockedChats = state?.any_rows === true ? await rowChats(tx, [...new Set(kept.map((u) => deriveUpdateMeta(u).chatKey))]) : [];
      return { batch: inserted!.batch, receivedAt: now, updates: kept, blockedChats, ...unstored };
    });
  }

  /** {@inheritDoc InboxJournal.complete} */
  async complete(completion: JournalCompletion): Promise<void> {
    const owner = requireText("owner", completion?.owner);
    const now = requireTime("now", completion.now ?? this.db.clock());
    const prepared = prepareCompletion(this.db, completion, now);
    if (prepared === undefined) return;
    await this.db.write("complete journal updates", (tx) => this.applyCompletion(tx, owner, prepared, now));
  }

  /**
   * Writes a validated completion; inside the write transaction. Round trips are what a
   * completion costs on PostgreSQL (each a network hop and a backend wake-up), so the settles
   * of every batch, their done records and the done count are one statement, and closing the
   * closed batches another: 2 statements after the ownership check, whatever the batch count.
   */
  private async applyCompletion(tx: Tx, owner: string, c: PreparedCompletion, now: number): Promise<void> {
    const offsets = await this.assertOwned(tx, owner, c.batches, c.closed, c.settles);
    // A batch closed below needs no record of the updates it completes now (closing marks it
    // fully settled, at this time), unless some are moved: `find` must tell those apart.
    const open = [...c.settles].filter(([batch]) => !c.closed.has(batch) || c.movedIds.has(batch));
    if (open.length > 0 || c.doneCount > 0) {
      await tx.run(
        `WITH settled AS (
           UPDATE inbox_journal j SET settled = j.settled + s.n
             FROM unnest($1::bigint[], $2::int[]) AS s(batch, n)
            WHERE j.batch = s.batch
           RETURNING j.batch, j.settled
         ), recorded AS (
           INSERT INTO inbox_journal_done (batch, seq, ids, at, moved)
           SELECT settled.batch, settled.settled, d.ids, $6::bigint, d.moved
           FROM settled JOIN unnest($1::bigint[], $3::text[], $7::text[]) AS d(batch, ids, moved) ON d.batch = settled.batch
         )
         INSERT INTO inbox_done_counts AS d (minute, n) SELECT $4::bigint, $5::bigint WHERE $5::bigint > 0
         ON CONFLICT (minute) DO UPDATE SET n = d.n + excluded.n`,
        [
          open.map(([batch]) => batch),
          open.map(([, ids]) => ids.length),
          open.map(([, ids]) => JSON.stringify(ids)),
          Math.floor(now / MINUTE_MS),
          c.doneCount,
          now,
          open.map(([batch]) => { const moved = c.movedIds.get(batch); return moved === undefined ? null : JSON.stringify(moved); }),
        ],
      );
    }
    if (c.moved.length > 0) {
      await lockChats(tx, c.moved.map((m) => m.chatKey));
      for (const m of c.moved) await this.insertMoved(tx, m, owner, now, offsets.get(m.batch) ?? null);
    }
    await lockEffectChats(tx, c.effects);
    await applyEffects(this.db, tx, c.effects, now);
    // Kept for the trace, pruned after the retention: one small update instead of three deletes,
    // but the batch's JSON now reaches the database file (a WAL checkpoint), as a row's would.
    if (c.closed.size > 0) await tx.run("UPDATE inbox_journal SET closed_at = $2, settled = count WHERE batch = ANY($1::bigint[])", [[...c.closed], now]);
  }

  /**
   * The ownership fence of `complete`: every referenced batch must still be open and `owner`'s
   * (adopt closes an owner's batches, so a batch closed or gone was taken over). A batch to
   * close must have all its updates settled, so a caller's mistake cannot silently drop
   * updates. The rows are locked until the commit, so an adoption waits for this completion,
   * or refuses it. Returns each batch's polling offset (for the rows of moved updates).
   */
  private async assertOwned(
    tx: Tx,
    owner: string,
    batches: readonly number[],
    closed: ReadonlySet<number>,
    settles: ReadonlyMap<number, number[]>,
  ): Promise<Map<number, number | null>> {
    const offsets = new Map<number, number | null>();
    if (batches.length === 0) return offsets;
    const rows = await tx.rows<BatchRow>(
      "SELECT batch, owner, count, settled, next_offset, closed_at FROM inbox_journal WHERE batch = ANY($1::bigint[]) ORDER BY batch FOR UPDATE",
      [batches],
    );
    const byBatch = new Map(rows.map((r) => [r.batch, r]));
    for (const batch of batches) {
      const row = byBatch.get(batch);
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
  private async insertMoved(tx: Tx, m: PreparedMove, owner: string, now: number, pollOffset: number | null): Promise<void> {
    const changed = await tx.run(
      `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at,
                          attempts, last_error, last_stack, settled_at, via, via_offset)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'poll', $13) ON CONFLICT (update_id) DO NOTHING`,
      [m.updateId, m.chatKey, m.updateType, m.messageDate, m.receivedAt, m.raw, m.dead ? "dead" : "pending", m.dueAt, m.attempts, m.error, m.stack, m.dead ? now : null, pollOffset],
    );
    if (changed === 1) await recordAttempt(tx, { updateId: m.updateId, attempt: Math.max(m.attempts, 1), owner, startedAt: null, endedAt: now, outcome: m.dead ? "dead" : "retry", error: m.error });
    // A retry blocks its chat until done or dead: it becomes (or queues behind) the chat's head.
    if (changed === 1 && !m.dead) await enqueuePending(tx, [{ chatKey: m.chatKey, updateId: m.updateId }], m.dueAt);
  }

  /** {@inheritDoc InboxJournal.adopt} */
  async adopt(owner: string, options: { readonly now?: EpochMs } = {}): Promise<number> {
    requireText("owner", owner);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("adopt journal", async (tx) => {
      // Locked in batch order, as a completion locks them: the two serialize.
      const batches = await tx.rows<{ batch: number; received_at: number; count: number; settled: number; next_offset: number | null }>(
        "SELECT batch, received_at, count, settled, next_offset FROM inbox_journal WHERE owner = $1 AND closed_at IS NULL ORDER BY batch FOR UPDATE",
        [owner],
      );
      const open: { update: RawUpdate; id: number; receivedAt: number; offset: number | null }[] = [];
      for (const b of batches) {
        if (b.settled >= b.count) continue;
        const done = await doneIds(tx, b.batch);
        const stored = await tx.one<{ updates: string }>("SELECT updates FROM inbox_journal_updates WHERE batch = $1", [b.batch]);
        for (const update of parseBatch(stored?.updates ?? "[]", b.batch)) {
          if (!done.has(update.update_id)) open.push({ update, id: update.update_id, receivedAt: b.received_at, offset: b.next_offset });
        }
      }
      let inserted = 0;
      if (open.length > 0) {
        // update_id order overall, so each chat's first open update becomes its head.
        open.sort((a, b) => a.id - b.id);
        const metas = open.map((o) => deriveUpdateMeta(o.update));
        await lockChats(tx, metas.map((m) => m.chatKey));
        const rows = await tx.rows<{ update_id: number; chat_key: string }>(
          `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, via, via_offset)
           SELECT u.update_id, u.chat_key, u.update_type, u.message_date, u.received_at, u.raw, 'pending', $7, 'poll', u.via_offset
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $8::bigint[])
                AS u (update_id, chat_key, update_type, message_date, received_at, raw, via_offset)
           ORDER BY u.update_id
           ON CONFLICT (update_id) DO NOTHING
           RETURNING update_id, chat_key`,
          [
            open.map((o) => o.id),
            metas.map((m) => m.chatKey),
            metas.map((m) => m.updateType),
            metas.map((m) => m.messageDate),
            open.map((o) => o.receivedAt),
            open.map((o) => JSON.stringify(o.update)),
            now,
            open.map((o) => o.offset),
          ],
        );
        await enqueuePending(tx, rows.map((r) => ({ chatKey: r.chat_key, updateId: r.update_id })), now);
        inserted = rows.length;
      }
      // Closed, not settled: `find` tells an adopted batch by its settled count below its count.
      if (batches.length > 0) await tx.run("UPDATE inbox_journal SET closed_at = $2 WHERE batch = ANY($1::bigint[])", [batches.map((b) => b.batch), now]);
      return inserted;
    });
  }

  /** {@inheritDoc InboxJournal.owners} */
  async owners(): Promise<string[]> {
    const rows = await this.db.read("list journal owners", (tx) => tx.rows<{ owner: string }>("SELECT DISTINCT owner FROM inbox_journal WHERE closed_at IS NULL"));
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc InboxJournal.chatsWithRowWork} */
  async chatsWithRowWork(chatKeys: readonly string[]): Promise<string[]> {
    if (!Array.isArray(chatKeys)) invalid("chatKeys must be an array of strings.");
    for (const key of chatKeys) requireText("chatKeys[]", key);
    return this.db.read("check chats with rows", (tx) => rowChats(tx, chatKeys));
  }

  /** {@inheritDoc InboxJournal.stats} */
  async stats(): Promise<JournalStats> {
    return this.db.read("journal stats", (tx) => countOpen(tx));
  }

  /** {@inheritDoc InboxJournal.find} */
  async find(updateId: number): Promise<JournalUpdateRecord | null> {
    requireInt("updateId", updateId, 0);
    return this.db.read("find a journal update", async (tx) => {
      // The first batches ending at or after it: the one covering it comes first (ranges do not
      // overlap). Not `first_id <= id` in SQL: for an id in no batch it would scan every later one.
      const batches = await tx.rows<StoredBatch & { first_id: number }>(
        `SELECT j.batch, j.owner, j.received_at, j.next_offset, j.count, j.settled, j.closed_at, j.first_id, u.updates
         FROM inbox_journal j JOIN inbox_journal_updates u ON u.batch = j.batch
         WHERE j.last_id >= $1 ORDER BY j.last_id LIMIT $2`,
        [updateId, FIND_CANDIDATES],
      );
      for (const b of batches) {
        if (b.first_id > updateId) continue;
        const done = await tx.rows<StoredDone>("SELECT at, ids, moved FROM inbox_journal_done WHERE batch = $1 ORDER BY seq", [b.batch]);
        const record = journalRecord(b, done, updateId);
        if (record !== null) return record;
      }
      return null;
    });
  }

  /** {@inheritDoc InboxJournal.openUpdates} */
  async openUpdates(options: JournalOpenOptions): Promise<JournalOpenUpdate[]> {
    const before = requireTime("receivedBefore", options?.receivedBefore);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    return this.db.read("list open journal updates", async (tx) => {
      // Open batches are few and short-lived; only old ones are parsed (usually none).
      const batches = await tx.rows<{ batch: number; owner: string; received_at: number; updates: string }>(
        `SELECT j.batch, j.owner, j.received_at, u.updates FROM inbox_journal j
         JOIN inbox_journal_updates u ON u.batch = j.batch
         WHERE j.closed_at IS NULL AND j.received_at <= $1 AND j.count > j.settled ORDER BY j.batch`,
        [before],
      );
      const open: JournalOpenUpdate[] = [];
      for (const b of batches) {
        const done = await doneIds(tx, b.batch);
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
}
