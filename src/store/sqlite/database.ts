/**
 * The SQLite connection of a store: opening it with the right settings, caching prepared
 * statements, and running each store operation as one transaction with its errors mapped.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { redactSecrets, UnlostError, type Scrub } from "../../errors/index.js";
import { ensurePrivateDir, ensurePrivateFile, folderWarning, makePrivate, type FolderWarning } from "../../shared/private-files.js";
import { clip } from "../validate.js";
import type { Clock, SqliteStoreOptions } from "../types.js";
import { toStoreError } from "./errors.js";
import { migrate } from "./migrate.js";
import { WalSync } from "./wal-sync.js";

/** The default database file, relative to the working directory. */
export const DEFAULT_SQLITE_PATH = "./data/unlost.sqlite";

/**
 * How often the WAL is checkpointed, ms. A checkpoint blocks the thread while it copies the
 * pages changed since the last one: at ~8k updates/s a 1 s interval paused it ~25 ms (p99
 * arrival-to-start latency 25-35 ms), 200 ms keeps the pauses to a few ms at the same
 * throughput (hot pages changed by many commits are still copied once per interval).
 */
const CHECKPOINT_INTERVAL_MS = 200;

/** The automatic checkpoint's threshold, in pages (4 KiB): a backstop only, ~64 MiB. */
const AUTO_CHECKPOINT_PAGES = 16384;

const RESOLVED: Promise<void> = Promise.resolve();

/** Options of {@link SqliteDatabase.write}. */
export interface WriteOptions {
  /**
   * The commit is about to be acknowledged to the outside (a fetched batch, a webhook update,
   * an enqueue): its flush starts at once, ahead of the `sync()` that will wait for it.
   */
  readonly acknowledgedSoon?: boolean;
}

/** For writes that are acknowledged right after they commit (see {@link WriteOptions}). */
export const ACKNOWLEDGED_SOON: WriteOptions = Object.freeze({ acknowledgedSoon: true });

/** A statement prepared once and reused (preparing is the expensive part of a small query). */
export type Statement = Database.Statement<unknown[], unknown>;

/**
 * One open SQLite database. Store operations call {@link SqliteDatabase.write} or
 * {@link SqliteDatabase.read}; both are synchronous (better-sqlite3 is), the async interface
 * is provided by the store classes around them.
 */
export class SqliteDatabase {
  /** The resolved file path (or `:memory:`). */
  readonly location: string;
  /** The clock used when an operation is given no `now`. */
  readonly clock: Clock;
  /** Removes secrets from free text (see {@link SqliteDatabase.freeText}). */
  private readonly scrub: Scrub;
  /** What was found on opening that the operator should fix (a data folder open to others). */
  readonly warnings: readonly FolderWarning[];
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();
  // One transaction wrapper built once (better-sqlite3 builds several variants per call of
  // `db.transaction`), running whatever operation it is given.
  private readonly transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private closed = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** Flushes the WAL before acknowledgements; none in memory, nor with `synchronous=FULL` (every commit flushes). */
  private readonly walSync: WalSync | undefined;

  private constructor(db: Database.Database, location: string, clock: Clock, memory: boolean, scrub: Scrub, warnings: readonly FolderWarning[], walSync: WalSync | undefined) {
    this.db = db;
    this.walSync = walSync;
    this.location = location;
    this.clock = clock;
    this.scrub = scrub;
    this.warnings = warnings;
    this.transaction = db.transaction((fn: () => unknown) => fn());
    if (!memory) {
      // Checkpoints off the commit path (see `open`): one PASSIVE checkpoint per interval
      // copies each page changed meanwhile once, however many commits changed it.
      this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_INTERVAL_MS);
      this.checkpointTimer.unref();
    }
  }

  /**
   * Copies the WAL's committed pages into the database file without waiting for readers or
   * writers (`PASSIVE`), so that the WAL can be reused from its start. Errors are ignored: a
   * checkpoint that cannot run now runs at the next interval (or automatically, see `open`).
   */
  checkpoint(): void {
    if (this.closed) return;
    try {
      this.db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // busy or closing: the next interval retries
    }
  }

  /**
   * Opens (creating when needed) and migrates the database.
   *
   * Durability: WAL journal. With `synchronous=NORMAL` a commit is written to the WAL file (in
   * the OS page cache) before `COMMIT` returns, so a `kill -9` of this process right after an
   * ingest loses nothing; an OS crash or power cut could lose the last commits, because NORMAL
   * skips the fsync per commit (it syncs at checkpoints). What unlost acknowledges is covered
   * anyway: {@link SqliteDatabase.sync} flushes the WAL asynchronously, once per group of
   * commits (see wal-sync.ts), before any acknowledgement. `FULL` would fsync inside every
   * commit, on the event loop's thread.
   *
   * Privacy: a new data folder is created 0700 and the database, WAL and shared-memory files
   * are 0600 whatever the umask (see `shared/private-files.ts` for why per-file modes and not
   * the umask). An existing folder open to others is not changed but reported in `warnings`.
   */
  static open(options: SqliteStoreOptions = {}): SqliteDatabase {
    const path = options.path ?? DEFAULT_SQLITE_PATH;
    const memory = path === ":memory:";
    const location = memory ? path : resolve(path);
    let db: Database.Database | undefined;
    const warnings: FolderWarning[] = [];
    try {
      if (!memory) {
        const dir = dirname(location);
        if (!ensurePrivateDir(dir)) {
          const warning = folderWarning(dir);
          if (warning !== undefined) warnings.push(warning);
        }
        // Created 0600 before SQLite opens it: SQLite creates the -wal and -shm files with the
        // database file's mode (and fixes them up if the umask narrowed it), so they are
        // private from their first byte too.
        ensurePrivateFile(location);
      }
      db = new Database(location, { timeout: options.busyTimeoutMs ?? 5000 });
      if (!memory) {
        const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
        if (mode !== "wal") throw new Error(`could not switch the journal to WAL (got ${String(mode)})`);
        // SQLite keeps the mode of existing -wal/-shm files: ones left by an older unlost (with
        // the umask's mode) are made private here.
        makePrivate(`${location}-wal`);
        makePrivate(`${location}-shm`);
      }
      db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      // Temp B-trees (sorts) in memory; a page cache of ~4 MiB (SQLite's default is 2): the hot
      // pages are the tails of the inbox and outbox indexes, and the rest is in the OS's cache
      // anyway. 16 MiB measured no faster on bench:echo and cost 12-17 MB of peak RSS.
      db.pragma("temp_store = MEMORY");
      db.pragma("cache_size = -4000");
      // Keep the WAL file from growing without bound after a burst.
      db.pragma("journal_size_limit = 67108864");
      // Checkpoints: SQLite's default runs one inside the COMMIT that pushes the WAL past 1000
      // pages, on the caller's thread, and with small transactions the same hot pages (inbox
      // indexes, chat queue) are copied again at every one. A timer checkpoints instead (see
      // the constructor); the automatic one stays as a backstop, far away, so the WAL stays
      // bounded even if the timer cannot run. Durability does not depend on checkpoints: a
      // committed transaction is in the WAL, and readers and recovery read the WAL.
      if (!memory) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      migrate(db, location);
      const walSync = memory || options.synchronous === "full" ? undefined : new WalSync(`${location}-wal`, options.flushFile);
      return new SqliteDatabase(db, location, options.clock ?? Date.now, memory, options.scrub ?? ((text) => redactSecrets(text)), warnings, walSync);
    } catch (err) {
      db?.close();
      throw toStoreError(err, "open", location);
    }
  }

  /**
   * Text written by unlost (an error, a stack, a reason) as it may be stored: secrets removed,
   * then cut to `max` characters. Every free-text column goes through here, so a token quoted
   * by an error never reaches the file (nor its WAL), whoever reads it later.
   */
  freeText(text: string, max: number): string {
    return clip(this.scrub(text), max);
  }

  /** The cached prepared statement for `sql`. */
  statement(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /**
   * Runs `fn` in a write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two
   * processes sharing the file wait for each other (busy timeout) instead of failing with a
   * lock upgrade deadlock halfway through.
   */
  write<T>(operation: string, fn: () => T, options?: WriteOptions): T {
    this.assertOpen(operation);
    let result: T;
    try {
      result = this.transaction.immediate(fn) as T;
    } catch (err) {
      throw toStoreError(err, operation, this.location);
    }
    this.walSync?.noteCommit(options?.acknowledgedSoon === true);
    return result;
  }

  /**
   * Resolves once every write marked {@link ACKNOWLEDGED_SOON} committed before the call is on
   * stable storage (one asynchronous flush of the WAL shared by every caller meanwhile). Await
   * it before acknowledging anything to the outside.
   */
  sync(): Promise<void> {
    return this.walSync === undefined ? RESOLVED : this.walSync.sync();
  }

  /** Flushes what is left, lets a flush in progress finish and closes the WAL's descriptor (before {@link close}). */
  async releaseWal(): Promise<void> {
    await this.walSync?.close();
  }

  /** Runs `fn` in a read transaction: all its reads see one consistent snapshot. */
  read<T>(operation: string, fn: () => T): T {
    this.assertOpen(operation);
    try {
      return this.transaction.deferred(fn) as T;
    } catch (err) {
      throw toStoreError(err, operation, this.location);
    }
  }

  /** Closes the connection (checkpointing the WAL). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkpointTimer);
    this.statements.clear();
    try {
      this.db.close();
    } catch (err) {
      throw toStoreError(err, "close", this.location);
    }
  }

  /** The underlying handle, for backend-internal tests (query plans). */
  get handle(): Database.Database {
    return this.db;
  }

  private assertOpen(operation: string): void {
    if (this.closed) {
      throw new UnlostError("STOPPED", `The store at ${this.location} is closed; cannot ${operation}.`);
    }
  }
}
