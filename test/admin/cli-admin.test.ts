/**
 * `unlost run … --admin-port 0` as a user runs it: the admin server's URL is printed, probes,
 * metrics and the protected API answer over HTTP, the counts follow the bot, no answer and no
 * output line holds the bot token or the admin token, and SIGTERM still exits 0.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { baseEnv, cli, startCli } from "../cli/fixtures/cli-process.js";
import { until } from "../helpers/until.js";
import { get, sample } from "./helpers.js";

const TOKEN = "5100077:admin-cli-secret-token";
const ADMIN = "cli-admin-token-0123456789abcdef";
let server: EmulatorServer;
let sim: SimBot;
let user: SimUser;
let cwd: string;

beforeAll(async () => {
  const emulator = createEmulator({ seed: 15 });
  sim = emulator.createBot({ token: TOKEN, username: "admin_cli_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  user = emulator.createUser({ firstName: "Dilnoza" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-admin-cli-"));
});

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

describe("unlost run --admin-port", () => {
  it("serves /healthz, /readyz, /metrics and the token-protected API beside the bot; exits 0 on SIGTERM", async () => {
    const modulePath = new URL("../cli/fixtures/exported-bot.mjs", import.meta.url).pathname;
    const bot = startCli(["run", modulePath, "--api-root", server.url, "--admin-port", "0"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_ADMIN_TOKEN: ADMIN }) });
    const bodies: string[] = [];
    const fetched = async (url: string, token?: string) => {
      const answer = await get(url, token);
      bodies.push(answer.text);
      return answer;
    };
    try {
      await bot.waitFor(/admin server at http:\/\/127\.0\.0\.1:\d+/);
      const url = /admin server at (http:\/\/127\.0\.0\.1:\d+)/.exec(bot.output())?.[1] as string;
      expect((await fetched(`${url}/healthz`)).status).toBe(200);
      await until(async () => (await fetched(`${url}/readyz`)).status === 200, 10_000, "ready");
      user.sendText(sim, "counted");
      await until(() => sim.record.to(user.id).some((m) => m.text === "js: counted"), 10_000, "the reply");
      await until(async () => sample((await fetched(`${url}/metrics`)).text, "unlost_updates_handled_total") === 1, 5_000, "handled counted");
      expect(sample((await fetched(`${url}/metrics`)).text, "unlost_poller_up")).toBe(1);
      expect((await fetched(`${url}/api/stats`)).status).toBe(401);
      const stats = await fetched(`${url}/api/stats`, ADMIN);
      expect(stats.status).toBe(200);
      expect(JSON.parse(stats.text)).toMatchObject({ runtime: { mode: "polling", counters: { handled: 1 } } });
    } finally {
      bot.child.kill("SIGTERM");
    }
    expect(await bot.exited).toBe(0);
    for (const text of [...bodies, bot.output()]) {
      expect(text).not.toContain("admin-cli-secret-token");
      expect(text).not.toContain(ADMIN);
    }
  });

  it("exits 2 with a clear message for a taken admin port or a short UNLOST_ADMIN_TOKEN", async () => {
    const modulePath = new URL("../cli/fixtures/exported-bot.mjs", import.meta.url).pathname;
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const taken = await cli(["run", modulePath, "--api-root", server.url, "--data", "taken", "--admin-port", String(port)], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_ADMIN_TOKEN: ADMIN }) });
      expect(taken.code).toBe(2);
      expect(taken.stderr).toMatch(new RegExp(`The admin server cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      blocker.close();
    }
    const short = await cli(["run", modulePath, "--api-root", server.url, "--data", "short", "--admin-port", "0"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN, UNLOST_ADMIN_TOKEN: "short" }) });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/UNLOST_ADMIN_TOKEN must be at least 16 characters/);
    expect(short.stderr + short.stdout).not.toContain("admin-cli-secret-token");
  });
});
