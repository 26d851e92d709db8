/**
 * The `Store`: everything unlost keeps durably, behind interfaces described by meaning so that
 * each backend (SQLite now, PostgreSQL later) implements every operation atomically in its own
 * way. All SQL lives in `src/store/<backend>/`.
 *
 * Every operation returns a Promise (a PostgreSQL backend is asynchronous) and is one
 * transaction. Operations that depend on time take an optional `now` (ms epoch) and otherwise
 * read the store's clock, so tests and the emulator's clock can drive them.
 *
 * @module
 */
import type { StoreReachability } from "./reachability-types.js";
import type { BotDataStore } from "./data-types.js";
import type { InboxStore, EpochMs } from "./inbox-types.js";
import type { InspectStore } from "./inspect-types.js";
import type { LeaseStore } from "./lease-types.js";
import type { PacingStore } from "./pacing-types.js";
import type { OutboxStore } from "./outbox-types.js";
import type { StateStore } from "./state-types.js";
import type { TaskStore } from "./task-types.js";
import type { Scrub } from "../errors/index.js";
import type { ConnectionOptions } from "node:tls";

/** The backends unlost ships. */
export type StoreKind = "sqlite" | "postgres";

/** A source of the current time in ms since the epoch. */
export type Clock = () => EpochMs;

/** An open store: the inbox, outbox, runtime state, leases and data of one bot. */
export interface Store {
  /** Which backend this is. */
  readonly kind: StoreKind;
  /** Where the data lives, for logs (a file path, or a PostgreSQL URL without its password, and the schema). */
  readonly location: string;
  /** The durable inbox of updates and its dead letters. */
  readonly inbox: InboxStore;
  /** The durable outbox of Bot API sends, its dead letters, audit log and broadcasts. */
  readonly outbox: OutboxStore;
  /** Offset, heartbeat, offline windows and runtime key/values. */
  readonly state: StateStore;
  /** Named leases ("only one poller"). */
  readonly leases: LeaseStore;
  /**
   * The bot's own data: the values of grammY's storage adapters (sessions, conversations),
   * committed with the completion of the update that wrote them.
   */
  readonly data: BotDataStore;
  /** The operator's reads: unfinished updates, handler tries, jobs by filter, broadcasts (dashboard, `unlost trace`). */
  readonly inspect: InspectStore;
  /**
   * Durable tasks (background work started by handlers): claims within per-kind and per-user
   * limits across processes, progress, retries, dead letters. A handler's tasks are added with
   * its completion (the `task.add` effect), exactly once.
   */
  readonly tasks: TaskStore;
  /**
   * The bot's rate slots shared by every process sending for it, on a store several processes
   * share (PostgreSQL). Absent on SQLite: its store is one process's, which paces in memory.
   */
  readonly pacing?: PacingStore;
  /**
   * What was found on opening that the operator should fix, each with its fix (e.g. a data
   * folder other users can read). The runtime logs them at start; doctor reports them.
   */
  readonly warnings?: readonly StoreWarning[];
  /**
   * Whether the store's server can be reached (remote backends: PostgreSQL); undefined for a
   * local one (SQLite). The runtime logs one line per outage from it (see
   * src/runtime/store-outage.ts).
   */
  readonly reachability?: StoreReachability;
  /**
   * Resolves once every operation whose result unlost acknowledges to the outside — ingests
   * and journal appends (the getUpdates that confirms a batch, a webhook's 200) and outbox
   * enqueues (a resolved `outbox.send`) — that completed before the call is on stable storage,
   * so that it survives an OS crash or a power cut, not only a killed process. Other writes
   * (completions, settles, leases) are not waited for: lost to a power cut, they are redone.
   * Backends group it: one flush covers every caller meanwhile. Rejects with `STORE_FAILURE`
   * when the flush failed.
   */
  sync(): Promise<void>;
  /** Closes the store. Idempotent; any later operation fails with `STOPPED`. */
  close(): Promise<void>;
}

/** Something about a store's files an operator should fix. */
export interface StoreWarning {
  /** What is wrong, in one sentence. */
  readonly message: string;
  /** How to fix it, in one sentence. */
  readonly fix: string;
}

/** Options of the embedded SQLite store. */
export interface SqliteStoreOptions {
  /** Selects the SQLite backend (the default). */
  readonly kind?: "sqlite";
  /**
   * The database file; its folder is created when missing. Default `./data/unlost.sqlite`.
   * `:memory:` gives a throw-away database (tests only: nothing survives).
   */
  readonly path?: string;
  /**
   * `normal` (default): with WAL, a committed transaction survives a killed process at once,
   * and an OS crash or power loss once `Store.sync()` resolved (one asynchronous flush per
   * group of commits). `full`: SQLite fsyncs inside every commit, on the event loop's thread
   * (`sync()` then has nothing left to do); slower, rarely needed.
   */
  readonly synchronous?: "normal" | "full";
  /**
   * How the WAL file is flushed to stable storage (default: `fdatasync` on libuv's thread
   * pool). A hook for tests that observe or delay durability; not for production use.
   */
  readonly flushFile?: (fd: number) => Promise<void>;
  /** How long to wait for another process's write lock before failing, ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** The clock used when an operation is given no `now`. Default `Date.now`. */
  readonly clock?: Clock;
  /**
   * Keep no payloads in the outbox's audit log (only who, when, which method and the result).
   * Payloads of jobs marked sensitive are never kept, whatever this says. Default false.
   */
  readonly auditRedaction?: boolean;
  /**
   * Removes secrets from every free-text column the store writes: the errors and stacks of
   * retries and dead letters (inbox and outbox), the attempt history, the audit log's errors
   * and the reasons of unreachable chats. The runtime passes its scrubber (bot token, webhook
   * secret); default: the bot-token pattern only. Update payloads, job payloads and results,
   * runtime values (the generated webhook secret lives there) and bot data (sessions,
   * conversations) are stored as given: they are data that must come back byte for byte, not
   * text unlost wrote.
   */
  readonly scrub?: Scrub;
}

/**
 * Options of the PostgreSQL store: several processes on one database (see docs/postgres.md).
 * Selected by `kind: "postgres"`, or by giving a `url` without a kind.
 */
export interface PostgresStoreOptions {
  /** Selects the PostgreSQL backend (implied by `url`). */
  readonly kind?: "postgres";
  /**
   * The server and database: `postgres://user:password@host:5432/database` (`postgresql://`
   * too; libpq query parameters such as `sslmode` are understood by `pg`). The password is
   * never logged nor put in an error message.
   */
  readonly url: string;
  /**
   * The schema holding unlost's tables, created when missing. Default `unlost`. Lowercase
   * letters, digits and `_`, starting with a letter or `_`: one database can hold the stores
   * of several bots, a schema each.
   */
  readonly schema?: string;
  /** Connections in this process's pool. Default 10. */
  readonly poolSize?: number;
  /**
   * TLS options passed to `pg` as they are (`true` for TLS with the system's CAs, or
   * `{ ca, cert, key, rejectUnauthorized, ... }` from node:tls). Default: what the URL says.
   */
  readonly ssl?: boolean | ConnectionOptions;
  /** How long to wait for a connection (new or from the pool) before failing, ms. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** The clock used when an operation is given no `now`. Default `Date.now`. */
  readonly clock?: Clock;
  /** As {@link SqliteStoreOptions.auditRedaction}. */
  readonly auditRedaction?: boolean;
  /** As {@link SqliteStoreOptions.scrub}; the URL's password is always scrubbed too. */
  readonly scrub?: Scrub;
}

/** Options of {@link openStore}: one variant per backend. */
export type StoreOptions = SqliteStoreOptions | PostgresStoreOptions;
