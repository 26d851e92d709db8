/**
 * The emulator as a `fetch` function, for tests without a socket: hand it to grammY as
 * `new Bot(token, { client: { apiRoot: "http://emulator", fetch } })`. Network faults
 * become the errors Node's fetch throws (`TypeError: fetch failed` with an `ECONNRESET` or
 * `ECONNREFUSED` cause); a hang lasts until the caller's signal aborts.
 */
import { entityTooLarge } from "../api-error.js";
import type { Emulator } from "../emulator.js";
import { isApiError, parseBody, parseQuery } from "./body.js";
import { handleControl } from "./control.js";
import { NOT_FOUND_BODY, route } from "./routes.js";

/** A function with the signature of the global `fetch`. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Creates a `fetch` that answers from the emulator without any network.
 *
 * @example
 * ```ts
 * const emulator = createEmulator();
 * const token = emulator.createBot().token;
 * const bot = new Bot(token, { client: { apiRoot: "http://emulator", fetch: createFetchHandler(emulator) } });
 * ```
 */
export function createFetchHandler(emulator: Emulator): FetchFunction {
  return async (input, init) => {
    const request = new Request(input, init?.body != null ? { ...init, duplex: "half" } as RequestInit : init);
    const url = new URL(request.url);
    const target = route(url.pathname);
    if (target.kind === "unknown") return json(404, NOT_FOUND_BODY);
    if (target.kind === "file") {
      const bytes = emulator.download(target.token, target.path);
      return bytes === undefined ? json(404, NOT_FOUND_BODY) : new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200 });
    }
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.byteLength > emulator.maxBodyBytes) return json(413, entityTooLarge().toEnvelope());
    if (target.kind === "control") {
      let parsed: unknown;
      try {
        parsed = body.byteLength === 0 ? undefined : JSON.parse(Buffer.from(body).toString("utf8"));
      } catch {
        return json(400, { ok: false, error: "the control API takes a JSON body" });
      }
      const answer = handleControl(emulator, request.method, target.path, url.searchParams, parsed);
      return json(answer.status, answer.body);
    }
    let params;
    try {
      params = { ...parseQuery(url.search.slice(1)), ...(await parseBody(request.headers.get("content-type") ?? undefined, body)) };
    } catch (error) {
      if (isApiError(error)) return json(error.errorCode, error.toEnvelope());
      throw error;
    }
    const signal = init?.signal ?? undefined;
    const outcome = await emulator.handle({ token: target.token, method: target.method, params, signal });
    switch (outcome.kind) {
      case "answer":
        return json(outcome.status, outcome.body);
      case "reset":
        throw networkError("ECONNRESET", "read ECONNRESET");
      case "refused":
        throw networkError("ECONNREFUSED", "connect ECONNREFUSED");
      case "hang":
        await hangUntil(signal);
        throw signal?.reason instanceof Error ? signal.reason : new DOMException("This operation was aborted", "AbortError");
    }
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** The error Node's fetch throws for a failed connection. */
function networkError(code: string, message: string): TypeError {
  const cause = Object.assign(new Error(message), { code });
  return new TypeError("fetch failed", { cause });
}

function hangUntil(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, 10 * 60_000);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
