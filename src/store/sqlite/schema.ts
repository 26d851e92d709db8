/**
 * The SQLite schema, as an ordered list of migrations. `PRAGMA user_version` holds the number
 * of migrations applied; a migration is never edited once released, only appended.
 *
 * Design of the inbox (the same shape suits PostgreSQL, where `claim` becomes
 * `SELECT ... FROM chat_queue WHERE ready_at <= $now ORDER BY head_id LIMIT $n FOR UPDATE SKIP LOCKED`):
 *
 * - `inbox` holds every update, keyed by `update_id` (idempotent ingest).
 * - `chat_queue` holds one row per chat that has unfinished updates: its head (the item in
 *   flight, else its lowest pending `update_id`) and `ready_at`, the time the head becomes
 *   claimable (its due time when pending, its lease end when in flight). Claiming is thus a
 *   scan of chat heads in `head_id` order, stopping after `limit` ready ones — independent of
 *   how many updates wait behind each head (100k pending over 1k chats reads ~1k rows at most,
 *   usually `limit` plus the chats currently in flight). Only heads are ever claimable, which
 *   is what guarantees per-chat order and one item in flight per chat.
 *
 * Migration 2 adds the outbox (see outbox-schema.ts for its design).
 *
 * Migration 3 adds the inbox journal (see journal.ts): one small row per fetched batch
 * (`inbox_journal`, rewritten by every completion flush) with its updates' JSON in a row of
 * their own (`inbox_journal_updates`, written once), the completions of each flush
 * (`inbox_journal_done`) and the per-minute count of completed journal updates
 * (`inbox_done_counts`, which `stats` reports as done until pruned).
 *
 * Migration 4 adds each job's send fingerprint (see outbound/fingerprint.ts): a known
 * idempotency key is the same send only when the fingerprint matches too.
 *
 * Migration 5 records when each update's current claim was taken (`inbox.claimed_at`), so that
 * `unlost status` can list handlers that have been running for long (`InboxStore.running`).
 *
 * Migration 6 records how each claim runs and what a recovery proves (`InboxStore.isolate`):
 * `isolation` (the current claim's isolation group: NULL not isolated, k a group of k, 1
 * alone), `recovered_isolation` (the isolation of the claim the current one recovered from)
 * and `isolated_deaths` (recoveries from claims that ran alone: evidence of a poison update).
 *
 * Migration 7 adds the bot data (`bot_data`, see data.ts): the values of grammY's storage
 * adapters (sessions, conversations), apart from the runtime's own `kv`. A rowid table, not
 * WITHOUT ROWID like `kv`: its values can be large (a conversation's replay log), and large
 * rows belong in a table whose B-tree does not carry them in its key.
 *
 * Migration 9 adds the handler attempts that did not complete an update (`inbox_attempts`, see
 * attempts.ts): each failed try (retry or dead), each try lost with its process (a recovery)
 * and each failed first try of the journal's fast path, with its start, end and error, at most
 * {@link MAX_ATTEMPTS_KEPT} per update. A completing try is not written here: the update's row
 * has its start (`claimed_at`) and end (`settled_at`), so the hot path writes nothing more.
 * (Migration 8 is another part's.)
 *
 * Migration 10 records how each update arrived and keeps the journal's closed batches for the
 * retention, so that `unlost trace` can tell an update's story after the fast path completed
 * it: `inbox.via` (`poll` | `webhook`; NULL for rows stored before: unknown) and
 * `inbox.via_offset` (a poll's batch: the offset stored with it); `inbox_journal.next_offset`
 * (the same for a journal batch) and `closed_at` (a closed batch is kept, marked, instead of
 * deleted; `prune` deletes it after the retention); `inbox_journal_done.at` (when the flush
 * was recorded) and `moved` (the ids it handed to the rows, NULL when none). The open-batch
 * queries read a partial index of open batches only, so kept batches cost them nothing.
 *
 * @module
 */
import { OUTBOX_SCHEMA_SQL } from "./outbox-schema.js";

/** One schema step. */
export interface Migration {
  /** The `user_version` after this migration. */
  readonly version: number;
  /** What it does, for logs. */
  readonly description: string;
  /** The DDL, run in one transaction. */
  readonly sql: string;
}

/** Identifies an unlost database (`PRAGMA application_id`): "unlo" in ASCII. */
export const APPLICATION_ID = 0x756e6c6f;

/** All migrations, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "inbox, chat queues, runtime state, offline windows, key/values, leases",
    sql: `
      CREATE TABLE inbox (
        update_id    INTEGER PRIMARY KEY,
        chat_key     TEXT    NOT NULL,
        update_type  TEXT    NOT NULL,
        message_date INTEGER,
        received_at  INTEGER NOT NULL,
        raw          TEXT    NOT NULL,
        state        TEXT    NOT NULL CHECK (state IN ('pending', 'inflight', 'done', 'dead')),
        due_at       INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        recoveries   INTEGER NOT NULL DEFAULT 0,
        lease_owner  TEXT,
        lease_until  INTEGER,
        lease_token  INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        last_stack   TEXT,
        settled_at   INTEGER
      );
      -- The open items of a chat in order: finds the next head when one settles. Partial, so
      -- finished items (the bulk of the table) cost nothing here.
      CREATE INDEX inbox_chat_open ON inbox (chat_key, update_id) WHERE state IN ('pending', 'inflight');
      -- Counts by state, prune (done + settled_at), dead-letter listing, expiring claims.
      CREATE INDEX inbox_state_settled ON inbox (state, settled_at);

      CREATE TABLE chat_queue (
        chat_key TEXT    PRIMARY KEY,
        head_id  INTEGER NOT NULL,
        ready_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- Claim order; covering (chat_key comes with the primary key), so claiming reads only it.
      CREATE INDEX chat_queue_order ON chat_queue (head_id, ready_at);

      CREATE TABLE runtime (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        poll_offset INTEGER,
        last_beat   INTEGER
      );
      INSERT INTO runtime (id) VALUES (1);

      CREATE TABLE offline_windows (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        from_time INTEGER NOT NULL,
        to_time   INTEGER NOT NULL
      );

      CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE leases (
        name       TEXT    PRIMARY KEY,
        owner      TEXT    NOT NULL,
        epoch      INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: "outbox: jobs, chat heads, broadcasts, unreachable chats, known users, audit log, counters",
    sql: OUTBOX_SCHEMA_SQL,
  },
  {
    version: 3,
    description: "inbox journal: one record per fetched batch, its completions, done counts per minute",
    sql: `
      -- AUTOINCREMENT: a batch number is never reused, even after the newest batch is deleted,
      -- so a stale owner's completion can never hit another batch of the same number.
      CREATE TABLE inbox_journal (
        batch       INTEGER PRIMARY KEY AUTOINCREMENT,
        owner       TEXT    NOT NULL,
        received_at INTEGER NOT NULL,
        first_id    INTEGER NOT NULL,
        last_id     INTEGER NOT NULL,
        count       INTEGER NOT NULL,
        settled     INTEGER NOT NULL DEFAULT 0
      );
      -- adopt / owners: an owner's batches in order.
      CREATE INDEX inbox_journal_owner ON inbox_journal (owner, batch);

      -- The batch's updates as one JSON array, apart from the small row above that every
      -- completion flush rewrites.
      CREATE TABLE inbox_journal_updates (
        batch   INTEGER PRIMARY KEY,
        updates TEXT    NOT NULL
      );

      -- Per flush and batch: the update_ids done or moved (JSON array); seq is the batch's
      -- settled count after that flush, hence unique per batch.
      CREATE TABLE inbox_journal_done (
        batch INTEGER NOT NULL,
        seq   INTEGER NOT NULL,
        ids   TEXT    NOT NULL,
        PRIMARY KEY (batch, seq)
      ) WITHOUT ROWID;

      -- Completed journal updates per minute (minute = floor(ms / 60000)): they have no rows.
      CREATE TABLE inbox_done_counts (
        minute INTEGER PRIMARY KEY,
        n      INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    description: "outbox: the fingerprint of each job's send, the count of diverging replays",
    sql: `
      -- NULL for jobs stored before: such a job is never taken for a replayed send (unlost
      -- cannot tell, so it sends).
      ALTER TABLE outbox_jobs ADD COLUMN fingerprint TEXT;
      INSERT INTO outbox_counters (name, n) VALUES ('diverged', 0);
    `,
  },
  {
    version: 5,
    description: "inbox: when each update's current claim was taken (running updates in status)",
    sql: `
      -- NULL for claims taken before: such an in-flight update is not listed as running.
      ALTER TABLE inbox ADD COLUMN claimed_at INTEGER;
    `,
  },
  {
    version: 6,
    description: "inbox: isolated claims and the recoveries from claims that ran alone (poison evidence)",
    sql: `
      -- NULL for every claim taken before, as for every ordinary claim: not isolated.
      ALTER TABLE inbox ADD COLUMN isolation INTEGER;
      ALTER TABLE inbox ADD COLUMN recovered_isolation INTEGER;
      ALTER TABLE inbox ADD COLUMN isolated_deaths INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    description: "bot data: the values of grammY storage adapters (sessions, conversations)",
    sql: `
      CREATE TABLE bot_data (
        key        TEXT    NOT NULL PRIMARY KEY,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 8,
    description: "tasks: durable background work with per-kind and per-user limits, retries and dead letters",
    sql: `
      -- seq: add order (ties of due_at run oldest first). state queued|running|done|failed|cancelled.
      CREATE TABLE tasks (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        id               TEXT    NOT NULL UNIQUE,
        kind             TEXT    NOT NULL,
        payload          TEXT    NOT NULL,
        user_id          INTEGER,
        chat_id          INTEGER,
        idem_key         TEXT,
        state            TEXT    NOT NULL,
        failures         INTEGER NOT NULL DEFAULT 0,
        max_attempts     INTEGER NOT NULL,
        runs             INTEGER NOT NULL DEFAULT 0,
        recoveries       INTEGER NOT NULL DEFAULT 0,
        due_at           INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        finished_at      INTEGER,
        lease_owner      TEXT,
        lease_until      INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        progress         TEXT,
        progress_note    TEXT,
        result           TEXT,
        last_error       TEXT
      );
      CREATE UNIQUE INDEX tasks_key ON tasks (idem_key) WHERE idem_key IS NOT NULL;
      -- claim: a kind's due tasks in order; its live claims by user; per-user queue counts.
      CREATE INDEX tasks_queued ON tasks (kind, due_at, seq) WHERE state = 'queued';
      CREATE INDEX tasks_running ON tasks (kind, user_id) WHERE state = 'running';
      CREATE INDEX tasks_user ON tasks (kind, user_id, state);
      CREATE INDEX tasks_finished ON tasks (state, finished_at) WHERE finished_at IS NOT NULL;
    `,
  },
  {
    version: 9,
    description: "inbox: the history of handler tries that did not complete an update (failed, lost)",
    sql: `
      CREATE TABLE inbox_attempts (
        seq        INTEGER PRIMARY KEY,
        update_id  INTEGER NOT NULL,
        attempt    INTEGER NOT NULL,
        owner      TEXT,
        started_at INTEGER,
        ended_at   INTEGER NOT NULL,
        outcome    TEXT    NOT NULL,
        error      TEXT
      );
      CREATE INDEX inbox_attempts_update ON inbox_attempts (update_id, seq);
    `,
  },
  {
    version: 10,
    description: "inbox: how each update arrived (poll or webhook); the journal keeps closed batches for the trace until pruned",
    sql: `
      -- NULL for rows stored before: unknown.
      ALTER TABLE inbox ADD COLUMN via TEXT;
      ALTER TABLE inbox ADD COLUMN via_offset INTEGER;
      ALTER TABLE inbox_journal ADD COLUMN next_offset INTEGER;
      ALTER TABLE inbox_journal ADD COLUMN closed_at INTEGER;
      ALTER TABLE inbox_journal_done ADD COLUMN at INTEGER;
      ALTER TABLE inbox_journal_done ADD COLUMN moved TEXT;
      -- adopt / owners / stats: open batches only (closing a batch takes it out of the index).
      DROP INDEX inbox_journal_owner;
      CREATE INDEX inbox_journal_open ON inbox_journal (owner, batch) WHERE closed_at IS NULL;
      -- prune: closed batches by age.
      CREATE INDEX inbox_journal_closed ON inbox_journal (closed_at) WHERE closed_at IS NOT NULL;
      -- trace: the batch holding an update_id (batches' id ranges do not overlap).
      CREATE INDEX inbox_journal_last ON inbox_journal (last_id);
    `,
  },
];

/** The schema version this build of unlost writes. */
export const LATEST_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
