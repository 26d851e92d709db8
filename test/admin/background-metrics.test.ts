/**
 * Background work on /metrics: circuit breakers, schedules and tasks move with a scenario.
 */
import { Bot } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";
import { ADMIN_TOKEN, get, sample, type Ctx } from "./helpers.js";

let runtime: Runtime | undefined;
let server: EmulatorServer | undefined;
afterEach(async () => {
  await runtime?.stop();
  await server?.close();
  runtime = undefined;
  server = undefined;
});

describe("background work on /metrics and the overview", () => {
  it("shows each breaker's state and openings, each schedule's runs by result, and tasks by kind and state", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
    const rt = createRuntime(bot, {
      store: await openStore({ path: ":memory:" }), logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
      admin: { port: 0, token: ADMIN_TOKEN }, tasks: { pollMs: 50 },
    });
    runtime = rt;
    const service = rt.breaker("payments", { opensAfter: 1, halfOpenAfterMs: 60_000 });
    let scheduled = 0;
    rt.schedule("report", { every: "1s" }, () => {
      scheduled++;
      if (scheduled === 2) throw new Error("the second run fails");
    }, { attempts: 1 });
    rt.tasks.handle("convert", async () => undefined, { concurrency: 2 });
    await rt.start();
    const url = rt.adminUrl!;

    const before = (await get(`${url}/metrics`)).text;
    expect(sample(before, "unlost_breaker_state", { name: "payments" })).toBe(0);
    await expect(service.execute(() => Promise.reject(new Error("payments down")))).rejects.toThrow("payments down");
    for (let i = 0; i < 3; i++) await rt.tasks.add("convert", { i });

    await until(async () => {
      const text = (await get(`${url}/metrics`)).text;
      return sample(text, "unlost_tasks", { kind: "convert", state: "done" }) === 3 && (sample(text, "unlost_schedule_runs_total", { name: "report", result: "failed" }) ?? 0) >= 1;
    }, 15_000, "tasks done and a failed schedule run");
    const text = (await get(`${url}/metrics`)).text;
    expect(sample(text, "unlost_breaker_state", { name: "payments" })).toBe(1);
    expect(sample(text, "unlost_breaker_opened_total", { name: "payments" })).toBe(1);
    expect(sample(text, "unlost_schedule_runs_total", { name: "report", result: "ok" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "unlost_schedule_next_run_seconds", { name: "report" })).toBeGreaterThan(Date.now() / 1000 - 1);
    expect(text).toContain("# TYPE unlost_tasks gauge");

    // The overview shows the same: schedules, tasks by kind and state, breakers.
    const overview = await get(`${url}/`, ADMIN_TOKEN);
    expect(overview.status).toBe(200);
    expect(overview.text).toContain("Background work");
    expect(overview.text).toMatch(/<td[^>]*>report<\/td><td[^>]*>every 1s/);
    expect(overview.text).toMatch(/<td[^>]*>convert<\/td><td[^>]*>0<\/td><td[^>]*>0<\/td><td[^>]*>3<\/td>/);
    expect(overview.text).toMatch(/<td[^>]*>payments<\/td><td[^>]*><span class="bad">open<\/span>/);
  });
});
