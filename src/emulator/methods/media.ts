/**
 * Media: photos, documents, voice notes, locations, albums, and getFile. Uploads are received
 * as multipart parts and size-checked against Telegram's limits.
 */
import type { Message } from "grammy/types";
import { asBadRequest, badRequest } from "../api-error.js";
import { checkCaption } from "../../telegram/formatted-text.js";
import type { FileArgument, Params } from "../params.js";
import type { StoredFile } from "../sim-bot.js";
import type { MethodContext, MethodHandler } from "./context.js";
import { DOWNLOAD_LIMIT, MEDIA_GROUP_MAX, MEDIA_GROUP_MIN, UPLOAD_LIMITS } from "../../telegram/limits.js";
import { deliver, resolveTarget, type Delivery } from "./targets.js";

// The limits live in src/telegram/limits.ts, shared with the outbox that must stay under them.
export { UPLOAD_LIMITS, DOWNLOAD_LIMIT } from "../../telegram/limits.js";

type MediaKind = "photo" | "document" | "voice" | "video" | "audio";

/** Turns a file argument into a stored file, with Telegram's errors. */
function storeFile(ctx: MethodContext, arg: FileArgument | undefined, kind: MediaKind, ext: string): StoredFile {
  if (arg === undefined) throw badRequest(`there is no ${kind} in the request`);
  if (arg.kind === "upload") {
    const limit = kind === "photo" ? UPLOAD_LIMITS.photo : UPLOAD_LIMITS.other;
    if (arg.file.bytes.byteLength === 0) throw badRequest(`file must be non-empty`);
    if (arg.file.bytes.byteLength > limit) throw badRequest("file is too big");
    return ctx.bot.addFile(kind, arg.file.bytes.byteLength, arg.file.bytes, undefined, ext);
  }
  const known = ctx.bot.files.get(arg.value);
  if (known !== undefined) return known;
  if (/^https?:\/\/\S+$/i.test(arg.value)) {
    // Telegram would download the URL; the emulator has no internet, so it only records it.
    return ctx.bot.addFile(kind, 0, undefined, arg.value, ext);
  }
  throw badRequest("wrong file identifier/HTTP URL specified");
}

function photoSizes(file: StoredFile): Array<{ file_id: string; file_unique_id: string; width: number; height: number; file_size: number }> {
  return [
    { file_id: `${file.fileId}-s`, file_unique_id: `${file.fileUniqueId}s`, width: 90, height: 90, file_size: Math.ceil(file.size / 20) },
    { file_id: file.fileId, file_unique_id: file.fileUniqueId, width: 1280, height: 1280, file_size: file.size },
  ];
}

function fileFields(kind: MediaKind, file: StoredFile, params: Params | undefined, fileName: string | undefined): Partial<Message> {
  const base = { file_id: file.fileId, file_unique_id: file.fileUniqueId, file_size: file.size };
  switch (kind) {
    case "photo":
      return { photo: photoSizes(file) } as Partial<Message>;
    case "voice":
      return { voice: { ...base, duration: params?.int("duration") ?? 1, mime_type: "audio/ogg" } } as Partial<Message>;
    case "video":
      return { video: { ...base, width: 640, height: 360, duration: params?.int("duration") ?? 1 } } as Partial<Message>;
    case "audio":
      return { audio: { ...base, duration: params?.int("duration") ?? 1 } } as Partial<Message>;
    case "document":
      return { document: { ...base, file_name: fileName ?? "document", mime_type: "application/octet-stream" } } as Partial<Message>;
  }
}

/** One of sendPhoto / sendDocument / sendVoice. */
function sendFile(method: string, kind: "photo" | "document" | "voice", ext: string): MethodHandler {
  return (ctx, params) => {
    const target = resolveTarget(ctx, params);
    const caption = asBadRequest(() => checkCaption(params.string("caption"), params.string("parse_mode")));
    const arg = params.file(kind);
    const file = storeFile(ctx, arg, kind, ext);
    const fileName = arg?.kind === "upload" ? arg.file.name : undefined;
    const fields = { ...fileFields(kind, file, params, fileName), ...(caption === undefined ? {} : { caption }) };
    return deliver(ctx, target, params, [{ method, kind, visibleText: caption, fields }])[0];
  };
}

const sendLocation: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const latitude = params.float("latitude");
  const longitude = params.float("longitude");
  if (latitude === undefined || latitude < -90 || latitude > 90) throw badRequest("wrong latitude");
  if (longitude === undefined || longitude < -180 || longitude > 180) throw badRequest("wrong longitude");
  const fields = { location: { latitude, longitude } } as Partial<Message>;
  return deliver(ctx, target, params, [{ method: "sendLocation", kind: "location", visibleText: undefined, fields }])[0];
};

const sendMediaGroup: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const media = params.json("media", "media");
  if (!Array.isArray(media)) throw badRequest("can't parse media JSON object");
  if (media.length < MEDIA_GROUP_MIN || media.length > MEDIA_GROUP_MAX) throw badRequest("media group must contain 2-10 items");
  const deliveries: Delivery[] = media.map((item: unknown) => {
    const m = item as { type?: unknown; media?: unknown; caption?: unknown; parse_mode?: unknown };
    const kind = m.type;
    if (kind !== "photo" && kind !== "video" && kind !== "document" && kind !== "audio") {
      throw badRequest("can't parse InputMedia: unsupported media type");
    }
    if (typeof m.media !== "string") throw badRequest("can't parse InputMedia: media must be a String");
    const caption = asBadRequest(() => checkCaption(
      typeof m.caption === "string" ? m.caption : undefined,
      typeof m.parse_mode === "string" ? m.parse_mode : undefined,
    ));
    const arg = params.fileFromString(m.media);
    const file = storeFile(ctx, arg, kind, kind === "photo" ? "jpg" : "bin");
    const fileName = arg.kind === "upload" ? arg.file.name : undefined;
    const fields = { ...fileFields(kind, file, undefined, fileName), ...(caption === undefined ? {} : { caption }) };
    return { method: "sendMediaGroup", kind: kind === "photo" ? "photo" : "document", visibleText: caption, fields };
  });
  return deliver(ctx, target, params, deliveries);
};

const getFile: MethodHandler = (ctx, params) => {
  const id = params.string("file_id");
  if (id === undefined || id === "") throw badRequest("file_id not specified");
  const base = ctx.bot.files.get(id.replace(/-s$/, ""));
  if (base === undefined) throw badRequest("invalid file_id");
  if (base.size > DOWNLOAD_LIMIT) throw badRequest("file is too big");
  return { file_id: id, file_unique_id: base.fileUniqueId, file_size: base.size, file_path: base.path };
};

/** The media methods, by name. */
export const mediaMethods: Record<string, MethodHandler> = {
  sendPhoto: sendFile("sendPhoto", "photo", "jpg"),
  sendDocument: sendFile("sendDocument", "document", "bin"),
  sendVoice: sendFile("sendVoice", "voice", "oga"),
  sendLocation,
  sendMediaGroup,
  getFile,
};
