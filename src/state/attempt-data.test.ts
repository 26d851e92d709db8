import { Bot, type Context, type SessionFlavor } from "grammy";
import type { Update, UserFromGetMe } from "grammy/types";
import { describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { openStore, type StoreEffect } from "../store/index.js";
import { AttemptData, attemptDataOf, dataSource } from "./attempt-data.js";
import { fromJson, toJson } from "./json.js";
import { unlostSession } from "./session.js";
import { UncommittedWrites } from "./uncommitted-writes.js";

function attempt(stored: Record<string, string> = {}): { data: AttemptData; effects: StoreEffect[] } {
  const effects: StoreEffect[] = [];
  const source = { read: async (key: string) => stored[key] ?? null };
  return { data: new AttemptData(source, (e) => effects.push(e)), effects };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isUnlostError(error) ? error.code : "not an UnlostError";
  }
  return undefined;
}

describe("AttemptData (one try's bot data)", () => {
  it("reads its own writes, and starts from the source for the rest", async () => {
    const { data, effects } = attempt({ "session:1": '{"n":1}', "session:2": "2" });
    expect(await data.read("session:1")).toBe('{"n":1}');
    data.write("session:1", '{"n":2}');
    expect(await data.read("session:1")).toBe('{"n":2}');
    data.delete("session:2");
    expect(await data.read("session:2")).toBeNull();
    expect(effects).toEqual([
      { kind: "data.set", key: "session:1", value: '{"n":2}' },
      { kind: "data.delete", key: "session:2" },
    ]);
  });

  it("commits nothing for a value written back unchanged, or a deletion of nothing", async () => {
    const { data, effects } = attempt({ "session:1": '{"n":1}' });
    await data.read("session:1");
    data.write("session:1", '{"n":1}');
    await data.read("session:9");
    data.delete("session:9");
    expect(effects).toEqual([]);
    // Changed and changed back: both are committed, in order (the last one wins).
    data.write("session:1", '{"n":2}');
    data.write("session:1", '{"n":1}');
    // Never read: written whatever it was.
    data.write("session:5", "5");
    expect(effects.map((e) => (e.kind === "data.set" ? e.value : e.kind))).toEqual(['{"n":2}', '{"n":1}', "5"]);
  });

  it("a write made while a read of the key was on its way wins over the read", async () => {
    let release!: (v: string) => void;
    const effects: StoreEffect[] = [];
    const data = new AttemptData({ read: () => new Promise<string | null>((r) => (release = r)) }, (e) => effects.push(e));
    const reading = data.read("k");
    data.write("k", "mine");
    release("old");
    expect(await reading).toBe("mine");
  });

  it("refuses keys and values the store cannot keep, where they are written", () => {
    const { data, effects } = attempt();
    expect(codeOf(() => data.write("", "1"))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => data.write("k".repeat(1001), "1"))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => data.write("k", "x".repeat(16 * 1024 * 1024 + 1)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => toJson("k", undefined))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => toJson("k", 1n))).toBe("INVALID_ARGUMENT");
    const cycle: Record<string, unknown> = {};
    cycle["self"] = cycle;
    expect(codeOf(() => toJson("k", cycle))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => fromJson("k", "{not json"))).toBe("STORE_FAILURE");
    expect(effects).toEqual([]);
  });

  it("the runtime's source reads uncommitted writes before the store", async () => {
    const store = await openStore({ path: ":memory:" });
    try {
      await store.data.set("session:1", "stored");
      await store.data.set("session:2", "stored");
      const uncommitted = new UncommittedWrites();
      const source = dataSource(uncommitted, () => store.data);
      const set = { kind: "data.set", key: "session:1", value: "pending" } as const;
      const del = { kind: "data.delete", key: "session:2" } as const;
      uncommitted.added([set, del, { kind: "kv.set", key: "session:3", value: "kv" }]);
      expect([await source.read("session:1"), await source.read("session:2"), await source.read("session:3")]).toEqual(["pending", null, null]);
      // A newer write of a key stays visible when the older one is committed.
      const newer = { kind: "data.set", key: "session:1", value: "newer" } as const;
      uncommitted.added([newer]);
      uncommitted.removed([set, del]);
      expect([await source.read("session:1"), await source.read("session:2")]).toEqual(["newer", "stored"]);
      uncommitted.removed([newer]);
      expect(uncommitted.size).toBe(0);
    } finally {
      await store.close();
    }
  });
});

describe("outside an unlost runtime", () => {
  it("the session fails the update with INVALID_CONFIG: there is no completion to commit with", async () => {
    const botInfo = { id: 1, is_bot: true, first_name: "b", username: "b_bot" } as UserFromGetMe;
    const bot = new Bot<Context & SessionFlavor<{ n: number }>>("1:x", { botInfo });
    bot.use(unlostSession({ initial: () => ({ n: 0 }) }));
    const failed: unknown = await bot.handleUpdate({ update_id: 1, message: { message_id: 1, date: 0, chat: { id: 5, type: "private", first_name: "u" }, from: { id: 5, is_bot: false, first_name: "u" }, text: "hi" } } as Update).catch((e: unknown) => e);
    const caught = (failed as { error?: unknown }).error;
    expect(isUnlostError(caught, "INVALID_CONFIG")).toBe(true);
    expect((caught as Error).message).toMatch(/run by unlost/);
    expect(() => attemptDataOf({} as Context, "x")).toThrow(/no ctx\.unlost/);
  });

  it("refuses an empty prefix at once", () => {
    expect(codeOf(() => unlostSession({ prefix: "" }))).toBe("INVALID_ARGUMENT");
  });
});
