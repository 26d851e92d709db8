/**
 * A dead letter retried (with `unlost dead-letters retry`) while its bot runs and its chat has
 * newer updates waiting: the retried update runs alone in its chat — after the handler of the
 * chat running at that moment, before the chat's updates that had not started — and never at
 * the same time as another update of its chat, in the process that polls or in a standby.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { baseEnv, cli } from "../cli/fixtures/cli-process.js";
import { killAllBotProcesses } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { chatOrder, handledEvents, isStarted, makeTempDir, send, startUnlostBot, stopGracefully, updateIdsOf, type TempDir } from "./helpers/unlost-bot.js";

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;

beforeEach(async () => {
  tmp = makeTempDir("unlost-dlretry-");
  emulator = createEmulator({ seed: 12, limits: false });
  sim = emulator.createBot({ username: "retry_bot" });
  server = await startEmulatorServer(emulator);
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("retrying a dead letter while its chat goes on", () => {
  it("runs the retried update alone in its chat, in the poller and with a standby beside it", async () => {
    const dataDir = tmp.file("data");
    const flag = join(tmp.file(""), "bug-present");
    writeFileSync(flag, "");
    const env = { DB_PATH: join(dataDir, "unlost.sqlite"), MAX_ATTEMPTS: "1", HANDLER_DELAY_MS: "400", FAIL_WHILE_FILE: flag, POLLER_LEASE_MS: "2000" };
    const a = startUnlostBot(server, sim, env, "A");
    await a.waitForEvent(isStarted);
    await a.waitForEvent((e) => e["msg"] === "polling for updates");
    const b = startUnlostBot(server, sim, env, "B");
    await b.waitForEvent(isStarted);
    const user = emulator.createUser({ firstName: "Retry" });
    const sent: SentMessage[] = [send(sim, user, "fail once")];
    await waitFor(async () => (await cli(["dead-letters", "list", "--data", dataDir, "--json"], { cwd: tmp.file(""), env: baseEnv() })).stdout.includes("failing while"), { timeoutMs: 10_000, what: "the dead letter" });
    // The bug is fixed; the chat writes on (slow handlers keep its updates queued), and the
    // operator retries the dead letter meanwhile.
    rmSync(flag);
    for (let i = 1; i <= 4; i++) sent.push(send(sim, user, `after ${i}`));
    await a.waitForEvent((e) => e["event"] === "begin" && String(e["updateId"]) !== "", { count: 2 });
    const retried = await cli(["dead-letters", "retry", "--all", "--data", dataDir], { cwd: tmp.file(""), env: baseEnv() });
    expect(retried.code, retried.stderr).toBe(0);
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 20_000, what: "every message answered, the retried one too" });
    const ids = updateIdsOf(sim, sent);
    await waitFor(() => ids.every((id) => handledEvents(a, b).some((h) => h.updateId === id)), { timeoutMs: 5_000, what: "every run's end printed" });
    expect(chatOrder(a, b).overlaps).toEqual([]);
    expect(tallyReplies(sim.record, sent)).toMatchObject({ lost: 0, duplicates: 0 });
    await Promise.all([stopGracefully(a), stopGracefully(b)]);
  }, 45_000);
});
