/**
 * The emulator's composition root: one simulated Telegram with its bots, world, clock, flood
 * control and faults. Transports (a real HTTP server, or a `fetch` handler) hand each Bot API
 * call to {@link Emulator.handle}, which applies faults and runs the method.
 */
import type { UserFromGetMe } from "grammy/types";
import { UnlostError } from "../errors/index.js";
import { TelegramApiError, methodNotFound, serverError, tooManyRequests, unauthorized } from "./api-error.js";
import { createClock, type EmulatorClock } from "./clock.js";
import { FaultPlan } from "./faults.js";
import { METHODS, type MethodContext, type MethodSettings } from "./methods/index.js";
import { Params, type RawParams } from "./params.js";
import { createRandom, type Random } from "./random.js";
import { DEFAULT_RATE_LIMITS, type RateLimits } from "./rate-limits.js";
import { SimChat, SimUser, type ActorHost } from "./sim-actors.js";
import { SimBot } from "./sim-bot.js";
import { DEFAULT_WEBHOOK_TIMING, WebhookDeliverer, type WebhookTiming } from "./webhook-delivery.js";
import { World, type GroupKind } from "./world.js";

/** Options of {@link createEmulator}. Every field is optional. */
export interface EmulatorOptions {
  /** Seed of every random choice (ids, fault draws). Default 1. */
  seed?: number;
  /**
   * Freeze emulator time: it moves only when `clock.advance` is called. For tests that must
   * not depend on the machine's speed (flood limits, retention). Default false (real time).
   */
  frozenClock?: boolean;
  /** Flood limits; `false` switches them off. Default: Telegram's ({@link DEFAULT_RATE_LIMITS}). */
  limits?: Partial<RateLimits> | false;
  /**
   * Any well-formed token `<digits>:<secret>` gets its own bot the first time it is used.
   * Default false in-process (unknown tokens get 401); the CLI turns it on.
   */
  autoCreateBots?: boolean;
  /** Webhook delivery timing. Default: Telegram's ({@link DEFAULT_WEBHOOK_TIMING}). */
  webhook?: Partial<WebhookTiming>;
  /** How long a callback query can be answered, in ms of emulator time. Default 15 000. */
  callbackAnswerTimeoutMs?: number;
  /** Only allow webhook ports 443, 80, 88, 8443 as Telegram does. Default false (tests use random ports). */
  strictWebhookPorts?: boolean;
  /** Only allow https webhooks as Telegram does. Default false (tests serve plain http). */
  requireHttpsWebhook?: boolean;
  /** Largest request body accepted, in bytes; larger gets 413. Default 52 MiB (a 50 MB file plus form overhead). */
  maxBodyBytes?: number;
}

/** Options of {@link Emulator.createBot}. */
export interface CreateBotOptions {
  /** The token; default a fresh `<id>:<secret>`. */
  token?: string;
  /** The bot's username; default `bot<id>_bot`. */
  username?: string;
  /** The bot's display name; default "Test Bot". */
  firstName?: string;
}

/** Options of {@link Emulator.createUser}. */
export interface CreateUserOptions {
  /** Fixed id; default the next free one. */
  id?: number;
  firstName?: string;
  lastName?: string;
  username?: string;
  /** IETF language tag; default "en". */
  languageCode?: string;
  /**
   * The user has started every bot, so bots may write first (broadcast targets). Default true.
   * With false, a bot gets 403 `bot can't initiate conversation with a user` until the user writes.
   */
  startedBots?: boolean;
}

/** Options of a group, supergroup or channel. */
export interface CreateChatOptions {
  title?: string;
  /** Public `@username` (supergroups and channels). */
  username?: string;
  /** Users in the chat. */
  members?: readonly SimUser[];
  /** Bots in the chat (each gets `my_chat_member`). */
  bots?: readonly SimBot[];
}

/** One Bot API call as a transport received it. */
export interface ApiCall {
  readonly token: string;
  readonly method: string;
  readonly params: RawParams;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal | undefined;
}

/** What a transport must do with a call. */
export type ApiOutcome =
  /** Answer with this HTTP status and JSON body. */
  | { kind: "answer"; status: number; body: unknown }
  /** Drop the connection without answering. */
  | { kind: "reset" }
  /** Never answer; wait until the client gives up. */
  | { kind: "hang" }
  /** Behave as if nothing listened (connection refused). */
  | { kind: "refused" };

const TOKEN_FORMAT = /^(\d{1,20}):([A-Za-z0-9_-]{1,200})$/;

/** A simulated Telegram Bot API server. */
export class Emulator {
  /** The controllable clock: `emulator.clock.advance(25 * 3600_000)`. */
  readonly clock: EmulatorClock;
  /** Faults on demand: `emulator.faults.add({ fault: { kind: "reset" }, probability: 0.3 })`. */
  readonly faults: FaultPlan;
  /** Largest request body accepted, in bytes. */
  readonly maxBodyBytes: number;
  /** Errors the emulator itself hit while handling calls (answered 500). Tests assert it stays empty. */
  readonly internalErrors: Error[] = [];
  /** @internal */
  readonly world: World;
  private readonly random: Random;
  private readonly botsByToken = new Map<string, SimBot>();
  private readonly botsById = new Map<number, SimBot>();
  private readonly limits: RateLimits | false;
  private readonly autoCreateBots: boolean;
  private readonly settings: MethodSettings;
  private readonly webhooks: WebhookDeliverer;
  private readonly host: ActorHost;
  private readonly callListeners = new Set<(call: ApiCall) => void>();
  private readonly users = new Map<number, SimUser>();
  private readonly chats = new Map<number, SimChat>();

  constructor(options: EmulatorOptions = {}) {
    const seed = options.seed ?? 1;
    this.random = createRandom(seed);
    this.clock = createClock({ frozen: options.frozenClock ?? false });
    this.faults = new FaultPlan(seed ^ 0x5eed);
    this.world = new World(this.random);
    this.limits = options.limits === false ? false : { ...DEFAULT_RATE_LIMITS, ...options.limits };
    this.autoCreateBots = options.autoCreateBots ?? false;
    this.maxBodyBytes = options.maxBodyBytes ?? 52 * 1024 * 1024;
    this.settings = {
      callbackAnswerTimeoutMs: options.callbackAnswerTimeoutMs ?? 15_000,
      strictWebhookPorts: options.strictWebhookPorts ?? false,
      requireHttpsWebhook: options.requireHttpsWebhook ?? false,
    };
    this.webhooks = new WebhookDeliverer({ ...DEFAULT_WEBHOOK_TIMING, ...options.webhook }, this.clock);
    this.host = { world: this.world, clock: this.clock, random: this.random, botById: (id) => this.botsById.get(id) };
  }

  /** Creates a bot and returns it; point a grammY `Bot` at it with its `token`. */
  createBot(options: CreateBotOptions = {}): SimBot {
    const token = options.token ?? `${this.random.int(1_000_000_000, 8_999_999_999)}:AA${this.random.token(33)}`;
    const match = TOKEN_FORMAT.exec(token);
    if (match === null) {
      throw new UnlostError("INVALID_ARGUMENT", `a bot token looks like "123456:ABC-xyz" (digits, a colon, letters/digits/_/-); got a malformed one`);
    }
    if (this.botsByToken.has(token)) throw new UnlostError("INVALID_ARGUMENT", "a bot with this token exists already");
    const id = Number(match[1]);
    if (this.botsById.has(id)) throw new UnlostError("INVALID_ARGUMENT", `a bot with id ${id} exists already`);
    const info: UserFromGetMe = {
      id, is_bot: true, first_name: options.firstName ?? "Test Bot", username: options.username ?? `bot${id}_bot`,
      can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
      can_connect_to_business: false, has_main_web_app: false, has_topics_enabled: false,
    } as UserFromGetMe;
    const bot = new SimBot(token, info, this.clock, this.random, this.limits);
    this.botsByToken.set(token, bot);
    this.botsById.set(id, bot);
    return bot;
  }

  /** Every bot, in creation order. */
  bots(): SimBot[] {
    return [...this.botsByToken.values()];
  }

  /** The bot with this token or id. */
  bot(tokenOrId: string | number): SimBot | undefined {
    return typeof tokenOrId === "number" ? this.botsById.get(tokenOrId) : this.botsByToken.get(tokenOrId);
  }

  /** Creates a simulated user. */
  createUser(options: CreateUserOptions = {}): SimUser {
    const started = options.startedBots ?? true;
    const record = this.world.addUser(
      {
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(options.firstName === undefined ? {} : { first_name: options.firstName }),
        ...(options.lastName === undefined ? {} : { last_name: options.lastName }),
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.languageCode === undefined ? {} : { language_code: options.languageCode }),
      },
      started,
    );
    const user = new SimUser(this.host, record);
    this.users.set(user.id, user);
    return user;
  }

  /** The simulated user with this id. */
  user(id: number): SimUser | undefined {
    return this.users.get(id);
  }

  /** The group, supergroup or channel with this id (including supergroups created by migration). */
  chat(id: number): SimChat | undefined {
    const known = this.chats.get(id);
    if (known !== undefined) return known;
    const record = this.world.chats.get(id);
    if (record === undefined) return undefined;
    const chat = new SimChat(this.host, record);
    this.chats.set(id, chat);
    return chat;
  }

  /**
   * The bytes of a file for `/file/bot<token>/<path>`, or undefined when unknown. Files sent
   * by simulated users have generated content of their declared size.
   */
  download(token: string, path: string): Uint8Array | undefined {
    const file = this.botsByToken.get(token)?.filesByPath.get(path);
    if (file === undefined) return undefined;
    return file.bytes ?? new Uint8Array(file.size);
  }

  /** Creates a basic group. */
  createGroup(options: CreateChatOptions = {}): SimChat {
    return this.createChat("group", options);
  }

  /** Creates a supergroup. */
  createSupergroup(options: CreateChatOptions = {}): SimChat {
    return this.createChat("supergroup", options);
  }

  /** Creates a channel (bots in `bots` are its administrators). */
  createChannel(options: CreateChatOptions = {}): SimChat {
    return this.createChat("channel", options);
  }

  private createChat(kind: GroupKind, options: CreateChatOptions): SimChat {
    const chat = new SimChat(this.host, this.world.addChat(kind, options.title ?? `Test ${kind}`, options.username?.replace(/^@/, "")));
    this.chats.set(chat.id, chat);
    chat.addMembers(...(options.members ?? []));
    for (const bot of options.bots ?? []) chat.addBot(bot);
    return chat;
  }

  /**
   * Handles one Bot API call as Telegram would, faults included. Transports call this; tests
   * normally go through HTTP or {@link createFetchHandler}.
   */
  async handle(call: ApiCall): Promise<ApiOutcome> {
    for (const listener of this.callListeners) listener(call);
    const decision = this.faults.decide(call.method, chatIdOf(call.params));
    if (decision.latencyMs > 0) await sleep(decision.latencyMs, call.signal);
    switch (decision.failure?.kind) {
      case "reset":
        return { kind: "reset" };
      case "hang":
        return { kind: "hang" };
      case "outage":
        return this.faults.outageEndsAt() === undefined ? { kind: "reset" } : { kind: "refused" };
      case "server-error":
        return answer(serverError(decision.failure.status));
      case "flood":
        return answer(tooManyRequests(decision.failure.retryAfter));
      case "ambiguous": {
        await this.run(call, true);
        return { kind: "reset" };
      }
      case undefined:
        return this.run(call, false);
    }
  }

  /**
   * Calls `listener` with every Bot API call as it arrives, before faults and before the
   * method runs (so a getUpdates' `offset` is seen at the moment it confirms). Returns a
   * function that stops listening.
   */
  onCall(listener: (call: ApiCall) => void): () => void {
    this.callListeners.add(listener);
    return () => this.callListeners.delete(listener);
  }

  /** Runs the method of a call (no faults) and returns Telegram's answer. */
  private async run(call: ApiCall, answerWillBeLost: boolean): Promise<ApiOutcome> {
    const bot = this.botForToken(call.token);
    if (bot === undefined) return answer(unauthorized());
    const handler = METHODS.get(call.method.toLowerCase());
    if (handler === undefined) return answer(methodNotFound());
    const ctx: MethodContext = {
      bot, world: this.world, clock: this.clock, random: this.random, settings: this.settings,
      webhooks: this.webhooks, signal: call.signal,
    };
    bot.answerWillBeLost = answerWillBeLost;
    try {
      const result: unknown = await handler(ctx, new Params(call.params));
      return { kind: "answer", status: 200, body: { ok: true, result } };
    } catch (error) {
      if (error instanceof TelegramApiError) return answer(error);
      this.internalErrors.push(error instanceof Error ? error : new Error(String(error)));
      return answer(serverError(500));
    } finally {
      bot.answerWillBeLost = false;
    }
  }

  /** The bot a token belongs to, creating it when bots are created on first use. */
  private botForToken(token: string): SimBot | undefined {
    const known = this.botsByToken.get(token);
    if (known !== undefined || !this.autoCreateBots || !TOKEN_FORMAT.test(token)) return known;
    const id = Number(token.split(":")[0]);
    if (this.botsById.has(id)) return undefined; // same id, other secret: a wrong token
    return this.createBot({ token });
  }

  /** Stops webhook delivery and every timer; the emulator can be dropped afterwards. */
  shutdown(): void {
    this.webhooks.stopAll();
    for (const bot of this.botsByToken.values()) bot.updates.wakeWaiter();
  }
}

function answer(error: TelegramApiError): ApiOutcome {
  return { kind: "answer", status: error.errorCode, body: error.toEnvelope() };
}

function chatIdOf(params: RawParams): number | undefined {
  const raw = params["chat_id"];
  const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Creates an emulator. Start it with {@link startEmulatorServer} or use {@link createFetchHandler}. */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  return new Emulator(options);
}
