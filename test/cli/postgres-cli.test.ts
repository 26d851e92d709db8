/**
 * The command line on a PostgreSQL store: `unlost run --store <url>` runs a bot there (the
 * URL's password never printed), `unlost status --store <url>` and `dead-letters` read it, and
 * a URL no bot ran on is refused instead of reporting an empty store as all clear.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";
import { baseEnv, cli, startCli } from "./fixtures/cli-process.js";

const db = usePgDatabase();
const BOT = new URL("./fixtures/exported-bot.mjs", import.meta.url).pathname;
let server: EmulatorServer;
let cwd: string;
beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), "unlost-pg-cli-"));
});
afterAll(async () => {
  await server?.close();
  rmSync(cwd, { recursive: true, force: true });
});

describe("unlost on a PostgreSQL store (--store)", () => {
  it("runs a bot there; status and dead-letters read it; an unused URL is refused", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    // A password in the URL (the test servers trust local connections, so an invented one works
    // when the URL has none): it must never be printed.
    const withPassword = new URL(db.url());
    if (withPassword.password === "") withPassword.password = "s3cret-pw-4711";
    const url = withPassword.toString();
    const password = decodeURIComponent(withPassword.password);
    const env = baseEnv({ BOT_TOKEN: sim.token, UNLOST_API_ROOT: server.url, UNLOST_STORE: url });
    const bot = startCli(["run", BOT], { cwd, env });
    const alice = emulator.createUser();
    alice.sendText(sim, "hello");
    await until(() => sim.record.to(alice.id).length >= 1, 20_000);
    await bot.waitFor(/is running \(polling, store PostgreSQL\)/);
    bot.child.kill("SIGTERM");
    expect(await bot.exited).toBe(0);
    const status = await cli(["status", "--json", "--store", url], { cwd, env: baseEnv() });
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as { inbox: { done: number; pending: number }; outbox: { byState: { delivered: number } } };
    expect(report.inbox.pending).toBe(0);
    expect(report.outbox.byState.delivered).toBeGreaterThanOrEqual(1);
    const dead = await cli(["dead-letters", "list", "--json"], { cwd, env: baseEnv({ UNLOST_STORE: url }) });
    expect(dead.code, dead.stderr).toBe(0);
    // Another schema of the same database: no bot ran there. (Not another database: the
    // server's own databases may hold other runs' stores.)
    const refused = await cli(["status", "--store", url, "--schema", "no_bot_here"], { cwd, env: baseEnv() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/no bot has run on the PostgreSQL store/);
    for (const out of [status.stdout, status.stderr, dead.stdout, refused.stdout, refused.stderr, bot.output()]) expect(out).not.toContain(password);
  });
});
