import { describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { silentLogger } from "../runtime/logger.js";
import { createBreaker } from "./breaker.js";

const deps = { logger: silentLogger(), clock: Date.now };
const fail = (): never => { throw new Error("service down"); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("circuit breakers", () => {
  it("opens after N failures in a row, fails fast with CIRCUIT_OPEN and when to retry, and closes after a probe succeeds", async () => {
    const breaker = createBreaker("downloads", { opensAfter: 3, halfOpenAfterMs: 80 }, deps);
    let calls = 0;
    for (let i = 0; i < 3; i++) await expect(breaker.execute(() => { calls++; fail(); })).rejects.toThrow("service down");
    expect(breaker.status()).toMatchObject({ name: "downloads", state: "open", opened: 1, lastError: "service down" });
    const error = await breaker.execute(() => { calls++; return "never"; }).catch((e: unknown) => e);
    expect(isUnlostError(error, "CIRCUIT_OPEN")).toBe(true);
    expect((error as { details: { retryAfterMs: number } }).details.retryAfterMs).toBeLessThanOrEqual(80);
    expect((error as Error).message).toMatch(/downloads is open .*service down.*Try again in/);
    expect(calls).toBe(3); // the open breaker did not call
    await sleep(100);
    expect(await breaker.execute(() => { calls++; return "ok"; })).toBe("ok");
    expect(breaker.status()).toMatchObject({ state: "closed", openedAt: null, opened: 1 });
  });

  it("a failed probe opens it again", async () => {
    const breaker = createBreaker("api", { opensAfter: 1, halfOpenAfterMs: 50 }, deps);
    await expect(breaker.execute(fail)).rejects.toThrow("service down");
    await sleep(70);
    await expect(breaker.execute(fail)).rejects.toThrow("service down");
    expect(breaker.status()).toMatchObject({ state: "open", opened: 2 });
    await expect(breaker.execute(() => "x")).rejects.toMatchObject({ code: "CIRCUIT_OPEN" });
  });

  it("opens on a failure ratio over a window once there were enough calls; successes in between keep it closed", async () => {
    const breaker = createBreaker("ratio", { opensAfter: { ratio: 0.5, windowMs: 1000, minimumCalls: 4 } }, deps);
    await breaker.execute(() => 1);
    await expect(breaker.execute(fail)).rejects.toThrow();
    await breaker.execute(() => 1);
    expect(breaker.status().state).toBe("closed");
    for (let i = 0; i < 4; i++) await breaker.execute(fail).catch(() => undefined);
    expect(breaker.status().state).toBe("open");
  });

  it("passes the caller's signal on, and refuses bad options saying what is expected", async () => {
    const breaker = createBreaker("s", {}, deps);
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    await breaker.execute((signal) => { seen = signal; }, controller.signal);
    controller.abort();
    expect(seen?.aborted).toBe(true);
    expect(() => createBreaker("bad name", {}, deps)).toThrow(/name must be/);
    expect(() => createBreaker("x", { opensAfter: 0 }, deps)).toThrow(/opensAfter must be/);
    expect(() => createBreaker("x", { opensAfter: { ratio: 2, windowMs: 1000 } }, deps)).toThrow(/0 < ratio ≤ 1/);
    expect(() => createBreaker("x", { halfOpenAfterMs: 0 }, deps)).toThrow(/halfOpenAfterMs/);
  });
});
