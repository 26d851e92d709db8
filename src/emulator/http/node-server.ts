/**
 * The emulator on a real port, over node:http. Hono or Fastify would hide the socket, and the
 * faults need it: a reset is a TCP RST, a hang keeps the socket open without answering, an
 * outage stops listening so that connections are refused. The routing is three prefixes,
 * so a framework would add overhead (the emulator must never be a benchmark's bottleneck)
 * and no value here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { entityTooLarge } from "../api-error.js";
import type { ApiOutcome, Emulator } from "../emulator.js";
import type { RawParams } from "../params.js";
import { isApiError, parseBody, parseQuery } from "./body.js";
import { handleControl } from "./control.js";
import { NOT_FOUND_BODY, route } from "./routes.js";

/** Options of {@link startEmulatorServer}. */
export interface EmulatorServerOptions {
  /** Port; default 0 (a free one). */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
}

/** A running emulator server. */
export interface EmulatorServer {
  /** Base URL, e.g. `http://127.0.0.1:8081`: grammY's `apiRoot`. */
  readonly url: string;
  /** The port it listens on (kept across outages). */
  readonly port: number;
  /** Stops listening, ends open connections and the emulator's timers. */
  close(): Promise<void>;
}

/** A hanging request is dropped after this long even if the client never gives up. */
const HANG_LIMIT_MS = 10 * 60_000;

/**
 * Serves an emulator over HTTP on a real port.
 *
 * @example
 * ```ts
 * const emulator = createEmulator();
 * const bot = emulator.createBot();
 * const server = await startEmulatorServer(emulator);
 * const grammy = new Bot(bot.token, { client: { apiRoot: server.url } });
 * ```
 */
export async function startEmulatorServer(emulator: Emulator, options: EmulatorServerOptions = {}): Promise<EmulatorServer> {
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  /** Requests in progress per socket, so an outage drops idle connections at once and busy ones after their answer. */
  const busy = new Map<Socket, number>();
  let listening = true;
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (busy.get(socket) ?? 1) - 1;
      busy.set(socket, left);
      if (left === 0 && !listening) socket.destroy();
    });
    void serve(emulator, req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      busy.delete(socket);
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  await listen(server, options.port ?? 0, host);
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  // Outages: stop listening (connections are refused) and drop open connections; come back
  // on the same port when the outage ends.
  let closed = false;
  let outageTimer: NodeJS.Timeout | undefined;
  const syncOutage = (): void => {
    if (closed) return;
    clearTimeout(outageTimer);
    const end = emulator.faults.outageEndsAt();
    if (end !== undefined && listening) {
      listening = false;
      server.close();
      for (const s of sockets) if ((busy.get(s) ?? 0) === 0) s.destroy();
    } else if (end === undefined && !listening) {
      listening = true;
      server.listen(port, host);
    }
    if (end !== undefined && Number.isFinite(end)) outageTimer = setTimeout(syncOutage, Math.max(0, end - Date.now()) + 1);
  };
  emulator.faults.onChange = syncOutage;
  syncOutage();

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      closed = true;
      clearTimeout(outageTimer);
      emulator.faults.onChange = undefined;
      emulator.shutdown();
      for (const s of sockets) s.destroy();
      if (listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function serve(emulator: Emulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? "" : url.slice(q + 1);
  const target = route(path);
  try {
    if (target.kind === "unknown") return sendJson(res, 404, NOT_FOUND_BODY);
    if (target.kind === "file") {
      const bytes = emulator.download(target.token, target.path);
      if (bytes === undefined) return sendJson(res, 404, NOT_FOUND_BODY);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.byteLength });
      res.end(bytes);
      return;
    }
    const body = await readBody(req, emulator.maxBodyBytes);
    if (body === "too-large") {
      res.setHeader("connection", "close");
      return sendJson(res, 413, entityTooLarge().toEnvelope());
    }
    if (target.kind === "control") {
      let input: unknown = undefined;
      if (body.byteLength > 0) {
        try {
          input = JSON.parse(body.toString("utf8"));
        } catch {
          return sendJson(res, 400, { ok: false, error: "the control API takes a JSON body" });
        }
      }
      const answer = handleControl(emulator, req.method ?? "GET", target.path, new URLSearchParams(query), input);
      return sendJson(res, answer.status, answer.body);
    }
    let params: RawParams;
    try {
      params = { ...parseQuery(query), ...(await parseBody(req.headers["content-type"], body)) };
    } catch (error) {
      if (isApiError(error)) return sendJson(res, error.errorCode, error.toEnvelope());
      throw error;
    }
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    const outcome = await emulator.handle({ token: target.token, method: target.method, params, signal: controller.signal });
    apply(outcome, req, res);
  } catch (error) {
    emulator.internalErrors.push(error instanceof Error ? error : new Error(String(error)));
    if (!res.headersSent) sendJson(res, 500, { ok: false, error_code: 500, description: "Internal Server Error" });
  }
}

function apply(outcome: ApiOutcome, req: IncomingMessage, res: ServerResponse): void {
  switch (outcome.kind) {
    case "answer":
      return sendJson(res, outcome.status, outcome.body);
    case "reset":
    case "refused":
      req.socket.resetAndDestroy();
      return;
    case "hang": {
      const timer = setTimeout(() => req.socket.destroy(), HANG_LIMIT_MS);
      req.socket.once("close", () => clearTimeout(timer));
      return;
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Reads the whole body, or reports that it is over `limit` (without buffering the excess). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large"> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    return Promise.resolve("too-large");
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? "too-large" : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
