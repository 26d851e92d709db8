/**
 * Sends made through an `Api` that someone else built from the bot's token and client options
 * go through the outbox too.
 *
 * @grammyjs/conversations builds `new Api(ctx.api.token, ctx.api.options)` for every step of a
 * conversation, and other plugins clone the client the same way (or `new Api(bot.token,
 * bot.api.options)`). Such an `Api` has none of `ctx.api`'s transformers, so unlost's outbox
 * transformer never sees its calls: without this module its sends went straight to Telegram,
 * not paced, not durable, not deduplicated (a 429 failed the update, its re-run replayed the
 * conversation from the start and repeated every reply).
 *
 * What such a clone does inherit are the client options, and grammY's `ApiClient` takes its
 * hooks from them, `fetch` among them. So unlost gives `bot.api` and each update's `ctx.api`
 * an `options` object whose `fetch` is unlost's: the clone serialises a call into an HTTP
 * request as usual, and this `fetch` reads it back into (method, payload) — JSON, or grammY's
 * multipart format with the files (see `request-body.ts`) — and
 *
 * - routes a send of this bot's token through the outbox on the same path as the transformer
 *   (`sendThroughOutbox`): with the update's scope for an `Api` built from `ctx.api.options`,
 *   so a conversation's sends and `ctx.reply` share one sequence of keys, and a re-run of the
 *   update gets its delivered sends back instead of sending them again; durable without a key
 *   for one built from `bot.api.options`;
 * - answers the clone with Telegram's JSON (`{ ok: true, result }`, or `{ ok: false,
 *   error_code, description, parameters }`), so grammY raises its usual `GrammyError`; a
 *   failure without an answer (the runtime stopped, the store failed) rejects the `fetch`,
 *   which grammY turns into its `HttpError` (conversations expects one for network failures);
 * - passes every other call (getMe, getFile, answerCallbackQuery, chat actions, calls for
 *   another token) to Telegram through a client grammY builds from the bot's original options,
 *   so a `fetch`, `baseFetchConfig`, `apiRoot`, `buildUrl` or `environment` of the user's keeps
 *   working for them.
 *
 * Only the `options` property is replaced: the clients grammY already built for `bot.api` and
 * `ctx.api` keep the original options. The delivery loop sends through `bot.api`'s own client
 * (marked direct), so it never comes back here and cannot loop into the outbox.
 *
 * Why a `fetch` and not something else: options are all a clone shares with its origin (no
 * transformer, no prototype), and `fetch` is the one option that sees each call. A per-update
 * scope needs no AsyncLocalStorage (which costs promise hooks process-wide on Node 20): each
 * update's `ctx.api` carries its own options object, bound to that update's scope.
 *
 * Limits: an `Api` built without the bot's options (`new Api(bot.token)`) shares nothing and
 * cannot be intercepted: its sends go straight to Telegram. One built from `bot.api.options`
 * inside a handler cannot know the update: durable but without a key (a re-run sends again),
 * as `bot.api` itself; build it from `ctx.api.options` instead. An `Api` cloned before
 * `createRuntime`, or from the options object given to `new Bot`, has the options of before
 * (unlost replaces `bot.api.options`, it does not change that object). The account unlost adds to `UnlostGrammyError`
 * (`err.unlost`) does not cross the HTTP boundary: a clone gets grammY's plain `GrammyError`.
 * A file sent through a clone is held in memory while it is read back (at most
 * {@link MAX_REQUEST_BYTES}; more is refused with Telegram's 413).
 *
 * @module
 */
import { Api, GrammyError, type ApiCallFn, type ApiClientOptions } from "grammy";
import { isUnlostError, UnlostError } from "../errors/index.js";
import { outboxHandles, outboxHandlesMethod } from "./outbox.js";
import { decodeRequest, type MAX_REQUEST_BYTES } from "./request-body.js";
import { keyOf, sendThroughOutbox, type OutboxSource } from "./transformer.js";
import type { UpdateScope } from "./update-scope.js";

type Fetch = NonNullable<ApiClientOptions["fetch"]>;
type BuildUrl = NonNullable<ApiClientOptions["buildUrl"]>;
type FetchInit = NonNullable<Parameters<Fetch>[1]>;
type FetchResult = Awaited<ReturnType<Fetch>>;

/** What a Bot API request answers: Telegram's JSON. */
type TelegramJson = { ok: true; result: unknown } | { ok: false; error_code: number; description: string; parameters?: unknown };

/** grammY's URL of a call, marked with the call it is for by {@link ApiCloneRouter}'s `buildUrl`. */
class CallUrl extends URL {
  /** A private field: not among the object's enumerable fields (the URL holds the token anyway, as grammY's does). */
  readonly #token: string;
  readonly method: string;

  constructor(url: string, token: string, method: string) {
    super(url);
    this.#token = token;
    this.method = method;
  }

  get token(): string {
    return this.#token;
  }
}

/** The longest timeout grammY can set: its timer takes milliseconds, at most 2³¹ − 1 (~24.8 days). */
const LONGEST_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** grammY's own URL builder (used when the bot's options have none). */
const defaultBuildUrl: BuildUrl = (root, token, method, env) => `${root}/bot${token}/${env === "test" ? "test/" : ""}${method}`;

/** The token and method of a request URL, from the mark or, failing that, the URL's path. */
function callOf(url: unknown): { token: string; method: string } | undefined {
  if (url instanceof CallUrl) return { token: url.token, method: url.method };
  const match = /\/bot([^/]+)\/(?:test\/)?([A-Za-z]+)\/?(?:[?#]|$)/.exec(String(url));
  return match === null ? undefined : { token: match[1] as string, method: match[2] as string };
}

/** A `Response` with Telegram's JSON, as the Bot API answers (HTTP status = `error_code`). */
function answer(json: TelegramJson): FetchResult {
  const status = json.ok ? 200 : json.error_code >= 200 && json.error_code <= 599 ? json.error_code : 500;
  return new Response(JSON.stringify(json), { status, headers: { "content-type": "application/json" } }) as unknown as FetchResult;
}

/**
 * The bot's client options with unlost's `buildUrl`, `fetch` and timeout (see
 * `ApiCloneRouter.optionsFor`). A class, not an object literal: one is made per update, and V8
 * may allocate a literal's objects straight in the old generation (see inbound/update-api.ts).
 */
class CloneOptions implements ApiClientOptions {
  buildUrl: BuildUrl;
  fetch: Fetch;
  timeoutSeconds: number;

  constructor(base: ApiClientOptions | undefined, buildUrl: BuildUrl, fetch: Fetch) {
    if (base !== undefined) Object.assign(this, base);
    this.buildUrl = buildUrl;
    this.fetch = fetch;
    this.timeoutSeconds = LONGEST_TIMEOUT_SECONDS;
  }
}

/**
 * Gives `Api`s built from a bot's client options the outbox (see the module comment). One per
 * runtime; {@link install} on `bot.api` and on each update's `ctx.api`.
 */
export class ApiCloneRouter {
  readonly #token: string;
  readonly #base: ApiClientOptions | undefined;
  /** Marks each URL with its call; the real URL stays what the bot's options build. */
  readonly #buildUrl: BuildUrl;
  /** The raw call of a client built from the original options (see `#rawCall`). */
  #ownRaw: Promise<ApiCallFn> | undefined;

  /**
   * @param token the bot's token: sends for another token are passed through, never queued
   * @param base the bot's client options as grammY got them (`bot.api.options`)
   */
  constructor(token: string, base: ApiClientOptions | undefined) {
    this.#token = token;
    this.#base = base;
    const build = base?.buildUrl ?? defaultBuildUrl;
    this.#buildUrl = (root, t, method, env) => {
      const url = build(root, t, method, env);
      try {
        return new CallUrl(String(url), t, method);
      } catch {
        // Not an absolute URL (a custom builder's): the fetch reads the call from the path.
        return url;
      }
    };
  }

  /**
   * Client options like the bot's, whose `fetch` routes the sends of any `Api` built from them
   * through the outbox: with `scope`'s keys, or durable without a key when there is no scope.
   */
  optionsFor(source: OutboxSource, scope?: UpdateScope): ApiClientOptions {
    const fetch = ((url: unknown, init?: FetchInit) => this.#fetch(url, init, source, scope)) as unknown as Fetch;
    // A send waits for its delivery, as `ctx.reply` does under unlost (the outbox retries and
    // paces it; `inbox.handlerTimeoutMs` bounds the handler): grammY's timeout, which would
    // race it, is set as long as a timer can be. The calls passed through to Telegram keep the
    // bot's timeout (their client is built from the bot's own options).
    return new CloneOptions(this.#base, this.#buildUrl, fetch);
  }

  /**
   * Sets `api.options` (what a plugin clones) to {@link optionsFor}. `api`'s own client keeps
   * the options it was built with.
   */
  install(api: Api, source: OutboxSource, scope?: UpdateScope): void {
    (api as { options?: ApiClientOptions }).options = this.optionsFor(source, scope);
  }

  async #fetch(url: unknown, init: FetchInit | undefined, source: OutboxSource, scope: UpdateScope | undefined): Promise<FetchResult> {
    const call = callOf(url);
    if (call === undefined) {
      throw new UnlostError("INVALID_ARGUMENT", "unlost's fetch (in the bot's client options) was given a request that is not a Bot API call; an Api built with another buildUrl needs its own fetch");
    }
    const own = call.token === this.#token;
    // A send's position is taken now, in the order the calls were made (grammY's client calls
    // `fetch` synchronously), not in the order their bodies are read: a re-run making the same
    // calls at once gets the same keys. A call of a send method the outbox turns out not to
    // take (no chat_id) uses up its position, the same on every run.
    const key = own && scope !== undefined && outboxHandlesMethod(call.method) ? keyOf(scope, call.method) : undefined;
    // grammY's signal: its timeout, the caller's signal, or a failure reading a file.
    const signal = (init?.signal ?? undefined) as AbortSignal | undefined;
    let payload: Record<string, unknown>;
    try {
      payload = await decodeRequest(init ?? {});
    } catch (error) {
      if (isUnlostError(error, "INVALID_ARGUMENT") && error.details["tooLarge"] === true) {
        return answer({ ok: false, error_code: 413, description: "Request Entity Too Large" });
      }
      throw error;
    }
    // Reading a file failed and grammY aborted the request: what was read is not the call.
    if (signal?.aborted === true) throw new UnlostError("STOPPED", `the ${call.method} request was aborted before it was sent`);
    if (own && outboxHandles(call.method, payload)) {
      try {
        return answer(await sendThroughOutbox(source, key, call.method, payload, signal));
      } catch (error) {
        if (!(error instanceof GrammyError)) throw error;
        const json: TelegramJson = { ok: false, error_code: error.error_code, description: error.description };
        return answer(error.parameters === undefined ? json : { ...json, parameters: error.parameters });
      }
    }
    const raw = await this.#rawCall(call.token);
    return answer((await raw(call.method as never, payload as never, signal as never)) as TelegramJson);
  }

  /**
   * The raw call function of a grammY client built from the original options: it makes the
   * HTTP request as grammY always does and resolves with Telegram's JSON (throwing `HttpError`
   * only for network failures). grammY hands it to a transformer as `prev`; one installed for
   * that and called once, without a request, gets it.
   */
  #rawCall(token: string): Promise<ApiCallFn> {
    if (token === this.#token) return (this.#ownRaw ??= rawCallOf(token, this.#base));
    // Another bot's token (rare): its own client, not kept.
    return rawCallOf(token, this.#base);
  }
}

/** See `ApiCloneRouter#rawCall`. */
async function rawCallOf(token: string, options: ApiClientOptions | undefined): Promise<ApiCallFn> {
  const api = new Api(token, options);
  let raw: ApiCallFn | undefined;
  api.config.use((prev) => {
    raw = prev;
    return Promise.resolve({ ok: true, result: true } as never);
  });
  await api.getMe();
  if (raw === undefined) throw new UnlostError("INVALID_ARGUMENT", "grammY did not pass its call function to a transformer; use a grammY 1.x release unlost supports");
  return raw;
}
