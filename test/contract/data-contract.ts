/**
 * The bot data contract (`store.data`, the `data.set` / `data.delete` effects): what every
 * backend must do with the values of grammY's storage adapters. Part of the store contract
 * ({@link defineStoreContract} calls it); the journal's part is in journal-contract.ts.
 */
import { describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/errors/index.js";
import { MAX_DATA_KEY_LENGTH, MAX_DATA_VALUE_LENGTH, type Store } from "../../src/store/index.js";
import { message, T0, useStores, type StoreFactory } from "./store-contract.js";

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isUnlostError(err), `expected an UnlostError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/** Text that looks like secrets and odd characters: bot data must come back byte for byte. */
const AWKWARD = JSON.stringify({
  token: "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4",
  url: "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4/getMe",
  text: "emoji 🦆, nul \u0000, astral 𝔘, quotes \" and \\ and newline\n",
});

const keysOf = async (store: Store, prefix: string, after?: string, limit?: number): Promise<string[]> =>
  (await store.data.list({ prefix, ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) })).map((e) => e.key);

/** Defines the bot data cases for one backend. */
export function defineDataContract(factory: StoreFactory): void {
  describe("bot data", () => {
    const { fresh, reopen } = useStores(factory);
    const lease = { owner: "worker-a", leaseMs: 30_000 };

    it("gets, sets, replaces and deletes values, durably", async () => {
      let store = await fresh();
      expect(await store.data.get("session:1")).toBeNull();
      await store.data.set("session:1", '{"count":1}', { now: T0 });
      await store.data.set("session:1", '{"count":2}', { now: T0 + 5 });
      await store.data.set("session:2", "{}", { now: T0 });
      expect(await store.data.get("session:1")).toBe('{"count":2}');
      store = await reopen(store);
      expect(await store.data.list({ prefix: "session:" })).toEqual([
        { key: "session:1", value: '{"count":2}', updatedAt: T0 + 5 },
        { key: "session:2", value: "{}", updatedAt: T0 },
      ]);
      expect(await store.data.delete("session:1")).toBe(true);
      expect(await store.data.delete("session:1")).toBe(false);
      expect(await store.data.get("session:1")).toBeNull();
    });

    it("keeps values byte for byte: never scrubbed, never cut, whatever they look like", async () => {
      const store = await fresh();
      await store.data.set("session:secrets", AWKWARD);
      const big = "x".repeat(1024 * 1024);
      await store.data.set("session:big", big);
      expect(await store.data.get("session:secrets")).toBe(AWKWARD);
      expect(await store.data.get("session:big")).toBe(big);
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      const [c] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
      await store.inbox.settle(c!.claim, { kind: "done" }, { effects: [{ kind: "data.set", key: "session:10", value: AWKWARD }], now: T0 });
      expect(await store.data.get("session:10")).toBe(AWKWARD);
    });

    it("is apart from the runtime's key/values", async () => {
      const store = await fresh();
      await store.state.setValue("session:1", "runtime");
      await store.data.set("session:1", "data");
      expect(await store.state.getValue("session:1")).toBe("runtime");
      expect(await store.data.get("session:1")).toBe("data");
      expect(await store.data.delete("session:1")).toBe(true);
      expect(await store.state.getValue("session:1")).toBe("runtime");
    });

    it("lists one namespace in key order, page by page", async () => {
      const store = await fresh();
      for (const key of ["session:b", "session:a", "session:c", "sessions:a", "session", "conversations:a", "session;", "session:\u00e9"]) {
        await store.data.set(key, "1", { now: T0 });
      }
      expect(await keysOf(store, "session:")).toEqual(["session:a", "session:b", "session:c", "session:\u00e9"]);
      expect(await keysOf(store, "session:", undefined, 2)).toEqual(["session:a", "session:b"]);
      expect(await keysOf(store, "session:", "session:b", 2)).toEqual(["session:c", "session:\u00e9"]);
      expect(await keysOf(store, "session:", "session:\u00e9")).toEqual([]);
      expect(await keysOf(store, "conversations:")).toEqual(["conversations:a"]);
      expect(await keysOf(store, "nothing:")).toEqual([]);
    });

    it("refuses keys and values it cannot keep, writing nothing", async () => {
      const store = await fresh();
      await expectCode(store.data.set("", "1"), "INVALID_ARGUMENT");
      await expectCode(store.data.set("k".repeat(MAX_DATA_KEY_LENGTH + 1), "1"), "INVALID_ARGUMENT");
      await expectCode(store.data.set("session:1", 1 as unknown as string), "INVALID_ARGUMENT");
      await expectCode(store.data.set("session:1", "x".repeat(MAX_DATA_VALUE_LENGTH + 1)), "INVALID_ARGUMENT");
      await expectCode(store.data.get(""), "INVALID_ARGUMENT");
      await expectCode(store.data.list({ prefix: "" }), "INVALID_ARGUMENT");
      await expectCode(store.data.list({ prefix: "s", limit: 0 }), "INVALID_ARGUMENT");
      expect(await store.data.get("session:1")).toBeNull();
      // A malformed effect fails the settle before it writes anything.
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      const [c] = await store.inbox.claim({ ...lease, limit: 1, now: T0 });
      await expectCode(
        store.inbox.settle(c!.claim, { kind: "done" }, { effects: [{ kind: "data.set", key: "session:1", value: "1" }, { kind: "data.set", key: "", value: "1" }], now: T0 }),
        "INVALID_ARGUMENT",
      );
      expect(await store.data.get("session:1")).toBeNull();
      expect((await store.inbox.get(1))?.state).toBe("inflight");
    });

    it("settle effects set and delete values atomically with the settle, in order", async () => {
      const store = await fresh();
      await store.data.set("session:20", "old", { now: T0 });
      await store.inbox.ingest([message(1, 10), message(2, 20)], { now: T0 });
      const [a, b] = await store.inbox.claim({ ...lease, limit: 5, now: T0 });
      await store.inbox.settleMany(
        [
          { claim: a!.claim, outcome: { kind: "done" }, effects: [{ kind: "data.set", key: "session:10", value: "1" }, { kind: "data.set", key: "session:10", value: "2" }] },
          { claim: b!.claim, outcome: { kind: "done" }, effects: [{ kind: "data.delete", key: "session:20" }, { kind: "data.delete", key: "session:30" }] },
        ],
        { now: T0 + 7 },
      );
      expect(await store.data.list({ prefix: "session:" })).toEqual([{ key: "session:10", value: "2", updatedAt: T0 + 7 }]);
    });

    it("a stale settle (a late completion, a taken-over claim) applies none of its data effects", async () => {
      const store = await fresh();
      await store.inbox.ingest([message(1, 10)], { now: T0 });
      const [crashed] = await store.inbox.claim({ ...lease, owner: "dead", leaseMs: 1000, limit: 1, now: T0 });
      const [recovered] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 1000 });
      expect(
        await store.inbox.settle(crashed!.claim, { kind: "done" }, { effects: [{ kind: "data.set", key: "session:10", value: "late" }], now: T0 + 1001 }),
      ).toBe("stale");
      expect(await store.data.get("session:10")).toBeNull();
      // A failed try commits nothing either: its retry settles without effects.
      expect(await store.inbox.settle(recovered!.claim, { kind: "retry", at: T0 + 1002, error: "boom" }, { now: T0 + 1001 })).toBe("settled");
      const [retry] = await store.inbox.claim({ ...lease, limit: 1, now: T0 + 1002 });
      await store.inbox.settle(retry!.claim, { kind: "done" }, { effects: [{ kind: "data.set", key: "session:10", value: "once" }], now: T0 + 1003 });
      expect(await store.data.get("session:10")).toBe("once");
    });
  });
}
