/**
 * The PostgreSQL connection pool of a store: opening it with the store's schema, running each
 * store operation as one transaction (retried on deadlock or serialization failure) with its
 * errors mapped, and closing it.
 *
 * @module
 */
import pg from "pg";
import { redactSecrets, UnlostError, type Scrub } from "../../errors/index.js";
import type { Clock, PostgresStoreOptions } from "../types.js";
import { clip, requireInt } from "../validate.js";
import { isRetryable, toPgStoreError } from "./errors.js";
import { migrate } from "./migrate.js";
import { PgReachability } from "./reachability.js";

/** The schema used when the options name none. */
export const DEFAULT_PG_SCHEMA = "unlost";

/** Connections per process when the options say nothing. */
export const DEFAULT_POOL_SIZE = 10;

/** A schema name unlost can put in SQL unquoted: lowercase, so it means the same everywhere. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * How many times a transaction that hit a deadlock or a serialization failure runs again.
 * Both are resolved by PostgreSQL aborting one side; running it again is the documented remedy.
 */
const MAX_RETRIES = 5;

/** The OID of `int8` (bigint): ids and ms times, parsed as numbers (they stay below 2^53). */
const INT8_OID = 20;

/**
 * Parses bigint as a JS number for this pool only (pg's default is a string, and changing the
 * global parser would change it for every other user of `pg` in the process).
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary" ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** A client inside a transaction: what store operations run their statements on. */
export interface Tx {
  /** Runs one statement; the rows it returns. */
  rows<R>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs one statement; its first row, or undefined. */
  one<R>(sql: string, params?: readonly unknown[]): Promise<R | undefined>;
  /** Runs one statement; how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

function txOf(client: pg.PoolClient): Tx {
  return {
    async rows<R>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      return (await client.query(sql, params as unknown[])).rows as R[];
    },
    async one<R>(sql: string, params: readonly unknown[] = []): Promise<R | undefined> {
      return (await client.query(sql, params as unknown[])).rows[0] as R | undefined;
    },
    async run(sql: string, params: readonly unknown[] = []): Promise<number> {
      return (await client.query(sql, params as unknown[])).rowCount ?? 0;
    },
  };
}

/** The URL without its password, for logs and `Store.location`. */
function describeUrl(url: string): { location: string; password: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UnlostError("INVALID_CONFIG", "The PostgreSQL store URL does not parse; expected postgres://user:password@host:5432/database.");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new UnlostError("INVALID_CONFIG", `The PostgreSQL store URL must start with postgres:// or postgresql://; got ${parsed.protocol}//.`);
  }
  const password = parsed.password === "" ? undefined : decodeURIComponent(parsed.password);
  parsed.password = "";
  // Query parameters may carry secrets too (password=, sslkey paths): the location omits them.
  parsed.search = "";
  return { location: parsed.toString(), password };
}

/**
 * The connection pool of one PostgreSQL store. Store operations call {@link PgDatabase.write}
 * (a read-write transaction) or {@link PgDatabase.read} (a read-only snapshot).
 */
export class PgDatabase {
  /** The URL without password, and the schema: for logs. */
  readonly location: string;
  /** The schema holding the store's tables. */
  readonly schema: string;
  /** The clock used when an operation is given no `now`. */
  readonly clock: Clock;
  /** Removes secrets (the URL's password, bot tokens) from text: error messages and free text. */
  readonly scrub: Scrub;
  /** Whether the server can be reached, from the outcome of each transaction. */
  readonly reachability = new PgReachability();
  private readonly pool: pg.Pool;
  /** The pool's size and how long an operation waits for one of its connections. */
  private readonly limits: { readonly poolSize: number; readonly connectTimeoutMs: number };
  private closed = false;

  private constructor(pool: pg.Pool, location: string, schema: string, clock: Clock, scrub: Scrub, limits: { poolSize: number; connectTimeoutMs: number }) {
    this.pool = pool;
    this.limits = limits;
    this.location = location;
    this.schema = schema;
    this.clock = clock;
    this.scrub = scrub;
  }

  /**
   * Connects, creates the schema when missing and applies the missing migrations (under an
   * advisory lock: processes starting together migrate once).
   *
   * @throws UnlostError `INVALID_CONFIG` for a malformed URL, schema or pool size;
   * `STORE_VERSION_UNSUPPORTED` for a schema written by a newer unlost; `STORE_FAILURE` when
   * the server cannot be reached or the schema is not unlost's.
   */
  static async open(options: PostgresStoreOptions): Promise<PgDatabase> {
    if (typeof options.url !== "string") throw new UnlostError("INVALID_CONFIG", "The PostgreSQL store needs a url (postgres://...).");
    const schema = options.schema ?? DEFAULT_PG_SCHEMA;
    if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
      throw new UnlostError(
        "INVALID_CONFIG",
        `The PostgreSQL schema name must be lowercase letters, digits and _ (starting with a letter or _), at most 63 characters; got ${JSON.stringify(schema)}.`,
      );
    }
    const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    try {
      requireInt("poolSize", poolSize, 1, 1_000);
      requireInt("connectTimeoutMs", connectTimeoutMs, 1);
    } catch (err) {
      throw new UnlostError("INVALID_CONFIG", (err as Error).message);
    }
    const { location: url, password } = describeUrl(options.url);
    const location = `${url} schema ${schema}`;
    const userScrub = options.scrub ?? ((text: string) => redactSecrets(text));
    const scrub: Scrub = password === undefined ? userScrub : (text) => redactSecrets(userScrub(text), [password, encodeURIComponent(password)]);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: poolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      types: TYPES,
      ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
      application_name: "unlost",
    });
    // An idle connection the server dropped (restart, network cut) is reported here; without a
    // listener Node would crash the process. The pool discards it; the next operation opens a
    // new connection or fails with a mapped error.
    pool.on("error", () => undefined);
    // A connection lost while checked out (between two statements of a transaction, when no
    // query is waiting for it) is reported by its client, which the pool does not listen to
    // then: without this, a server or network going away mid-transaction crashed the process.
    // The transaction's next statement fails instead, and the client is discarded.
    pool.on("connect", (client) => client.on("error", () => undefined));
    const db = new PgDatabase(pool, location, schema, options.clock ?? Date.now, scrub, { poolSize, connectTimeoutMs });
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema, location);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw toPgStoreError(err, "open", location, scrub);
    }
    return db;
  }

  /**
   * Text written by unlost (an error, a stack, a reason) as it may be stored: secrets removed,
   * NUL characters replaced (PostgreSQL text cannot hold them), cut to `max` characters.
   */
  freeText(text: string, max: number): string {
    return clip(this.scrub(text).replaceAll("\u0000", "\uFFFD"), max);
  }

  /** Runs `fn` in a read-write transaction (READ COMMITTED), again on deadlock or serialization failure. */
  write<T>(operation: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(operation, `BEGIN; SET LOCAL search_path TO ${this.schema}`, fn);
  }

  /** Runs `fn` in a read-only transaction whose reads all see one snapshot. */
  read<T>(operation: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(operation, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL search_path TO ${this.schema}`, fn);
  }

  /**
   * Runs one statement on its own (autocommit: one round trip, no BEGIN or COMMIT), again on
   * deadlock or serialization failure. No search path is set: names in `sql` are qualified
   * with {@link PgDatabase.schema}, or resolved by a function created with its own search path.
   */
  async single<R>(operation: string, sql: string, params: readonly unknown[] = []): Promise<R[]> {
    this.assertOpen(operation);
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.pool.query(sql, params as unknown[])).rows as R[];
      } catch (err) {
        if (attempt < MAX_RETRIES && isRetryable(err) && !this.closed) continue;
        if (this.closed) this.assertOpen(operation);
        throw toPgStoreError(err, operation, this.location, this.scrub);
      }
    }
  }

  /**
   * `begin` opens the transaction and sets the schema for it alone (`SET LOCAL`, one round trip
   * with the BEGIN): names in SQL are unqualified, and nothing depends on a connection's session
   * state, so a pooler in transaction mode (PgBouncer) works too.
   */
  private async transaction<T>(operation: string, begin: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    this.assertOpen(operation);
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient | undefined;
      let begun = false;
      let broken = false;
      try {
        client = await this.pool.connect();
        await client.query(begin);
        begun = true;
        const result = await fn(txOf(client));
        await client.query("COMMIT");
        client.release();
        this.reachability.succeeded(this.clock());
        return result;
      } catch (err) {
        if (client !== undefined) {
          // A failed ROLLBACK means the connection is broken: destroy it rather than reuse it.
          broken = await client.query("ROLLBACK").then(
            () => false,
            () => true,
          );
          client.release(broken);
        }
        // A pooled connection the server dropped while idle fails at BEGIN, before anything
        // ran: the operation runs again on a fresh one.
        const deadConnection = client !== undefined && !begun;
        if (attempt < MAX_RETRIES && (isRetryable(err) || deadConnection) && !this.closed) continue;
        // Closed while it waited for a connection: the pool refuses it; say why.
        if (client === undefined && this.closed) this.assertOpen(operation);
        // No connection within the time limit while every one of the pool's was busy: the server
        // answers, slowly (or transactions are long). Said so, and no outage.
        const exhausted = client === undefined && this.pool.totalCount >= this.limits.poolSize && this.pool.idleCount === 0;
        const error = exhausted ? this.exhaustedError(operation, err) : toPgStoreError(err, operation, this.location, this.scrub);
        // Could not connect, or the connection was lost (even ROLLBACK failed on it): an outage,
        // reported once for all of its failures. A statement the server refused is not one.
        if (!this.closed && ((client === undefined && !exhausted) || broken)) this.reachability.failed(error, this.clock());
        throw error;
      }
    }
  }

  private exhaustedError(operation: string, cause: unknown): UnlostError {
    const { poolSize, connectTimeoutMs } = this.limits;
    return new UnlostError(
      "STORE_FAILURE",
      `PostgreSQL store (${this.location}): ${operation} failed: all ${poolSize} connections of this process stayed busy for ${connectTimeoutMs} ms ` +
        "(a slow server, lock waits, or long transactions). It is retried; if it persists, find what is slow, or raise store.poolSize (see docs/postgres.md, Sizing).",
      { cause, details: { operation, poolExhausted: true, poolSize } },
    );
  }

  /** Closes the pool (waiting for operations in progress). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pool.end();
    } catch (err) {
      throw toPgStoreError(err, "close", this.location, this.scrub);
    }
  }

  /** Throws `STOPPED` once closed. */
  assertOpen(operation: string): void {
    if (this.closed) {
      throw new UnlostError("STOPPED", `The store at ${this.location} is closed; cannot ${operation}.`);
    }
  }
}
