/**
 * The PostgreSQL schema, as an ordered list of migrations recorded in `unlost_migrations`. A
 * migration is never edited once released, only appended.
 *
 * The tables mirror SQLite's (see ../sqlite/schema.ts for the design of the inbox and its chat
 * queue), with PostgreSQL types: ids and times (ms since the epoch) are `bigint`, parsed back
 * as JS numbers. Keys compared as byte ranges (bot data, chat keys) use `COLLATE "C"`, so their
 * order is the UTF-8 byte order SQLite uses, whatever the database's locale.
 *
 * Migration 1: inbox rows, chat queue, runtime state, offline windows, key/values, leases and
 * bot data. Migration 2: the inbox journal (see journal.ts). Migration 3: the outbox (see
 * outbox-schema.ts). Migration 6: the shared rate slots (see pacing-schema.ts). Versions 4 and
 * 5 are taken by work on other branches; a list with a gap applies what it holds in order.
 *
 * @module
 */
import { PG_OUTBOX_SCHEMA_SQL } from "./outbox-schema.js";
import { PG_PACING_SCHEMA_SQL } from "./pacing-schema.js";

/** One schema step. */
export interface PgMigration {
  /** The version recorded after this migration. */
  readonly version: number;
  /** What it does, for logs. */
  readonly description: string;
  /** The DDL, run in the migration's transaction with the store's schema first in the search path. */
  readonly sql: string;
}

/** All migrations, in order. */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: "inbox, chat queues, runtime state, offline windows, key/values, leases, bot data",
    sql: `
      CREATE TABLE inbox (
        update_id           bigint  PRIMARY KEY,
        chat_key            text    COLLATE "C" NOT NULL,
        update_type         text    NOT NULL,
        message_date        bigint,
        received_at         bigint  NOT NULL,
        raw                 text    NOT NULL,
        state               text    NOT NULL CHECK (state IN ('pending', 'inflight', 'done', 'dead')),
        due_at              bigint  NOT NULL,
        attempts            integer NOT NULL DEFAULT 0,
        recoveries          integer NOT NULL DEFAULT 0,
        lease_owner         text,
        lease_until         bigint,
        lease_token         bigint  NOT NULL DEFAULT 0,
        last_error          text,
        last_stack          text,
        settled_at          bigint,
        claimed_at          bigint,
        isolation           integer,
        recovered_isolation integer,
        isolated_deaths     integer NOT NULL DEFAULT 0
      );
      -- The open items of a chat in order: finds the next head when one settles. Partial, so
      -- finished items (the bulk of the table) cost nothing here.
      CREATE INDEX inbox_chat_open ON inbox (chat_key, update_id) WHERE state IN ('pending', 'inflight');
      -- Counts by state, prune (done + settled_at), dead-letter listing.
      CREATE INDEX inbox_state_settled ON inbox (state, settled_at);
      -- In-flight claims (expireClaims, inflightOwners, running): few rows, found without a scan.
      CREATE INDEX inbox_inflight ON inbox (claimed_at, update_id) WHERE state = 'inflight';

      -- One row per chat with unfinished work: its head and when it is claimable.
      CREATE TABLE chat_queue (
        chat_key text   COLLATE "C" PRIMARY KEY,
        head_id  bigint NOT NULL,
        ready_at bigint NOT NULL
      );
      CREATE INDEX chat_queue_order ON chat_queue (head_id, ready_at);

      CREATE TABLE runtime (
        id          integer PRIMARY KEY CHECK (id = 1),
        poll_offset bigint,
        last_beat   bigint
      );
      INSERT INTO runtime (id) VALUES (1);

      CREATE TABLE offline_windows (
        id        bigserial PRIMARY KEY,
        from_time bigint NOT NULL,
        to_time   bigint NOT NULL
      );

      CREATE TABLE kv (
        key   text PRIMARY KEY,
        value text NOT NULL
      );

      -- Kept after release (expires_at 0), so epochs never repeat.
      CREATE TABLE leases (
        name       text   PRIMARY KEY,
        owner      text   NOT NULL,
        epoch      bigint NOT NULL,
        expires_at bigint NOT NULL
      );

      -- text, not jsonb: values come back byte for byte (jsonb would normalise them).
      CREATE TABLE bot_data (
        key        text   COLLATE "C" PRIMARY KEY,
        value      text   NOT NULL,
        updated_at bigint NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: "inbox journal: one record per fetched batch, its completions, done counts per minute",
    sql: `
      -- A sequence never hands out a number twice, even after the newest batch is deleted, so a
      -- stale owner's completion can never hit another batch of the same number.
      CREATE TABLE inbox_journal (
        batch       bigserial PRIMARY KEY,
        owner       text      NOT NULL,
        received_at bigint    NOT NULL,
        first_id    bigint    NOT NULL,
        last_id     bigint    NOT NULL,
        count       integer   NOT NULL,
        settled     integer   NOT NULL DEFAULT 0
      );
      -- adopt / owners: an owner's batches in order.
      CREATE INDEX inbox_journal_owner ON inbox_journal (owner, batch);

      -- The batch's updates as one JSON array (text: stored as received), apart from the small
      -- row above that every completion flush rewrites.
      CREATE TABLE inbox_journal_updates (
        batch   bigint PRIMARY KEY,
        updates text   NOT NULL
      );

      -- Per flush and batch: the update_ids done or moved (JSON array); seq is the batch's
      -- settled count after that flush, hence unique per batch.
      CREATE TABLE inbox_journal_done (
        batch bigint  NOT NULL,
        seq   integer NOT NULL,
        ids   text    NOT NULL,
        PRIMARY KEY (batch, seq)
      );

      -- Completed journal updates per minute (minute = floor(ms / 60000)): they have no rows.
      CREATE TABLE inbox_done_counts (
        minute bigint PRIMARY KEY,
        n      bigint NOT NULL
      );
    `,
  },
  {
    version: 3,
    description: "outbox: jobs, chat heads, broadcasts, unreachable chats, known users, audit log, counters",
    sql: PG_OUTBOX_SCHEMA_SQL,
  },
  {
    version: 4,
    description: "tasks: durable background work with per-kind and per-user limits, retries and dead letters",
    sql: `
      -- As SQLite's tasks table (see ../sqlite/schema.ts, migration 8).
      CREATE TABLE tasks (
        seq              bigserial PRIMARY KEY,
        id               text      NOT NULL UNIQUE,
        kind             text      NOT NULL,
        payload          text      NOT NULL,
        user_id          bigint,
        chat_id          bigint,
        idem_key         text,
        state            text      NOT NULL,
        failures         integer   NOT NULL DEFAULT 0,
        max_attempts     integer   NOT NULL,
        runs             integer   NOT NULL DEFAULT 0,
        recoveries       integer   NOT NULL DEFAULT 0,
        due_at           bigint    NOT NULL,
        created_at       bigint    NOT NULL,
        updated_at       bigint    NOT NULL,
        finished_at      bigint,
        lease_owner      text,
        lease_until      bigint,
        cancel_requested boolean   NOT NULL DEFAULT false,
        progress         text,
        progress_note    text,
        result           text,
        last_error       text
      );
      CREATE UNIQUE INDEX tasks_key ON tasks (idem_key) WHERE idem_key IS NOT NULL;
      CREATE INDEX tasks_queued ON tasks (kind, due_at, seq) WHERE state = 'queued';
      CREATE INDEX tasks_running ON tasks (kind, user_id) WHERE state = 'running';
      CREATE INDEX tasks_user ON tasks (kind, user_id, state);
      CREATE INDEX tasks_finished ON tasks (state, finished_at) WHERE finished_at IS NOT NULL;
    `,
  },
  {
    // See the SQLite schema's migration 9 (the same table).
    version: 5,
    description: "inbox: the history of handler tries that did not complete an update (failed, lost)",
    sql: `
      CREATE TABLE inbox_attempts (
        seq        bigserial PRIMARY KEY,
        update_id  bigint    NOT NULL,
        attempt    integer   NOT NULL,
        owner      text,
        started_at bigint,
        ended_at   bigint    NOT NULL,
        outcome    text      NOT NULL,
        error      text
      );
      CREATE INDEX inbox_attempts_update ON inbox_attempts (update_id, seq);
    `,
  },
  {
    version: 6,
    description: "shared rate slots: the bot's and each chat's send buckets, 429 penalties",
    sql: PG_PACING_SCHEMA_SQL,
  },
  {
    // See the SQLite schema's migration 10 (the same columns and indexes).
    version: 7,
    description: "inbox: how each update arrived (poll or webhook); the journal keeps closed batches for the trace until pruned",
    sql: `
      ALTER TABLE inbox ADD COLUMN via text;
      ALTER TABLE inbox ADD COLUMN via_offset bigint;
      ALTER TABLE inbox_journal ADD COLUMN next_offset bigint;
      ALTER TABLE inbox_journal ADD COLUMN closed_at bigint;
      ALTER TABLE inbox_journal_done ADD COLUMN at bigint;
      ALTER TABLE inbox_journal_done ADD COLUMN moved text;
      DROP INDEX inbox_journal_owner;
      CREATE INDEX inbox_journal_open ON inbox_journal (owner, batch) WHERE closed_at IS NULL;
      CREATE INDEX inbox_journal_closed ON inbox_journal (closed_at) WHERE closed_at IS NOT NULL;
      CREATE INDEX inbox_journal_last ON inbox_journal (last_id);
    `,
  },
];

/** The schema version this build of unlost writes on PostgreSQL. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]?.version ?? 0;
