/**
 * Validation at enqueue: everything Telegram would certainly refuse is refused here,
 * synchronously, with an {@link UnlostError} `INVALID_ARGUMENT` that says what is wrong and how
 * to fix it (`details: { method, field }`). A job that passes can still fail at Telegram for
 * reasons only Telegram knows (a blocked user, a deleted message), never for its shape.
 *
 * @module
 */
import { statSync } from "node:fs";
import { InputFile } from "grammy";
import { UnlostError } from "../errors/index.js";
import { checkCaption, checkMessageText, isTextRejection, visibleText } from "../telegram/formatted-text.js";
import { MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, MEDIA_GROUP_MAX, MEDIA_GROUP_MIN, UPLOAD_LIMITS } from "../telegram/limits.js";
import { findMethod, SEND_METHODS, type FileKind, type MethodSpec } from "./methods.js";
import { splitText } from "./split-text.js";

export { splitText };
export { SEND_METHODS, findMethod } from "./methods.js";
export type { MethodSpec, FileKind, ChatAddressing } from "./methods.js";

/** Options of {@link validateSend}. */
export interface ValidateOptions {
  /** Split plain text over 4096 characters into several messages instead of refusing it. */
  readonly split?: boolean;
}

/** A send that passed validation. */
export interface ValidatedSend {
  /** The method as Telegram spells it (`sendmessage` → `sendMessage`). */
  readonly method: string;
  readonly spec: MethodSpec;
  /** The target chat (numeric strings become numbers), or null for methods without one. */
  readonly chatId: number | string | null;
  /** The payloads to send, in order: one, or several when a long text was split. */
  readonly parts: readonly Record<string, unknown>[];
  /** The call sets `allow_paid_broadcast` (paced at 1000/s). */
  readonly paidBroadcast: boolean;
}

/** Callback data may hold at most this many bytes. */
const MAX_CALLBACK_DATA_BYTES = 64;
/** answerCallbackQuery's notification text may hold at most this many characters. */
const MAX_CALLBACK_ANSWER_LENGTH = 200;
const CHAT_ACTIONS = new Set([
  "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice", "upload_document",
  "choose_sticker", "find_location", "record_video_note", "upload_video_note",
]);
const MEDIA_TYPES = new Set(["photo", "video", "document", "audio"]);

/**
 * Validates one send and returns it normalized. Throws `INVALID_ARGUMENT` for an unknown
 * method, a missing or malformed chat, missing fields, empty or too long text, a caption over
 * 1024 characters, text Telegram cannot parse, files over the upload limits or unreadable,
 * albums outside 2–10 items, and callback data over 64 bytes. Streams cannot be measured
 * here: {@link fileLimit} gives the limit to enforce while spilling them.
 *
 * @example
 * ```ts
 * const { parts } = validateSend("sendMessage", { chat_id: 42, text: longText }, { split: true });
 * ```
 */
export function validateSend(method: string, payload: unknown, options: ValidateOptions = {}): ValidatedSend {
  const spec = findMethod(method);
  if (spec === undefined) throw unknownMethod(method);
  const name = spec.name;
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw invalid(name, "payload", `the payload must be an object of the method's parameters (got ${describe(payload)})`);
  }
  const p = { ...(payload as Record<string, unknown>) };
  const chatId = checkChat(spec, p);
  if (chatId !== null) p.chat_id = chatId;
  for (const field of spec.required) {
    if (p[field] === undefined || p[field] === null) throw invalid(name, field, `${field} is required; pass it in the payload`, `${field} is empty`);
  }
  for (const field of spec.messageIds) {
    const value = p[field];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) > 0)) {
      throw invalid(name, field, `${field} must be a positive integer message id (got ${describe(value)})`);
    }
  }
  checkFields(spec, p);
  if (spec.caption) checkCaptionField(name, p, "caption");
  for (const [field, kind] of Object.entries(spec.files)) checkFile(name, field, p[field], kind);
  if (spec.mediaGroup) checkMediaGroup(name, p.media);
  checkReplyMarkup(name, p.reply_markup);
  const parts = spec.text === undefined ? [p] : checkText(name, p, options.split === true);
  return { method: name, spec, chatId, parts, paidBroadcast: p.allow_paid_broadcast === true };
}

/**
 * The upload limit in bytes of a file given in `field` of `method` (for a media group item,
 * pass the item's `type` as field): photos 10 MB, other files 50 MB. Use it as `maxBytes`
 * when spilling streams, whose size is only known once read.
 */
export function fileLimit(method: string, field: string): number {
  const spec = findMethod(method);
  const kind: FileKind = spec?.mediaGroup === true ? (field === "photo" ? "photo" : "other") : spec?.files[field] ?? "other";
  return UPLOAD_LIMITS[kind];
}

function checkChat(spec: MethodSpec, p: Record<string, unknown>): number | string | null {
  const raw = p.chat_id;
  if (spec.chat === "none") return null;
  if (spec.chat === "chat-or-inline" && raw === undefined) {
    if (typeof p.inline_message_id === "string" && p.inline_message_id !== "") return null;
    throw invalid(spec.name, "chat_id", "chat_id and message_id (or inline_message_id) are required; pass the chat and message to edit");
  }
  if (spec.chat === "chat-or-inline" && p.message_id === undefined) {
    throw invalid(spec.name, "message_id", "message_id is required with chat_id; pass the id of the message to edit");
  }
  const chatId = normalizeChatId(raw);
  if (chatId === undefined) {
    throw invalid(
      spec.name, "chat_id",
      raw === undefined || raw === null || raw === ""
        ? "chat_id is required; pass the numeric id of the chat (or @username of a public channel)"
        : `chat_id must be a non-zero integer or "@username" (got ${describe(raw)})`,
    );
  }
  return chatId;
}

/** `42` and `"42"` → 42; `"@name"` stays; anything else → undefined. */
function normalizeChatId(raw: unknown): number | string | undefined {
  if (typeof raw === "number") return Number.isSafeInteger(raw) && raw !== 0 ? raw : undefined;
  if (typeof raw !== "string") return undefined;
  const s = raw.trim();
  if (/^-?\d+$/.test(s)) return normalizeChatId(Number(s));
  return /^@[A-Za-z][A-Za-z0-9_]{3,31}$/.test(s) ? s : undefined;
}

/** Checks of single fields that Telegram would refuse outright. */
function checkFields(spec: MethodSpec, p: Record<string, unknown>): void {
  const name = spec.name;
  if (name === "sendLocation" || name === "sendVenue") {
    for (const [field, max] of [["latitude", 90], ["longitude", 180]] as const) {
      const v = p[field];
      if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > max) {
        throw invalid(name, field, `${field} must be a number from -${max} to ${max} (got ${describe(v)})`);
      }
    }
  }
  if (name === "sendChatAction" && (typeof p.action !== "string" || !CHAT_ACTIONS.has(p.action))) {
    throw invalid(name, "action", `action must be one of ${[...CHAT_ACTIONS].join(", ")} (got ${describe(p.action)})`);
  }
  if (name === "answerCallbackQuery") {
    if (typeof p.callback_query_id !== "string" || p.callback_query_id === "") {
      throw invalid(name, "callback_query_id", "callback_query_id must be the id of the callback query being answered");
    }
    if (typeof p.text === "string" && p.text.length > MAX_CALLBACK_ANSWER_LENGTH) {
      throw invalid(name, "text", `the answer text has ${p.text.length} characters, over Telegram's ${MAX_CALLBACK_ANSWER_LENGTH}; shorten it`);
    }
  }
  if ((name === "copyMessage" || name === "forwardMessage") && normalizeChatId(p.from_chat_id) === undefined) {
    throw invalid(name, "from_chat_id", `from_chat_id must be a non-zero integer or "@username" (got ${describe(p.from_chat_id)})`);
  }
}

function checkText(method: string, p: Record<string, unknown>, split: boolean): Record<string, unknown>[] {
  const text = p.text;
  if (text === undefined || text === null || text === "") throw invalid(method, "text", "the text is empty; pass a non-empty text", "message text is empty");
  if (typeof text !== "string") throw invalid(method, "text", `text must be a string (got ${describe(text)})`);
  const parseMode = parseModeOf(method, p);
  try {
    checkMessageText(text, entitiesGiven(p) ? undefined : parseMode);
    return [p];
  } catch (error) {
    if (!isTextRejection(error)) throw error;
    if (error.problem !== "too-long") throw textProblem(method, "text", error.description, error.problem, parseMode);
    const visible = visibleText(text, entitiesGiven(p) ? undefined : parseMode).length;
    if (!split || method !== "sendMessage") {
      throw invalid(method, "text", `the text has ${visible} characters after formatting, over Telegram's ${MAX_TEXT_LENGTH}; shorten it${method === "sendMessage" ? " or send with { split: true }" : ""}`, error.description);
    }
    if (parseMode !== undefined || entitiesGiven(p)) {
      throw invalid(method, "text", `the text has ${visible} characters, over Telegram's ${MAX_TEXT_LENGTH}, and formatted text (parse_mode or entities) cannot be split safely; split it yourself or send plain text`, error.description);
    }
    return splitParts(p, text);
  }
}

/** One payload per part: a reply goes with the first part, the keyboard with the last. */
function splitParts(p: Record<string, unknown>, text: string): Record<string, unknown>[] {
  const texts = splitText(text, MAX_TEXT_LENGTH);
  return texts.map((part, i) => {
    const out: Record<string, unknown> = { ...p, text: part };
    if (i > 0) {
      delete out.reply_parameters;
      delete out.reply_to_message_id;
    }
    if (i < texts.length - 1) delete out.reply_markup;
    return out;
  });
}

function checkCaptionField(method: string, p: Record<string, unknown>, key: string, field = key): void {
  const caption = p[key];
  if (caption === undefined || caption === null) return;
  if (typeof caption !== "string") throw invalid(method, field, `${field} must be a string (got ${describe(caption)})`);
  const parseMode = entitiesGiven(p, "caption_entities") ? undefined : parseModeOf(method, p);
  try {
    checkCaption(caption, parseMode);
  } catch (error) {
    if (!isTextRejection(error)) throw error;
    if (error.problem === "too-long") {
      const visible = visibleText(caption, parseMode).length;
      throw invalid(method, field, `the caption has ${visible} characters after formatting, over Telegram's ${MAX_CAPTION_LENGTH}; shorten it or send the text as a separate message`, error.description);
    }
    throw textProblem(method, field, error.description, error.problem, parseMode);
  }
}

function parseModeOf(method: string, p: Record<string, unknown>): string | undefined {
  const mode = p.parse_mode;
  if (mode === undefined || mode === null || mode === "") return undefined;
  if (typeof mode !== "string") throw invalid(method, "parse_mode", `parse_mode must be "HTML", "MarkdownV2" or "Markdown" (got ${describe(mode)})`);
  return mode;
}

function entitiesGiven(p: Record<string, unknown>, field = "entities"): boolean {
  return Array.isArray(p[field]) && (p[field] as unknown[]).length > 0;
}

function textProblem(method: string, field: string, description: string, problem: string, parseMode: string | undefined): UnlostError {
  if (problem === "parse-mode") return invalid(method, "parse_mode", `parse_mode "${parseMode ?? ""}" is not supported; use "HTML", "MarkdownV2" or "Markdown"`, description);
  if (problem === "empty") return invalid(method, field, `the ${field} is empty after formatting; pass visible text`, description);
  return invalid(method, field, `Telegram cannot parse the ${field} as ${parseMode ?? "plain text"} (${description}); escape reserved characters or fix the markup`, description);
}

function checkMediaGroup(method: string, media: unknown): void {
  if (!Array.isArray(media)) throw invalid(method, "media", `media must be an array of InputMedia (got ${describe(media)})`);
  if (media.length < MEDIA_GROUP_MIN || media.length > MEDIA_GROUP_MAX) {
    throw invalid(method, "media", `an album takes ${MEDIA_GROUP_MIN} to ${MEDIA_GROUP_MAX} items (got ${media.length}); ${media.length < MEDIA_GROUP_MIN ? "send a single item with sendPhoto/sendDocument" : "split it into several albums"}`);
  }
  const types = new Set<string>();
  media.forEach((item: unknown, i) => {
    const field = `media[${i}]`;
    if (typeof item !== "object" || item === null) throw invalid(method, field, `${field} must be an InputMedia object (got ${describe(item)})`);
    const m = item as Record<string, unknown>;
    if (typeof m.type !== "string" || !MEDIA_TYPES.has(m.type)) {
      throw invalid(method, `${field}.type`, `${field}.type must be one of photo, video, document, audio (got ${describe(m.type)})`);
    }
    types.add(m.type);
    if (m.media === undefined || m.media === null || m.media === "") throw invalid(method, `${field}.media`, `${field}.media is required: a file, file_id or URL`);
    checkFile(method, `${field}.media`, m.media, m.type === "photo" ? "photo" : "other");
    checkCaptionField(method, m, "caption", `${field}.caption`);
  });
  // Telegram groups documents only with documents and audio only with audio.
  for (const only of ["document", "audio"]) {
    if (types.has(only) && types.size > 1) {
      throw invalid(method, "media", `an album with ${only}s may contain only ${only}s (got ${[...types].join(", ")}); send them as separate albums`);
    }
  }
}

/**
 * Checks a file whose size is known without reading it: buffers, paths (`{ path }` or an
 * InputFile of a path) by `stat`. Strings are file_ids or URLs (Telegram fetches those).
 */
function checkFile(method: string, field: string, value: unknown, kind: FileKind): void {
  if (value === undefined || value === null || typeof value === "string") return;
  const limit = UPLOAD_LIMITS[kind];
  const size = knownSize(method, field, value);
  if (size === undefined) return;
  if (size === 0) throw invalid(method, field, `the file in ${field} is empty; Telegram refuses empty files`);
  if (size > limit) {
    throw invalid(method, field, `the file in ${field} has ${formatBytes(size)}, over Telegram's ${formatBytes(limit)} upload limit for ${kind === "photo" ? "photos" : "files"}${kind === "photo" ? "; send it with sendDocument (50 MB) or make it smaller" : "; make it smaller or split it"}`);
  }
}

function knownSize(method: string, field: string, value: unknown): number | undefined {
  if (value instanceof Uint8Array) return value.byteLength;
  let path: string | undefined;
  if (value instanceof InputFile) {
    // The data an InputFile wraps is private in grammY's types but plain at runtime; reading
    // it is the only way to measure a file before the request is made.
    const data = (value as unknown as { fileData: unknown }).fileData;
    if (data instanceof Uint8Array) return data.byteLength;
    if (typeof data === "string") path = data;
    else if (data instanceof URL && data.protocol === "file:") path = data.pathname;
    else return undefined;
  } else if (isPathObject(value)) {
    path = value.path;
  } else {
    return undefined; // a stream: measured while it is spilled
  }
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw invalid(method, field, `${path} is not a regular file; pass the path of a file`);
    return stat.size;
  } catch (error) {
    if (error instanceof UnlostError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new UnlostError("INVALID_ARGUMENT", `${method}: cannot read the file in ${field} (${path}: ${String(code ?? error)}); check that the path exists and is readable`, {
      cause: error, details: { method, field },
    });
  }
}

function isPathObject(value: unknown): value is { path: string } {
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "path" && typeof (value as { path: unknown }).path === "string";
}

function checkReplyMarkup(method: string, markup: unknown): void {
  if (markup === undefined || markup === null) return;
  if (typeof markup !== "object" || Array.isArray(markup)) throw invalid(method, "reply_markup", `reply_markup must be an object such as { inline_keyboard: [...] } (got ${describe(markup)})`);
  const keyboard = (markup as { inline_keyboard?: unknown }).inline_keyboard;
  if (keyboard === undefined) return;
  if (!Array.isArray(keyboard) || !keyboard.every((row) => Array.isArray(row))) {
    throw invalid(method, "reply_markup", "reply_markup.inline_keyboard must be an array of rows of buttons");
  }
  for (const row of keyboard as unknown[][]) {
    for (const button of row) {
      const data = (button as { callback_data?: unknown } | null)?.callback_data;
      if (typeof data === "string" && Buffer.byteLength(data, "utf8") > MAX_CALLBACK_DATA_BYTES) {
        throw invalid(method, "reply_markup", `callback_data "${data.slice(0, 20)}…" has ${Buffer.byteLength(data, "utf8")} bytes, over Telegram's ${MAX_CALLBACK_DATA_BYTES}; store the data elsewhere and put a short key in the button`);
      }
    }
  }
}

function unknownMethod(method: string): UnlostError {
  const lower = method.toLowerCase();
  const close = [...SEND_METHODS.values()].find((s) => editDistance(s.name.toLowerCase(), lower) <= 2);
  const hint = close === undefined ? `the outbox sends ${[...SEND_METHODS.values()].map((s) => s.name).join(", ")}` : `did you mean ${close.name}?`;
  return new UnlostError("INVALID_ARGUMENT", `unknown method "${method}": ${hint}`, { details: { method, field: "method" } });
}

/**
 * @param telegram Telegram's description of the same mistake without `Bad Request: `, when
 * known (the text checks share Telegram's wording with the emulator): a send refused here
 * through grammY is answered as Telegram would have (see transformer.ts).
 */
function invalid(method: string, field: string, what: string, telegram?: string): UnlostError {
  return new UnlostError("INVALID_ARGUMENT", `${method}: ${what}`, { details: telegram === undefined ? { method, field } : { method, field, telegram } });
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 2)} MB` : `${n} bytes`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}
