import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isUnlostError } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import { openStore, type Store } from "../../store/index.js";
import { createDowntimeMonitor, type DowntimeMonitorOptions } from "./monitor.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

const WARN = 40;
const ERROR = 50;

let now = T0;
const clock = (): number => now;
let store: Store;
let log: ReturnType<typeof captureLogger>;

beforeEach(async () => {
  now = T0;
  store = await openStore({ path: ":memory:", clock });
  log = captureLogger();
});

afterEach(async () => {
  vi.useRealTimers();
  await store.close();
});

function monitor(overrides: Partial<DowntimeMonitorOptions> = {}) {
  const send = vi.fn<(chatId: number, text: string) => Promise<unknown>>(async () => ({ message_id: 1 }));
  const created = createDowntimeMonitor({ state: store.state, clock, logger: log.logger, send, ...overrides });
  return { monitor: created, send: (overrides.send as typeof send | undefined) ?? send };
}

/** The store's state with some methods replaced (a class instance cannot just be spread). */
function stateWith(overrides: Partial<Store["state"]>): Store["state"] {
  const real = store.state;
  return {
    offset: () => real.offset(),
    beat: (at) => real.beat(at),
    lastBeat: () => real.lastBeat(),
    recordStart: (at) => real.recordStart(at),
    offlineWindows: (o) => real.offlineWindows(o),
    getValue: (k) => real.getValue(k),
    setValue: (k, v) => real.setValue(k, v),
    deleteValue: (k) => real.deleteValue(k),
    bindBot: (id) => real.bindBot(id),
    boundBot: () => real.boundBot(),
    ...overrides,
  };
}

/** A previous run that beat last at `lastBeat`, then died or stopped. */
async function previousRun(lastBeat: number): Promise<void> {
  await store.state.beat(lastBeat);
}

describe("createDowntimeMonitor: start", () => {
  it("finds no window on the very first start, and beats", async () => {
    const { monitor: m, send } = monitor({ adminChatIds: [1] });
    expect(m.lastWindow).toBeNull();
    await expect(m.start()).resolves.toBeNull();
    expect(m.lastWindow).toBeNull();
    expect(await store.state.lastBeat()).toBe(T0);
    expect(log.lines.some((l) => /first start/.test(l.msg ?? ""))).toBe(true);
    await m.alertsSettled();
    expect(send).not.toHaveBeenCalled();
    await m.stop();
  });

  it("logs a 5 minute outage with structured fields and alerts nobody", async () => {
    await previousRun(T0);
    now = T0 + 5 * MIN;
    const { monitor: m, send } = monitor({ adminChatIds: [1] });
    const window = await m.start();
    expect(window).toEqual({ from: T0, to: T0 + 5 * MIN, durationMs: 5 * MIN });
    expect(m.lastWindow).toEqual(window);
    const line = log.lines.find((l) => l.offlineFromMs !== undefined);
    expect(line).toMatchObject({ level: 30, offlineFromMs: T0, offlineToMs: T0 + 5 * MIN, durationMs: 5 * MIN, duration: "5 min" });
    expect(line?.msg).toMatch(/offline for 5 min/);
    await m.alertsSettled();
    expect(send).not.toHaveBeenCalled();
    expect(await store.state.offlineWindows()).toEqual([window]);
    await m.stop();
  });

  it("alerts every admin chat after a 25 h outage, with the right times", async () => {
    await previousRun(T0);
    now = T0 + 25 * HOUR;
    const { monitor: m, send } = monitor({ adminChatIds: [111, -100222, 111], botName: "@shop_bot" });
    const window = await m.start();
    expect(window?.durationMs).toBe(25 * HOUR);
    await m.alertsSettled();
    expect(send.mock.calls.map(([chatId]) => chatId)).toEqual([111, -100222]);
    const text = send.mock.calls[0]?.[1] ?? "";
    expect(text).toContain("@shop_bot was offline from 2024-05-01T12:00:00Z to 2024-05-02T13:00:00Z (25 h 0 min)");
    expect(text).toContain("updates sent before 2024-05-01T13:00:00Z may have been lost");
    expect(send.mock.calls[1]?.[1]).toBe(text);
    const warn = log.lines.find((l) => l.level === WARN && l.offlineFromMs !== undefined);
    expect(warn).toMatchObject({ durationMs: 25 * HOUR, possiblyLostBeforeMs: T0 + HOUR, alertAfterMs: 24 * HOUR });
    await m.stop();
  });

  it("uses alertAfterMs as the threshold (strictly longer)", async () => {
    await previousRun(T0);
    now = T0 + HOUR;
    const { monitor: exactly, send } = monitor({ adminChatIds: [1], alertAfterMs: HOUR });
    await exactly.start();
    await exactly.alertsSettled();
    expect(send).not.toHaveBeenCalled();
    await exactly.stop();

    now += 2 * HOUR;
    const { monitor: longer, send: send2 } = monitor({ adminChatIds: [1], alertAfterMs: HOUR });
    await longer.start();
    await longer.alertsSettled();
    expect(send2).toHaveBeenCalledOnce();
    expect(send2.mock.calls[0]?.[1]).toMatch(/none should have been lost/);
    await longer.stop();
  });

  it("warns but sends nothing when no admin chat is configured", async () => {
    await previousRun(T0);
    now = T0 + 30 * HOUR;
    const { monitor: m, send } = monitor();
    await m.start();
    await m.alertsSettled();
    expect(send).not.toHaveBeenCalled();
    expect(log.lines.some((l) => l.level === WARN && /no downtime.adminChatIds/.test(l.msg ?? ""))).toBe(true);
    await m.stop();
  });

  it("never throws when an alert fails: logs the error and alerts the other chats", async () => {
    await previousRun(T0);
    now = T0 + 48 * HOUR;
    const send = vi.fn(async (chatId: number) => {
      if (chatId === 1) throw new Error("Forbidden: bot was blocked by the user");
      return true;
    });
    const syncThrow = vi.fn((): Promise<unknown> => {
      throw new Error("sync failure");
    });
    const { monitor: m } = monitor({ adminChatIds: [1, 2], send });
    await expect(m.start()).resolves.toMatchObject({ durationMs: 48 * HOUR });
    await expect(m.alertsSettled()).resolves.toBeUndefined();
    expect(send).toHaveBeenCalledTimes(2);
    const error = log.lines.find((l) => l.level === ERROR);
    expect(error).toMatchObject({ chatId: 1, msg: "downtime alert could not be sent" });
    await m.stop();

    now += 48 * HOUR;
    const { monitor: m2 } = monitor({ adminChatIds: [3], send: syncThrow });
    await m2.start();
    await m2.alertsSettled();
    expect(log.lines.filter((l) => l.level === ERROR)).toHaveLength(2);
    await m2.stop();
  });

  it("does not wait for a hanging alert to start", async () => {
    await previousRun(T0);
    now = T0 + 26 * HOUR;
    const { monitor: m } = monitor({ adminChatIds: [1], send: () => new Promise<never>(() => undefined) });
    await expect(m.start()).resolves.toMatchObject({ durationMs: 26 * HOUR });
    await m.stop();
  });

  it("returns the same window when started twice, and records the start once", async () => {
    await previousRun(T0);
    now = T0 + MIN;
    const { monitor: m } = monitor();
    const [a, b] = await Promise.all([m.start(), m.start()]);
    expect(a).toEqual(b);
    expect(await m.start()).toEqual(a);
    expect(await store.state.offlineWindows()).toHaveLength(1);
    await m.stop();
  });

  it("may be started again after a failed start", async () => {
    const recordStart = vi.fn((at?: number) => store.state.recordStart(at));
    recordStart.mockRejectedValueOnce(new Error("disk full"));
    const { monitor: m } = monitor({ state: stateWith({ recordStart }) });
    await expect(m.start()).rejects.toThrow("disk full");
    await expect(m.start()).resolves.toBeNull();
    await m.stop();
  });
});

describe("createDowntimeMonitor: heartbeat and stop", () => {
  it("writes a heartbeat every heartbeatMs", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { monitor: m } = monitor({ heartbeatMs: 1_000 });
    await m.start();
    for (let i = 1; i <= 3; i += 1) {
      now = T0 + i * 1_000;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await store.state.lastBeat()).toBe(T0 + i * 1_000);
    }
    await m.stop();
  });

  it("keeps beating when a beat fails (logged)", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const beat = vi.fn((at?: number) => store.state.beat(at));
    beat.mockRejectedValueOnce(new Error("SQLITE_BUSY"));
    const { monitor: m } = monitor({ state: stateWith({ beat }), heartbeatMs: 500 });
    await m.start();
    now = T0 + 500;
    await vi.advanceTimersByTimeAsync(500);
    expect(log.lines.some((l) => l.level === WARN && /heartbeat could not be written/.test(l.msg ?? ""))).toBe(true);
    now = T0 + 1_000;
    await vi.advanceTimersByTimeAsync(500);
    expect(await store.state.lastBeat()).toBe(T0 + 1_000);
    await m.stop();
  });

  it("stop writes a final beat, stops the timer and is idempotent", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { monitor: m } = monitor({ heartbeatMs: 1_000 });
    await m.start();
    now = T0 + 1_500;
    await Promise.all([m.stop(), m.stop()]);
    expect(await store.state.lastBeat()).toBe(T0 + 1_500);
    now = T0 + 10_000;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await store.state.lastBeat()).toBe(T0 + 1_500);
    expect(vi.getTimerCount()).toBe(0);
    await expect(m.start()).rejects.toSatisfy((e: unknown) => isUnlostError(e, "STOPPED"));
  });

  it("the next run measures its outage from the final beat", async () => {
    const { monitor: first } = monitor();
    await first.start();
    now = T0 + 10 * MIN;
    await first.stop();
    now = T0 + 15 * MIN;
    const { monitor: second } = monitor();
    expect(await second.start()).toEqual({ from: T0 + 10 * MIN, to: T0 + 15 * MIN, durationMs: 5 * MIN });
    await second.stop();
  });

  it("stop before start writes nothing", async () => {
    const { monitor: m } = monitor();
    await m.stop();
    expect(await store.state.lastBeat()).toBeNull();
  });
});

describe("createDowntimeMonitor: wasDown", () => {
  it("is false before start and on a first run", async () => {
    const { monitor: m } = monitor();
    expect(m.wasDown(T0)).toBe(false);
    await m.start();
    expect(m.wasDown(T0 - 1_000)).toBe(false);
    await m.stop();
  });

  it("tells messages sent during the outage from those around it, at second precision", async () => {
    await previousRun(T0 + 500); // last beat at 12:00:00.500
    now = T0 + 10 * MIN + 300; // restart at 12:10:00.300
    const { monitor: m } = monitor();
    await m.start();
    expect(m.wasDown(T0 - 1_000)).toBe(false); // before the last beat
    expect(m.wasDown(T0)).toBe(false); // same second as the beat, maybe before it
    expect(m.wasDown(T0 + 1_000)).toBe(true); // first whole second after it
    expect(m.wasDown(T0 + 5 * MIN)).toBe(true);
    expect(m.wasDown(T0 + 10 * MIN - 1_000)).toBe(true); // last whole second before the restart
    expect(m.wasDown(T0 + 10 * MIN)).toBe(false); // same second as the restart, maybe after it
    expect(m.wasDown(T0 + 11 * MIN)).toBe(false); // after the restart
    await m.stop();
  });
});

describe("createDowntimeMonitor: wasDown after a crash during catch-up", () => {
  it("still counts the first outage's backlog after a second start (the first catch-up died), not windows past Telegram's retention", async () => {
    await previousRun(T0 - 30 * HOUR); // an outage long ago: outside the 24 h retention
    now = T0 - 29 * HOUR;
    const old = monitor().monitor;
    await old.start();
    await old.stop();
    await previousRun(T0); // the bot ran until 12:00
    now = T0 + 10 * MIN; // down 10 min, then a start that dies at once during catch-up
    const first = monitor().monitor;
    await first.start();
    now = T0 + 10 * MIN + 5_000; // restarted 5 s later
    const second = monitor().monitor;
    await second.start();
    expect(second.lastWindow?.durationMs).toBeLessThan(10_000);
    expect(second.wasDown(T0 + 5 * MIN)).toBe(true); // the first outage's backlog
    expect(second.wasDown(T0 + 10 * MIN + 2_000)).toBe(true); // the crash's gap
    expect(second.wasDown(T0 - 29.5 * HOUR)).toBe(false); // Telegram no longer has those
    expect(second.wasDown(T0 + 20 * MIN)).toBe(false);
    await second.stop();
  });
});

describe("createDowntimeMonitor: options", () => {
  const send = async () => true;
  it.each([
    [{ heartbeatMs: 0 }, /heartbeatMs must be a number of milliseconds > 0/],
    [{ heartbeatMs: Number.NaN }, /heartbeatMs/],
    [{ alertAfterMs: -1 }, /alertAfterMs must be a number of milliseconds > 0/],
    [{ adminChatIds: [1.5] }, /adminChatIds must be an array of Telegram chat ids/],
    [{ adminChatIds: "123" }, /adminChatIds/],
    [{ send: undefined }, /send must be a function/],
    [{ clock: 5 }, /clock must be a function/],
  ])("refuses %j", (bad, message) => {
    const options = { state: store.state, logger: log.logger, send, ...bad } as unknown as DowntimeMonitorOptions;
    expect(() => createDowntimeMonitor(options)).toThrow(message);
    try {
      createDowntimeMonitor(options);
    } catch (error) {
      expect(isUnlostError(error, "INVALID_CONFIG")).toBe(true);
    }
  });
});
