import { afterEach, describe, expect, it } from "vitest";
import type { Update } from "grammy/types";
import { openStore, type RememberedUser, type Store } from "../store/index.js";
import { silentLogger } from "./logger.js";
import { UserMemory } from "./user-memory.js";

/** A private message from user `id` (chat id = user id). */
function privateMessage(id: number, updateId = id): Update {
  return {
    update_id: updateId,
    message: { message_id: 1, date: 1, chat: { id, type: "private", first_name: "u" }, from: { id, is_bot: false, first_name: "u" }, text: "hi" },
  } as Update;
}

describe("UserMemory", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  /** A memory on a real store whose batch writes are recorded (the store still does them). */
  async function memory(): Promise<{ users: UserMemory; writes: RememberedUser[][] }> {
    const opened = await openStore({ path: ":memory:" });
    store = opened;
    const writes: RememberedUser[][] = [];
    const rememberUsers = opened.outbox.rememberUsers.bind(opened.outbox);
    opened.outbox.rememberUsers = (batch, now) => {
      writes.push([...batch]);
      return rememberUsers(batch, now);
    };
    return { users: new UserMemory({ outbox: () => opened.outbox, clock: () => 1_000, logger: silentLogger() }), writes };
  }

  it("records the users first seen in one turn in one write, each handler waiting for it to be committed", async () => {
    const { users, writes } = await memory();
    const waits = [1, 2, 3].map((id) => users.remember(id, privateMessage(id)));
    expect(waits.every((w) => w !== undefined)).toBe(true);
    expect(writes).toEqual([]); // nothing written yet: the turn is not over
    await Promise.all(waits);
    expect(writes).toEqual([[{ userId: 1, chatId: 1 }, { userId: 2, chatId: 2 }, { userId: 3, chatId: 3 }]]);
    for (const id of [1, 2, 3]) expect(await store!.outbox.chatOfUser(id)).toBe(id);
  });

  it("records a user once per run; group chats and updates without a sender are not users' chats", async () => {
    const { users, writes } = await memory();
    await users.remember(1, privateMessage(1));
    expect(users.remember(1, privateMessage(1, 11))).toBeUndefined();
    expect(users.remember(-5, { ...privateMessage(1, 12), message: { ...privateMessage(1).message!, chat: { id: -5, type: "group", title: "g" } } } as Update)).toBeUndefined();
    expect(users.remember(undefined, privateMessage(2))).toBeUndefined();
    expect(writes).toEqual([[{ userId: 1, chatId: 1 }]]);
  });

  it("makes an unreachable chat reachable again when its user writes", async () => {
    const { users } = await memory();
    await store!.outbox.markUnreachable(4, "blocked", 1);
    users.unreachable.add(4);
    await users.remember(4, privateMessage(4));
    expect(await store!.outbox.isUnreachable(4)).toBeNull();
    expect(users.unreachable.has(4)).toBe(false);
  });
});
