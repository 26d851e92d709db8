/**
 * Deliveries from node:http's `IncomingMessage` (Node's own server, Express, Fastify's raw
 * request) and answers written to a `ServerResponse`-like object.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { SECRET_TOKEN_HEADER, type WebhookAnswer, type WebhookBody, type WebhookDelivery } from "../ingest.js";
import { declaredLength, decodeChunks } from "./fetch.js";

const SECRET_HEADER = SECRET_TOKEN_HEADER.toLowerCase();

/** A header's single value (a repeated one: its first). */
function single(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === "string" ? value : value?.[0];
}

/**
 * Reads a request's body up to `maxBytes`. Past the limit it stops keeping data and lets the
 * rest flow away (destroying the request would cut the socket before the 413 is written).
 */
export function readNodeBody(req: IncomingMessage, maxBytes: number): Promise<WebhookBody> {
  return new Promise<WebhookBody>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      size += bytes.byteLength;
      if (size > maxBytes) {
        cleanup();
        req.resume(); // discard the rest
        resolve({ kind: "too-large" });
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ kind: "text", text: decodeChunks(chunks, size) });
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("the request was closed before its body ended"));
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
}

/**
 * The body a framework's parser left on the request (`req.body` of express.json(),
 * express.text(), express.raw(); `request.body` of fastify).
 */
function parsedBody(body: unknown): WebhookBody {
  if (body === undefined || body === null) return { kind: "text", text: "" };
  if (typeof body === "string") return { kind: "text", text: body };
  if (body instanceof Uint8Array) return { kind: "text", text: decodeChunks([body], body.byteLength) };
  return { kind: "value", value: body };
}

/**
 * The size check of a body that was already read (the framework's own limit applied first): a
 * parsed value is measured as its JSON, which is what the inbox would store.
 */
function limited(body: WebhookBody, maxBytes: number): WebhookBody {
  if (body.kind === "too-large") return body;
  const text = body.kind === "text" ? body.text : (JSON.stringify(body.value) ?? "");
  return Buffer.byteLength(text, "utf8") > maxBytes ? { kind: "too-large" } : body;
}

/**
 * The delivery of a node:http request. When something upstream (a body parser) consumed its
 * stream, `parsed` gives what it left; otherwise the stream is read here, with the limit.
 */
export function nodeDelivery(req: IncomingMessage, parsed?: () => unknown, headers: IncomingHttpHeaders = req.headers): WebhookDelivery {
  return {
    method: req.method ?? "GET",
    secretToken: single(headers[SECRET_HEADER]),
    contentLength: declaredLength(single(headers["content-length"]), headers["transfer-encoding"] !== undefined),
    readBody(maxBytes) {
      // Not read by anyone yet: read it here, stopping at the limit.
      if (!req.readableEnded && !req.destroyed) return readNodeBody(req, maxBytes);
      return Promise.resolve(limited(parsedBody(parsed?.()), maxBytes));
    },
  };
}

/** What a node:http-style response must offer (Express's `res` is one). */
export type NodeResponseLike = Pick<ServerResponse, "writeHead" | "end" | "headersSent" | "writableEnded">;

/** Writes the answer, unless something else already answered. */
export function writeNodeAnswer(res: NodeResponseLike, answer: WebhookAnswer): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(answer.status, { ...answer.headers, "Content-Length": String(Buffer.byteLength(answer.text, "utf8")) });
  res.end(answer.text);
}
