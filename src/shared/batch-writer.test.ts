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

  it("written() resolves once the caller's item is written, with the rest of its turn (one batch, not one per caller)", async () => {
    const batches: number[][] = [];
    const writer = new BatchWriter<number>(async (batch) => {
      batches.push(batch);
      await new Promise((r) => setTimeout(r, 5));
    });
    const done: number[] = [];
    const callers = [0, 1, 2].map(async (i) => {
      writer.add(i);
      await writer.written();
      done.push(i);
      expect(batches.flat()).toContain(i);
    });
    await Promise.all(callers);
    expect(batches).toEqual([[0, 1, 2]]);
    expect(done).toHaveLength(3);
    await expect(writer.written()).resolves.toBeUndefined();
  });

  it("flush resolves at once when nothing is pending", async () => {
    const writer = new BatchWriter<number>(async () => undefined);
    await expect(writer.flush()).resolves.toBeUndefined();
  });
});
