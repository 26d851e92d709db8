/**
 * The admin server listens from the first moment of `runtime.start()`: while the bot is not
 * identified yet (a slow getMe), `/healthz` is alive and `/readyz` says "starting" with 503;
 * once started, ready.
 */
import { Bot } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";
import { ADMIN_TOKEN, get } from "./helpers.js";

let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
});

describe("the admin server while the runtime starts", () => {
  it("answers alive and 'starting' (503) before the runtime runs, ready after", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    // getMe answers after 1.5 s: the runtime is "starting" that long.
    emulator.faults.add({ fault: { kind: "latency", ms: 1_500 }, methods: ["getMe"], times: 1 });
    const bot = new Bot(sim.token, { client: { apiRoot: server.url } });
    const rt = createRuntime(bot, {
      store: await openStore({ path: ":memory:" }), logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
      admin: { port: 0, token: ADMIN_TOKEN },
    });
    runtime = rt;
    const started = rt.start();
    await until(() => rt.adminUrl !== undefined, 5_000, "the admin server listens");
    const url = rt.adminUrl as string;
    expect((await get(`${url}/healthz`)).status).toBe(200);
    const starting = await get(`${url}/readyz`);
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.text)).toMatchObject({ ready: false, checks: { updates: { ok: false, state: "starting" } } });
    await started;
    await until(async () => (await get(`${url}/readyz`)).status === 200, 5_000, "ready");
  });
});
