import type { Message, Update } from "grammy/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UnlostError } from "../../src/errors/index.js";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

const poll = (): Promise<Update[]> => h.ok<Update[]>("getUpdates", { allowed_updates: ["message", "edited_message", "callback_query", "my_chat_member", "channel_post"] });

describe("the simulated world", () => {
  it("users send text, commands, photos and documents; the bot receives them as updates", async () => {
    const alice = h.emulator.createUser({ firstName: "Alice", username: "alice", languageCode: "uz" });
    alice.sendText(h.bot, "hello");
    alice.sendCommand(h.bot, "start", "ref42");
    alice.sendPhoto(h.bot, { caption: "look" });
    alice.sendDocument(h.bot, { fileName: "cv.pdf", sizeBytes: 1000 });
    const updates = await poll();
    expect(updates.map((u) => u.message?.text ?? u.message?.caption)).toEqual(["hello", "/start ref42", "look", undefined]);
    expect(updates[0]!.message).toMatchObject({ from: { id: alice.id, first_name: "Alice", username: "alice", language_code: "uz", is_bot: false }, chat: { id: alice.id, type: "private" } });
    expect(updates[1]!.message?.entities).toEqual([{ type: "bot_command", offset: 0, length: 6 }]);
    expect(updates[2]!.message?.photo?.length).toBeGreaterThan(0);
    expect(updates[3]!.message?.document).toMatchObject({ file_name: "cv.pdf", file_size: 1000 });
    // Dates are unix seconds, from the emulator clock.
    expect(updates[0]!.message!.date).toBe(Math.floor(h.emulator.clock.now() / 1000));
  });

  it("a user edits a message: the bot gets edited_message", async () => {
    const alice = h.emulator.createUser();
    const sent = alice.sendText(h.bot, "tpyo");
    alice.editText(h.bot, sent.message_id, "typo");
    const updates = await poll();
    expect(updates[1]!.edited_message).toMatchObject({ message_id: sent.message_id, text: "typo" });
    expect(() => alice.editText(h.bot, 999, "x")).toThrow(UnlostError);
  });

  it("a user presses an inline button: the bot gets callback_query; an answer after the timeout fails as stale", async () => {
    const alice = h.emulator.createUser();
    const menu = await h.ok<Message>("sendMessage", { chat_id: alice.id, text: "menu", reply_markup: { inline_keyboard: [[{ text: "Buy", callback_data: "buy" }]] } });
    const id = alice.pressButton(h.bot, menu.message_id, "buy");
    const [update] = await poll();
    expect(update!.callback_query).toMatchObject({ id, data: "buy", from: { id: alice.id }, message: { message_id: menu.message_id } });
    h.emulator.clock.advance(16_000);
    expect((await h.call("answerCallbackQuery", { callback_query_id: id })).body.description).toBe("Bad Request: query is too old and response timeout expired or query ID is invalid");
    expect(() => alice.pressButton(h.bot, menu.message_id, "sell")).toThrow(/no inline button with callback_data "sell"/);
  });

  it("a user blocks and unblocks the bot: my_chat_member updates, sends fail meanwhile", async () => {
    const alice = h.emulator.createUser();
    alice.block(h.bot);
    alice.unblock(h.bot);
    const updates = await poll();
    expect(updates.map((u) => u.my_chat_member?.new_chat_member.status)).toEqual(["kicked", "member"]);
  });

  it("groups deliver users' messages to every member bot; a group migrates to a supergroup", async () => {
    const other = h.emulator.createBot({ username: "other_bot" });
    const alice = h.emulator.createUser();
    const group = h.emulator.createGroup({ title: "Team", members: [alice], bots: [h.bot, other] });
    alice.sendText(group, "hi all");
    const supergroup = group.migrate(alice);
    const updates = await poll();
    const texts = updates.filter((u) => u.message?.text).map((u) => u.message!.text);
    expect(texts).toEqual(["hi all"]);
    expect(updates.some((u) => u.message?.migrate_to_chat_id === supergroup.id)).toBe(true);
    expect(updates.some((u) => u.message?.migrate_from_chat_id === group.id && u.message.chat.id === supergroup.id)).toBe(true);
    expect(other.updateLog.some((u) => u.message?.text === "hi all")).toBe(true);
    expect(supergroup.chat.type).toBe("supergroup");
  });

  it("channels deliver posts to member bots", async () => {
    const channel = h.emulator.createChannel({ title: "News", username: "news", bots: [h.bot] });
    channel.post("breaking");
    const updates = await poll();
    expect(updates.find((u) => u.channel_post)?.channel_post).toMatchObject({ text: "breaking", chat: { id: channel.id, type: "channel" } });
    expect(await h.ok("sendMessage", { chat_id: "@news", text: "by username" })).toMatchObject({ chat: { id: channel.id } });
  });

  it("records every delivered message per chat, in order, with time; counts duplicates", async () => {
    const alice = h.emulator.createUser();
    const bob = h.emulator.createUser();
    await h.ok("sendMessage", { chat_id: alice.id, text: "a1" });
    h.emulator.clock.advance(5_000);
    await h.ok("sendMessage", { chat_id: bob.id, text: "b1" });
    await h.ok("sendMessage", { chat_id: alice.id, text: "a2" });
    await h.ok("sendMessage", { chat_id: alice.id, text: "a2" });
    expect(h.bot.record.to(alice.id).map((m) => m.text)).toEqual(["a1", "a2", "a2"]);
    expect(h.bot.record.to(bob.id).map((m) => m.seq)).toEqual([2]);
    const [a1, , a2] = h.bot.record.to(alice.id);
    expect(a2!.at - a1!.at).toBeGreaterThanOrEqual(5_000);
    const dups = h.bot.record.duplicates();
    expect(dups).toHaveLength(1);
    expect(dups[0]!.messages.map((m) => m.text)).toEqual(["a2", "a2"]);
  });

  it("the clock moves dates forward without waiting", async () => {
    const alice = h.emulator.createUser();
    const before = alice.sendText(h.bot, "now").date;
    h.emulator.clock.advance(25 * 3600_000);
    const after = alice.sendText(h.bot, "tomorrow").date;
    expect(after - before).toBeGreaterThanOrEqual(25 * 3600);
    expect(() => h.emulator.clock.advance(-1)).toThrow(RangeError);
  });

  it("users and messages can be created over the HTTP control API", async () => {
    const base = `${h.server.url}/_emulator`;
    const user = (await (await fetch(`${base}/users`, { method: "POST", body: JSON.stringify({ firstName: "Remote" }) })).json()) as { result: { id: number } };
    const sent = await fetch(`${base}/users/${user.result.id}/messages`, { method: "POST", body: JSON.stringify({ bot_id: h.bot.id, text: "from afar" }) });
    expect(sent.status).toBe(200);
    expect((await poll()).map((u) => u.message?.text)).toEqual(["from afar"]);
    await h.ok("sendMessage", { chat_id: user.result.id, text: "reply" });
    const record = (await (await fetch(`${base}/bots/${h.bot.id}/record?chat_id=${user.result.id}`)).json()) as { result: Array<{ text: string }> };
    expect(record.result.map((m) => m.text)).toEqual(["reply"]);
    const advanced = (await (await fetch(`${base}/clock/advance`, { method: "POST", body: JSON.stringify({ ms: 60_000 }) })).json()) as { ok: boolean };
    expect(advanced.ok).toBe(true);
    const missing = await fetch(`${base}/users/1/messages`, { method: "POST", body: JSON.stringify({ bot_id: h.bot.id, text: "x" }) });
    expect(missing.status).toBe(400);
    expect((await fetch(`${base}/nothing-here`)).status).toBe(404);
  });
});
