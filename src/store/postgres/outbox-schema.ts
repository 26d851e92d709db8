/**
 * The outbox's tables on PostgreSQL (migration 3): the tables of ../sqlite/outbox-schema.ts
 * (see there for the design of the chat heads and their three statuses), with these
 * differences:
 *
 * - `chat_id` holds the chat id as JSON text (`123` or `"@channel"`): SQLite's typeless column
 *   gives back a number or a string as enqueued, PostgreSQL needs one type.
 * - `history` is `jsonb`, appended to with `||` (no read-modify-write in JS).
 * - No counter triggers: a row updated by every enqueue and settle would serialize every
 *   sender of every process. `stats` counts instead (one grouped scan); only the count of
 *   diverging replays, which no row keeps, is a counter.
 *
 * @module
 */

/** The DDL of the outbox (PostgreSQL migration 3). */
export const PG_OUTBOX_SCHEMA_SQL = `
  CREATE TABLE outbox_jobs (
    seq               bigserial        PRIMARY KEY,
    id                text             NOT NULL UNIQUE,
    idem_key          text,
    method            text             NOT NULL,
    chat_key          text COLLATE "C" NOT NULL,
    chat_id           text             NOT NULL,
    payload           text             NOT NULL,
    priority          text             NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    rank              integer          NOT NULL,
    max_attempts      integer          NOT NULL,
    backoff_base      bigint           NOT NULL,
    backoff_max       bigint           NOT NULL,
    backoff_jitter    double precision NOT NULL,
    timeout_ms        bigint           NOT NULL,
    not_before        bigint           NOT NULL,
    deadline          bigint,
    metadata          text,
    sensitive         integer          NOT NULL,
    broadcast_id      text,
    blobs             text             NOT NULL,
    paid              integer          NOT NULL,
    fingerprint       text,
    state             text             NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed', 'cancelled')),
    attempts          integer          NOT NULL DEFAULT 0,
    ambiguous         integer          NOT NULL DEFAULT 0,
    due_at            bigint           NOT NULL,
    last_error        text,
    failure_reason    text,
    result            text,
    result_message_id bigint,
    created_at        bigint           NOT NULL,
    updated_at        bigint           NOT NULL,
    delivered_at      bigint,
    finished_at       bigint,
    history           jsonb            NOT NULL DEFAULT '[]',
    lease_owner       text,
    lease_until       bigint,
    lease_token       bigint           NOT NULL DEFAULT 0
  );
  CREATE UNIQUE INDEX outbox_jobs_key ON outbox_jobs (idem_key) WHERE idem_key IS NOT NULL;
  CREATE INDEX outbox_jobs_queued ON outbox_jobs (chat_key, seq) WHERE state = 'queued';
  CREATE INDEX outbox_jobs_sending ON outbox_jobs (chat_key) WHERE state = 'sending';
  CREATE INDEX outbox_jobs_queued_age ON outbox_jobs (created_at) WHERE state = 'queued';
  CREATE INDEX outbox_jobs_finished ON outbox_jobs (state, finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX outbox_jobs_failed ON outbox_jobs (seq) WHERE state = 'failed';
  CREATE INDEX outbox_jobs_broadcast ON outbox_jobs (broadcast_id, state, chat_key) WHERE broadcast_id IS NOT NULL;

  CREATE TABLE outbox_heads (
    chat_key text COLLATE "C" PRIMARY KEY,
    head_seq bigint  NOT NULL,
    rank     integer NOT NULL,
    ready_at bigint  NOT NULL,
    status   integer NOT NULL CHECK (status IN (0, 1, 2))
  );
  CREATE INDEX outbox_heads_ready ON outbox_heads (rank, head_seq) WHERE status = 1;
  CREATE INDEX outbox_heads_timed ON outbox_heads (ready_at) WHERE status = 0;

  CREATE TABLE outbox_broadcasts (
    id         text    PRIMARY KEY,
    paused     integer NOT NULL DEFAULT 0,
    created_at bigint  NOT NULL
  );

  CREATE TABLE outbox_unreachable (
    chat_key text COLLATE "C" PRIMARY KEY,
    chat_id  text   NOT NULL,
    reason   text   NOT NULL,
    since    bigint NOT NULL
  );

  CREATE TABLE outbox_users (
    user_id bigint PRIMARY KEY,
    chat_id text   NOT NULL,
    seen_at bigint NOT NULL
  );

  CREATE TABLE outbox_audit (
    id         bigserial PRIMARY KEY,
    job_id     text   NOT NULL,
    chat_key   text COLLATE "C" NOT NULL,
    chat_id    text   NOT NULL,
    method     text   NOT NULL,
    outcome    text   NOT NULL,
    message_id bigint,
    error      text,
    at         bigint NOT NULL,
    payload    text
  );
  CREATE INDEX outbox_audit_at ON outbox_audit (at);
  CREATE INDEX outbox_audit_chat ON outbox_audit (chat_key, id);

  CREATE TABLE outbox_counters (
    name text   PRIMARY KEY,
    n    bigint NOT NULL
  );
  INSERT INTO outbox_counters (name, n) VALUES ('diverged', 0);
`;
