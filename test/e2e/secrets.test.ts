/**
 * Secrets never leave the process. A bot runs under `unlost run` in webhook mode with the
 * token in its webhook URL (a common grammY pattern) and a configured webhook secret, and is
 * made to put the token everywhere a runtime could store, log or print it:
 * a handler error quoting the token-bearing file URL (an inbox dead letter), a send failing
 * with a network error without a code that quotes the `/bot<token>/` URL (an outbox dead
 * letter: last error, attempt history, audit), and that failure handed to the handler's code.
 * Then status, dead-letters list/show (inbox and outbox) and doctor run on the data folder.
 * Every log line, every CLI output and every byte of every file in the data folder (database,
 * WAL, blobs; while the bot runs and after it stopped) is searched for the token's secret
 * part and the webhook secret: zero hits.
 */
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { baseEnv, cli, startCli, type CliResult } from "../cli/fixtures/cli-process.js";

const TOKEN_SECRET = "AAHsecretPartOfTheBotToken_x42";
const TOKEN = `7000001:${TOKEN_SECRET}`;
const WEBHOOK_SECRET = "whsec_theWebhookSecret_x42";
const BOT = new URL("./fixtures/secrets-bot.ts", import.meta.url).pathname;

let server: EmulatorServer;
let sim: SimBot;
let alice: SimUser;
let unlucky: SimUser;
let cwd: string;
/** Everything printed by every process of the scenario. */
const printed: string[] = [];
/** Every file of the data folder, read while the bot ran and after it stopped. */
const dataSnapshots: Array<{ path: string; bytes: Buffer }> = [];

async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await cli(args, { cwd, env: baseEnv({ ...env }) });
  printed.push(`$ unlost ${args.join(" ")}\n${result.stdout}${result.stderr}`);
  return result;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Reads every file under `dir` (recursively). */
function snapshot(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) snapshot(path);
    else dataSnapshots.push({ path, bytes: readFileSync(path) });
  }
}

interface StatusJson {
  inbox: { dead: number };
  outbox: { byState: { failed: number } };
}

beforeAll(async () => {
  const emulator = createEmulator({ seed: 11, limits: false, webhook: { firstRetryDelayMs: 50, maxRetryDelayMs: 200 } });
  sim = emulator.createBot({ token: TOKEN, username: "secrets_test_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  alice = emulator.createUser({ firstName: "Alice" });
  unlucky = emulator.createUser({ firstName: "Una" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-secrets-"));
  writeFileSync(join(cwd, "unlost.config.json"), JSON.stringify({
    inbox: { backoff: { baseMs: 50, maxMs: 100 }, idleMs: 20 },
    outbox: { defaults: { attempts: 1 } },
    downtime: { heartbeatMs: 200 },
    shutdown: { deadlineMs: 3000 },
  }));
  const port = await freePort();
  // The token in the webhook URL's path: what grammY's docs suggest for an unguessable path.
  const webhookUrl = `http://127.0.0.1:${port}/bot${TOKEN}/hook`;
  const bot = startCli(["run", BOT, "--data", "data", "--max-attempts", "1", "--webhook", webhookUrl, "--port", String(port), "--host", "127.0.0.1"], {
    cwd,
    env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url, UNLOST_WEBHOOK_SECRET: WEBHOOK_SECRET, UNLUCKY_CHAT: String(unlucky.id), LOG_LEVEL: "debug" }),
  });
  try {
    await bot.waitFor(/@secrets_test_bot is running/);
    alice.sendText(sim, "hello");
    alice.sendText(sim, "photo");
    alice.sendText(sim, `tell ${unlucky.id}`);
    alice.sendText(sim, `relay ${unlucky.id}`);
    await until(() => sim.record.to(alice.id).some((m) => m.text === "relayed"), "the relay to finish");
    await until(async () => {
      const r = await run(["status", "--json", "--data", "data"]);
      if (r.code !== 0) return false;
      const s = JSON.parse(r.stdout) as StatusJson;
      return s.inbox.dead === 1 && s.outbox.byState.failed === 2;
    }, "the dead letters");
    await until(() => /the handler saw: /.test(bot.output()), "the handler to print the error it got");
    snapshot(join(cwd, "data")); // with the WAL of a running bot
  } finally {
    bot.child.kill("SIGTERM");
    await bot.exited;
    printed.push(bot.output());
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

describe("secrets never leave the process", () => {
  it("the scenario produced what it is about (the checks below are not vacuous)", () => {
    const logs = printed.join("\n");
    expect(logs).toMatch(/"msg":"webhook receiver listening"/);
    expect(logs).toMatch(/update moved to the dead letters/);
    expect(logs).toMatch(/the handler saw: .*the request failed \(request to .*\/bot7000001:<redacted>\/sendMessage failed/);
  });

  it("the operator commands print the dead letters, without the secrets", async () => {
    const status = await run(["status", "--data", "data"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/could not download .*\/file\/bot7000001:<redacted>\/photos/);
    expect((await run(["status", "--json", "--data", "data"])).code).toBe(0);

    const inbox = JSON.parse((await run(["dead-letters", "list", "--json", "--data", "data"])).stdout) as { items: Array<{ updateId: number }> };
    expect(inbox.items).toHaveLength(1);
    expect((await run(["dead-letters", "list", "--data", "data"])).code).toBe(0);
    const shown = await run(["dead-letters", "show", String(inbox.items[0]?.updateId), "--data", "data"]);
    expect(shown.stdout).toMatch(/stack:/);

    const outbox = JSON.parse((await run(["dead-letters", "list", "--outbox", "--json", "--data", "data"])).stdout) as { items: Array<{ id: string }> };
    expect(outbox.items).toHaveLength(2);
    expect((await run(["dead-letters", "list", "--outbox", "--data", "data"])).code).toBe(0);
    for (const job of outbox.items) {
      const show = await run(["dead-letters", "show", job.id, "--outbox", "--data", "data"]);
      expect(show.stdout).toMatch(/history:/);
      expect((await run(["dead-letters", "show", job.id, "--outbox", "--json", "--data", "data"])).code).toBe(0);
    }
    const doctor = await run(["doctor", "--api-root", server.url, "--data", "data"], { BOT_TOKEN: TOKEN });
    expect(doctor.stdout).toMatch(/webhook/);
  });

  it("no log line and no CLI output contains the token's secret or the webhook secret", () => {
    const text = printed.join("\n");
    expect(text.length).toBeGreaterThan(1000);
    expect(text).not.toContain(TOKEN_SECRET);
    expect(text).not.toContain(WEBHOOK_SECRET);
  });

  it("no byte of the data folder contains them, while running or after the stop", () => {
    snapshot(join(cwd, "data"));
    const files = new Set(dataSnapshots.map((f) => f.path.slice(cwd.length)));
    expect([...files].some((f) => f.endsWith("-wal"))).toBe(true);
    const hits = dataSnapshots
      .filter((f) => f.bytes.includes(TOKEN_SECRET) || f.bytes.includes(WEBHOOK_SECRET))
      .map((f) => f.path.slice(cwd.length));
    expect(hits).toEqual([]);
  });
});
