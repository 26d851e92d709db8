/**
 * A lean getUpdates client for long polling: one keep-alive `node:http(s)` connection, the
 * answer read as text, parsed once, and its `result` text kept for the journal.
 *
 * Why not `bot.api.getUpdates`: grammY's client goes through node-fetch (Request/Response/
 * Headers objects, body streams, an abort controller and a timeout per call) and parses the
 * answer; the journal would then serialise the same updates again. For a stream of full
 * batches that is as much work per update as handling it. Side by side in `bench:inbound`,
 * this client made the durable bot ~1.3× faster than the same bot polling through grammY's
 * client; a worker thread for the HTTP work was tried as well and gained nothing here (the
 * hand-over costs what it saves).
 *
 * It is used only when getUpdates needs nothing else of grammY's client: the default `fetch`,
 * URL builder and fetch options, the production environment, and no API transformers on
 * `bot.api` besides unlost's own (a user's transformer expects to see getUpdates). Otherwise
 * the poller calls `bot.api.getUpdates`. Errors are grammY's: `GrammyError` for Telegram's
 * answers, `HttpError` for the network, so the poller treats both paths alike.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import { GrammyError, HttpError, type Bot, type Context } from "grammy";
import type { Update } from "grammy/types";
import { redactSecrets } from "../../errors/index.js";
import { isUnlostTransformer } from "../../outbound/transformer.js";

/** What getUpdates is asked (its JSON payload). */
export interface GetUpdatesPayload {
  readonly offset: number;
  readonly limit: number;
  readonly timeout: number;
  readonly allowed_updates?: readonly string[];
}

/** A getUpdates answer: the updates, and their JSON text as received when it could be cut out exactly. */
export interface FetchedUpdates {
  readonly updates: Update[];
  readonly json?: string;
}

/** Calls getUpdates; throws grammY's `GrammyError` / `HttpError` like `bot.api.getUpdates`. */
export type FetchUpdates = (payload: GetUpdatesPayload, signal: AbortSignal) => Promise<FetchedUpdates>;

/** grammY's client options as the Bot keeps them (not a public field: read defensively). */
interface ClientConfig {
  readonly apiRoot?: unknown;
  readonly environment?: unknown;
  readonly fetch?: unknown;
  readonly buildUrl?: unknown;
  readonly baseFetchConfig?: unknown;
}

/** The prefix of a successful answer whose `result` can be cut out of the text exactly. */
const OK_PREFIX = '{"ok":true,"result":';

/** The raw HTTP answer. */
interface Answer {
  readonly status: number;
  readonly statusText: string;
  readonly text: string;
}

/** getUpdates over one keep-alive connection; see the module comment. */
export class GetUpdatesClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private closed = false;

  private constructor(url: string, private readonly token: string) {
    this.url = new URL(url);
    const secure = this.url.protocol === "https:";
    // One poll at a time; a second socket only while an aborted one closes.
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 2 }) : new http.Agent({ keepAlive: true, maxSockets: 2 });
  }

  /** A client for `bot`, or undefined when its getUpdates needs grammY's client (see the module comment). */
  static forBot(bot: Bot<Context>): GetUpdatesClient | undefined {
    const config = ((bot as unknown as { clientConfig?: ClientConfig }).clientConfig ?? {}) as ClientConfig;
    if (config.fetch !== undefined || config.buildUrl !== undefined || config.baseFetchConfig !== undefined) return undefined;
    if (config.environment !== undefined && config.environment !== "prod") return undefined;
    if (config.apiRoot !== undefined && typeof config.apiRoot !== "string") return undefined;
    if (!bot.api.config.installedTransformers().every(isUnlostTransformer)) return undefined;
    const root = (config.apiRoot as string | undefined) ?? "https://api.telegram.org";
    return new GetUpdatesClient(`${root}/bot${bot.token}/getUpdates`, bot.token);
  }

  /** Calls getUpdates; see {@link FetchUpdates}. */
  readonly fetch: FetchUpdates = async (payload, signal) => {
    let answer: Answer;
    try {
      // A long poll answers within its timeout; a connection silent well past it is dead.
      answer = await this.post(JSON.stringify(payload), signal, (payload.timeout + 30) * 1000);
    } catch (error) {
      // The request URL holds the token: never let it into a message.
      const message = redactSecrets(error instanceof Error ? error.message : String(error), [this.token]);
      throw new HttpError(`Network request for 'getUpdates' failed! ${message}`, error);
    }
    let data: { ok?: unknown; result?: unknown; error_code?: unknown; description?: unknown; parameters?: unknown };
    try {
      data = JSON.parse(answer.text) as typeof data;
    } catch (error) {
      throw new HttpError(`Network request for 'getUpdates' failed! (${answer.status}: ${answer.statusText})`, error);
    }
    if (data.ok !== true) {
      const err = {
        ok: false as const,
        error_code: Number(data.error_code ?? answer.status),
        description: String(data.description ?? answer.statusText),
        ...(typeof data.parameters === "object" && data.parameters !== null ? { parameters: data.parameters } : {}),
      };
      throw new GrammyError("Call to 'getUpdates' failed!", err, "getUpdates", { ...payload });
    }
    if (!Array.isArray(data.result)) throw new HttpError("Network request for 'getUpdates' failed! (the answer has no list of updates)", data);
    const updates = data.result as Update[];
    const text = answer.text;
    // `{"ok":true,"result":[...]}` and nothing else: the array's text is exactly `result`.
    const exact = text.startsWith(OK_PREFIX) && text.endsWith("]}") && Object.keys(data).length === 2;
    return exact ? { updates, json: text.slice(OK_PREFIX.length, -1) } : { updates };
  };

  /** Closes the idle connection. */
  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  private post(body: string, signal: AbortSignal, timeoutMs: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (this.closed) return reject(new Error("the poller is stopped"));
      if (signal.aborted) return reject(new Error("aborted"));
      const client = this.url.protocol === "https:" ? https : http;
      const req = client.request(
        this.url,
        { method: "POST", agent: this.agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (error) => {
            settle();
            reject(error);
          });
          res.on("end", () => {
            settle();
            resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", text: Buffer.concat(chunks).toString("utf8") });
          });
        },
      );
      const onAbort = (): void => {
        req.destroy(new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      req.on("error", (error) => {
        settle();
        reject(error);
      });
      // A string body goes out with the headers in one write (a Buffer would take a writev of two).
      req.end(body);
    });
  }
}
