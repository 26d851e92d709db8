import { describe, expect, it } from "vitest";
import { newBroadcastId, newJobId } from "./ids.js";

describe("job ids", () => {
  it("are time-sortable, 12 + 12 hex digits, and unique within a process in the same millisecond", () => {
    const now = 1_700_000_000_123;
    const ids = Array.from({ length: 10_000 }, () => newJobId(now));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-f]{12}$/);
    expect(ids.every((id) => id.startsWith(now.toString(16).padStart(12, "0")))).toBe(true);
    expect(newJobId(now + 1) > newJobId(now)).toBe(true);
    expect(newBroadcastId(now)).toMatch(/^b-[0-9a-f]{12}-[0-9a-f]{12}$/);
  });
});
