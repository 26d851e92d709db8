import { describe, expect, it } from "vitest";
import { withCallTimeout } from "./call-timeout.js";

describe("withCallTimeout", () => {
  it("aborts a call that runs past the timeout with a TimeoutError, as AbortSignal.timeout does", async () => {
    const error = await withCallTimeout(20, (signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("TimeoutError");
  });

  it("leaves no timer behind once the call settled (AbortSignal.timeout keeps one for the whole timeout)", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => withCallTimeout(60_000, async () => i)));
    expect(results).toHaveLength(50);
    await expect(withCallTimeout(60_000, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(before);
  });
});
