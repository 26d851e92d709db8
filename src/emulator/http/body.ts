/**
 * Request parameters from every encoding Telegram accepts: the query string, JSON,
 * x-www-form-urlencoded and multipart/form-data (with file parts). Malformed input becomes a
 * Telegram-style 400, never an exception that escapes.
 */
import { TelegramApiError, badRequest } from "../api-error.js";
import type { RawParams } from "../params.js";
import { parseMultipart } from "./multipart.js";

/** Parameters from a URL query string (`?chat_id=1&text=hi`). */
export function parseQuery(query: string): RawParams {
  const params: RawParams = {};
  if (query === "") return params;
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;
  return params;
}

/** Parameters from a request body of the given content type. */
export async function parseBody(contentType: string | undefined, body: Uint8Array): Promise<RawParams> {
  if (body.byteLength === 0) return {};
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || type === "") {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
    } catch {
      throw badRequest("can't parse JSON object");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest("JSON object expected");
    return value as RawParams;
  }
  if (type === "application/x-www-form-urlencoded") {
    return parseQuery(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  }
  if (type === "multipart/form-data") return parseMultipart(contentType ?? "", Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  throw badRequest(`unsupported Content-Type "${type}"; use application/json, x-www-form-urlencoded or multipart/form-data`);
}

/** True when `error` is a Telegram answer rather than a bug. */
export function isApiError(error: unknown): error is TelegramApiError {
  return error instanceof TelegramApiError;
}
