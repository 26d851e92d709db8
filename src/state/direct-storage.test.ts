import { afterEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { CONVERSATIONS_PREFIX } from "./prefix.js";
import { unlostStorage } from "./direct-storage.js";

let store: Store;
afterEach(async () => {
  await store.close();
});

describe("unlostStorage (bot data outside handlers)", () => {
  it("reads and writes one namespace with keys after the prefix, at once", async () => {
    store = await openStore({ path: ":memory:" });
    const sessions = unlostStorage<{ n: number }>(store);
    const conversations = unlostStorage<{ n: number }>({ store }, { prefix: CONVERSATIONS_PREFIX });
    await sessions.write("42", { n: 1 });
    await conversations.write("42", { n: 2 });
    expect(await store.data.get("session:42")).toBe('{"n":1}');
    expect(await store.data.get("conversations:42")).toBe('{"n":2}');
    expect(await sessions.read("42")).toEqual({ n: 1 });
    expect(await sessions.has("42")).toBe(true);
    await sessions.delete("42");
    expect(await sessions.read("42")).toBeUndefined();
    expect(await conversations.read("42")).toEqual({ n: 2 });
    const refused = await sessions.write("1", undefined as unknown as { n: number }).catch((e: unknown) => e);
    expect(isUnlostError(refused, "INVALID_ARGUMENT")).toBe(true);
  });

  it("lists every entry of its namespace, page by page, in key order", async () => {
    store = await openStore({ path: ":memory:" });
    const sessions = unlostStorage<number>(store);
    const keys = Array.from({ length: 450 }, (_, i) => `k${String(i).padStart(3, "0")}`);
    for (const [i, key] of keys.entries()) await sessions.write(key, i);
    await store.data.set("sessions:other", "0");
    const entries: Array<[string, number]> = [];
    for await (const entry of sessions.readAllEntries()) entries.push(entry);
    expect(entries).toEqual(keys.map((k, i) => [k, i]));
    const listed: string[] = [];
    for await (const key of sessions.readAllKeys()) listed.push(key);
    expect(listed).toEqual(keys);
    let sum = 0;
    for await (const value of sessions.readAllValues()) sum += value;
    expect(sum).toBe((449 * 450) / 2);
  });
});
