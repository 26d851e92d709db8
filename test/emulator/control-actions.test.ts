/**
 * The control API's user actions, as a test in another process drives them: press an inline
 * button, edit a message, block and unblock the bot; and the record of what the bot delivered
 * with its entities, parse mode and keyboard, and of its edits. Each action creates the update
 * Telegram would send.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Update } from "grammy/types";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function control<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; result: T; error?: string }> {
  const res = await fetch(`${h.server.url}/_emulator${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json = (await res.json()) as { result: T; error?: string };
  return { status: res.status, ...json };
}

async function updates(): Promise<Update[]> {
  const list = await h.ok<Update[]>("getUpdates", { timeout: 0 });
  if (list.length > 0) await h.ok("getUpdates", { offset: list[list.length - 1]!.update_id + 1, timeout: 0 });
  return list;
}

describe("control API: user actions", () => {
  it("a button press is a callback_query with the button's data and the message; answers and bot edits are recorded", async () => {
    const user = (await control<{ id: number }>("POST", "/users", { firstName: "Menu" })).result.id;
    await control("POST", `/users/${user}/messages`, { bot_id: h.bot.id, text: "/menu" });
    await updates();
    const keyboard = { inline_keyboard: [[{ text: "Yes", callback_data: "yes" }, { text: "No", callback_data: "no" }]] };
    const entities = [{ type: "bold", offset: 0, length: 4 }];
    const sent = await h.ok<{ message_id: number }>("sendMessage", { chat_id: user, text: "Sure? pick", entities, reply_markup: keyboard });

    const record = (await control<Array<Record<string, unknown>>>("GET", `/bots/${h.bot.id}/record?chat_id=${user}`)).result;
    expect(record.at(-1)).toMatchObject({ messageId: sent.message_id, text: "Sure? pick", entities, replyMarkup: keyboard });

    const press = await control<{ callback_query_id: string }>("POST", `/users/${user}/press`, { bot_id: h.bot.id, message_id: sent.message_id, data: "yes" });
    expect(press.status).toBe(200);
    const [update] = await updates();
    expect(update?.callback_query).toMatchObject({ id: press.result.callback_query_id, data: "yes", from: { id: user }, message: { message_id: sent.message_id } });
    await h.ok("answerCallbackQuery", { callback_query_id: press.result.callback_query_id, text: "noted" });
    expect((await control<unknown[]>("GET", `/bots/${h.bot.id}/callback-answers`)).result).toMatchObject([{ callbackQueryId: press.result.callback_query_id, text: "noted" }]);

    // The menu edits itself: text with a new keyboard, then the keyboard away.
    const next = { inline_keyboard: [[{ text: "Undo", callback_data: "undo" }]] };
    await h.ok("editMessageText", { chat_id: user, message_id: sent.message_id, text: "Done", reply_markup: next });
    await h.ok("editMessageReplyMarkup", { chat_id: user, message_id: sent.message_id });
    const edits = (await control<unknown[]>("GET", `/bots/${h.bot.id}/edits?chat_id=${user}`)).result;
    expect(edits).toMatchObject([
      { seq: 1, messageId: sent.message_id, method: "editMessageText", text: "Done", replyMarkup: next },
      { seq: 2, messageId: sent.message_id, method: "editMessageReplyMarkup", text: "Done" },
    ]);
    expect((edits[1] as { replyMarkup?: unknown }).replyMarkup).toBeUndefined();

    // A button that is not (or no longer) there is refused with a reason.
    const gone = await control("POST", `/users/${user}/press`, { bot_id: h.bot.id, message_id: sent.message_id, data: "undo" });
    expect(gone.status).toBe(400);
    expect(gone.error).toMatch(/no inline button with callback_data "undo"/);
  });

  it("a user's edit of their message is an edited_message update", async () => {
    const user = (await control<{ id: number }>("POST", "/users", {})).result.id;
    const sent = (await control<{ message_id: number }>("POST", `/users/${user}/messages`, { bot_id: h.bot.id, text: "helo" })).result;
    await updates();
    const edited = await control<{ text: string; edit_date: number }>("POST", `/users/${user}/edits`, { bot_id: h.bot.id, message_id: sent.message_id, text: "hello" });
    expect(edited.result.text).toBe("hello");
    const [update] = await updates();
    expect(update?.edited_message).toMatchObject({ message_id: sent.message_id, text: "hello", from: { id: user } });
    expect(update?.edited_message?.edit_date).toBeTypeOf("number");
  });

  it("block: my_chat_member (member → kicked) and sends answered 403; unblock: my_chat_member back and sends work", async () => {
    const user = (await control<{ id: number }>("POST", "/users", {})).result.id;
    await control("POST", `/users/${user}/messages`, { bot_id: h.bot.id, text: "hi" });
    await updates();
    expect((await control("POST", `/users/${user}/block`, { bot_id: h.bot.id })).status).toBe(200);
    const [blocked] = await updates();
    expect(blocked?.my_chat_member).toMatchObject({ chat: { id: user, type: "private" }, from: { id: user }, old_chat_member: { status: "member" }, new_chat_member: { status: "kicked" } });
    const refused = await h.call("sendMessage", { chat_id: user, text: "still there?" });
    expect(refused.status).toBe(403);
    expect(refused.body.description).toBe("Forbidden: bot was blocked by the user");

    await control("POST", `/users/${user}/unblock`, { bot_id: h.bot.id });
    const [unblocked] = await updates();
    expect(unblocked?.my_chat_member).toMatchObject({ old_chat_member: { status: "kicked" }, new_chat_member: { status: "member" } });
    await h.ok("sendMessage", { chat_id: user, text: "welcome back" });
  });
});
