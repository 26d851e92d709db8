import { describe, expect, it } from "vitest";
import type { RawUpdate } from "../store/index.js";
import { nextOffsetOf } from "./poller.js";

const u = (id: number): RawUpdate => ({ update_id: id });

describe("nextOffsetOf", () => {
  it("is past the highest update_id of a batch of valid updates", () => {
    expect(nextOffsetOf(10, 3, [u(10), u(12), u(11)], 0)).toBe(13);
  });

  it("with unstorable updates, is at least the offset asked plus the batch's length: it confirms only the batch", () => {
    // [10, bad, 12]: the bad one is 11 at the most; the valid ids say 13.
    expect(nextOffsetOf(10, 3, [u(10), u(12)], 1)).toBe(13);
    // [10, bad, bad]: the bad ones have ids ≥ 11 and ≥ 12: offset 13 confirms only them.
    expect(nextOffsetOf(10, 3, [u(10)], 2)).toBe(13);
    // Nothing but unstorable updates still moves on.
    expect(nextOffsetOf(10, 2, [], 2)).toBe(12);
    expect(nextOffsetOf(0, 1, [], 1)).toBe(1);
  });
});
