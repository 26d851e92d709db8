/**
 * What unlost tells a handler about the update it handles: `ctx.unlost`. It is attached to each
 * update's context, made with the bot's own grammY context class, so users keep writing
 * ordinary grammY handlers; and the update's handling itself, as grammY's `bot.handleUpdate`
 * does it ({@link handleWithInfo}).
 */
import { BotError, type Api, type Bot, type Context, type MiddlewareFn } from "grammy";
import type { Update } from "grammy/types";
import { UnlostError } from "../errors/index.js";
import type { SendOptions } from "../outbound/outbox.js";
import type { StoreEffect } from "../store/index.js";
import type { TaskAddOptions } from "../tasks/types.js";
import { UpdateApis } from "./update-api.js";

/** Facts about the update being handled, and a way to commit writes with its completion. */
export interface UnlostUpdateInfo {
  /** Telegram's `update_id`. */
  readonly updateId: number;
  /**
   * A stable key for the handler's own side effects (the same on every retry and after a
   * crash): `<bot id>:<update_id>`. Use it to make a payment, an insert or an external call
   * idempotent.
   */
  readonly idempotencyKey: string;
  /** How old the update is, in ms: now minus when the user acted (or when unlost stored it). */
  readonly ageMs: number;
  /** When the user acted (ms epoch), when the update says (messages, edits); otherwise null. */
  readonly messageDate: number | null;
  /** When unlost stored the update (ms epoch). */
  readonly receivedAt: number;
  /** True when the user acted while the bot was not running (it is handled in catch-up). */
  readonly arrivedWhileDown: boolean;
  /** 1 on the first try; higher when an earlier try failed or its process died. */
  readonly attempt: number;
  /** True when this try took the update over from a process that died while handling it. */
  readonly recovered: boolean;
  /**
   * True when a failure of this try would be retried; false on the last try (a failure makes
   * the update a dead letter). In `bot.catch`, which unlost calls on every failed try, reply
   * to the user only when it is false, or reply every time: the error handler's sends are
   * keyed like the handler's, so the same reply is delivered once across tries.
   */
  readonly willRetry: boolean;
  /**
   * Aborted when this try passes `inbox.handlerTimeoutMs` (its `reason` is an UnlostError
   * `HANDLER_TIMEOUT`): pass it to `fetch` and other cancellable work, or check `aborted`. By
   * then unlost has failed the try (it is retried or dead-lettered) and its chat has gone on;
   * whatever the handler completes afterwards is refused: neither its completion nor its
   * `commitWithCompletion` writes nor its `enqueue`d sends are committed. Sends it makes through
   * `ctx.api` after the deadline still go to the outbox and are delivered.
   */
  readonly signal: AbortSignal;
  /**
   * Commits a store write atomically with this update's completion: it happens exactly once,
   * if and only if the update is marked done (never on a failed or abandoned try).
   */
  commitWithCompletion(effect: StoreEffect): void;
  /**
   * Enqueues a send in the durable outbox *with this update's completion* (exactly once, and
   * only if the handler succeeds) and returns the job id at once, without waiting for
   * delivery. Bad input throws here. Use `await ctx.reply(...)` instead when the handler needs
   * the sent message.
   */
  enqueue(method: string, payload: Record<string, unknown>, options?: SendOptions): string[];
  /**
   * Adds a durable task (run by `runtime.tasks.handle(kind, fn)`) *with this update's
   * completion*: exactly once, and only if the handler succeeds; a replayed update does not add
   * it again (its id comes from the update and the call's position in the handler, or from
   * `options.key`). The user and chat default to the update's. Resolves with the task's id once
   * the kind's `perUserQueueLimit` was checked, so the handler can answer the user:
   *
   * @example
   * ```ts
   * bot.command("download", async (ctx) => {
   *   try {
   *     await ctx.unlost.task("download", { url: ctx.match });
   *     await ctx.reply("Queued: I will send the file when it is ready.");
   *   } catch (error) {
   *     if (isUnlostError(error, "TASK_QUEUE_FULL")) await ctx.reply("You have too many downloads waiting; try again when one is done.");
   *     else throw error;
   *   }
   * });
   * ```
   * @throws UnlostError (the promise rejects) `TASK_QUEUE_FULL` past the kind's
   * `perUserQueueLimit`, `INVALID_ARGUMENT` for a payload that is not JSON-serialisable or a bad option
   * (await the call to see a refusal: a refused task is not added)
   */
  task(kind: string, payload: unknown, options?: TaskAddOptions): Promise<string>;
}

/** The context flavor that declares `ctx.unlost`: `Bot<Context & UnlostFlavor>`. */
export interface UnlostFlavor {
  /** Facts about the update from unlost's durable inbox. */
  readonly unlost: UnlostUpdateInfo;
}

/** What the context of an update gets: its info, and a hook for its API. */
interface ContextSetup {
  /** The update whose context this is for. */
  update: object;
  info: UnlostUpdateInfo;
  /**
   * Runs on the context's `ctx.api` the first time anything reads `ctx.api` (e.g. installs
   * the update's outbox transformer): a handler that makes no API call costs nothing.
   */
  onApi: ApiHook | undefined;
}

/** See {@link ContextSetup.onApi}: one shared function, the update's facts passed in. */
export type ApiHook = (api: Context["api"], info: UnlostUpdateInfo) => void;

/**
 * The setup for the context {@link handleWithInfo} is about to create: it puts the setup here
 * and constructs the context, whose constructor takes it back (no per-update map: a WeakMap
 * entry per update is measurable garbage-collector work at tens of thousands of updates per
 * second).
 */
let next: ContextSetup | undefined;

/** The one setup object, filled for each update (it never outlives the synchronous call). */
const NO_UPDATE = Object.freeze({});
const setupSlot: ContextSetup = { update: NO_UPDATE, info: undefined as unknown as UnlostUpdateInfo, onApi: undefined };

/**
 * Handles `update` as grammY's `bot.handleUpdate(update)` does, with `info` as `ctx.unlost`
 * and `onApi` run on its `ctx.api` when that is first used. {@link installUpdateInfo} must
 * have been called on `bot`.
 *
 * Like `bot.handleUpdate`: the context is built with the bot's context constructor, an API
 * with `bot.api`'s transformers and `bot.botInfo`, the bot's middleware runs on it, and an
 * error it throws rejects as a `BotError` with the context. Unlike it, `ctx.api` comes from
 * {@link UpdateApis} (see update-api.ts for why).
 *
 * @throws Error (grammY's) when the bot was not initialised (`bot.init()`, which the runtime
 * calls at start)
 */
export function handleWithInfo(bot: Bot<Context>, update: Update, info: UnlostUpdateInfo, onApi?: ApiHook): Promise<void> {
  const holder = bot as unknown as InstalledBot;
  const apis = holder[APIS];
  if (apis === undefined) throw new UnlostError("INVALID_ARGUMENT", "installUpdateInfo(bot) was not called before handling an update");
  const me = bot.botInfo;
  const api = apis.create();
  setupSlot.update = update;
  setupSlot.info = info;
  setupSlot.onApi = onApi;
  next = setupSlot;
  let ctx: Context;
  try {
    ctx = new holder.ContextConstructor(update, api, me);
  } finally {
    next = undefined;
    setupSlot.update = NO_UPDATE;
    setupSlot.info = undefined as unknown as UnlostUpdateInfo;
    setupSlot.onApi = undefined;
  }
  return runMiddleware(bot.middleware(), ctx);
}

/** grammY's `run` of the middleware, with `bot.handleUpdate`'s wrapping of what it throws. */
async function runMiddleware(middleware: MiddlewareFn<Context>, ctx: Context): Promise<void> {
  try {
    await middleware(ctx, leaf);
  } catch (error) {
    throw new BotError(error, ctx);
  }
}

/** The `next` of the last middleware (grammY's `leaf`). */
const leaf = (): Promise<void> => Promise.resolve();

/** An update info that wants to know its run's context (see `HandlingInfo.bindContext`). */
export interface ContextAware {
  /** Called once, when grammY made the update's context. */
  bindContext(ctx: Context): void;
}

const INSTALLED = Symbol.for("unlost.context-installed");
const INFO = Symbol("unlost.update-info");
const API = Symbol("unlost.api");
const API_HOOK = Symbol("unlost.api-hook");
const APIS = Symbol("unlost.update-apis");

type ContextClass = new (...args: ConstructorParameters<typeof Context>) => Context;

/** A bot after {@link installUpdateInfo}: grammY's private fields unlost reads, and its own. */
interface InstalledBot {
  ContextConstructor: ContextClass;
  /** The `client` option of `new Bot`: grammY builds each update's client from it. */
  clientConfig?: ConstructorParameters<typeof Api>[1];
  [APIS]?: UpdateApis;
}

/**
 * Makes every context `bot` creates carry `ctx.unlost`. grammY builds contexts with the bot's
 * `ContextConstructor` and offers no hook before the user's middleware, so unlost subclasses
 * that constructor on this bot instance only (other bots and grammY itself are untouched).
 */
export function installUpdateInfo(bot: Bot<Context>): void {
  const holder = bot as unknown as Partial<InstalledBot> & { [INSTALLED]?: boolean };
  // Each update's ctx.api, as grammY's `bot.handleUpdate` would build it (see update-api.ts).
  holder[APIS] ??= new UpdateApis(bot.token, holder.clientConfig, bot.api);
  if (holder[INSTALLED] === true) return;
  const Base = holder.ContextConstructor;
  if (typeof Base !== "function") {
    throw new UnlostError("INVALID_ARGUMENT", "this grammY version builds contexts differently than unlost expects (no ContextConstructor); use grammY 1.x");
  }
  class UnlostContext extends Base {
    /** Set once by the constructor; read through the `unlost` getter (not enumerable, not writable). */
    [INFO]: UnlostUpdateInfo | undefined;
    /** The hook to run on the first read of `ctx.api`, until then. */
    [API_HOOK]: ApiHook | undefined;

    constructor(...args: ConstructorParameters<typeof Context>) {
      super(...args);
      const setup = next;
      if (setup === undefined || setup.update !== args[0]) return;
      next = undefined;
      // Fields, not Object.defineProperty on each context: that would turn every context into
      // a slow dictionary-mode object, measurable at tens of thousands of updates per second.
      this[INFO] = setup.info;
      this[API_HOOK] = setup.onApi;
      // The run's info learns its context (to call `bot.catch` with it if the try times out).
      (setup.info as Partial<ContextAware>).bindContext?.(this);
    }

    get unlost(): UnlostUpdateInfo | undefined {
      return this[INFO];
    }
  }
  // grammY's Context constructor assigns `this.api = api`; with this accessor the assignment
  // lands in a field, and the first read runs the update's hook (its outbox transformer).
  // Installing a transformer on every update's Api measured ~9% of the runtime's CPU per
  // update in bench:inbound, most of it for handlers that never call the API.
  Object.defineProperty(UnlostContext.prototype, "api", {
    configurable: true,
    enumerable: false,
    get(this: UnlostContext & { [API]: Context["api"] }): Context["api"] {
      const hook = this[API_HOOK];
      if (hook !== undefined) {
        this[API_HOOK] = undefined;
        hook(this[API], this[INFO]!);
      }
      return this[API];
    },
    set(this: { [API]: Context["api"] }, api: Context["api"]) {
      this[API] = api;
    },
  });
  holder.ContextConstructor = UnlostContext;
  holder[INSTALLED] = true;
}
