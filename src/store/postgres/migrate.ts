/**
 * Brings a PostgreSQL schema to the version of this build, or refuses it. All of it runs in one
 * transaction under a transaction-level advisory lock keyed by the schema name, so processes
 * starting together on a new database migrate it once (DDL is transactional in PostgreSQL: a
 * migration that fails leaves nothing behind).
 *
 * @module
 */
import type pg from "pg";
import { UnlostError } from "../../errors/index.js";
import { PG_MIGRATIONS, type PgMigration } from "./schema.js";

/** What {@link migrate} did. */
export interface PgMigrationReport {
  /** The schema version found when opening (0: a new schema). */
  readonly from: number;
  /** The schema version now. */
  readonly to: number;
}

/**
 * First key of the advisory lock that serializes migrations ("unlo" in ASCII, as SQLite's
 * application_id); the second is `hashtext(schema)`.
 */
export const MIGRATION_LOCK_CLASS = 0x756e6c6f;

function refuseNewer(found: number, latest: number, location: string): never {
  throw new UnlostError(
    "STORE_VERSION_UNSUPPORTED",
    `The store at ${location} has schema version ${found}, but this version of unlost understands ` +
      `versions up to ${latest}. It was written by a newer unlost: upgrade unlost, or use another ` +
      `schema. (Nothing was changed.)`,
    { details: { found, supported: latest } },
  );
}

/**
 * Applies the missing migrations on `client` (whose search path is the store's schema).
 * Running it again is a no-op.
 *
 * @throws UnlostError `STORE_VERSION_UNSUPPORTED` for a schema of a newer version;
 * `STORE_FAILURE` for a schema holding tables unlost did not create.
 */
export async function migrate(
  client: pg.PoolClient,
  schema: string,
  location: string,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<PgMigrationReport> {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_CLASS, schema]);
    const existing = await client.query<{ tables: number; migrations: boolean }>(
      `SELECT (SELECT count(*)::int FROM pg_tables WHERE schemaname = $1) AS tables,
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'unlost_migrations') AS migrations`,
      [schema],
    );
    const found = existing.rows[0] ?? { tables: 0, migrations: false };
    if (!found.migrations && found.tables > 0) {
      throw new UnlostError(
        "STORE_FAILURE",
        `The schema "${schema}" at ${location} already holds tables that unlost did not create; choose another schema (option schema).`,
      );
    }
    // The schema's name was checked (lowercase identifier), so it can stand unquoted.
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS unlost_migrations (
         version     integer     PRIMARY KEY,
         description text        NOT NULL,
         applied_at  timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const row = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM unlost_migrations");
    const from = row.rows[0]?.version ?? 0;
    if (from > latest) refuseNewer(from, latest, location);
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      await client.query(migration.sql);
      await client.query("INSERT INTO unlost_migrations (version, description) VALUES ($1, $2)", [migration.version, migration.description]);
    }
    await client.query("COMMIT");
    return { from, to: Math.max(from, latest) };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
