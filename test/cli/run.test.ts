/**
 * `unlost run` as a user runs it: both forms of bot module (a setup function in TypeScript, an
 * exported Bot in JavaScript), a clean exit 0 on SIGTERM, and exit 2 with a clear message for
 * a missing, malformed or rejected token, a bad module and bad configuration.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { baseEnv, cli, startCli } from "./fixtures/cli-process.js";

const TOKEN = "5100001:run-test-secret-token";
const ECHO = new URL("../../examples/echo/bot.ts", import.meta.url).pathname;
let server: EmulatorServer;
let sim: SimBot;
let user: SimUser;
let cwd: string;

beforeAll(async () => {
  const emulator = createEmulator({ seed: 5 });
  sim = emulator.createBot({ token: TOKEN, username: "run_test_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  user = emulator.createUser({ firstName: "Zarina" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-run-"));
});

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("unlost run", () => {
  it("runs a module exporting a grammY Bot (JavaScript), retargeted with --api-root; the store defaults to ./data", async () => {
    const modulePath = new URL("./fixtures/exported-bot.mjs", import.meta.url).pathname;
    const bot = startCli(["run", modulePath, "--api-root", server.url], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN }) });
    try {
      await bot.waitFor(/@run_test_bot is running \(polling, store .*\/data\/unlost\.sqlite\)/);
      user.sendText(sim, "from js");
      await until(() => sim.record.to(user.id).some((m) => m.text === "js: from js"), "the reply");
    } finally {
      bot.child.kill("SIGTERM");
    }
    expect(await bot.exited).toBe(0);
    expect(bot.output()).not.toContain("run-test-secret-token");
  });

  it("runs a TypeScript setup module and stops cleanly on SIGTERM (exit 0)", async () => {
    const bot = startCli(["run", ECHO, "--api-root", server.url, "--data", "ts-data"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN }) });
    try {
      await bot.waitFor(/is running/);
      user.sendText(sim, "from ts");
      await until(() => sim.record.to(user.id).some((m) => m.text === "echo: from ts"), "the reply");
    } finally {
      bot.child.kill("SIGTERM");
    }
    expect(await bot.exited).toBe(0);
  });

  it("runs a setup typed BotSetup<MyContext> (no cast) that keeps a file in the dataDir it is given", async () => {
    const modulePath = new URL("./fixtures/typed-bot.ts", import.meta.url).pathname;
    const bot = startCli(["run", modulePath, "--api-root", server.url, "--data", "typed-data"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN }) });
    try {
      await bot.waitFor(/is running/);
      user.sendText(sim, "from typed");
      await until(() => sim.record.to(user.id).some((m) => /^typed: from typed \(update \d+\)$/.test(m.text ?? "")), "the reply");
    } finally {
      bot.child.kill("SIGTERM");
    }
    expect(await bot.exited).toBe(0);
    expect(readFileSync(join(cwd, "typed-data", "setup-was-here.txt"), "utf8")).toBe("ok");
  });

  it("explains a missing, malformed or rejected token with exit code 2, never printing it", async () => {
    const missing = await cli(["run", ECHO, "--api-root", server.url], { cwd, env: baseEnv() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/BOT_TOKEN is not set/);

    const malformed = await cli(["run", ECHO, "--api-root", server.url], { cwd, env: baseEnv({ BOT_TOKEN: "not a token" }) });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/BOT_TOKEN does not look like a bot token/);
    expect(malformed.stderr).not.toContain("not a token");

    const rejected = await cli(["run", ECHO, "--api-root", server.url, "--data", "rejected"], { cwd, env: baseEnv({ BOT_TOKEN: "5199999:rejected-secret-token" }) });
    expect(rejected.code).toBe(2);
    expect(rejected.stderr).toMatch(/Telegram rejected the bot token \(401 Unauthorized\)/);
    expect(rejected.stdout + rejected.stderr).not.toContain("rejected-secret-token");
  });

  it("explains bad modules and bad arguments with exit code 2", async () => {
    const env = baseEnv({ BOT_TOKEN: TOKEN });
    const cases: Array<[string[], RegExp]> = [
      [["run"], /which bot\? Give the module to run/],
      [["run", "missing-bot.ts"], /the bot module .*missing-bot\.ts does not exist/],
      [["run", new URL("./fixtures/no-default.mjs", import.meta.url).pathname], /has no usable default export/],
      [["run", ECHO, "--port", "eighty"], /--port must be a whole number, got "eighty"/],
      [["run", ECHO, "--api-root", "localhost"], /--api-root must be an http\(s\) URL/],
      [["run", ECHO, "--frobnicate"], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { cwd, env });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("explains bad configuration from the file and the environment with exit code 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlost-config-"));
    try {
      const env = baseEnv({ BOT_TOKEN: TOKEN });
      writeFileSync(join(dir, "unlost.config.json"), JSON.stringify({ inbox: { concurrency: "many" }, colour: "blue" }));
      const unknown = await cli(["run", ECHO], { cwd: dir, env });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/invalid config file .*unlost\.config\.json:\n\s+- unknown key "colour"/);

      writeFileSync(join(dir, "unlost.config.json"), JSON.stringify({ inbox: { concurrency: "many" } }));
      const wrongType = await cli(["run", ECHO], { cwd: dir, env });
      expect(wrongType.code).toBe(2);
      expect(wrongType.stderr).toMatch(/inbox\.concurrency \(from .*unlost\.config\.json\): .*expected number/);

      writeFileSync(join(dir, "unlost.config.json"), JSON.stringify({ token: "5100001:run-test-secret-token" }));
      const token = await cli(["run", ECHO], { cwd: dir, env });
      expect(token.stderr).toMatch(/do not put the bot token in the config file/);
      expect(token.stderr).not.toContain("run-test-secret-token");

      writeFileSync(join(dir, "unlost.config.json"), "{ not json");
      expect((await cli(["run", ECHO], { cwd: dir, env })).stderr).toMatch(/unlost\.config\.json is not valid JSON/);

      const envWrong = await cli(["run", ECHO, "--config", join(cwd, "none.json")], { cwd: dir, env });
      expect(envWrong.stderr).toMatch(/the config file .*none\.json does not exist/);

      rmSync(join(dir, "unlost.config.json"));
      const badEnv = await cli(["run", ECHO], { cwd: dir, env: { ...env, UNLOST_MAX_ATTEMPTS: "0" } });
      expect(badEnv.code).toBe(2);
      expect(badEnv.stderr).toMatch(/inbox\.maxAttempts \(from UNLOST_MAX_ATTEMPTS\): Too small/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
