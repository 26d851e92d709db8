/**
 * Brings a database to the schema of this build, or refuses it.
 *
 * @module
 */
import type Database from "better-sqlite3";
import { UnlostError } from "../../errors/index.js";
import { APPLICATION_ID, LATEST_VERSION, MIGRATIONS, type Migration } from "./schema.js";

/** What {@link migrate} did. */
export interface MigrationReport {
  /** The schema version found when opening. */
  readonly from: number;
  /** The schema version now. */
  readonly to: number;
}

function pragmaNumber(db: Database.Database, name: string): number {
  const value: unknown = db.pragma(name, { simple: true });
  return typeof value === "number" ? value : Number(value);
}

function refuseNewer(found: number, location: string): never {
  throw new UnlostError(
    "STORE_VERSION_UNSUPPORTED",
    `The store at ${location} has schema version ${found}, but this version of unlost understands ` +
      `versions up to ${LATEST_VERSION}. It was written by a newer unlost: upgrade unlost, or use ` +
      `another store path. (The file was not changed.)`,
    { details: { found, supported: LATEST_VERSION } },
  );
}

/**
 * Applies the missing migrations in one IMMEDIATE transaction (so two processes opening the
 * same new file cannot both migrate it). Running it again is a no-op.
 *
 * @throws UnlostError `STORE_VERSION_UNSUPPORTED` for a database of a newer schema;
 * `STORE_FAILURE` for a SQLite database that is not unlost's.
 */
export function migrate(
  db: Database.Database,
  location: string,
  migrations: readonly Migration[] = MIGRATIONS,
): MigrationReport {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  // Checked before taking the write lock too, so a read-only look at a newer file fails fast.
  const seen = pragmaNumber(db, "user_version");
  if (seen > latest) refuseNewer(seen, location);

  return db
    .transaction((): MigrationReport => {
      const from = pragmaNumber(db, "user_version");
      if (from > latest) refuseNewer(from, location);
      const appId = pragmaNumber(db, "application_id");
      if (appId !== 0 && appId !== APPLICATION_ID) {
        throw new UnlostError(
          "STORE_FAILURE",
          `The file at ${location} is a SQLite database of another application (application_id ${appId}); ` +
            `point the store at a file of its own.`,
        );
      }
      if (from === 0) {
        const row = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
        if (row.n > 0) {
          throw new UnlostError(
            "STORE_FAILURE",
            `The file at ${location} already holds tables that unlost did not create; point the store at a file of its own.`,
          );
        }
      }
      for (const migration of migrations) {
        if (migration.version <= from) continue;
        db.exec(migration.sql);
        // PRAGMA does not take bound parameters; the values are integers we own.
        db.pragma(`user_version = ${migration.version}`);
      }
      db.pragma(`application_id = ${APPLICATION_ID}`);
      return { from, to: Math.max(from, latest) };
    })
    .immediate();
}
