/**
 * Operating a bot on PostgreSQL from the command line, as a user does: a bot runs on SQLite
 * (`unlost run --data data`), leaves a dead letter and an unhandled update behind, and is moved
 * with `unlost migrate-store --from data --to <url> --schema s` (refused while it runs; a second
 * run does nothing); then `unlost run --store <url> --schema s` goes on there (the update left
 * behind is handled, nothing is handled twice), `unlost doctor --store` reports the server, the
 * schema, the poller and the processes, `status --store --schema` reads it; a target holding
 * another bot's data is refused, a schema that does not exist is reported and not created, an
 * unreachable server is a clear problem. The URL's password is never printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { PG_SCHEMA_VERSION, SqliteStore } from "../../src/store/index.js";
import { PostgresStore } from "../../src/store/postgres/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";
import { baseEnv, cli, startCli, type CliResult } from "./fixtures/cli-process.js";

const db = usePgDatabase();
const TOKEN = "5000002:pg-ops-secret-token";
const BOT = new URL("./fixtures/ops-bot.ts", import.meta.url).pathname;
const PASSWORD = "pg-ops-s3cret";

let server: EmulatorServer;
let sim: SimBot;
let alice: SimUser;
let cwd: string;
const printed: string[] = [];

/** The test database's URL with a password in it (the test server trusts local connections, so any works). */
function urlWithPassword(): string {
  const u = new URL(db.url());
  if (u.password === "") u.password = PASSWORD;
  return u.toString();
}
const password = (): string => decodeURIComponent(new URL(urlWithPassword()).password);

async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await cli(args, { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url, ...env }), timeoutMs: 30_000 });
  printed.push(result.stdout, result.stderr);
  return result;
}

const texts = (user: SimUser): string[] => sim.record.to(user.id).map((m) => m.text ?? "");

beforeAll(async () => {
  const emulator = createEmulator({ seed: 9 });
  sim = emulator.createBot({ token: TOKEN, username: "pg_ops_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  alice = emulator.createUser({ firstName: "Alice" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-pg-ops-"));
  writeFileSync(join(cwd, "unlost.config.json"), JSON.stringify({
    inbox: { backoff: { baseMs: 50, maxMs: 100 }, idleMs: 20 },
    polling: { timeoutSeconds: 1 },
    downtime: { heartbeatMs: 200 },
    shutdown: { deadlineMs: 3000 },
  }));
});

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
  const all = printed.join("\n");
  expect(all).not.toContain("pg-ops-secret-token");
  expect(all).not.toContain(PASSWORD);
});

describe("unlost migrate-store, then run, doctor and status on PostgreSQL", () => {
  it("moves a stopped bot's store (refused while it runs; a second run does nothing) and the bot goes on there", async () => {
    const url = urlWithPassword();
    // On SQLite: a reply, a dead letter.
    const onSqlite = startCli(["run", BOT, "--data", "data", "--max-attempts", "2"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url }) });
    await onSqlite.waitFor(/@pg_ops_bot is running/);
    alice.sendText(sim, "hello");
    alice.sendText(sim, "poison");
    alice.sendText(sim, "after the poison");
    await until(() => texts(alice).includes("echo: after the poison"), 20_000, "the replies on SQLite");

    const whileRunning = await run(["migrate-store", "--from", "data", "--to", url, "--schema", "moved"]);
    expect(whileRunning.code, whileRunning.stderr).toBe(1);
    expect(whileRunning.stderr).toMatch(/the bot on .*unlost\.sqlite is running: instance .* holds its ".*" lease/);
    onSqlite.child.kill("SIGTERM");
    expect(await onSqlite.exited).toBe(0);
    printed.push(onSqlite.output());

    // An update the SQLite bot stored and never handled (it was killed before, say): it must
    // move too. Its id is far from the emulator's, so that no later update is taken for it.
    const source = SqliteStore.open({ path: join(cwd, "data", "unlost.sqlite") });
    const offset = (await source.state.offset()) ?? 0;
    const leftId = offset + 10_000_000;
    await source.inbox.ingest([{ update_id: leftId, message: { message_id: 9_999, date: Math.floor(Date.now() / 1000), chat: { id: alice.id, type: "private" }, from: { id: alice.id, is_bot: false, first_name: "Alice" }, text: "left behind" } }]);
    await source.close();

    const moved = await run(["migrate-store", "--from", "data", "--to", url, "--schema", "moved"]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/copied .*unlost\.sqlite to postgres:\/\/.* schema moved: \d+ rows in one transaction/);
    expect(moved.stdout).toMatch(/updates: 1 waiting .* 1 dead letters/);
    expect(moved.stdout).toMatch(new RegExp(`offset:  ${offset}`));
    const again = await run(["migrate-store", "--from", "data", "--to", url, "--schema", "moved", "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyMigrated: true });

    // On PostgreSQL: the update left behind is handled, a new one too, nothing twice.
    const onPg = startCli(["run", BOT, "--store", url, "--schema", "moved"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url }) });
    await onPg.waitFor(/@pg_ops_bot is running \(polling, store PostgreSQL\)/);
    alice.sendText(sim, "on postgres");
    await until(() => texts(alice).includes("echo: left behind") && texts(alice).includes("echo: on postgres"), 20_000, "the replies on PostgreSQL");

    // doctor and status while it runs.
    const doctor = await run(["doctor", "--store", url, "--schema", "moved"]);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/ok {4}store: PostgreSQL \d+.* answers at postgres:\/\/.*schema moved; \d+ of its \d+ connections in use \(\d+ by unlost\)/);
    expect(doctor.stdout).toMatch(/1 process running on this store: /);
    expect(doctor.stdout).toMatch(/polls \(poller lease epoch \d+/);
    expect(doctor.stdout).toMatch(new RegExp(`schema version ${PG_SCHEMA_VERSION} \\(this unlost: ${PG_SCHEMA_VERSION}\\); inbox 0 pending, 0 in flight, 1 dead`));
    expect(doctor.stdout).toMatch(/warn {2}store: 1 updates are dead letters/);
    expect(doctor.stdout).not.toMatch(/SQLite store's file/);
    const json = await run(["doctor", "--store", url, "--schema", "moved", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, problems: 0 });
    const status = await run(["status", "--store", url, "--schema", "moved", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ inbox: { dead: 1, pending: 0 } });

    onPg.child.kill("SIGTERM");
    expect(await onPg.exited).toBe(0);
    printed.push(onPg.output());
    for (const reply of ["echo: hello", "echo: after the poison", "echo: left behind", "echo: on postgres"]) expect(texts(alice).filter((t) => t === reply), reply).toHaveLength(1);
  }, 90_000);

  it("refuses a target that holds another bot's data (exit 2, nothing written)", async () => {
    const url = urlWithPassword();
    const other = await PostgresStore.open({ url: db.url(), schema: "taken" });
    await other.state.bindBot(123);
    await other.close();
    const refused = await run(["migrate-store", "--from", "data", "--to", url, "--schema", "taken"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/the target postgres:\/\/.* schema taken is not empty \(kv\).*--schema/);
    const check = await PostgresStore.open({ url: db.url(), schema: "taken" });
    expect(await check.inbox.stats()).toMatchObject({ pending: 0, done: 0, dead: 0 });
    await check.close();
    const usage = await run(["migrate-store", "--from", "nowhere", "--to", url]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--from nowhere: no such folder/);
  });

  it("doctor: a schema that does not exist is reported, not created; an unreachable server is a problem", async () => {
    const url = urlWithPassword();
    const none = await run(["doctor", "--store", url, "--schema", "nothing_here"]);
    expect(none.code, none.stdout).toBe(0);
    expect(none.stdout).toMatch(/warn {2}store: there is no unlost store in postgres:\/\/.* schema nothing_here yet/);
    const client = new pg.Client({ connectionString: db.url() });
    await client.connect();
    const exists = await client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'nothing_here'");
    await client.end();
    expect(exists.rowCount).toBe(0);
    // status and dead-letters refuse it the same way, and leave nothing behind either.
    const status = await run(["status", "--store", url, "--schema", "nothing_here"]);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/no bot has run on the PostgreSQL store at .* schema nothing_here yet/);
    const again = new pg.Client({ connectionString: db.url() });
    await again.connect();
    const still = await again.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'nothing_here'");
    await again.end();
    expect(still.rowCount).toBe(0);

    const closed = new URL(url);
    closed.port = "1";
    const down = await run(["doctor", "--store", closed.toString()]);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/FAIL {2}store: cannot use the PostgreSQL store: .*ECONNREFUSED/);
    expect(down.stdout).toMatch(/fix: Check that the server runs/);
    expect(password()).toBe(PASSWORD);
  });
});
