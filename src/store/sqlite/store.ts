/**
 * The SQLite {@link Store}: one database file holding inbox, outbox, state, leases and bot data.
 *
 * @module
 */
import type { SqliteStoreOptions, Store, StoreWarning } from "../types.js";
import { SqliteData } from "./data.js";
import { SqliteDatabase } from "./database.js";
import { SqliteInbox } from "./inbox.js";
import { SqliteInspect } from "./inspect.js";
import { SqliteLeases } from "./lease.js";
import { SqliteOutbox } from "./outbox.js";
import { SqliteState } from "./state.js";
import { SqliteTasks } from "./tasks.js";

/** {@link Store} on an embedded SQLite file (better-sqlite3). */
export class SqliteStore implements Store {
  /** {@inheritDoc Store.kind} */
  readonly kind = "sqlite" as const;
  /** {@inheritDoc Store.location} */
  readonly location: string;
  /** {@inheritDoc Store.inbox} */
  readonly inbox: SqliteInbox;
  /** {@inheritDoc Store.outbox} */
  readonly outbox: SqliteOutbox;
  /** {@inheritDoc Store.state} */
  readonly state: SqliteState;
  /** {@inheritDoc Store.leases} */
  readonly leases: SqliteLeases;
  /** {@inheritDoc Store.data} */
  readonly data: SqliteData;
  /** {@inheritDoc Store.tasks} */
  readonly tasks: SqliteTasks;
  /** {@inheritDoc Store.inspect} */
  readonly inspect: SqliteInspect;
  /** {@inheritDoc Store.warnings} */
  readonly warnings: readonly StoreWarning[];
  /** The connection, for backend-specific tests and tools. */
  readonly database: SqliteDatabase;

  private constructor(database: SqliteDatabase, options: SqliteStoreOptions) {
    this.database = database;
    this.location = database.location;
    this.warnings = database.warnings;
    this.inbox = new SqliteInbox(database);
    this.outbox = new SqliteOutbox(database, { auditRedaction: options.auditRedaction === true });
    this.state = new SqliteState(database);
    this.leases = new SqliteLeases(database);
    this.data = new SqliteData(database);
    this.tasks = new SqliteTasks(database);
    this.inspect = new SqliteInspect(database);
  }

  /**
   * Opens (creating and migrating when needed) the SQLite store at `options.path`
   * (default `./data/unlost.sqlite`).
   *
   * @throws UnlostError `STORE_VERSION_UNSUPPORTED` for a file written by a newer unlost;
   * `STORE_FAILURE` when the file cannot be opened or is not unlost's.
   */
  static open(options: SqliteStoreOptions = {}): SqliteStore {
    return new SqliteStore(SqliteDatabase.open(options), options);
  }

  /** {@inheritDoc Store.sync} */
  sync(): Promise<void> {
    return this.database.sync();
  }

  /** {@inheritDoc Store.close} */
  async close(): Promise<void> {
    await this.database.releaseWal();
    this.database.close();
  }
}
