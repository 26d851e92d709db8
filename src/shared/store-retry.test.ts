import { afterEach, describe, expect, it, vi } from "vitest";
import { UnlostError } from "../errors/index.js";
import { StoreRetry } from "./store-retry.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("StoreRetry", () => {
  it("schedules a store failure again with a doubling delay (200 ms … 5 s), from the start after a success", () => {
    vi.useFakeTimers();
    const retry = new StoreRetry();
    const again = vi.fn();
    const failure = new UnlostError("STORE_FAILURE", "down");
    const delays = Array.from({ length: 7 }, () => retry.schedule(failure, again, () => 0.5));
    expect(delays).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    vi.advanceTimersByTime(5_000);
    expect(again).toHaveBeenCalledTimes(7);
    retry.succeeded();
    expect(retry.schedule(failure, again, () => 0.5)).toBe(200);
  });

  it("drops what is not a store failure (a closed store, a refused argument, a bug)", () => {
    const retry = new StoreRetry();
    const again = vi.fn();
    expect(retry.schedule(new UnlostError("STOPPED", "closed"), again)).toBeUndefined();
    expect(retry.schedule(new UnlostError("INVALID_ARGUMENT", "bad"), again)).toBeUndefined();
    expect(retry.schedule(new TypeError("x is undefined"), again)).toBeUndefined();
    expect(again).not.toHaveBeenCalled();
  });

  it("flushNow runs what waits at once (a stop records what it still can)", () => {
    vi.useFakeTimers();
    const retry = new StoreRetry();
    const again = vi.fn();
    retry.schedule(new UnlostError("STORE_FAILURE", "down"), again);
    retry.schedule(new UnlostError("STORE_FAILURE", "down"), again);
    retry.flushNow();
    expect(again).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(10_000);
    expect(again).toHaveBeenCalledTimes(2);
  });
});
