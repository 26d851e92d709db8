/**
 * Schedules inside a runtime: they run beside handling, send through the outbox, are listed
 * by `runtime.schedules()` and by `unlost status` (read from the store), and a restart of the
 * runtime on the same store neither skips nor repeats a run.
 */
import { Bot, type Context } from "grammy";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { statusReport } from "../../src/cli/status-report.js";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, isUnlostError, silentLogger, type Runtime, type ScheduleRun, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";

type Ctx = Context & UnlostFlavor;
const dir = mkdtempSync(join(tmpdir(), "unlost-schedules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
});

describe("runtime.schedule", () => {
  it("runs beside handling, sends through the outbox, is listed by runtime.schedules() and unlost status; a restart continues without a double run", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    const admin = emulator.createUser({ startedBots: true });
    server = await startEmulatorServer(emulator);
    const path = join(dir, "bot.sqlite");
    const runs: ScheduleRun[] = [];
    const make = (): Runtime => {
      const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server!.url } });
      bot.on("message:text", (ctx) => ctx.reply(`re: ${ctx.message.text}`));
      const rt = createRuntime(bot, { store: { path }, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, inbox: { idleMs: 20 }, outbox: { idleMs: 20 } });
      // Registered before start, as a bot module does.
      rt.schedule("report", { every: 300 }, async (run) => {
        runs.push(run);
        await rt.outbox.sendText(admin.id, `report for ${run.scheduledFor}`);
      });
      return rt;
    };
    runtime = make();
    await runtime.start();
    admin.sendText(sim, "hello");
    await until(async () => ((await runtime!.schedules())[0]?.runs ?? 0) >= 2, 10_000);
    await until(() => sim.record.to(admin.id).some((m) => m.text === "re: hello"));
    const [status] = await runtime.schedules();
    expect(status).toMatchObject({ name: "report", spec: "every 300 ms", lastResult: "ok", failures: 0 });
    expect(status!.runs).toBeGreaterThanOrEqual(2);
    expect(status!.nextRunAt).toBeGreaterThan(status!.lastRunAt!);
    await runtime.stop();
    runtime = undefined;
    const slots = runs.map((r) => r.scheduledFor);
    expect(new Set(slots).size).toBe(slots.length); // no slot ran twice

    // `unlost status` reads them from the store, without the bot running.
    const store = await openStore({ path });
    const report = await statusReport(store, { now: Date.now() });
    await store.close();
    expect(report.schedules.map((s) => [s.name, s.spec, s.lastResult])).toEqual([["report", "every 300 ms", "ok"]]);

    // A restart: runs go on, each slot once (the missed ones, if any, as one run).
    const before = runs.length;
    runtime = make();
    await runtime.start();
    await until(() => runs.length >= before + 2, 10_000);
    const all = runs.map((r) => r.scheduledFor);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual([...all].sort((a, b) => a - b));
    await until(() => sim.record.to(admin.id).filter((m) => m.text?.startsWith("report for")).length >= runs.length - 1);
  });

  it("a schedule calling a service through a breaker: the open breaker fails its tries fast, and the run succeeds once the service is back", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
    runtime = createRuntime(bot, { store: { path: join(dir, "breaker.sqlite") }, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false } });
    const service = runtime.breaker("media-service", { opensAfter: 2, halfOpenAfterMs: 200 });
    expect(runtime.breaker("media-service", { opensAfter: 2, halfOpenAfterMs: 200 })).toBe(service);
    expect(() => runtime!.breaker("media-service", { opensAfter: 3 })).toThrow(/other options/);
    let up = false;
    let serviceCalls = 0;
    const tries: Array<{ scheduledFor: number; attempt: number; outcome: string }> = [];
    runtime.schedule("fetch-media", { every: 200 }, async (run) => {
      try {
        await service.execute(() => { serviceCalls++; if (!up) throw new Error("503 from the media service"); });
        tries.push({ scheduledFor: run.scheduledFor, attempt: run.attempt, outcome: "ok" });
      } catch (error) {
        tries.push({ scheduledFor: run.scheduledFor, attempt: run.attempt, outcome: (error as { code?: string }).code ?? "service" });
        throw error;
      }
    }, { attempts: 10, backoff: { baseMs: 60, maxMs: 60 } });
    await runtime.start();
    await until(() => tries.length >= 4);
    up = true; // the service is back: the probe after halfOpenAfterMs succeeds
    await until(async () => ((await runtime!.schedules())[0]?.runs ?? 0) >= 1);
    const first = tries.filter((t) => t.scheduledFor === tries[0]!.scheduledFor);
    // Two real failures open the breaker; then tries fail fast without calling the service, until the probe.
    expect(first.slice(0, 3).map((t) => t.outcome)).toEqual(["service", "service", "CIRCUIT_OPEN"]);
    expect(first.at(-1)?.outcome).toBe("ok");
    expect(serviceCalls).toBe(first.filter((t) => t.outcome !== "CIRCUIT_OPEN").length);
    expect((await runtime.schedules())[0]).toMatchObject({ lastResult: "ok", failures: 0 });
    expect(runtime.breakers()).toEqual([expect.objectContaining({ name: "media-service", state: "closed", opened: 1 })]);
  });

  it("refuses a bad schedule at once, with the fix in the message", () => {
    const rt = createRuntime(new Bot<Ctx>("1:x"), { logger: silentLogger() });
    let error: unknown;
    try { rt.schedule("nightly", "at night", () => undefined); } catch (e) { error = e; }
    expect(isUnlostError(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toMatch(/"\*\/5 \* \* \* \*"/);
    rt.schedule("nightly", "0 3 * * *", () => undefined);
    expect(() => rt.schedule("nightly", "0 4 * * *", () => undefined)).toThrow(/already a schedule named "nightly"/);
  });
});
