/**
 * Each update's `ctx.api`, made by unlost instead of by grammY's `bot.handleUpdate`.
 *
 * Why: grammY's `Api` constructor allocates its `config` as an object literal. V8 tracks object
 * literals by allocation site and, once most objects of a site outlive a scavenge while the
 * young generation is at its largest, allocates that site's objects straight in the old
 * generation for the rest of the process ("pretenuring"). Under unlost a context lives until
 * its sends are delivered, with up to `inbox.concurrency` runs in flight, so that site is
 * pretenured within the first seconds of a backlog (measured in bench:echo: 99 % of the
 * `ctx.api.config` objects were old at birth). A dead old object keeps everything it points to
 * alive until the next full GC, so each update's client, transformers, scope, context and
 * update were promoted with it: the old generation grew ~4.5 KB per reply against ~1.8 KB under
 * grammY's `bot.start()`, and V8 sized the heap from that growth (issue 9, peak memory).
 *
 * What stays grammY's: each `ctx.api` is an instance of grammY's `Api` class (all its methods,
 * `instanceof Api`), and its calls go through grammY's own client code (argument binding, HTTP,
 * timeouts, `GrammyError`): through one private `Api` built from the bot's token and client
 * options, exactly as grammY builds each update's. What unlost does itself is the small part
 * that is per update: the list of transformers installed on `ctx.api` and their composition,
 * in class instances, which V8 does not pretenure. `bot.api`'s transformers are copied onto
 * each `ctx.api`, as grammY does (their composition is shared while that list is unchanged).
 *
 * Calls reach a context's transformers by a hand-over: the context's `raw` method names the
 * update's transformer chain, then calls the private `Api`; grammY calls its transformer (the
 * only one installed there) synchronously, before its first `await`, and that transformer
 * takes the chain and runs it over grammY's client call.
 *
 * @module
 */
import { Api, type ApiClientOptions, type RawApi, type Transformer } from "grammy";
import { UnlostError } from "../errors/index.js";

/** grammY's transformer call, loosely typed: the payloads and results pass through untouched. */
type CallFn = (method: string, payload: unknown, signal: unknown) => Promise<unknown>;
/** grammY's `Transformer`, with the same loose types. */
type LooseTransformer = (prev: CallFn, method: string, payload: unknown, signal: unknown) => Promise<unknown>;
/** A bound method of grammY's raw API. */
type RawMethod = (...args: unknown[]) => Promise<unknown>;

/** What `config.use` returns (grammY's `TransformableApi`). */
interface TransformableApi {
  readonly raw: RawApi;
  readonly installedTransformers: Transformer[];
  use(...transformers: Transformer[]): TransformableApi;
}

/** grammY's composition of a transformer over the call it wraps (`concatTransformer`). */
function wrap(prev: CallFn, transformer: LooseTransformer): CallFn {
  return (method, payload, signal) => transformer(prev, method, payload, signal);
}

/** The answer to the call that takes grammY's client call (see {@link UpdateApis}). */
const TAKEN = Promise.resolve({ ok: true, result: true });

/**
 * Makes the `ctx.api` of each update of one bot (see the module comment). One per bot.
 */
export class UpdateApis {
  readonly #token: string;
  readonly #options: ApiClientOptions | undefined;
  readonly #botApi: Api;
  /** The private `Api`'s raw methods: grammY's argument binding, client and error conversion. */
  readonly #raw: Record<string | symbol, unknown>;
  /** The chain the next call through {@link #raw} runs (handed over synchronously). */
  #next: UpdateCalls | undefined;
  /** grammY's client call: the HTTP request, resolving with Telegram's JSON. */
  readonly #clientCall: CallFn;
  /** `bot.api`'s transformers when {@link #botCall} was composed. */
  #botTransformers: readonly Transformer[] = [];
  /** `bot.api`'s transformers composed over grammY's client call. */
  #botCall: CallFn;

  /**
   * @param token the bot's token
   * @param options the client options grammY builds each update's client from (the bot's
   *   `client` option)
   * @param botApi `bot.api`, whose transformers each `ctx.api` gets, as under grammY
   * @throws UnlostError `INVALID_ARGUMENT` when grammY does not call its transformers as unlost
   *   relies on (a grammY version unlost does not know)
   */
  constructor(token: string, options: ApiClientOptions | undefined, botApi: Api) {
    this.#token = token;
    this.#options = options;
    this.#botApi = botApi;
    const api = new Api(token, options);
    let clientCall: CallFn | undefined;
    const handOver: LooseTransformer = (prev, method, payload, signal) => {
      const calls = this.#next;
      this.#next = undefined;
      if (calls !== undefined) return calls.call(method, payload, signal);
      // The first call, below: it only takes grammY's client call (no request is made).
      clientCall = prev;
      return TAKEN;
    };
    api.config.use(handOver as unknown as Transformer);
    void api.raw.getMe();
    if (clientCall === undefined) {
      throw new UnlostError("INVALID_ARGUMENT", "grammY did not call its transformer synchronously, which unlost relies on to build each update's ctx.api; use a grammY 1.x release unlost supports");
    }
    this.#raw = api.raw as unknown as Record<string | symbol, unknown>;
    this.#botCall = clientCall;
    this.#clientCall = clientCall;
  }

  /** A new `ctx.api` for one update, with `bot.api`'s transformers installed. */
  create(): Api {
    const calls = new UpdateCalls(this.#botChain(), this.#botTransformers);
    return new UpdateApi(this.#token, this.#options, new Proxy(new RawTarget(this, calls), RAW_HANDLER) as unknown as RawApi, calls);
  }

  /** `bot.api`'s transformers composed over the client call, recomposed when they changed. */
  #botChain(): CallFn {
    const now = this.#botApi.config.installedTransformers();
    const before = this.#botTransformers;
    if (now.length === before.length && now.every((t, i) => t === before[i])) return this.#botCall;
    let call = this.#clientCall;
    for (const t of now) call = wrap(call, t as unknown as LooseTransformer);
    this.#botTransformers = now;
    this.#botCall = call;
    return call;
  }

  /** The raw method `name` of a context whose chain is `calls` (see the module comment). */
  method(name: string | symbol, calls: UpdateCalls): unknown {
    const bound = this.#raw[name];
    // grammY's raw API answers `toJSON` with a string, and every other name with a function.
    if (typeof bound !== "function") return bound;
    return (...args: unknown[]): Promise<unknown> => {
      this.#next = calls;
      try {
        return (bound as RawMethod)(...args);
      } finally {
        this.#next = undefined;
      }
    };
  }
}

/** One update's transformers: what grammY's per-update client holds. */
class UpdateCalls {
  /** The update's own transformers composed over `bot.api`'s. */
  call: CallFn;
  /** Installed on this `ctx.api` (not `bot.api`'s), in order; none until the first `use`. */
  #own: Transformer[] | undefined;

  constructor(botCall: CallFn, readonly botTransformers: readonly Transformer[]) {
    this.call = botCall;
  }

  use(transformers: readonly Transformer[]): void {
    let call = this.call;
    for (const t of transformers) call = wrap(call, t as unknown as LooseTransformer);
    this.call = call;
    // No array literal (see the module comment): a copy, or a longer copy.
    this.#own = this.#own === undefined ? transformers.slice() : this.#own.concat(transformers);
  }

  /** All installed transformers, `bot.api`'s first, as grammY lists them. */
  installed(): Transformer[] {
    return this.#own === undefined ? this.botTransformers.slice() : [...this.botTransformers, ...this.#own];
  }
}

/** The target of a context's `raw` proxy. */
class RawTarget {
  readonly #apis: UpdateApis;
  readonly #calls: UpdateCalls;

  constructor(apis: UpdateApis, calls: UpdateCalls) {
    this.#apis = apis;
    this.#calls = calls;
  }

  static method(target: RawTarget, name: string | symbol): unknown {
    return target.#apis.method(name, target.#calls);
  }
}

/** The traps of every context's `raw` proxy: grammY's (read-only, no own keys). */
const RAW_HANDLER: ProxyHandler<RawTarget> = {
  get: (target, name) => RawTarget.method(target, name),
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false,
  ownKeys: () => [],
  getOwnPropertyDescriptor: () => undefined,
  has: () => false,
};

/** A context's `api.config`: grammY's `{ use, installedTransformers }`. */
class UpdateApiConfig {
  /** Installs transformers on this `ctx.api` only (grammY's `api.config.use`). */
  readonly use: (...transformers: Transformer[]) => TransformableApi;
  /** The transformers installed on this `ctx.api`, `bot.api`'s included. */
  readonly installedTransformers: () => Transformer[];

  constructor(raw: RawApi, calls: UpdateCalls) {
    const use = (...transformers: Transformer[]): TransformableApi => {
      calls.use(transformers);
      return new Transformable(raw, calls, use);
    };
    this.use = use;
    this.installedTransformers = () => calls.installed();
  }
}

/** What `config.use` returns, as grammY's does: the raw API, its transformers, `use` again. */
class Transformable implements TransformableApi {
  constructor(readonly raw: RawApi, readonly calls: UpdateCalls, readonly use: (...transformers: Transformer[]) => TransformableApi) {}

  get installedTransformers(): Transformer[] {
    return this.calls.installed();
  }
}

/** The fields grammY's `Api` constructor sets, in its order. */
interface ApiFields {
  token: string;
  options: ApiClientOptions | undefined;
  raw: RawApi;
  config: UpdateApiConfig;
}

/**
 * An `Api` without grammY's constructor: a plain constructor function whose instances have
 * grammY's `Api.prototype` (its methods call `this.raw`), made with `new` (never pretenured).
 */
const UpdateApi = function (this: ApiFields, token: string, options: ApiClientOptions | undefined, raw: RawApi, calls: UpdateCalls) {
  this.token = token;
  this.options = options;
  this.raw = raw;
  this.config = new UpdateApiConfig(raw, calls);
} as unknown as new (token: string, options: ApiClientOptions | undefined, raw: RawApi, calls: UpdateCalls) => Api;
(UpdateApi as unknown as { prototype: object }).prototype = Api.prototype;
