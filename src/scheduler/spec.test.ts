import { describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { parseInterval, parseSpec } from "./spec.js";

describe("schedule specs", () => {
  it("intervals: units, anchored to the epoch so restarts keep the same run times", () => {
    expect(parseInterval("250ms")).toBe(250);
    expect(parseInterval("90s")).toBe(90_000);
    expect(parseInterval("5m")).toBe(300_000);
    expect(parseInterval("2h")).toBe(7_200_000);
    expect(parseInterval("1d")).toBe(86_400_000);
    expect(parseInterval(1500)).toBe(1500);
    const every2h = parseSpec({ every: "2h" });
    expect(every2h.nextAfter(Date.UTC(2026, 0, 1, 1, 30))).toBe(Date.UTC(2026, 0, 1, 2, 0));
    expect(every2h.nextAfter(Date.UTC(2026, 0, 1, 2, 0))).toBe(Date.UTC(2026, 0, 1, 4, 0));
    expect(every2h.description).toBe("every 2h");
  });

  it("cron expressions (UTC), strictly after the given time", () => {
    const every5 = parseSpec("*/5 * * * *");
    expect(every5.nextAfter(Date.UTC(2026, 0, 1, 0, 3))).toBe(Date.UTC(2026, 0, 1, 0, 5));
    expect(every5.nextAfter(Date.UTC(2026, 0, 1, 0, 5))).toBe(Date.UTC(2026, 0, 1, 0, 10));
  });

  it("refuses bad specs with a message that says what to write", () => {
    for (const bad of ["", "every day", "61 * * * *"]) {
      let error: unknown;
      try { parseSpec(bad); } catch (e) { error = e; }
      expect(isUnlostError(error, "INVALID_ARGUMENT"), String(bad)).toBe(true);
      expect(String((error as Error).message)).toMatch(/cron|every/);
    }
    expect(() => parseInterval("2 weeks")).toThrow(/"30s", "5m", "2h"/);
    expect(() => parseInterval(0)).toThrow(/≥ 1/);
  });
});
