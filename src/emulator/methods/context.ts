/**
 * What a Bot API method implementation gets to act on.
 */
import type { EmulatorClock } from "../clock.js";
import type { Params } from "../params.js";
import type { Random } from "../random.js";
import type { SimBot } from "../sim-bot.js";
import type { World } from "../world.js";

/** Settings the methods read, resolved from {@link EmulatorOptions}. */
export interface MethodSettings {
  /** How long a callback query can be answered, in ms of emulator time. */
  readonly callbackAnswerTimeoutMs: number;
  /** Only the ports Telegram allows for webhooks (443, 80, 88, 8443). */
  readonly strictWebhookPorts: boolean;
  /** Only https webhook URLs, as Telegram requires. */
  readonly requireHttpsWebhook: boolean;
}

/** Starts and stops webhook delivery for a bot (implemented by the webhook deliverer). */
export interface WebhookControl {
  /** (Re)starts delivering the bot's pending updates to its webhook. */
  start(bot: SimBot): void;
  /** Stops delivering (in-flight requests are abandoned). */
  stop(bot: SimBot): void;
}

/** The context of one Bot API call. */
export interface MethodContext {
  readonly bot: SimBot;
  readonly world: World;
  readonly clock: EmulatorClock;
  readonly random: Random;
  readonly settings: MethodSettings;
  readonly webhooks: WebhookControl;
  /** Aborts when the client goes away (long polls stop waiting). */
  readonly signal: AbortSignal | undefined;
}

/** One Bot API method: returns the `result`, or throws a `TelegramApiError`. */
export type MethodHandler = (ctx: MethodContext, params: Params) => unknown;
