/**
 * Two instances of a bot on one store, each with its admin server: one polls, the other stands
 * by; both are ready, and `unlost_poller_up` sums to 1 over them (the alert "nobody polls" is
 * `sum(unlost_poller_up) == 0`). When the poller stops, the other takes over.
 */
import { Bot } from "grammy";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime } from "../../src/index.js";
import { until } from "../helpers/until.js";
import { ADMIN_TOKEN, get, sample } from "./helpers.js";

let server: EmulatorServer | undefined;
const runtimes: Runtime[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.stop();
  await server?.close();
  server = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("two instances on one store", () => {
  it("one polls, one stands by: both ready, unlost_poller_up sums to 1, and moves to the other when the poller stops", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    dir = mkdtempSync(join(tmpdir(), "unlost-admin-standby-"));
    const path = join(dir, "unlost.sqlite");
    for (const name of ["a", "b"]) {
      const bot = new Bot(sim.token, { client: { apiRoot: server.url } });
      const rt = createRuntime(bot, {
        store: { path }, instanceId: name, logger: silentLogger(), shutdown: { handleSignals: false },
        polling: { timeoutSeconds: 1, leaseTtlMs: 2_000 }, downtime: { heartbeatMs: 200 },
        admin: { port: 0, token: ADMIN_TOKEN },
      });
      await rt.start();
      runtimes.push(rt);
    }
    const pollerUp = async (rt: Runtime): Promise<number | undefined> => sample((await get(`${rt.adminUrl}/metrics`)).text, "unlost_poller_up");
    const state = async (rt: Runtime): Promise<string> => JSON.parse((await get(`${rt.adminUrl}/readyz`)).text).checks.updates.state;
    await until(async () => (await pollerUp(runtimes[0]!)) === 1, 5_000, "a polls");
    expect(await pollerUp(runtimes[1]!)).toBe(0);
    expect(await state(runtimes[0]!)).toBe("polling");
    expect(await state(runtimes[1]!)).toBe("standby");
    for (const rt of runtimes) expect((await get(`${rt.adminUrl}/readyz`)).status).toBe(200);

    const [first] = runtimes.splice(0, 1);
    await first!.stop();
    await until(async () => (await pollerUp(runtimes[0]!)) === 1, 10_000, "b takes over");
    expect(await state(runtimes[0]!)).toBe("polling");
  });
});
