import { describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { requireKind, resolveTaskOptions, retryDelay } from "./options.js";

describe("task options", () => {
  it("fills in the defaults", () => {
    expect(resolveTaskOptions("download")).toEqual({ concurrency: 4, perUser: 1, perUserQueueLimit: Number.POSITIVE_INFINITY, attempts: 3, baseMs: 1_000, maxMs: 300_000, timeoutMs: 600_000 });
    expect(resolveTaskOptions("download", { concurrency: 2, perUser: 2, perUserQueueLimit: 5, attempts: 1, backoff: { baseMs: 10, maxMs: 5 }, timeoutMs: 100 })).toEqual({
      concurrency: 2, perUser: 2, perUserQueueLimit: 5, attempts: 1, baseMs: 10, maxMs: 10, timeoutMs: 100,
    });
  });

  it("refuses bad values with a message naming the kind and the option", () => {
    for (const bad of [{ concurrency: 0 }, { perUser: 1.5 }, { perUserQueueLimit: 0 }, { attempts: -1 }, { backoff: { baseMs: -1 } }, { timeoutMs: "1s" }]) {
      let error: unknown;
      try {
        resolveTaskOptions("download", bad as never);
      } catch (e) {
        error = e;
      }
      expect(isUnlostError(error, "INVALID_ARGUMENT"), JSON.stringify(bad)).toBe(true);
      expect((error as Error).message).toMatch(/tasks\.handle\("download"\): \S+ must be a whole number/);
    }
    expect(() => requireKind("a/b")).toThrow(/task kind/);
    expect(() => requireKind("")).toThrow(/task kind/);
    expect(requireKind("video.convert:hd")).toBe("video.convert:hd");
  });

  it("backs off by doubling from baseMs up to maxMs", () => {
    const o = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 60].map((n) => retryDelay(n, o))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(retryDelay(1, { baseMs: 0, maxMs: 0 })).toBe(0);
  });
});
