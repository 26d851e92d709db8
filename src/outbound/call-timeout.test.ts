import { describe, expect, it } from "vitest";
import { pooledCallControllers, withCallTimeout } from "./call-timeout.js";

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

describe("withCallTimeout's reused controllers", () => {
  it("hands a settled call's signal to the next call, but never one that was aborted or still has a listener", async () => {
    let first: AbortSignal | undefined;
    await withCallTimeout(60_000, async (signal) => { first = signal; });
    let second: AbortSignal | undefined;
    await withCallTimeout(60_000, async (signal) => { second = signal; });
    // Reused: no fresh AbortController (and AbortSignal) per call.
    expect(second).toBe(first);

    // A signal someone still listens to is not reused: a later call's timeout must not abort it.
    let kept: AbortSignal | undefined;
    const listener = (): void => undefined;
    await withCallTimeout(60_000, async (signal) => { kept = signal; signal.addEventListener("abort", listener); });
    let after: AbortSignal | undefined;
    await withCallTimeout(60_000, async (signal) => { after = signal; });
    expect(after).not.toBe(kept);
    kept!.removeEventListener("abort", listener);

    // An aborted one is dropped: the next call gets a signal that is not aborted.
    let timedOut: AbortSignal | undefined;
    await withCallTimeout(5, (signal) => { timedOut = signal; return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })); }).catch(() => undefined);
    expect(timedOut!.aborted).toBe(true);
    await withCallTimeout(60_000, async (signal) => { expect(signal.aborted).toBe(false); expect(signal).not.toBe(timedOut); });
  });

  it("keeps the pool bounded however many calls were in flight at once", async () => {
    await Promise.all(Array.from({ length: 3000 }, () => withCallTimeout(60_000, async () => undefined)));
    expect(pooledCallControllers()).toBeLessThanOrEqual(1024);
  });
});
