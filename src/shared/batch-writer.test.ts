import { describe, expect, it } from "vitest";
import { BatchWriter } from "./batch-writer.js";

describe("BatchWriter", () => {
  it("writes everything added in one turn as one batch, and batches never overlap", async () => {
    const batches: number[][] = [];
    let writing = 0;
    let overlap = false;
    const writer = new BatchWriter<number>(async (batch) => {
      if (++writing > 1) overlap = true;
      batches.push(batch);
      await new Promise((r) => setTimeout(r, 5));
      writing--;
    });
    for (let i = 0; i < 5; i++) writer.add(i);
    await new Promise((r) => setImmediate(r));
    writer.add(5);
    writer.add(6);
    await writer.flush();
    expect(batches).toEqual([[0, 1, 2, 3, 4], [5, 6]]);
    expect(overlap).toBe(false);
    expect(writer.size).toBe(0);
  });

  it("flush resolves at once when nothing is pending", async () => {
    const writer = new BatchWriter<number>(async () => undefined);
    await expect(writer.flush()).resolves.toBeUndefined();
  });
});
