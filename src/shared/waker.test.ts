import { describe, expect, it } from "vitest";
import { Waker } from "./waker.js";

describe("Waker", () => {
  it("a sleep ends early when woken, and the wake is remembered until reset", async () => {
    const waker = new Waker();
    const started = Date.now();
    const sleeping = waker.sleep(5_000);
    setTimeout(() => waker.wake(), 20);
    await sleeping;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(waker.woken).toBe(true);
    waker.reset();
    expect(waker.woken).toBe(false);
  });

  it("a sleep ends after its time when nobody wakes it", async () => {
    const waker = new Waker();
    const started = Date.now();
    await waker.sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(waker.woken).toBe(false);
  });
});
