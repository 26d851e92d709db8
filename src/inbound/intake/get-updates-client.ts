/**
 * A lean getUpdates client for long polling: one keep-alive HTTP/1.1 connection (see
 * `http1-connection.ts`), the answer read as text, parsed once, and its `result` text kept
 * for the journal.
 *
 * Why not `bot.api.getUpdates`: grammY's client goes through node-fetch (Request/Response/
 * Headers objects, body streams, an abort controller and a timeout per call) and parses the
 * answer; the journal would then serialise the same updates again. For a stream of full
 * batches that is as much work per update as handling it. Side by side in `bench:inbound`,
 * this client made the durable bot ~1.3× faster than the same bot polling through grammY's
 * client. A worker thread for the HTTP work and the journal's commits was tried as well and
 * lost (0.56–0.60× the runner against 0.69× on one thread at the time): on two cores shared
 * with the emulator, the hand-over and a third busy thread cost more than they saved.
 *
 * It is used only when getUpdates needs nothing else of grammY's client: the default `fetch`,
 * URL builder and fetch options, the production environment, and no API transformers on
 * `bot.api` besides unlost's own (a user's transformer expects to see getUpdates). Otherwise
 * the poller calls `bot.api.getUpdates`. Errors are grammY's: `GrammyError` for Telegram's
 * answers, `HttpError` for the network, so the poller treats both paths alike.
 *
 * @module
 */
import { GrammyError, HttpError, type Bot, type Context } from "grammy";
import type { Update } from "grammy/types";
import { redactSecrets, UnlostError } from "../../errors/index.js";
import { isUnlostTransformer } from "../../outbound/transformer.js";
import { Http1Connection, type Http1Answer } from "./http1-connection.js";

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

/** getUpdates over one keep-alive connection; see the module comment. */
export class GetUpdatesClient {
  private readonly url: URL;
  private readonly path: string;
  private readonly connection: Http1Connection;

  private constructor(url: string, private readonly token: string) {
    this.url = new URL(url);
    this.path = `${this.url.pathname}${this.url.search}`;
    this.connection = new Http1Connection(this.url);
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
    let answer: Http1Answer;
    try {
      // A long poll answers within its timeout; a connection silent well past it is dead.
      answer = await this.connection.post(this.path, JSON.stringify(payload), signal, (payload.timeout + 30) * 1000);
    } catch (error) {
      // The request URL holds the token: never let it into a message.
      const message = redactSecrets(error instanceof Error ? error.message : String(error), [this.token]);
      throw new HttpError(`Network request for 'getUpdates' failed! ${message}`, error);
    }
    let data: { ok?: unknown; result?: unknown; error_code?: unknown; description?: unknown; parameters?: unknown };
    try {
      data = JSON.parse(answer.text) as typeof data;
    } catch (error) {
      // A 2xx that is not JSON is a broken answer (a proxy, a local Bot API server, a cut
      // body), not a network hiccup; an error page of a proxy (502 HTML) is the latter.
      if (answer.status >= 200 && answer.status < 300) {
        throw new UnlostError("BAD_ANSWER", `getUpdates answered ${answer.status} with a body that is not JSON (${answer.text.length} characters); nothing was stored and the offset stays.`, { cause: error });
      }
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
    if (!Array.isArray(data.result)) throw new UnlostError("BAD_ANSWER", "getUpdates answered ok without a list of updates (result is not an array); nothing was stored and the offset stays.");
    const updates = data.result as Update[];
    const text = answer.text;
    // `{"ok":true,"result":[...]}` and nothing else: the array's text is exactly `result`.
    const exact = text.startsWith(OK_PREFIX) && text.endsWith("]}") && Object.keys(data).length === 2;
    return exact ? { updates, json: text.slice(OK_PREFIX.length, -1) } : { updates };
  };

  /** Closes the connection. */
  close(): void {
    this.connection.close();
  }
}
