/**
 * The outbox's tables (schema version 2).
 *
 * - `outbox_jobs`: one row per job. `seq` (the rowid) is the enqueue order, which is the order
 *   within a chat and the tie-break across chats. `chat_key` is `String(chat_id)`, so a chat
 *   given once as `123` and once as `"123"` is still one FIFO; `chat_id` is declared without a
 *   type so it gives back exactly what was enqueued (number or `@username`).
 * - `history` is a JSON column rather than a child table: it is small (bounded by the job's
 *   attempts), always read together with its job (claim, get, dead letters) and never queried
 *   on its own, so one row read beats a join or a second seek per claimed job.
 * - `outbox_heads`: one row per chat with open work (the inbox's `chat_queue` idea), holding its
 *   head (`head_seq`, the job in flight else the oldest queued one) and the head's priority
 *   `rank`. `status` splits heads in three: 1 = *ready* (claimable now), 0 = *timed* (claimable
 *   once `ready_at` passes: a due time in the future, or the lease end of a job in flight),
 *   2 = *paused* (its broadcast is paused). Claiming first promotes timed heads whose time has
 *   come (a range of the `ready_at` index: only heads that became due since the last claim),
 *   then reads the ready index in (rank, head_seq) order and stops after `limit`. Every row of
 *   that index is claimable, so a claim reads about `limit` index entries, whatever the backlog,
 *   the number of chats in flight or waiting for a retry.
 * - `outbox_counters` is kept by triggers, so `stats` reads eight rows (plus the jobs in flight)
 *   instead of counting a million, and no code path can forget to update it.
 *
 * @module
 */

/** The DDL of the outbox (migration 2). */
export const OUTBOX_SCHEMA_SQL = `
  CREATE TABLE outbox_jobs (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    idem_key          TEXT,
    method            TEXT    NOT NULL,
    chat_key          TEXT    NOT NULL,
    chat_id                   NOT NULL,
    payload           TEXT    NOT NULL,
    priority          TEXT    NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    rank              INTEGER NOT NULL,
    max_attempts      INTEGER NOT NULL,
    backoff_base      INTEGER NOT NULL,
    backoff_max       INTEGER NOT NULL,
    backoff_jitter    REAL    NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    not_before        INTEGER NOT NULL,
    deadline          INTEGER,
    metadata          TEXT,
    sensitive         INTEGER NOT NULL,
    broadcast_id      TEXT,
    blobs             TEXT    NOT NULL,
    paid              INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    ambiguous         INTEGER NOT NULL DEFAULT 0,
    due_at            INTEGER NOT NULL,
    last_error        TEXT,
    failure_reason    TEXT,
    result            TEXT,
    result_message_id INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    delivered_at      INTEGER,
    finished_at       INTEGER,
    history           TEXT    NOT NULL DEFAULT '[]',
    lease_owner       TEXT,
    lease_until       INTEGER,
    lease_token       INTEGER NOT NULL DEFAULT 0
  );
  -- Idempotency; partial, so jobs without a key cost nothing here.
  CREATE UNIQUE INDEX outbox_jobs_key ON outbox_jobs (idem_key) WHERE idem_key IS NOT NULL;
  -- Partial indexes are used only when the query's WHERE implies the index's, and SQLite does
  -- not infer "state IN (a, b)" from "state = a": hence one index per state, not one per group.
  -- A chat's queued jobs in order: its next head, retarget.
  CREATE INDEX outbox_jobs_queued ON outbox_jobs (chat_key, seq) WHERE state = 'queued';
  -- Jobs in flight (as many as the delivery loops' concurrency): a chat's head, owners, expiry.
  CREATE INDEX outbox_jobs_sending ON outbox_jobs (chat_key) WHERE state = 'sending';
  -- The oldest queued job (stats) is the first entry.
  CREATE INDEX outbox_jobs_queued_age ON outbox_jobs (created_at) WHERE state = 'queued';
  -- Prune and the delivery rate of the last minute ("finished_at < ?" implies NOT NULL).
  CREATE INDEX outbox_jobs_finished ON outbox_jobs (state, finished_at) WHERE finished_at IS NOT NULL;
  -- Dead letters in enqueue order (few, normally).
  CREATE INDEX outbox_jobs_failed ON outbox_jobs (seq) WHERE state = 'failed';
  -- Broadcast progress, pause, resume, cancel.
  CREATE INDEX outbox_jobs_broadcast ON outbox_jobs (broadcast_id, state, chat_key) WHERE broadcast_id IS NOT NULL;

  CREATE TABLE outbox_heads (
    chat_key TEXT    PRIMARY KEY,
    head_seq INTEGER NOT NULL,
    rank     INTEGER NOT NULL,
    ready_at INTEGER NOT NULL,
    status   INTEGER NOT NULL CHECK (status IN (0, 1, 2))
  ) WITHOUT ROWID;
  -- Claim order of the claimable heads; covering (chat_key comes with the primary key).
  CREATE INDEX outbox_heads_ready ON outbox_heads (rank, head_seq) WHERE status = 1;
  -- Timed heads by the time they become claimable (promotion, lease recovery).
  CREATE INDEX outbox_heads_timed ON outbox_heads (ready_at) WHERE status = 0;

  CREATE TABLE outbox_broadcasts (
    id         TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE outbox_unreachable (
    chat_key TEXT    PRIMARY KEY,
    chat_id          NOT NULL,
    reason   TEXT    NOT NULL,
    since    INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE outbox_users (
    user_id INTEGER PRIMARY KEY,
    chat_id         NOT NULL,
    seen_at INTEGER NOT NULL
  );

  CREATE TABLE outbox_audit (
    id         INTEGER PRIMARY KEY,
    job_id     TEXT    NOT NULL,
    chat_key   TEXT    NOT NULL,
    chat_id            NOT NULL,
    method     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    message_id INTEGER,
    error      TEXT,
    at         INTEGER NOT NULL,
    payload    TEXT
  );
  CREATE INDEX outbox_audit_at ON outbox_audit (at);
  CREATE INDEX outbox_audit_chat ON outbox_audit (chat_key, id);

  CREATE TABLE outbox_counters (
    name TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO outbox_counters (name, n) VALUES
    ('open:critical', 0), ('open:high', 0), ('open:normal', 0), ('open:low', 0),
    ('state:delivered', 0), ('state:failed', 0), ('state:cancelled', 0), ('ambiguous', 0);

  -- Counter classes: an open job (queued or sending) counts under its priority, a finished one
  -- under its state. Claims, retries and defers only move a job between queued and sending, so
  -- the hot path fires no trigger; stats splits open jobs with the (small) set in flight.
  CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox_jobs BEGIN
    UPDATE outbox_counters SET n = n + 1
      WHERE name = CASE WHEN NEW.state IN ('queued', 'sending') THEN 'open:' || NEW.priority ELSE 'state:' || NEW.state END;
  END;
  CREATE TRIGGER outbox_count_update AFTER UPDATE OF state, ambiguous ON outbox_jobs
    WHEN (CASE WHEN OLD.state IN ('queued', 'sending') THEN 'open' ELSE OLD.state END)
           IS NOT (CASE WHEN NEW.state IN ('queued', 'sending') THEN 'open' ELSE NEW.state END)
      OR OLD.ambiguous IS NOT NEW.ambiguous BEGIN
    UPDATE outbox_counters SET n = n
        + (name = CASE WHEN NEW.state IN ('queued', 'sending') THEN 'open:' || NEW.priority ELSE 'state:' || NEW.state END)
        - (name = CASE WHEN OLD.state IN ('queued', 'sending') THEN 'open:' || OLD.priority ELSE 'state:' || OLD.state END)
        + (CASE WHEN name = 'ambiguous' THEN NEW.ambiguous - OLD.ambiguous ELSE 0 END)
      WHERE name IN (
        CASE WHEN NEW.state IN ('queued', 'sending') THEN 'open:' || NEW.priority ELSE 'state:' || NEW.state END,
        CASE WHEN OLD.state IN ('queued', 'sending') THEN 'open:' || OLD.priority ELSE 'state:' || OLD.state END,
        'ambiguous');
  END;
  CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox_jobs BEGIN
    UPDATE outbox_counters SET n = n
        - (name = CASE WHEN OLD.state IN ('queued', 'sending') THEN 'open:' || OLD.priority ELSE 'state:' || OLD.state END)
        - (CASE WHEN name = 'ambiguous' THEN OLD.ambiguous ELSE 0 END)
      WHERE name IN (CASE WHEN OLD.state IN ('queued', 'sending') THEN 'open:' || OLD.priority ELSE 'state:' || OLD.state END, 'ambiguous');
  END;
`;
