/**
 * `runInWorker`: CPU-bound work off the event loop. A busy loop in a worker leaves the main
 * thread free (its timers keep firing meanwhile); errors come back with their name and message;
 * the signal terminates a worker that never yields.
 */
import { threadId } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { isUnlostError, runInWorker, UnlostError } from "../../src/index.js";

const CPU = new URL("./fixtures/cpu-work.mjs", import.meta.url);

describe("runInWorker", () => {
  it("runs the module's default export on another thread, leaving the event loop free", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const result = await runInWorker<{ threadId: number; sum: number; spun: boolean }>(CPU, { ms: 300, numbers: [1, 2, 3] });
      expect(result.sum).toBe(6);
      expect(result.spun).toBe(true);
      expect(result.threadId).not.toBe(threadId);
      // Spinning on this thread would have fired no timer at all for 300 ms.
      expect(ticks).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
    }
  });

  it("rejects with the worker's error, and with the signal's reason when aborted (the worker is terminated)", async () => {
    await expect(runInWorker(CPU, { fail: "bad input" })).rejects.toMatchObject({ name: "RangeError", message: "bad input" });
    const abort = new AbortController();
    const running = runInWorker(CPU, { forever: true }, { signal: abort.signal });
    setTimeout(() => abort.abort(new UnlostError("TASK_CANCELLED", "cancelled")), 100);
    const error = await running.catch((e: unknown) => e);
    expect(isUnlostError(error, "TASK_CANCELLED")).toBe(true);
    expect(() => runInWorker("./relative.js", null)).toThrow(/absolute path or a file: URL/);
  });
});
