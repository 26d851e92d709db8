/**
 * Reads back a Bot API request that grammY's client serialised, into the call's payload: the
 * JSON body of a call without files, or the multipart/form-data body of a call with files.
 * Used for the sends of an `Api` a plugin built from the bot's client options (see
 * `api-clones.ts`), which reach unlost only as HTTP requests.
 *
 * grammY's multipart format (grammy/out/core/payload.js): one part per payload field (objects
 * and arrays as JSON, an `InputFile` as the string `attach://<id>`, other values as their
 * string form), then one part per file, named by its id, with a `filename`. Here every file
 * becomes an `InputFile` of its bytes again, put back where its `attach://` string stood.
 *
 * @module
 */
import { InputFile } from "grammy";
import { UnlostError } from "../errors/index.js";

/** One part of a multipart/form-data body. */
export interface FormPart {
  readonly name: string;
  /** Set for file parts. */
  readonly filename: string | undefined;
  readonly data: Buffer;
}

/**
 * The largest body read: Telegram's 50 MB upload limit plus room for the other fields (what
 * the emulator accepts too). A larger upload is refused by Telegram anyway.
 */
export const MAX_REQUEST_BYTES = 52 * 1024 * 1024;

/** The request options grammY's client gives `fetch` (the parts read here). */
export interface SerialisedRequest {
  readonly headers?: unknown;
  readonly body?: unknown;
}

/**
 * The payload of a request grammY's client made. Throws `INVALID_ARGUMENT` for a body that is
 * not a Bot API call's (`details.tooLarge` when over {@link MAX_REQUEST_BYTES}).
 */
export async function decodeRequest(init: SerialisedRequest, maxBytes = MAX_REQUEST_BYTES): Promise<Record<string, unknown>> {
  const type = headerOf(init.headers, "content-type") ?? "";
  const body = await readBody(init.body, maxBytes);
  const boundary = /^multipart\/form-data\s*;.*?\bboundary=(?:"([^"]+)"|([^\s;]+))/i.exec(type);
  if (boundary !== null) return payloadFromParts(parseMultipart(body, (boundary[1] ?? boundary[2]) as string));
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new UnlostError("INVALID_ARGUMENT", `the request body is neither JSON nor multipart/form-data (content-type ${JSON.stringify(type)})`, { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UnlostError("INVALID_ARGUMENT", "the request's JSON body is not an object of parameters");
  return parsed as Record<string, unknown>;
}

/** A header of `fetch` options: a plain object (grammY's), a `Headers`, or pairs. */
function headerOf(headers: unknown, name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as { get?: unknown }).get === "function") return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const entries: Iterable<unknown> = Array.isArray(headers) ? headers : Object.entries(headers as Record<string, unknown>);
  for (const entry of entries) {
    if (Array.isArray(entry) && typeof entry[0] === "string" && entry[0].toLowerCase() === name) return String(entry[1]);
  }
  return undefined;
}

/** The whole body as bytes: a string, bytes, or a stream (grammY's multipart body is a Node stream). */
async function readBody(body: unknown, maxBytes: number): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== "function") {
    throw new UnlostError("INVALID_ARGUMENT", "the request body is of a kind grammY's client does not send (expected a string, bytes or a stream)");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<unknown>) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk instanceof Uint8Array ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : undefined;
    if (bytes === undefined) throw new UnlostError("INVALID_ARGUMENT", "the request body stream gave something other than bytes");
    size += bytes.length;
    // Read on to the end without keeping it: leaving the loop would destroy grammY's stream,
    // and grammY would fail the call with a network error instead of the answer.
    if (size <= maxBytes) chunks.push(bytes);
  }
  if (size > maxBytes) throw new UnlostError("INVALID_ARGUMENT", `the request body is over ${maxBytes} bytes`, { details: { tooLarge: true } });
  return Buffer.concat(chunks, size);
}

const CRLF = Buffer.from("\r\n");

/**
 * The parts of a multipart/form-data body. Throws `INVALID_ARGUMENT` when the body is cut
 * short (no closing delimiter): grammY ends the stream early when reading a file fails, and
 * such a request must not be sent.
 */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const between = Buffer.from(`\r\n--${boundary}`);
  const malformed = (what: string): UnlostError => new UnlostError("INVALID_ARGUMENT", `the multipart/form-data body is malformed or cut short: ${what}`);
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw malformed("no boundary");
  pos += delimiter.length;
  const parts: FormPart[] = [];
  for (;;) {
    // After a delimiter: "--" closes the body, a line break starts a part.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (!body.subarray(pos, pos + 2).equals(CRLF)) throw malformed("no line break after a boundary");
    pos += 2;
    const headerEnd = body.subarray(pos, pos + 2).equals(CRLF) ? pos : body.indexOf("\r\n\r\n", pos);
    if (headerEnd < 0) throw malformed("a part without the end of its headers");
    const dataStart = headerEnd === pos ? pos + 2 : headerEnd + 4;
    const next = body.indexOf(between, dataStart);
    if (next < 0) throw malformed("no closing boundary");
    parts.push(partOf(body.toString("utf8", pos, headerEnd), body.subarray(dataStart, next)));
    pos = next + between.length;
  }
}

/** A part from its header block and its bytes. */
function partOf(headerBlock: string, data: Buffer): FormPart {
  let disposition: string | undefined;
  for (const line of headerBlock.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === "content-disposition") disposition = line.slice(colon + 1).trim();
  }
  if (disposition === undefined) throw new UnlostError("INVALID_ARGUMENT", "a multipart/form-data part has no content-disposition");
  // grammY writes `filename=<name>` last and unquoted (a name may hold ";" or quotes): the
  // rest of the line is the name, unless it is quoted.
  const file = /;\s*filename\s*=\s*/i.exec(disposition);
  const head = file === null ? disposition : disposition.slice(0, file.index);
  const name = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/i.exec(head);
  if (name === null) throw new UnlostError("INVALID_ARGUMENT", "a multipart/form-data part has no name");
  let filename: string | undefined;
  if (file !== null) {
    const rest = disposition.slice(file.index + file[0].length).trim();
    filename = rest.length >= 2 && rest.startsWith('"') && rest.endsWith('"') ? unquote(rest.slice(1, -1)) : rest;
  }
  return { name: name[1] === undefined ? (name[2] as string) : unquote(name[1]), filename, data };
}

function unquote(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

/**
 * Fields that are text whatever they look like: a caption "123" stays a string. Other fields
 * are read back as the JSON they were written as (objects, arrays, numbers, booleans).
 */
const TEXT_FIELDS = new Set([
  "text", "caption", "parse_mode", "title", "performer", "emoji", "business_connection_id", "message_effect_id",
  "inline_message_id", "callback_query_id", "action", "question", "explanation", "address", "first_name",
  "last_name", "phone_number", "vcard", "url", "secret_token", "ip_address", "name", "description",
  "photo", "document", "audio", "video", "animation", "voice", "video_note", "sticker", "thumbnail", "cover", "certificate",
]);

/** A field's value from its text (see {@link TEXT_FIELDS}). */
function reviveField(name: string, text: string): unknown {
  if (TEXT_FIELDS.has(name)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  // Only a value that serialises back to the very same text: sent again, the request is the
  // same bytes ("1e3", "007" or a quoted string stay text).
  if (parsed === null || typeof parsed === "string") return text;
  return JSON.stringify(parsed) === text ? parsed : text;
}

/** The payload of grammY's multipart parts: files as `InputFile`s where they were attached. */
export function payloadFromParts(parts: readonly FormPart[]): Record<string, unknown> {
  const files = new Map<string, InputFile>();
  for (const part of parts) if (part.filename !== undefined) files.set(part.name, new InputFile(part.data, part.filename));
  const attach = (value: unknown): unknown => {
    if (typeof value === "string") return value.startsWith("attach://") ? files.get(value.slice(9)) ?? value : value;
    if (Array.isArray(value)) return value.map(attach);
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, attach(v)]));
    return value;
  };
  const payload: Record<string, unknown> = {};
  for (const part of parts) {
    if (part.filename === undefined) payload[part.name] = attach(reviveField(part.name, part.data.toString("utf8")));
  }
  return payload;
}
