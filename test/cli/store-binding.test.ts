/**
 * One store belongs to one bot. Bot B's token run on bot A's data folder would poll with A's
 * offset and so confirm (drop) B's waiting updates; unlost refuses it at start instead (exit 2,
 * naming both bots, before any getUpdates), doctor reports it, and B's updates are all still
 * at Telegram for B's own store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { until } from "../helpers/until.js";
import { baseEnv, cli, startCli } from "./fixtures/cli-process.js";

const TOKEN_A = "5300001:binding-a-secret-token";
const TOKEN_B = "5300002:binding-b-secret-token";
const ECHO = new URL("../../examples/echo/bot.ts", import.meta.url).pathname;
let server: EmulatorServer;
let botA: SimBot;
let botB: SimBot;
let user: SimUser;
let cwd: string;

beforeAll(async () => {
  const emulator = createEmulator({ seed: 10 });
  botA = emulator.createBot({ token: TOKEN_A, username: "binding_a_bot" });
  botB = emulator.createBot({ token: TOKEN_B, username: "binding_b_bot" });
  server = await startEmulatorServer(emulator, { port: 0 });
  user = emulator.createUser({ firstName: "Nadia" });
  cwd = mkdtempSync(join(tmpdir(), "unlost-binding-"));
});

afterAll(async () => {
  await server?.close();
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

/** Runs the echo bot with `token` on `data` until `replies` echoes reached the user, then stops it. */
async function runUntilEchoed(token: string, sim: SimBot, data: string, replies: number): Promise<void> {
  const bot = startCli(["run", ECHO, "--api-root", server.url, "--data", data], { cwd, env: baseEnv({ BOT_TOKEN: token }) });
  try {
    await bot.waitFor(/is running/);
    await until(() => sim.record.to(user.id).length >= replies, 15_000, `${replies} replies of @${sim.info.username}`);
  } finally {
    bot.child.kill("SIGTERM");
  }
  expect(await bot.exited, bot.output()).toBe(0);
}

describe("one store per bot", () => {
  it("refuses another bot's token on a bound store (exit 2, both ids), confirms none of its updates, and doctor reports it", async () => {
    user.sendText(botA, "a1");
    await runUntilEchoed(TOKEN_A, botA, "shared", 1);

    for (const text of ["b1", "b2", "b3"]) user.sendText(botB, text);
    expect(botB.updates.count()).toBe(3);

    const refused = await cli(["run", ECHO, "--api-root", server.url, "--data", "shared"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN_B }), timeoutMs: 10_000 });
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    const line = refused.stderr.split("\n").find((l) => l.includes("belongs to bot"));
    expect(line).toMatch(/unlost run: the store at .*shared\/unlost\.sqlite belongs to bot 5300001, but this token is bot 5300002's \(@binding_b_bot\); nothing was fetched or sent\. Give this bot its own store \(another --data folder/);
    expect(refused.stdout + refused.stderr).not.toContain("binding-b-secret-token");
    // Nothing was confirmed for B: its three updates still wait at Telegram.
    expect(botB.updates.count()).toBe(3);
    expect(botB.record.to(user.id)).toHaveLength(0);

    const doctor = await cli(["doctor", "--api-root", server.url, "--data", "shared"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN_B }) });
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL\s+store: the store at .*shared\/unlost\.sqlite belongs to bot 5300001, but BOT_TOKEN is bot 5300002's/);
    expect(doctor.stdout).toMatch(/fix: Give bot 5300002 its own data folder/);
    const doctorA = await cli(["doctor", "--api-root", server.url, "--data", "shared"], { cwd, env: baseEnv({ BOT_TOKEN: TOKEN_A }) });
    expect(doctorA.stdout).not.toMatch(/belongs to bot/);

    // On its own folder B handles all three.
    await runUntilEchoed(TOKEN_B, botB, "b-data", 3);
    expect(botB.record.to(user.id).map((m) => m.text)).toEqual(["echo: b1", "echo: b2", "echo: b3"]);
    expect(botB.updates.count()).toBe(0);
  }, 60_000);
});
