/**
 * Deliveries from the Fetch API's `Request` (std/http style servers, Hono, the built-in
 * receiver) and answers as a `Response`.
 *
 * @module
 */
import { SECRET_TOKEN_HEADER, type WebhookAnswer, type WebhookBody, type WebhookDelivery } from "../ingest.js";

/** The declared body length, unless absent, malformed, or overridden by `Transfer-Encoding`. */
export function declaredLength(contentLength: string | null | undefined, hasTransferEncoding: boolean): number | undefined {
  if (hasTransferEncoding || contentLength === undefined || contentLength === null || !/^\s*\d+\s*$/.test(contentLength)) return undefined;
  return Number.parseInt(contentLength, 10);
}

/** Joins chunks and decodes them as UTF-8 (invalid sequences become U+FFFD, as `Request.text()` does). */
export function decodeChunks(chunks: readonly Uint8Array[], size: number): string {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Reads a web stream up to `maxBytes`. Past the limit it stops reading (it does not cancel:
 * the server decides what to do with the rest, as Hono's `bodyLimit` leaves it).
 */
export async function readWebStream(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<WebhookBody> {
  if (stream === null) return { kind: "text", text: "" };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) return { kind: "too-large" };
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return { kind: "text", text: decodeChunks(chunks, size) };
}

/**
 * The delivery of a Fetch API request. `bodyAlreadyRead` gives the body when something
 * upstream consumed the request's stream (Hono caches what its middleware parsed).
 */
export function fetchDelivery(request: Request, bodyAlreadyRead?: () => Promise<string>): WebhookDelivery {
  const headers = request.headers;
  return {
    method: request.method,
    secretToken: headers.get(SECRET_TOKEN_HEADER) ?? undefined,
    contentLength: declaredLength(headers.get("content-length"), headers.has("transfer-encoding")),
    async readBody(maxBytes) {
      if (!request.bodyUsed || bodyAlreadyRead === undefined) return readWebStream(request.body, maxBytes);
      const text = await bodyAlreadyRead();
      return Buffer.byteLength(text, "utf8") > maxBytes ? { kind: "too-large" } : { kind: "text", text };
    },
  };
}

/** The answer as a `Response`. */
export function toResponse(answer: WebhookAnswer): Response {
  return new Response(answer.text, { status: answer.status, headers: answer.headers });
}
