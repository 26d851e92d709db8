/**
 * A database of its own for one test file, on the run's PostgreSQL server (see
 * postgres-server.ts): created before the file's tests, dropped after them. Stores opened by
 * the file take a fresh schema each ({@link PgTestDatabase.freshSchema}), so cases never see
 * each other's rows.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import type { TestPgServer } from "./postgres-server.js";

/** The database of one test file. */
export interface PgTestDatabase {
  /** The URL of the file's database (valid once `beforeAll` ran). */
  url(): string;
  /** A schema name not used before in this file. */
  freshSchema(): string;
  /** Which server the run uses. */
  readonly server: TestPgServer;
}

async function admin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Call at the top level of a test file. */
export function usePgDatabase(): PgTestDatabase {
  const server = inject("unlostPg");
  const name = `unlost_t_${randomBytes(6).toString("hex")}`;
  let url: string | undefined;
  let schemas = 0;
  beforeAll(async () => {
    await admin(server.adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    const u = new URL(server.adminUrl);
    u.pathname = `/${name}`;
    url = u.toString();
  });
  afterAll(async () => {
    // FORCE: a store a failed case left open must not keep the database alive.
    await admin(server.adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  return {
    server,
    url() {
      if (url === undefined) throw new Error("the test database is created in beforeAll");
      return url;
    },
    freshSchema() {
      schemas += 1;
      return `s${schemas}`;
    },
  };
}
