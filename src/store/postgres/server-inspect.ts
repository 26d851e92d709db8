/**
 * A look at a PostgreSQL store without opening it as a store: opening creates the schema and
 * applies migrations, which a check (`unlost doctor`) must never do. One short connection reads
 * the server's version and connection limits, whether the schema exists and at which version,
 * and the leases (who polls, which instances are alive).
 *
 * @module
 */
import pg from "pg";
import { redactSecrets, UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { LeaseInfo } from "../lease-types.js";
import { DEFAULT_PG_SCHEMA } from "./database.js";
import { toPgStoreError } from "./errors.js";

/** What {@link inspectPgStore} found. */
export interface PgStoreInspection {
  /** The URL without password nor query, and the schema: for messages. */
  readonly location: string;
  /** `server_version` of the server. */
  readonly serverVersion: string;
  /** The server's `max_connections`, and the connections open now (all, and unlost's). */
  readonly maxConnections: number;
  readonly connections: number;
  readonly unlostConnections: number;
  /** False when the schema does not exist (no bot ever ran there). */
  readonly schemaExists: boolean;
  /** The highest migration applied (0: the schema has no unlost tables). */
  readonly schemaVersion: number;
  /** Every lease (the poller, the worker leases of the instances), when the tables exist. */
  readonly leases: readonly LeaseInfo[];
}

/** The URL without its password and query parameters. */
export function pgLocation(url: string, schema: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    parsed.search = "";
    return `${parsed.toString()} schema ${schema}`;
  } catch {
    return `(a URL that does not parse) schema ${schema}`;
  }
}

/**
 * Connects to `url` and reads what {@link PgStoreInspection} says, changing nothing.
 *
 * @throws UnlostError `STORE_FAILURE` when the server cannot be reached or refuses (the URL's
 * password removed from the message).
 */
export async function inspectPgStore(options: { readonly url: string; readonly schema?: string; readonly connectTimeoutMs?: number }): Promise<PgStoreInspection> {
  const schema = options.schema ?? DEFAULT_PG_SCHEMA;
  // Put into SQL below: only names a store could have (the rule of database.ts).
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new UnlostError("INVALID_CONFIG", `The PostgreSQL schema name must be lowercase letters, digits and _ (starting with a letter or _), at most 63 characters; got ${JSON.stringify(schema)}.`);
  }
  const location = pgLocation(options.url, schema);
  let password: string | undefined;
  try {
    const p = new URL(options.url).password;
    password = p === "" ? undefined : decodeURIComponent(p);
  } catch {
    password = undefined;
  }
  const scrub = (text: string): string => redactSecrets(text, password === undefined ? [] : [password, encodeURIComponent(password)]);
  const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000, application_name: "unlost doctor" });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const one = async <R>(sql: string, params: unknown[] = []): Promise<R> => (await client.query(sql, params)).rows[0] as R;
    const server = await one<{ version: string; max: string; all: string; ours: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('max_connections') AS max,
              (SELECT count(*) FROM pg_stat_activity) AS all,
              (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'unlost') AS ours`,
    );
    const exists = (await one<{ n: string }>("SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = $1", [schema])).n !== "0";
    const table = async (name: string): Promise<boolean> => (await one<{ t: string | null }>("SELECT to_regclass($1) AS t", [`${schema}.${name}`])).t !== null;
    let version = 0;
    let leases: LeaseInfo[] = [];
    if (exists && (await table("unlost_migrations"))) {
      version = Number((await one<{ v: string | null }>(`SELECT max(version) AS v FROM ${schema}.unlost_migrations`)).v ?? 0);
    }
    if (exists && (await table("leases"))) {
      const rows = (await client.query(`SELECT name, owner, epoch, expires_at FROM ${schema}.leases ORDER BY name`)).rows as Array<{ name: string; owner: string; epoch: string; expires_at: string }>;
      leases = rows.map((r) => ({ name: r.name, owner: r.owner, epoch: Number(r.epoch), expiresAt: Number(r.expires_at) as EpochMs }));
    }
    return {
      location,
      serverVersion: server.version,
      maxConnections: Number(server.max),
      connections: Number(server.all),
      unlostConnections: Number(server.ours),
      schemaExists: exists,
      schemaVersion: version,
      leases,
    };
  } catch (error) {
    throw toPgStoreError(error, "inspect the store", location, scrub);
  } finally {
    await client.end().catch(() => undefined);
  }
}
