import { describe, expect, it } from "vitest";
import { LightHistogram } from "./light-histogram.js";
import { HandlerTimings } from "./handler-timings.js";

describe("LightHistogram", () => {
  it("counts each value in the first bucket whose bound it does not exceed, cumulatively at snapshot", () => {
    const h = new LightHistogram([1, 5, 10]);
    for (const v of [0, 1, 1.5, 5, 7, 10, 11, 1_000]) h.observe(v);
    expect(h.snapshot()).toEqual({ bounds: [1, 5, 10], cumulative: [2, 4, 6], count: 8, sum: 0 + 1 + 1.5 + 5 + 7 + 10 + 11 + 1_000 });
  });

  it("refuses bounds that are not ascending", () => {
    expect(() => new LightHistogram([5, 1])).toThrow(RangeError);
  });
});

describe("HandlerTimings", () => {
  it("records every run's duration and only completed runs' lag, never a negative lag", () => {
    const t = new HandlerTimings();
    t.ended(1_000, 1_003);
    t.ended(1_000, 1_250, 1_000);
    t.ended(2_000, 2_000, 3_000); // a clock set back
    const duration = t.duration.snapshot();
    const lag = t.lag.snapshot();
    expect(duration.count).toBe(3);
    expect(lag.count).toBe(2);
    expect(lag.sum).toBe(250);
    expect(lag.cumulative[0]).toBe(1); // the 0 ms one, in the 10 ms bucket
  });
});
