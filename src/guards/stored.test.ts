import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../runtime/logger.js";
import { openStore, type Store } from "../store/index.js";
import { until } from "../../test/helpers/until.js";
import { BreakerRegistry } from "./registry.js";
import { storedBreakers } from "./stored.js";

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("breakers' states in the store (for unlost status)", () => {
  it("records each change of state: closed when attached, open after the failures, closed again after a good probe", async () => {
    store = await openStore({ path: ":memory:" });
    let now = 1_000_000;
    const registry = new BreakerRegistry({ logger: silentLogger(), clock: () => now });
    const breaker = registry.get("maps", { opensAfter: 2, halfOpenAfterMs: 1 });
    registry.recordTo(store.state, "instance-a");
    await until(async () => (await storedBreakers(store!)).length === 1);
    expect((await storedBreakers(store))[0]).toMatchObject({ name: "maps", state: "closed", opened: 0, instance: "instance-a" });

    for (let i = 0; i < 2; i++) await expect(breaker.execute(() => Promise.reject(new Error("maps API down")))).rejects.toThrow("maps API down");
    await until(async () => (await storedBreakers(store!))[0]?.state === "open");
    expect((await storedBreakers(store))[0]).toMatchObject({ state: "open", opened: 1, lastError: "maps API down", recordedAt: now });

    await new Promise((r) => setTimeout(r, 5)); // past halfOpenAfterMs (cockatiel's own clock)
    now += 10;
    await breaker.execute(() => "ok");
    await until(async () => (await storedBreakers(store!))[0]?.state === "closed");
  });
});
