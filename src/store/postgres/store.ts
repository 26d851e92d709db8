/**
 * The PostgreSQL {@link Store}: one schema holding inbox (rows and journal), outbox, state, leases
 * and bot data, shared by every process of a bot (see docs/postgres.md).
 *
 * @module
 */
import type { PostgresStoreOptions, Store } from "../types.js";
import { PgData } from "./data.js";
import { PgDatabase } from "./database.js";
import { PgInbox } from "./inbox.js";
import { PgInspect } from "./inspect.js";
import { PgLeases } from "./lease.js";
import { PgOutbox } from "./outbox.js";
import type { PgReachability } from "./reachability.js";
import { PgPacing } from "./pacing.js";
import { PgState } from "./state.js";
import { PgTasks } from "./tasks.js";

const RESOLVED: Promise<void> = Promise.resolve();

/** {@link Store} on PostgreSQL (node-postgres pool). */
export class PostgresStore implements Store {
  /** {@inheritDoc Store.kind} */
  readonly kind = "postgres" as const;
  /** {@inheritDoc Store.location} */
  readonly location: string;
  /** {@inheritDoc Store.inbox} */
  readonly inbox: PgInbox;
  /** {@inheritDoc Store.outbox} */
  readonly outbox: PgOutbox;
  /** {@inheritDoc Store.state} */
  readonly state: PgState;
  /** {@inheritDoc Store.leases} */
  readonly leases: PgLeases;
  /** {@inheritDoc Store.data} */
  readonly data: PgData;
  /** {@inheritDoc Store.tasks} */
  readonly tasks: PgTasks;
  /** {@inheritDoc Store.inspect} */
  readonly inspect: PgInspect;
  /** {@inheritDoc Store.reachability} */
  readonly reachability: PgReachability;
  /** {@inheritDoc Store.pacing} */
  readonly pacing: PgPacing;
  /** The connection pool, for backend-specific tests and tools. */
  readonly database: PgDatabase;

  private constructor(database: PgDatabase, options: PostgresStoreOptions) {
    this.database = database;
    this.location = database.location;
    this.reachability = database.reachability;
    this.inbox = new PgInbox(database);
    this.outbox = new PgOutbox(database, { auditRedaction: options.auditRedaction === true });
    this.state = new PgState(database);
    this.leases = new PgLeases(database);
    this.data = new PgData(database);
    this.tasks = new PgTasks(database);
    this.inspect = new PgInspect(database);
    this.pacing = new PgPacing(database);
  }

  /**
   * Connects to `options.url`, creating the schema (default `unlost`) and applying the missing
   * migrations under an advisory lock.
   *
   * @throws UnlostError `INVALID_CONFIG` for a malformed URL or option; `STORE_VERSION_UNSUPPORTED`
   * for a schema written by a newer unlost; `STORE_FAILURE` when the server cannot be reached.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    return new PostgresStore(await PgDatabase.open(options), options);
  }

  /**
   * {@inheritDoc Store.sync}
   *
   * Nothing to wait for: PostgreSQL has flushed its WAL when COMMIT returns (with the default
   * `synchronous_commit = on`), so every acknowledged write is already durable.
   */
  sync(): Promise<void> {
    return RESOLVED;
  }

  /** {@inheritDoc Store.close} */
  close(): Promise<void> {
    return this.database.close();
  }
}
