/**
 * A running emulator for conformance tests, and a raw Bot API client that can speak every
 * encoding Telegram accepts (so the tests check the wire, not a client library).
 */
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorOptions, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";

/** How a call's parameters are sent. */
export type Encoding = "json" | "form" | "query" | "multipart";

/** A Bot API answer as received. */
export interface Answer<T = unknown> {
  status: number;
  body: { ok: boolean; result?: T; error_code?: number; description?: string; parameters?: { retry_after?: number; migrate_to_chat_id?: number } };
}

/** An emulator on a port with one bot, plus a raw client. */
export interface Harness {
  emulator: Emulator;
  server: EmulatorServer;
  bot: SimBot;
  /** Calls a method of `bot` (or of `token`). */
  call<T = unknown>(method: string, params?: Record<string, unknown>, options?: CallOptions): Promise<Answer<T>>;
  /** Calls and expects ok:true; returns the result. */
  ok<T = unknown>(method: string, params?: Record<string, unknown>, options?: CallOptions): Promise<T>;
  close(): Promise<void>;
}

/** Options of one raw call. */
export interface CallOptions {
  encoding?: Encoding;
  token?: string;
  signal?: AbortSignal;
  /** Extra multipart file parts: name → bytes. */
  files?: Record<string, { bytes: Uint8Array; filename?: string }>;
}

/** Starts an emulator server with one bot. */
export async function startHarness(options: EmulatorOptions = {}): Promise<Harness> {
  const emulator = createEmulator({ limits: false, ...options });
  const bot = emulator.createBot({ username: "conformance_bot" });
  const server = await startEmulatorServer(emulator);
  const call = async <T>(method: string, params: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<Answer<T>> => {
    const url = `${server.url}/bot${opts.token ?? bot.token}/${method}`;
    const encoding = opts.encoding ?? (opts.files ? "multipart" : "json");
    const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));
    let res: Response;
    if (encoding === "json") {
      res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params), signal: opts.signal ?? null });
    } else if (encoding === "form") {
      const body = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, asText(v)]));
      res = await fetch(url, { method: "POST", body, signal: opts.signal ?? null });
    } else if (encoding === "query") {
      const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, asText(v)]));
      res = await fetch(`${url}?${q}`, { signal: opts.signal ?? null });
    } else {
      const form = new FormData();
      for (const [k, v] of Object.entries(params)) form.append(k, asText(v));
      for (const [k, f] of Object.entries(opts.files ?? {})) form.append(k, new Blob([f.bytes as Uint8Array<ArrayBuffer>]), f.filename ?? "file.bin");
      res = await fetch(url, { method: "POST", body: form, signal: opts.signal ?? null });
    }
    return { status: res.status, body: (await res.json()) as Answer<T>["body"] };
  };
  return {
    emulator, server, bot, call,
    async ok<T>(method: string, params?: Record<string, unknown>, opts?: CallOptions): Promise<T> {
      const answer = await call<T>(method, params, opts);
      if (!answer.body.ok) throw new Error(`${method} failed: ${answer.status} ${answer.body.description ?? ""}`);
      return answer.body.result as T;
    },
    close: () => server.close(),
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
