/**
 * A conversation (@grammyjs/conversations v2) under `kill -9`: the bot process
 * (fixtures/conversation-bot.mjs) is killed in the middle of a step, after two of the step's
 * three replies were delivered. The restarted process takes the update over and handles it
 * again; the conversation replays the step from the start, and its replies — made through the
 * conversation's own `Api`, not `ctx.api` — get the same keys as before: the two delivered ones
 * return their stored messages, only the third is sent. The user gets each question once.
 */
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { killAllBotProcesses, spawnBotProcess, type BotProcess } from "./helpers/bot-process.js";
import { waitFor } from "./helpers/emulator-probes.js";
import { makeTempDir, stopGracefully, type TempDir } from "./helpers/unlost-bot.js";

const CONVERSATION_BOT = fileURLToPath(new URL("./fixtures/conversation-bot.mjs", import.meta.url));

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;

beforeEach(async () => {
  tmp = makeTempDir("unlost-conversation-kill9-");
  emulator = createEmulator({ seed: 12, limits: false });
  sim = emulator.createBot({ username: "conversation_kill9_bot" });
  server = await startEmulatorServer(emulator);
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

function start(env: Record<string, string>, name: string): BotProcess {
  return spawnBotProcess(CONVERSATION_BOT, { name, env: { API_ROOT: server.url, BOT_TOKEN: sim.token, DB_PATH: tmp.file("bot.sqlite"), ...env } });
}

describe("a conversation under kill -9", () => {
  it("killed mid-step after two replies: the restart replays the step and the user gets each reply once", async () => {
    const first = start({ HANG_AFTER: "2" }, "conversation-bot#1");
    await first.waitForEvent((e) => e["event"] === "started", { timeoutMs: 20_000 });
    const alice = emulator.createUser({ firstName: "Alice" });
    alice.sendCommand(sim, "start");
    await first.waitForEvent((e) => e["event"] === "hung", { timeoutMs: 20_000 });
    // The replies were delivered (the step awaited them) before it hung.
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["question 1", "question 2"]);
    await first.kill9();

    const second = start({}, "conversation-bot#2");
    await second.waitForEvent((e) => e["event"] === "entered", { timeoutMs: 30_000 });
    const replays = second.events().filter((e) => e["event"] === "replied");
    // The replayed replies got the messages delivered before the kill.
    const before = first.events().filter((e) => e["event"] === "replied").map((e) => e["messageId"]);
    expect(replays.slice(0, 2).map((e) => e["messageId"])).toEqual(before);
    await waitFor(() => sim.record.to(alice.id).length >= 3, { what: "the third question" });
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["question 1", "question 2", "question 3"]);
    await stopGracefully(second);
  });
});
