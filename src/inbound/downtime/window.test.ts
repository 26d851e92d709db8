import { describe, expect, it } from "vitest";
import { isInsideWindow } from "./window.js";

// Last heartbeat at 10.500 s, restart at 20.300 s.
const window = { from: 10_500, to: 20_300, durationMs: 9_800 };

describe("isInsideWindow", () => {
  it("is false without a window or for a bad value", () => {
    expect(isInsideWindow(null, 15_000)).toBe(false);
    expect(isInsideWindow(window, Number.NaN)).toBe(false);
    expect(isInsideWindow(window, Number.POSITIVE_INFINITY)).toBe(false);
  });

  it("counts whole seconds fully inside the window", () => {
    expect(isInsideWindow(window, 11_000)).toBe(true);
    expect(isInsideWindow(window, 19_000)).toBe(true);
  });

  it("counts the second of the last heartbeat as up when the beat was within it", () => {
    // Dated 10 s: sent during [10.0, 11.0), maybe before the beat at 10.5.
    expect(isInsideWindow(window, 10_000)).toBe(false);
  });

  it("counts a second starting exactly at the heartbeat as down (certainly not before it)", () => {
    expect(isInsideWindow({ from: 10_000, to: 20_000, durationMs: 10_000 }, 10_000)).toBe(true);
    expect(isInsideWindow({ from: 10_000, to: 20_000, durationMs: 10_000 }, 9_000)).toBe(false);
  });

  it("counts the second of the start as up (it may have been sent after the restart)", () => {
    expect(isInsideWindow(window, 20_000)).toBe(false);
    expect(isInsideWindow({ from: 10_000, to: 20_000, durationMs: 10_000 }, 19_000)).toBe(true);
    expect(isInsideWindow({ from: 10_000, to: 20_000, durationMs: 10_000 }, 20_000)).toBe(false);
  });

  it("treats ms-precise values as [from, to)", () => {
    expect(isInsideWindow(window, 10_499)).toBe(false);
    expect(isInsideWindow(window, 10_500)).toBe(true);
    expect(isInsideWindow(window, 20_299)).toBe(true);
    expect(isInsideWindow(window, 20_300 + 1)).toBe(false);
    expect(isInsideWindow(window, 25_001)).toBe(false);
    expect(isInsideWindow(window, 1_001)).toBe(false);
  });

  it("is empty for a zero-length window (clock went backwards)", () => {
    expect(isInsideWindow({ from: 10_000, to: 10_000, durationMs: 0 }, 10_000)).toBe(false);
    expect(isInsideWindow({ from: 10_000, to: 10_000, durationMs: 0 }, 10_000.5)).toBe(false);
  });
});
