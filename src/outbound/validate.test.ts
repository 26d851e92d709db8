import { mkdtempSync, rmSync, writeFileSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { InputFile } from "grammy";
import { afterAll, describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import { fileLimit, SEND_METHODS, splitText, validateSend } from "./validate.js";

const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "unlost-validate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A sparse file of `size` bytes (no disk used). */
function fileOf(size: number): string {
  const path = join(dir, `f${size}`);
  writeFileSync(path, "");
  truncateSync(path, size);
  return path;
}

/** The INVALID_ARGUMENT error thrown by `fn`. */
function refusal(fn: () => unknown): UnlostError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UnlostError) return error;
    throw error;
  }
  throw new Error("validation passed");
}

describe("validateSend: what passes", () => {
  it.each<[string, Record<string, unknown>]>([
    ["sendMessage", { chat_id: 1, text: "hi" }],
    ["sendmessage", { chat_id: "42", text: "<b>hi</b>", parse_mode: "HTML" }],
    ["sendMessage", { chat_id: "@my_channel", text: "hi" }],
    ["sendPhoto", { chat_id: -100123, photo: "AgACAgIAAxkBAAI", caption: "c" }],
    ["sendPhoto", { chat_id: 1, photo: Buffer.alloc(10 * MB) }],
    ["sendDocument", { chat_id: 1, document: { path: fileOf(50 * MB) } }],
    ["sendDocument", { chat_id: 1, document: new InputFile(fileOf(1000)) }],
    ["sendDocument", { chat_id: 1, document: Readable.from([Buffer.from("x")]) }],
    ["sendVoice", { chat_id: 1, voice: Buffer.from("ogg") }],
    ["sendVideo", { chat_id: 1, video: "https://example.com/v.mp4" }],
    ["sendAudio", { chat_id: 1, audio: Buffer.from("mp3") }],
    ["sendAnimation", { chat_id: 1, animation: Buffer.from("gif") }],
    ["sendSticker", { chat_id: 1, sticker: "CAACAgIAAxkBAAE" }],
    ["sendLocation", { chat_id: 1, latitude: 41.3, longitude: 69.2 }],
    ["sendMediaGroup", { chat_id: 1, media: [{ type: "photo", media: Buffer.from("a") }, { type: "video", media: "file_id", caption: "x" }] }],
    ["sendChatAction", { chat_id: 1, action: "typing" }],
    ["copyMessage", { chat_id: 1, from_chat_id: 2, message_id: 3 }],
    ["forwardMessage", { chat_id: 1, from_chat_id: "@src_channel", message_id: 3 }],
    ["editMessageText", { chat_id: 1, message_id: 5, text: "new" }],
    ["editMessageText", { inline_message_id: "AAA", text: "new" }],
    ["editMessageReplyMarkup", { chat_id: 1, message_id: 5, reply_markup: { inline_keyboard: [[{ text: "a", callback_data: "x".repeat(64) }]] } }],
    ["deleteMessage", { chat_id: 1, message_id: 5 }],
    ["answerCallbackQuery", { callback_query_id: "123", text: "ok" }],
    ["pinChatMessage", { chat_id: -5, message_id: 5 }],
  ])("%s %#", (method, payload) => {
    const v = validateSend(method, payload);
    expect(v.parts).toHaveLength(1);
    expect(SEND_METHODS.get(v.method.toLowerCase())?.name).toBe(v.method);
  });

  it("normalizes the method name and numeric chat ids", () => {
    const v = validateSend("SENDMESSAGE", { chat_id: " 42 ", text: "hi", allow_paid_broadcast: true });
    expect(v).toMatchObject({ method: "sendMessage", chatId: 42, paidBroadcast: true });
    expect(v.parts[0]?.chat_id).toBe(42);
    expect(validateSend("answerCallbackQuery", { callback_query_id: "1" }).chatId).toBeNull();
    expect(validateSend("sendChatAction", { chat_id: 1, action: "typing" }).spec.paced).toBe(false);
  });

  it("measures text after entity parsing", () => {
    expect(validateSend("sendMessage", { chat_id: 1, text: `<b>${"a".repeat(4096)}</b>`, parse_mode: "HTML" }).parts).toHaveLength(1);
    expect(validateSend("sendPhoto", { chat_id: 1, photo: "id", caption: `<i>${"a".repeat(1024)}</i>`, parse_mode: "HTML" }).parts).toHaveLength(1);
  });
});

describe("validateSend: what is refused", () => {
  it.each<[string, string, unknown, string, RegExp]>([
    ["unknown method", "sendMesage", { chat_id: 1, text: "x" }, "method", /unknown method "sendMesage": did you mean sendMessage\?/],
    ["unknown method, no close match", "getUpdates", {}, "method", /the outbox sends sendMessage, sendPhoto/],
    ["not an object", "sendMessage", "hi", "payload", /payload must be an object/],
    ["missing chat", "sendMessage", { text: "x" }, "chat_id", /chat_id is required/],
    ["bad chat", "sendMessage", { chat_id: "alice", text: "x" }, "chat_id", /non-zero integer or "@username"/],
    ["zero chat", "sendMessage", { chat_id: 0, text: "x" }, "chat_id", /non-zero integer/],
    ["empty text", "sendMessage", { chat_id: 1, text: "" }, "text", /text is empty/],
    ["missing text", "sendMessage", { chat_id: 1 }, "text", /text is empty/],
    ["blank after parsing", "sendMessage", { chat_id: 1, text: "<b> </b>", parse_mode: "HTML" }, "text", /empty after formatting/],
    ["text too long", "sendMessage", { chat_id: 1, text: "a".repeat(4097) }, "text", /4097 characters after formatting, over Telegram's 4096; shorten it or send with \{ split: true \}/],
    ["edit too long", "editMessageText", { chat_id: 1, message_id: 2, text: "a".repeat(4097) }, "text", /over Telegram's 4096; shorten it$/],
    ["caption too long", "sendPhoto", { chat_id: 1, photo: "id", caption: "a".repeat(1025) }, "caption", /1025 characters after formatting, over Telegram's 1024/],
    ["HTML parse error", "sendMessage", { chat_id: 1, text: "<x>hi</x>", parse_mode: "HTML" }, "text", /cannot parse the text as HTML \(can't parse entities: Unsupported start tag "x"/],
    ["MarkdownV2 parse error", "sendMessage", { chat_id: 1, text: "1.5", parse_mode: "MarkdownV2" }, "text", /Character '\.' is reserved/],
    ["bad parse mode", "sendMessage", { chat_id: 1, text: "x", parse_mode: "BBCode" }, "parse_mode", /not supported/],
    ["caption parse error", "sendPhoto", { chat_id: 1, photo: "id", caption: "<b>x", parse_mode: "HTML" }, "caption", /cannot parse the caption/],
    ["missing file", "sendPhoto", { chat_id: 1 }, "photo", /photo is required/],
    ["photo over 10 MB", "sendPhoto", { chat_id: 1, photo: Buffer.alloc(10 * MB + 1) }, "photo", /over Telegram's 10 MB upload limit for photos; send it with sendDocument/],
    ["document over 50 MB (path)", "sendDocument", { chat_id: 1, document: { path: fileOf(50 * MB + 1) } }, "document", /50.00 MB, over Telegram's 50 MB/],
    ["document over 50 MB (InputFile)", "sendDocument", { chat_id: 1, document: new InputFile(fileOf(50 * MB + 1)) }, "document", /over Telegram's 50 MB/],
    ["empty file", "sendVoice", { chat_id: 1, voice: Buffer.alloc(0) }, "voice", /empty/],
    ["no such path", "sendDocument", { chat_id: 1, document: { path: "/nonexistent/x.pdf" } }, "document", /cannot read the file in document \(\/nonexistent\/x.pdf: ENOENT\)/],
    ["a directory", "sendDocument", { chat_id: 1, document: { path: dir } }, "document", /not a regular file/],
    ["album of 1", "sendMediaGroup", { chat_id: 1, media: [{ type: "photo", media: "a" }] }, "media", /2 to 10 items \(got 1\)/],
    ["album of 11", "sendMediaGroup", { chat_id: 1, media: Array.from({ length: 11 }, () => ({ type: "photo", media: "a" })) }, "media", /got 11\); split it/],
    ["album item type", "sendMediaGroup", { chat_id: 1, media: [{ type: "gif", media: "a" }, { type: "photo", media: "b" }] }, "media[0].type", /must be one of photo/],
    ["album big photo", "sendMediaGroup", { chat_id: 1, media: [{ type: "photo", media: "a" }, { type: "photo", media: Buffer.alloc(10 * MB + 1) }] }, "media[1].media", /10 MB/],
    ["album caption", "sendMediaGroup", { chat_id: 1, media: [{ type: "photo", media: "a", caption: "c".repeat(1025) }, { type: "photo", media: "b" }] }, "media[0].caption", /1024/],
    ["album mixing documents", "sendMediaGroup", { chat_id: 1, media: [{ type: "document", media: "a" }, { type: "photo", media: "b" }] }, "media", /only documents/],
    ["latitude", "sendLocation", { chat_id: 1, latitude: 91, longitude: 0 }, "latitude", /from -90 to 90/],
    ["action", "sendChatAction", { chat_id: 1, action: "dancing" }, "action", /action must be one of typing/],
    ["message id", "deleteMessage", { chat_id: 1, message_id: -1 }, "message_id", /positive integer/],
    ["edit without message", "editMessageText", { chat_id: 1, text: "x" }, "message_id", /message_id is required/],
    ["edit without chat", "editMessageText", { text: "x" }, "chat_id", /or inline_message_id/],
    ["copy source", "copyMessage", { chat_id: 1, from_chat_id: "x", message_id: 1 }, "from_chat_id", /from_chat_id must be/],
    ["callback data", "sendMessage", { chat_id: 1, text: "x", reply_markup: { inline_keyboard: [[{ text: "a", callback_data: "x".repeat(65) }]] } }, "reply_markup", /65 bytes, over Telegram's 64/],
    ["callback answer", "answerCallbackQuery", { callback_query_id: "1", text: "a".repeat(201) }, "text", /over Telegram's 200/],
    ["split formatted", "sendMessage", { chat_id: 1, text: "a".repeat(5000), parse_mode: "HTML" }, "text", /cannot be split safely/],
  ])("%s", (_name, method, payload, field, message) => {
    const error = refusal(() => validateSend(method, payload, { split: _name === "split formatted" }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.details.field).toBe(field);
    expect(error.message).toMatch(message);
  });
});

describe("split", () => {
  it("splits long plain text into parts, reply on the first, keyboard on the last", () => {
    const text = `${"a".repeat(3000)}\n\n${"b".repeat(3000)}\n\n${"c".repeat(100)}`;
    const markup = { inline_keyboard: [[{ text: "ok", callback_data: "ok" }]] };
    const v = validateSend("sendMessage", { chat_id: 1, text, reply_parameters: { message_id: 9 }, reply_markup: markup }, { split: true });
    expect(v.parts.map((p) => p.text)).toEqual(["a".repeat(3000), `${"b".repeat(3000)}\n\n${"c".repeat(100)}`]);
    expect(v.parts[0]).toMatchObject({ reply_parameters: { message_id: 9 } });
    expect(v.parts[0]?.reply_markup).toBeUndefined();
    expect(v.parts[1]?.reply_parameters).toBeUndefined();
    expect(v.parts[1]?.reply_markup).toEqual(markup);
  });

  it("prefers paragraphs, then lines, then words, then a hard cut", () => {
    expect(splitText(`${"a".repeat(60)}\n\n${"b".repeat(30)}\n${"c".repeat(30)}`, 100)).toEqual(["a".repeat(60), `${"b".repeat(30)}\n${"c".repeat(30)}`]);
    expect(splitText(`${"a".repeat(60)}\n${"b".repeat(60)}`, 100)).toEqual(["a".repeat(60), "b".repeat(60)]);
    expect(splitText(`${"word ".repeat(30)}`, 100).every((p) => p.length <= 100 && !p.startsWith(" "))).toBe(true);
    expect(splitText("x".repeat(250), 100)).toEqual(["x".repeat(100), "x".repeat(100), "x".repeat(50)]);
    // A paragraph break too early would waste a message: a later line break wins.
    expect(splitText(`ab\n\n${"c".repeat(70)}\n${"d".repeat(70)}`, 100)).toEqual([`ab\n\n${"c".repeat(70)}`, "d".repeat(70)]);
  });

  it("never cuts a surrogate pair and keeps every part within the limit", () => {
    const emoji = "😀".repeat(60); // 120 UTF-16 units
    const parts = splitText(emoji, 101);
    expect(parts.join("")).toBe(emoji);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(101);
      expect(p.codePointAt(p.length - 1)).not.toBe(0xd83d);
    }
    const big = Array.from({ length: 3000 }, (_, i) => `line ${i} ${"z".repeat(i % 50)}`).join("\n");
    const out = validateSend("sendMessage", { chat_id: 1, text: big }, { split: true }).parts;
    expect(out.length).toBeGreaterThan(1);
    for (const p of out) expect((p.text as string).length).toBeLessThanOrEqual(4096);
    expect(out.map((p) => p.text).join("\n")).toBe(big);
  });

  it("leaves short text alone and drops whitespace-only parts", () => {
    expect(splitText("hello")).toEqual(["hello"]);
    expect(splitText(`${"a".repeat(100)}\n\n\n\n`, 100)).toEqual(["a".repeat(100)]);
  });
});

describe("fileLimit", () => {
  it("gives the upload limit per field", () => {
    expect(fileLimit("sendPhoto", "photo")).toBe(10 * MB);
    expect(fileLimit("sendDocument", "document")).toBe(50 * MB);
    expect(fileLimit("sendDocument", "thumbnail")).toBe(10 * MB);
    expect(fileLimit("sendMediaGroup", "photo")).toBe(10 * MB);
    expect(fileLimit("sendMediaGroup", "video")).toBe(50 * MB);
  });
});
