/**
 * The scheduler against a real SQLite store (a file, so "restarts" reopen it), with a clock
 * the test moves: due times are hours apart, timers fire at once when a run is due.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { createLogger } from "../runtime/logger.js";
import { openStore, type Store } from "../store/index.js";
import { until } from "../../test/helpers/until.js";
import { Scheduler } from "./scheduler.js";
import type { ScheduleRun } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), "unlost-scheduler-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1, 0, 30);

interface Logged { level: number; msg: string; schedule?: string; missed?: number }

/** A store file, a clock and log lines shared by the "processes" of one test. */
function world(name: string): { path: string; clock: { now: number }; logs: Logged[]; process: (owner: string) => Promise<{ store: Store; scheduler: Scheduler }> } {
  const path = join(dir, `${name}.sqlite`);
  const clock = { now: T0 };
  const logs: Logged[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Logged);
      done();
    },
  });
  return {
    path, clock, logs,
    process: async (owner) => {
      const store = await openStore({ path });
      const logger = createLogger({ level: "debug", destination: stream });
      // The test moves the clock: the scheduler looks at it every 5 ms.
      return { store, scheduler: new Scheduler({ store, owner, clock: () => clock.now, logger, maxSleepMs: 5 }) };
    },
  };
}

describe("Scheduler", () => {
  it("runs at its due times and records them; a restart runs nothing that already ran", async () => {
    const w = world("basic");
    const runs: ScheduleRun[] = [];
    let p = await w.process("a");
    p.scheduler.add({ name: "scan", spec: { every: "1h" }, fn: (run) => void runs.push(run), options: {} });
    await p.scheduler.start();
    const scan = async (): Promise<unknown> => (await p.scheduler.status()).find((s) => s.name === "scan");
    expect(await scan()).toMatchObject({ name: "scan", spec: "every 1h", nextRunAt: T0 + HOUR / 2, runs: 0, lastResult: null, running: false });
    w.clock.now = T0 + HOUR / 2;
    p.scheduler.add({ name: "nudge", spec: { every: "1h" }, fn: () => undefined, options: {} }); // added while running: timed too
    await until(async () => (await p.scheduler.status()).find((s) => s.name === "scan")?.runs === 1);
    expect(runs.map((r) => [r.scheduledFor, r.attempt, r.missedRuns])).toEqual([[T0 + HOUR / 2, 1, 0]]);
    expect(await scan()).toMatchObject({ runs: 1, lastResult: "ok", nextRunAt: T0 + 1.5 * HOUR, lastRunAt: T0 + HOUR / 2 });
    await p.scheduler.stop(1_000);
    await p.store.close();
    // A restart within the same hour: nothing is due.
    p = await w.process("a");
    p.scheduler.add({ name: "scan", spec: { every: "1h" }, fn: (run) => void runs.push(run), options: {} });
    await p.scheduler.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(runs).toHaveLength(1);
    await p.scheduler.stop(1_000);
    await p.store.close();
  });

  it("missed runs while down: run-once runs one for all of them; skip runs none and says so", async () => {
    const w = world("missed");
    const calls: Record<string, ScheduleRun[]> = { once: [], skip: [] };
    let p = await w.process("a");
    p.scheduler.add({ name: "once", spec: { every: "1h" }, fn: (run) => void calls["once"]!.push(run), options: {} });
    p.scheduler.add({ name: "skip", spec: { every: "1h" }, fn: (run) => void calls["skip"]!.push(run), options: { missed: "skip" } });
    await p.scheduler.start();
    await p.scheduler.stop(1_000);
    await p.store.close();
    w.clock.now = T0 + 5 * HOUR; // due at 01:00, 02:00, 03:00, 04:00, 05:00: five runs missed
    p = await w.process("a");
    p.scheduler.add({ name: "once", spec: { every: "1h" }, fn: (run) => void calls["once"]!.push(run), options: {} });
    p.scheduler.add({ name: "skip", spec: { every: "1h" }, fn: (run) => void calls["skip"]!.push(run), options: { missed: "skip" } });
    await p.scheduler.start();
    await until(() => calls["once"]!.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls["once"]!.map((r) => [r.scheduledFor, r.missedRuns])).toEqual([[T0 + HOUR / 2, 4]]);
    expect(calls["skip"]).toEqual([]);
    expect(w.logs.find((l) => l.schedule === "skip" && /skipped/.test(l.msg))?.missed).toBe(5);
    const status = await p.scheduler.status();
    expect(status.map((s) => [s.name, s.runs, s.nextRunAt])).toEqual([["once", 1, T0 + 5.5 * HOUR], ["skip", 0, T0 + 5.5 * HOUR]]);
    await p.scheduler.stop(1_000);
    await p.store.close();
  });

  it("a run cut off by a stop (or crash) runs again at the next start, for the same run time", async () => {
    const w = world("cutoff");
    const seen: ScheduleRun[] = [];
    let p = await w.process("a");
    const hang = (run: ScheduleRun): Promise<void> => {
      seen.push(run);
      return new Promise(() => undefined); // never ends (ignores its signal)
    };
    p.scheduler.add({ name: "publish", spec: { every: "1h" }, fn: hang, options: {} });
    await p.scheduler.start();
    w.clock.now = T0 + HOUR / 2;
    await until(() => seen.length === 1);
    expect((await p.scheduler.status())[0]?.running).toBe(true);
    await p.scheduler.stop(20);
    expect(seen[0]!.signal.aborted).toBe(true);
    await p.store.close();
    p = await w.process("b");
    p.scheduler.add({ name: "publish", spec: { every: "1h" }, fn: (run) => void seen.push(run), options: {} });
    await p.scheduler.start();
    await until(async () => (await p.scheduler.status())[0]?.runs === 1);
    expect(seen.map((r) => r.scheduledFor)).toEqual([T0 + HOUR / 2, T0 + HOUR / 2]);
    expect(w.logs.some((l) => /cut off/.test(l.msg))).toBe(true);
    await p.scheduler.stop(1_000);
    await p.store.close();
  });

  it("two processes on one store run each due run once", async () => {
    const w = world("two");
    const ran: string[] = [];
    const a = await w.process("a");
    const b = await w.process("b");
    for (const [who, p] of [["a", a], ["b", b]] as const) {
      p.scheduler.add({ name: "audience", spec: { every: "1h" }, fn: async () => { ran.push(who); await new Promise((r) => setTimeout(r, 30)); }, options: {} });
      await p.scheduler.start();
    }
    for (let hour = 0; hour < 3; hour++) {
      w.clock.now = T0 + HOUR / 2 + hour * HOUR;
      await until(async () => (await a.scheduler.status())[0]?.runs === hour + 1);
      await new Promise((r) => setTimeout(r, 1_100)); // the other process looks again after it found the run busy
    }
    expect(ran).toHaveLength(3);
    for (const p of [a, b]) {
      await p.scheduler.stop(1_000);
      await p.store.close();
    }
  });

  it("retries a failing run with backoff, then records the failure; a run past its timeout fails and is aborted", async () => {
    const w = world("failing");
    const p = await w.process("a");
    let tries = 0;
    p.scheduler.add({ name: "flaky", spec: { every: "1h" }, fn: () => { tries++; if (tries < 3) throw new Error(`try ${tries} failed`); }, options: { backoff: { baseMs: 5, maxMs: 10 } } });
    p.scheduler.add({ name: "broken", spec: { every: "1h" }, fn: () => { throw new Error("always"); }, options: { attempts: 2, backoff: { baseMs: 5 } } });
    let signal: AbortSignal | undefined;
    p.scheduler.add({ name: "slow", spec: { every: "1h" }, fn: (run) => { signal = run.signal; return new Promise(() => undefined); }, options: { timeoutMs: 30 } });
    await p.scheduler.start();
    w.clock.now = T0 + HOUR / 2;
    await until(async () => (await p.scheduler.status()).every((s) => s.runs === 1));
    const byName = Object.fromEntries((await p.scheduler.status()).map((s) => [s.name, s]));
    expect(tries).toBe(3);
    expect(byName["flaky"]).toMatchObject({ lastResult: "ok", failures: 0 });
    expect(byName["broken"]).toMatchObject({ lastResult: "failed", failures: 1, lastError: "always" });
    expect(byName["slow"]).toMatchObject({ lastResult: "failed", lastError: "did not finish within 30 ms" });
    expect(isUnlostError(signal?.reason, "SCHEDULE_TIMEOUT")).toBe(true);
    await p.scheduler.stop(50);
    await p.store.close();
  });

  it("refuses a bad name, timing or option, and a second schedule of the same name, saying what to write", async () => {
    const w = world("bad");
    const p = await w.process("a");
    const fn = (): void => undefined;
    const cases: Array<[() => void, RegExp]> = [
      [() => p.scheduler.add({ name: "has space", spec: "* * * * *", fn, options: {} }), /name must be/],
      [() => p.scheduler.add({ name: "x", spec: "every hour", fn, options: {} }), /cron expression/],
      [() => p.scheduler.add({ name: "x", spec: { every: "soon" }, fn, options: {} }), /"30s", "5m"/],
      [() => p.scheduler.add({ name: "x", spec: "* * * * *", fn, options: { missed: "later" as "skip" } }), /"run-once" or "skip"/],
      [() => p.scheduler.add({ name: "x", spec: "* * * * *", fn, options: { attempts: 0 } }), /attempts must be a whole number ≥ 1/],
    ];
    for (const [call, message] of cases) {
      let error: unknown;
      try { call(); } catch (e) { error = e; }
      expect(isUnlostError(error, "INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    p.scheduler.add({ name: "x", spec: "* * * * *", fn, options: {} });
    expect(() => p.scheduler.add({ name: "x", spec: "* * * * *", fn, options: {} })).toThrow(/already a schedule named "x"/);
    await p.store.close();
  });
});
