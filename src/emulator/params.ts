/**
 * Reading Bot API parameters the way Telegram does: the same method may arrive as a GET query,
 * a form, JSON or multipart, so a number may be `42` or `"42"` and an object may be an object
 * or a JSON string. Every wrong value becomes a Telegram-style 400, never a crash.
 */
import { badRequest } from "./api-error.js";

/** A file part received in a multipart request. */
export interface UploadedFile {
  /** File name the client gave, if any. */
  readonly name: string | undefined;
  /** MIME type the client gave, if any. */
  readonly mimeType: string | undefined;
  /** The bytes received. */
  readonly bytes: Uint8Array;
}

/** A file argument: an upload, or a string that is a `file_id` or an HTTP URL. */
export type FileArgument = { kind: "upload"; file: UploadedFile } | { kind: "reference"; value: string };

/** Raw values as parsed from the request: JSON values, strings, or uploads. */
export type RawParams = Record<string, unknown>;

/** Typed, Telegram-faithful access to the parameters of one call. */
export class Params {
  constructor(private readonly raw: RawParams) {}

  /** True when the parameter was sent (and is not JSON `null`). */
  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  /** The raw value, for methods that inspect it themselves. */
  rawValue(name: string): unknown {
    return this.raw[name];
  }

  /** A string, or undefined when absent. Numbers and booleans are accepted as their text. */
  string(name: string): string | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    throw badRequest(`field "${name}" must be of type String`);
  }

  /** An integer, or undefined when absent. */
  int(name: string): number | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") return undefined;
    const parsed = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : Number.NaN;
    if (!Number.isSafeInteger(parsed)) throw badRequest(`field "${name}" must be of type Integer`);
    return parsed;
  }

  /** A float, or undefined when absent. */
  float(name: string): number | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") return undefined;
    const parsed = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : Number.NaN;
    if (!Number.isFinite(parsed)) throw badRequest(`field "${name}" must be of type Float`);
    return parsed;
  }

  /** A boolean (`true`/`false`, `1`/`0`), or undefined when absent. */
  bool(name: string): boolean | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value === "boolean") return value;
    if (value === "true" || value === "1" || value === 1) return true;
    if (value === "false" || value === "0" || value === 0) return false;
    throw badRequest(`field "${name}" must be of type Boolean`);
  }

  /**
   * A JSON object or array given as a value or as JSON text. `whatForError` names it in
   * Telegram's words, e.g. "reply keyboard markup" → `can't parse reply keyboard markup JSON object`.
   */
  json(name: string, whatForError = name): unknown {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value === "object" && !isUpload(value)) return value;
    if (typeof value === "string") {
      try {
        const parsed: unknown = JSON.parse(value);
        if (typeof parsed === "object" && parsed !== null) return parsed;
      } catch {
        // fall through to Telegram's error below
      }
    }
    throw badRequest(`can't parse ${whatForError} JSON object`);
  }

  /** A chat id: an integer, or a `@channelusername` string. Missing: `chat_id is empty`. */
  chatId(name = "chat_id"): number | string {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") throw badRequest(`${name} is empty`);
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    if (typeof value === "string") {
      const trimmed = value.trim();
      if (/^-?\d+$/.test(trimmed)) return Number(trimmed);
      if (trimmed.startsWith("@")) return trimmed;
    }
    throw badRequest("chat not found");
  }

  /**
   * A file argument: an uploaded part (directly or via `attach://name`), or a `file_id` /
   * URL string. Undefined when absent.
   */
  file(name: string): FileArgument | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null || value === "") return undefined;
    if (isUpload(value)) return { kind: "upload", file: value };
    if (typeof value === "string") return this.fileFromString(value);
    throw badRequest(`wrong file identifier/HTTP URL specified`);
  }

  /** Resolves a string that may be `attach://<part>` against the multipart parts. */
  fileFromString(value: string): FileArgument {
    if (value.startsWith("attach://")) {
      const part = this.raw[value.slice("attach://".length)];
      if (isUpload(part)) return { kind: "upload", file: part };
      throw badRequest(`wrong file identifier/HTTP URL specified`);
    }
    return { kind: "reference", value };
  }
}

/** True when `value` is an uploaded multipart file. */
export function isUpload(value: unknown): value is UploadedFile {
  return typeof value === "object" && value !== null && (value as { bytes?: unknown }).bytes instanceof Uint8Array;
}
