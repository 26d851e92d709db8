/**
 * The operator commands as a user runs them: a bot runs under `unlost run` against an
 * in-process emulator, users write, a poison message dead-letters, a send to a chat that
 * blocked the bot fails; then status, dead-letters and doctor work on that data folder, with
 * their output and exit codes, and the token never appears in anything printed.
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Api } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import { baseEnv, cli, startCli, type CliResult } from "./fixtures/cli-process.js";

const TOKEN = "5000001:cli-test-secret-token";
const SECRET = "cli-test-secret-token";
const BOT = new URL("./fixtures/ops-bot.ts", import.meta.url).pathname;

let server: EmulatorServer;
let sim: SimBot;
let alice: SimUser;
let bob: SimUser;
let cwd: string;
const printed: string[] = [];

/** Runs the CLI in the scenario's folder with the token set; remembers the output for the redaction check. */
async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await cli(args, { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, ...env }) });
  printed.push(result.stdout, result.stderr);
  return result;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface StatusJson {
  bot: { running: boolean; lastHeartbeat: number | null };
  inbox: { pending: number; dead: number; done: number };
  outbox: { byState: { failed: number; delivered: number } };
  offlineWindows: unknown[];
  deadLetters: { inbox: Array<{ error: string; count: number }>; outbox: Array<{ error: string; count: number }> };
  unreachableChats: number;
}

async function status(): Promise<StatusJson> {
  const r = await run(["status", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

beforeAll(async () => {
  const emulator = createEmulator({ seed: 3 });
  sim = emulator.createBot({ token: TOKEN, username: "ops_test_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  alice = emulator.createUser({ firstName: "Alice" });
  bob = emulator.createUser({ firstName: "Bob" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-cli-"));
  // The config file of the scenario: fast retries and heartbeats (file layer), the API root
  // from the environment, the data folder from a flag: all three sources at once.
  writeFileSync(join(cwd, "unlost.config.json"), JSON.stringify({
    inbox: { backoff: { baseMs: 50, maxMs: 100 }, idleMs: 20 },
    polling: { timeoutSeconds: 1 },
    downtime: { heartbeatMs: 200 },
    shutdown: { deadlineMs: 3000 },
  }));

  bob.sendText(sim, "hi"); // Bob talks to the bot once, then blocks it
  const bot = startCli(["run", BOT, "--data", "data", "--max-attempts", "2"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url }) });
  await bot.waitFor(/@ops_test_bot is running/);
  await until(() => sim.record.to(bob.id).length === 1, "the reply to Bob");
  bob.block(sim);
  alice.sendText(sim, "hello");
  alice.sendText(sim, "poison");
  alice.sendText(sim, "after the poison");
  alice.sendText(sim, `tell ${bob.id}`);
  await until(() => sim.record.to(alice.id).some((m) => m.text === "echo: after the poison"), "the chat to go on after the poison message");
  await until(async () => {
    const s = await status();
    return s.inbox.dead === 1 && s.outbox.byState.failed === 1;
  }, "the dead letters");
  expect((await status()).bot.running).toBe(true); // status works beside a running bot
  bot.child.kill("SIGTERM");
  expect(await bot.exited).toBe(0);
  printed.push(bot.output());
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
  // Whatever the commands printed, the token's secret never appeared.
  expect(printed.join("\n")).not.toContain(SECRET);
});

describe("unlost status", () => {
  it("reports counts, heartbeat, dead letters by error and unreachable chats, as text and JSON", async () => {
    const s = await status();
    expect(s.bot.running).toBe(false);
    expect(s.bot.lastHeartbeat).not.toBeNull();
    expect(s.inbox).toMatchObject({ dead: 1, pending: 0 });
    expect(s.inbox.done).toBeGreaterThanOrEqual(4);
    expect(s.outbox.byState.failed).toBe(1);
    expect(s.unreachableChats).toBe(1);
    expect(s.deadLetters.inbox).toEqual([{ error: "Error: poison message: the handler cannot digest it", count: 1 }]);
    expect(s.deadLetters.outbox[0]?.error).toMatch(/^unreachable: .*blocked/);

    const text = await run(["status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/bot: not running \(last heartbeat .* ago\)/);
    expect(text.stdout).toMatch(/inbox \(updates in\)/);
    expect(text.stdout).toMatch(/1  Error: poison message: the handler cannot digest it/);
    expect(text.stdout).toMatch(/unreachable chats: 1/);
  });

  it("refuses a folder without a store and bad arguments, with exit code 2", async () => {
    const missing = await run(["status", "--data", "nowhere"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/there is no unlost store at .*nowhere.*--data/);
    const bad = await run(["status", "--colour"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--colour'.*unlost status --help/);
    expect((await run(["status", "extra"])).code).toBe(2);
  });
});

describe("unlost status: updates running for long", () => {
  it("lists claimed rows and open journal updates older than --stuck-after (default 60s), as text and JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlost-cli-stuck-"));
    const at = (args: string[]) => cli(args, { cwd: dir, env: baseEnv() }).then((r) => (printed.push(r.stdout, r.stderr), r));
    try {
      const now = Date.now();
      const store = await openStore({ path: join(dir, "data", "unlost.sqlite") });
      const message = (id: number, chat: number) => ({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: "private" }, text: `m${id}` } });
      await store.inbox.ingest([message(1, 10), message(2, 20)], { now: now - 300_000 });
      // A retried update whose handler hangs: claimed 3 minutes ago (its second try), lease renewed.
      const [first] = await store.inbox.claim({ owner: "host/1/a", limit: 1, leaseMs: 1_000, now: now - 300_000 });
      await store.inbox.settle(first!.claim, { kind: "retry", at: now - 180_000, error: "timed out" }, { now: now - 200_000 });
      await store.inbox.claim({ owner: "host/1/a", limit: 1, leaseMs: 600_000, now: now - 180_000 });
      await store.inbox.claim({ owner: "host/1/a", limit: 1, leaseMs: 600_000, now: now - 10_000 }); // update 2: 10 s, fine
      await store.inbox.journal!.append([message(3, 30)], { owner: "host/2/b", nextOffset: 4, now: now - 120_000 });
      await store.close();

      const json = await at(["status", "--json"]);
      expect(json.code, json.stderr).toBe(0);
      const report = JSON.parse(json.stdout) as { running: { olderThanMs: number; updates: Array<Record<string, unknown>> } };
      expect(report.running.olderThanMs).toBe(60_000);
      expect(report.running.updates).toMatchObject([
        { updateId: 1, chatKey: "10", updateType: "message", where: "row", attempt: 2, owner: "host/1/a" },
        { updateId: 3, chatKey: "30", updateType: "message", where: "journal", attempt: 1, owner: "host/2/b" },
      ]);
      expect(report.running.updates[0]!["ageMs"]).toBeGreaterThanOrEqual(180_000);
      expect(report.running.updates[1]!["ageMs"]).toBeGreaterThanOrEqual(120_000);
      const lower = JSON.parse((await at(["status", "--json", "--stuck-after", "5s"])).stdout) as typeof report;
      expect(lower.running.olderThanMs).toBe(5_000);
      expect(lower.running.updates.map((u) => u["updateId"])).toEqual([1, 3, 2]);

      const text = await at(["status"]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/running longer than 1 min: 2/);
      expect(text.stdout).toMatch(/id\s+chat\s+type\s+age\s+try\s+where\s+instance/);
      expect(text.stdout).toMatch(/1\s+10\s+message\s+3 min\s+2\s+running\s+host\/1\/a/);
      expect(text.stdout).toMatch(/3\s+30\s+message\s+2 min\s+1\s+in the journal\s+host\/2\/b/);
      expect((await at(["status", "--stuck-after", "1h"])).stdout).toMatch(/running longer than 1 h: none/);
      const bad = await at(["status", "--stuck-after", "soon"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--stuck-after must be a duration such as 90s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("unlost dead-letters", () => {
  it("lists and shows inbox dead letters with error and stack", async () => {
    const list = await run(["dead-letters", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/id\s+chat\s+type\s+tries\s+died\s+error/);
    expect(list.stdout).toMatch(new RegExp(`\\d+\\s+${alice.id}\\s+message\\s+2\\s+.*poison message`));
    const json = await run(["dead-letters", "list", "--json", "--type", "message", "--chat", String(alice.id), "--error", "digest"]);
    const page = JSON.parse(json.stdout) as { items: Array<{ updateId: number }> };
    expect(page.items).toHaveLength(1);
    const id = String(page.items[0]?.updateId);
    expect(JSON.parse((await run(["dead-letters", "list", "--json", "--error", "no such error"])).stdout)).toMatchObject({ items: [] });

    const show = await run(["dead-letters", "show", id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/error:\s+Error: poison message/);
    expect(show.stdout).toMatch(/stack:\n\s+Error: poison message/);
    expect(show.stdout).toMatch(/"text": "poison"/);
    const unknown = await run(["dead-letters", "show", "999999"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no inbox dead letter with id 999999/);
  });

  it("lists and shows outbox dead letters with reason and history", async () => {
    const list = await run(["dead-letters", "list", "--outbox", "--reason", "unreachable"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${bob.id}\\s+sendMessage\\s+unreachable`));
    const page = JSON.parse((await run(["dead-letters", "list", "--outbox", "--json"])).stdout) as { items: Array<{ id: string }> };
    const show = await run(["dead-letters", "show", page.items[0]?.id ?? "", "--outbox"]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/reason unreachable/);
    expect(show.stdout).toMatch(/history:\n\s+\S+\s+failed 403/);
  });

  it("refuses unclear requests with a clear message and exit code 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["dead-letters", "purge"], /purge needs an id, --all or a filter .* refused so that nothing is deleted by accident/],
      [["dead-letters", "retry", "--outbox"], /retry needs an id, --all or a filter/],
      [["dead-letters"], /say what to do: list, show, retry or purge/],
      [["dead-letters", "delete", "1"], /unknown action "delete"/],
      [["dead-letters", "show"], /show needs the id of a dead letter/],
      [["dead-letters", "list", "--reason", "attempts"], /--reason applies to --outbox/],
      [["dead-letters", "list", "--outbox", "--reason", "tired"], /--reason must be one of permanent, attempts/],
      [["dead-letters", "purge", "12", "--all"], /one of: an id, --all, or filters/],
      [["dead-letters", "list", "--limit", "0"], /--limit must be a whole number from 1 to 1000/],
      [["dead-letters", "show", "abc"], /its update_id \(a number; negative for an unstorable update\), got "abc"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("retries an inbox dead letter (the next unlost run handles it) and purges the outbox ones", async () => {
    const retried = await run(["dead-letters", "retry", "--error", "poison"]);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(/retried 1 dead update \(inbox\)/);
    expect(retried.stdout).toMatch(/No bot is running on this store: the next "unlost run" handles them/);
    expect((await status()).inbox).toMatchObject({ dead: 0, pending: 1 });

    const purged = await run(["dead-letters", "purge", "--outbox", "--all"]);
    expect(purged.stdout).toMatch(/purged 1 dead message \(outbox\)/);
    expect((await status()).outbox.byState.failed).toBe(0);

    // The handler was fixed (HEALED=1): the next run handles the retried update first.
    const bot = startCli(["run", BOT, "--data", "data"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: server.url, HEALED: "1" }) });
    await bot.waitFor(/is running/);
    await until(() => sim.record.to(alice.id).some((m) => m.text === "echo: poison"), "the retried update to be handled");
    bot.child.kill("SIGINT");
    expect(await bot.exited).toBe(0);
    printed.push(bot.output());
    const after = await status();
    expect(after.inbox).toMatchObject({ dead: 0, pending: 0 });
    expect(after.offlineWindows.length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe("unlost doctor", () => {
  it("passes on a healthy bot and store (exit 0), naming each check", async () => {
    const r = await run(["doctor", "--api-root", server.url, "--data", "data"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ok\s+token: the token is accepted: the bot is @ops_test_bot/);
    expect(r.stdout).toMatch(/ok\s+webhook: no webhook is set/);
    expect(r.stdout).toMatch(/ok\s+store: .*opens, schema version \d+ .*integrity ok/);
    expect(r.stdout).toMatch(/ok\s+disk: [\d.]+ GiB free/);
    expect(r.stdout).toMatch(/doctor: all good/);
  });

  it("warns about a data folder other users can open, with the fix (a warning: exit 0)", async () => {
    const data = join(cwd, "data");
    expect(statSync(data).mode & 0o777).toBe(0o700); // as unlost run created it
    chmodSync(data, 0o755);
    try {
      const r = await run(["doctor", "--api-root", server.url, "--data", "data"]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/warn\s+store: the data folder .*\/data is open to other users \(mode 0755\); it holds your users' messages and files\./);
      expect(r.stdout).toMatch(/fix: Make it private: chmod 700 .*\/data/);
    } finally {
      chmodSync(data, 0o700);
    }
  });

  it("explains a webhook left set while the bot polls, with its fix (exit 1)", async () => {
    const api = new Api(TOKEN, { apiRoot: server.url });
    await api.setWebhook("https://old-deployment.example.com/hook");
    try {
      const r = await run(["doctor", "--api-root", server.url, "--data", "data", "--json"]);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as { ok: boolean; findings: Array<{ check: string; level: string; message: string; fix?: string }> };
      expect(report.ok).toBe(false);
      const webhook = report.findings.find((f) => f.check === "webhook");
      expect(webhook).toMatchObject({ level: "problem" });
      expect(webhook?.message).toMatch(/a webhook is set \(https:\/\/old-deployment.example.com\/hook\) but this bot is configured for polling/);
      expect(webhook?.fix).toMatch(/unlost run.* removes it/);
    } finally {
      await api.deleteWebhook();
    }
  });

  it("reports a rejected token (exit 1) and an unreachable API, never printing the token", async () => {
    const wrong = await run(["doctor", "--api-root", server.url, "--data", "data"], { BOT_TOKEN: "5000002:wrong-secret-token" });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/FAIL\s+token: Telegram rejected the token \(401 Unauthorized\)/);
    expect(wrong.stdout).toMatch(/fix: Copy the current token from @BotFather/);
    expect(wrong.stdout + wrong.stderr).not.toContain("wrong-secret-token");
    const down = await run(["doctor", "--api-root", "http://127.0.0.1:9", "--data", "data"]);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/cannot reach the Bot API at http:\/\/127.0.0.1:9/);
  });

  it("needs a token (exit 2)", async () => {
    const r = await cli(["doctor", "--data", "data"], { cwd, env: baseEnv() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BOT_TOKEN is not set/);
  });
});
