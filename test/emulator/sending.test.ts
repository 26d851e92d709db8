import type { File, Message, MessageId } from "grammy/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer } from "../../src/emulator/index.js";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);

describe("sending methods", () => {
  it("getMe returns the bot", async () => {
    expect(await h.ok("getMe")).toMatchObject({ id: h.bot.id, is_bot: true, username: "conformance_bot" });
  });

  it("sendMessage delivers to a user, is recorded in order with time, and can reply and carry a keyboard", async () => {
    const alice = h.emulator.createUser();
    const incoming = alice.sendText(h.bot, "hi");
    const before = h.emulator.clock.now();
    const first = await h.ok<Message.TextMessage>("sendMessage", { chat_id: alice.id, text: "one", reply_parameters: { message_id: incoming.message_id } });
    const second = await h.ok<Message.TextMessage>("sendMessage", {
      chat_id: alice.id, text: "two", reply_markup: { inline_keyboard: [[{ text: "ok", callback_data: "ok" }]] },
    });
    expect(first).toMatchObject({ text: "one", chat: { id: alice.id, type: "private" }, from: { id: h.bot.id }, reply_to_message: { message_id: incoming.message_id } });
    expect(second.message_id).toBe(first.message_id + 1);
    expect(second.reply_markup?.inline_keyboard[0]?.[0]).toMatchObject({ callback_data: "ok" });
    const record = h.bot.record.to(alice.id);
    expect(record.map((m) => m.text)).toEqual(["one", "two"]);
    expect(record[0]).toMatchObject({ replyToMessageId: incoming.message_id, method: "sendMessage", ambiguous: false });
    expect(record[0]!.at).toBeGreaterThanOrEqual(before);
  });

  it("sendPhoto, sendDocument and sendVoice receive multipart uploads; getFile and the file URL return them", async () => {
    const alice = h.emulator.createUser();
    const photo = await h.ok<Message.PhotoMessage>("sendPhoto", { chat_id: alice.id, caption: "pic" }, { files: { photo: { bytes: bytes(1234), filename: "a.jpg" } } });
    expect(photo.caption).toBe("pic");
    expect(photo.photo.at(-1)?.file_size).toBe(1234);
    const doc = await h.ok<Message.DocumentMessage>("sendDocument", { chat_id: alice.id, document: "attach://f1" }, { files: { f1: { bytes: bytes(300), filename: "report.pdf" } } });
    expect(doc.document).toMatchObject({ file_name: "report.pdf", file_size: 300 });
    const voice = await h.ok<Message.VoiceMessage>("sendVoice", { chat_id: alice.id }, { files: { voice: { bytes: bytes(50) } } });
    expect(voice.voice.file_size).toBe(50);
    const file = await h.ok<File>("getFile", { file_id: doc.document.file_id });
    const download = await fetch(`${h.server.url}/file/bot${h.bot.token}/${file.file_path}`);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes(300));
    // A file_id can be sent again without uploading.
    const again = await h.ok<Message.DocumentMessage>("sendDocument", { chat_id: alice.id, document: doc.document.file_id });
    expect(again.document.file_id).toBe(doc.document.file_id);
    expect(h.bot.record.to(alice.id).map((m) => m.kind)).toEqual(["photo", "document", "voice", "document"]);
  });

  it("sendLocation and sendMediaGroup (2-10 items, files attached by attach://)", async () => {
    const alice = h.emulator.createUser();
    expect(await h.ok("sendLocation", { chat_id: alice.id, latitude: 41.3, longitude: 69.2 })).toMatchObject({ location: { latitude: 41.3, longitude: 69.2 } });
    expect((await h.call("sendLocation", { chat_id: alice.id, latitude: 91, longitude: 0 })).status).toBe(400);
    const album = await h.ok<Message[]>(
      "sendMediaGroup",
      { chat_id: alice.id, media: [{ type: "photo", media: "attach://a", caption: "first" }, { type: "photo", media: "attach://b" }] },
      { files: { a: { bytes: bytes(10) }, b: { bytes: bytes(20) } } },
    );
    expect(album).toHaveLength(2);
    expect(album[0]!.media_group_id).toBeDefined();
    expect(album[0]!.media_group_id).toBe(album[1]!.media_group_id);
    const one = await h.call("sendMediaGroup", { chat_id: alice.id, media: [{ type: "photo", media: "attach://a" }] }, { files: { a: { bytes: bytes(10) } } });
    expect(one.status).toBe(400);
  });

  it("copyMessage and forwardMessage take a message the bot can see", async () => {
    const alice = h.emulator.createUser();
    const bob = h.emulator.createUser();
    const original = alice.sendText(h.bot, "share this");
    const copy = await h.ok<MessageId>("copyMessage", { chat_id: bob.id, from_chat_id: alice.id, message_id: original.message_id });
    expect(copy.message_id).toBeGreaterThan(0);
    const fwd = await h.ok<Message>("forwardMessage", { chat_id: bob.id, from_chat_id: alice.id, message_id: original.message_id });
    expect(fwd).toMatchObject({ text: "share this", forward_origin: { type: "user", sender_user: { id: alice.id } } });
    expect(h.bot.record.to(bob.id).map((m) => [m.kind, m.text])).toEqual([["copy", "share this"], ["forward", "share this"]]);
    expect((await h.call("copyMessage", { chat_id: bob.id, from_chat_id: alice.id, message_id: 9999 })).body.description).toBe("Bad Request: message to copy not found");
  });

  it("editMessageText, editMessageReplyMarkup and deleteMessage act on the bot's own messages", async () => {
    const alice = h.emulator.createUser();
    const sent = await h.ok<Message.TextMessage>("sendMessage", { chat_id: alice.id, text: "draft" });
    const edited = await h.ok<Message.TextMessage>("editMessageText", { chat_id: alice.id, message_id: sent.message_id, text: "final" });
    expect(edited).toMatchObject({ text: "final", message_id: sent.message_id });
    expect(edited.edit_date).toBeGreaterThan(0);
    expect((await h.call("editMessageText", { chat_id: alice.id, message_id: sent.message_id, text: "final" })).body.description).toMatch(/^Bad Request: message is not modified/);
    const withKeyboard = await h.ok<Message>("editMessageReplyMarkup", {
      chat_id: alice.id, message_id: sent.message_id, reply_markup: { inline_keyboard: [[{ text: "x", callback_data: "x" }]] },
    });
    expect(withKeyboard.reply_markup?.inline_keyboard).toHaveLength(1);
    const userMessage = alice.sendText(h.bot, "mine");
    expect((await h.call("editMessageText", { chat_id: alice.id, message_id: userMessage.message_id, text: "no" })).body.description).toBe("Bad Request: message can't be edited");
    expect(await h.ok("deleteMessage", { chat_id: alice.id, message_id: sent.message_id })).toBe(true);
    expect((await h.call("deleteMessage", { chat_id: alice.id, message_id: sent.message_id })).body.description).toBe("Bad Request: message to delete not found");
    expect((await h.call("editMessageText", { chat_id: alice.id, message_id: sent.message_id, text: "gone" })).body.description).toBe("Bad Request: message to edit not found");
  });

  it("answerCallbackQuery answers a pressed button once; sendChatAction and getChat check the chat", async () => {
    const alice = h.emulator.createUser();
    const msg = await h.ok<Message>("sendMessage", { chat_id: alice.id, text: "choose", reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "a" }]] } });
    const queryId = alice.pressButton(h.bot, msg.message_id, "a");
    expect(await h.ok("answerCallbackQuery", { callback_query_id: queryId, text: "done", show_alert: true })).toBe(true);
    expect(h.bot.callbackAnswers[0]).toMatchObject({ callbackQueryId: queryId, text: "done", showAlert: true });
    expect((await h.call("answerCallbackQuery", { callback_query_id: queryId })).body.description).toBe(
      "Bad Request: query is too old and response timeout expired or query ID is invalid",
    );
    expect(await h.ok("sendChatAction", { chat_id: alice.id, action: "typing" })).toBe(true);
    expect((await h.call("sendChatAction", { chat_id: alice.id, action: "dancing" })).status).toBe(400);
    expect(await h.ok("getChat", { chat_id: alice.id })).toMatchObject({ id: alice.id, type: "private" });
    expect(h.bot.record.size).toBe(1); // actions and answers are not messages
  });

  it("answers an unknown method with 404 Not Found: method not found, and method names are case-insensitive", async () => {
    expect(await h.call("sendTelepathy", {})).toEqual({ status: 404, body: { ok: false, error_code: 404, description: "Not Found: method not found" } });
    expect(await h.ok("GETME")).toMatchObject({ id: h.bot.id });
  });
});

describe("validation as Telegram", () => {
  it("rejects empty text and text over 4096 characters after entity parsing", async () => {
    const alice = h.emulator.createUser();
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "" })).body).toMatchObject({ error_code: 400, description: "Bad Request: message text is empty" });
    expect((await h.call("sendMessage", { chat_id: alice.id })).body.description).toBe("Bad Request: message text is empty");
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "x".repeat(4097) })).body.description).toBe("Bad Request: message is too long");
    expect(await h.ok("sendMessage", { chat_id: alice.id, text: "x".repeat(4096) })).toBeDefined();
    // Tags do not count: 4096 visible characters inside <b> are fine.
    expect(await h.ok("sendMessage", { chat_id: alice.id, text: `<b>${"y".repeat(4096)}</b>`, parse_mode: "HTML" })).toMatchObject({ text: "y".repeat(4096) });
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "<blink>x</blink>", parse_mode: "HTML" })).body.description).toMatch(/^Bad Request: can't parse entities: Unsupported start tag "blink"/);
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "Price: 5.00", parse_mode: "MarkdownV2" })).body.description).toBe(
      "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
  });

  it("rejects captions over 1024 characters", async () => {
    const alice = h.emulator.createUser();
    const answer = await h.call("sendPhoto", { chat_id: alice.id, caption: "c".repeat(1025) }, { files: { photo: { bytes: bytes(10) } } });
    expect(answer.body).toMatchObject({ error_code: 400, description: "Bad Request: message caption is too long" });
  });

  it("answers 400 chat not found for an unknown chat", async () => {
    expect((await h.call("sendMessage", { chat_id: 123456, text: "hi" })).body).toEqual({ ok: false, error_code: 400, description: "Bad Request: chat not found" });
    expect((await h.call("sendMessage", { chat_id: -100123456, text: "hi" })).body.description).toBe("Bad Request: chat not found");
  });

  it("answers 403 for a user who blocked the bot, until they unblock it", async () => {
    const alice = h.emulator.createUser();
    alice.block(h.bot);
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "hi" })).body).toEqual({ ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" });
    alice.unblock(h.bot);
    expect(await h.ok("sendMessage", { chat_id: alice.id, text: "hi" })).toBeDefined();
    alice.deactivate();
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "hi" })).body.description).toBe("Forbidden: user is deactivated");
    const shy = h.emulator.createUser({ startedBots: false });
    expect((await h.call("sendMessage", { chat_id: shy.id, text: "hi" })).body.description).toBe("Forbidden: bot can't initiate conversation with a user");
    shy.sendText(h.bot, "/start");
    expect(await h.ok("sendMessage", { chat_id: shy.id, text: "hi" })).toBeDefined();
  });

  it("answers 403 for a group the bot was kicked from, and 400 with migrate_to_chat_id for a migrated group", async () => {
    const group = h.emulator.createGroup({ bots: [h.bot] });
    expect(await h.ok("sendMessage", { chat_id: group.id, text: "hello group" })).toBeDefined();
    const supergroup = group.migrate();
    const answer = await h.call("sendMessage", { chat_id: group.id, text: "hi" });
    expect(answer.body).toEqual({
      ok: false, error_code: 400, description: "Bad Request: group chat was upgraded to a supergroup chat",
      parameters: { migrate_to_chat_id: supergroup.id },
    });
    expect(await h.ok("sendMessage", { chat_id: supergroup.id, text: "moved" })).toMatchObject({ chat: { id: supergroup.id, type: "supergroup" } });
    supergroup.kickBot(h.bot);
    expect((await h.call("sendMessage", { chat_id: supergroup.id, text: "hi" })).body).toEqual({
      ok: false, error_code: 403, description: "Forbidden: bot was kicked from the supergroup chat",
    });
    const other = h.emulator.createGroup();
    expect((await h.call("sendMessage", { chat_id: other.id, text: "hi" })).body.description).toBe("Forbidden: bot is not a member of the group chat");
  });

  it("rejects files over the limits: photos over 10 MB, and request bodies over the size cap with 413", async () => {
    const alice = h.emulator.createUser();
    const big = await h.call("sendPhoto", { chat_id: alice.id }, { files: { photo: { bytes: bytes(10 * 1024 * 1024 + 1) } } });
    expect(big.body).toMatchObject({ error_code: 400, description: "Bad Request: file is too big" });
    expect((await h.call("sendPhoto", { chat_id: alice.id })).body.description).toBe("Bad Request: there is no photo in the request");
    const small = createEmulator({ limits: false, maxBodyBytes: 64 * 1024 });
    const sim = small.createBot();
    small.createUser({ id: 42 });
    const server = await startEmulatorServer(small);
    try {
      const form = new FormData();
      form.append("chat_id", "42");
      form.append("document", new Blob([bytes(100 * 1024) as Uint8Array<ArrayBuffer>]), "big.bin");
      const res = await fetch(`${server.url}/bot${sim.token}/sendDocument`, { method: "POST", body: form });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ ok: false, error_code: 413, description: "Request Entity Too Large" });
      expect(sim.record.size).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("rejects getFile for files over 20 MB", async () => {
    const alice = h.emulator.createUser();
    const message = alice.sendDocument(h.bot, { sizeBytes: 21 * 1024 * 1024 });
    const answer = await h.call("getFile", { file_id: (message as Message.DocumentMessage).document.file_id });
    expect(answer.body.description).toBe("Bad Request: file is too big");
  });

  it("answers 401 to a malformed or unknown token; the standalone mode creates a bot for any well-formed token", async () => {
    expect((await h.call("getMe", {}, { token: "not-a-token" })).body).toEqual({ ok: false, error_code: 401, description: "Unauthorized" });
    expect((await h.call("getMe", {}, { token: "123:unknownsecret" })).status).toBe(401);
    const standalone = createEmulator({ autoCreateBots: true });
    const server = await startEmulatorServer(standalone);
    try {
      const me = await (await fetch(`${server.url}/bot555123:AAsecret/getMe`)).json();
      expect(me).toMatchObject({ ok: true, result: { id: 555123, is_bot: true } });
      expect((await fetch(`${server.url}/botnot-a-token/getMe`)).status).toBe(401);
      // Same bot id, different secret: a wrong token.
      expect((await fetch(`${server.url}/bot555123:AAother/getMe`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });
});
