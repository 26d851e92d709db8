/**
 * `unlost/emulator`: a Telegram Bot API server emulator faithful enough to break bots.
 * Offsets, long polling, webhooks, flood limits, Telegram's errors, faults on demand
 * (resets, hangs, 5xx, 429 storms, outages, lost answers), simulated users and a controllable
 * clock, with a record of everything bots delivered.
 *
 * @example
 * ```ts
 * import { createEmulator, startEmulatorServer } from "unlost/emulator";
 * import { Bot } from "grammy";
 *
 * const emulator = createEmulator({ seed: 42 });
 * const simBot = emulator.createBot({ username: "echo_bot" });
 * const server = await startEmulatorServer(emulator);
 * const bot = new Bot(simBot.token, { client: { apiRoot: server.url } });
 * bot.on("message:text", (ctx) => ctx.reply(ctx.message.text));
 * void bot.start();
 *
 * const alice = emulator.createUser({ firstName: "Alice" });
 * alice.sendText(simBot, "hello");
 * // ... later: simBot.record.to(alice.id) holds the echo
 * ```
 *
 * @module
 */
export { createEmulator, Emulator } from "./emulator.js";
export type { ApiCall, ApiOutcome, CreateBotOptions, CreateChatOptions, CreateUserOptions, EmulatorOptions } from "./emulator.js";
export { startEmulatorServer } from "./http/node-server.js";
export type { EmulatorServer, EmulatorServerOptions } from "./http/node-server.js";
export { createFetchHandler } from "./http/fetch-handler.js";
export type { FetchFunction } from "./http/fetch-handler.js";
export { SimBot, DEFAULT_ALLOWED_UPDATES } from "./sim-bot.js";
export type { CallbackAnswer, StoredFile, WebhookSettings } from "./sim-bot.js";
export { SimUser, SimChat } from "./sim-actors.js";
export type { Destination, UserFileOptions, UserMessageOptions } from "./sim-actors.js";
export { DeliveryRecord } from "./record.js";
export type { DeliveredMessage, DuplicateGroup, MessageEdit } from "./record.js";
export { FaultPlan } from "./faults.js";
export type { ActiveFaultRule, Fault, FaultCounters, FaultRule } from "./faults.js";
export { DEFAULT_RATE_LIMITS } from "./rate-limits.js";
export type { RateLimits } from "./rate-limits.js";
export { DEFAULT_WEBHOOK_TIMING } from "./webhook-delivery.js";
export type { WebhookTiming } from "./webhook-delivery.js";
export type { EmulatorClock } from "./clock.js";
export { TelegramApiError } from "./api-error.js";
export { UPLOAD_LIMITS, DOWNLOAD_LIMIT } from "./methods/media.js";
export { METHOD_NAMES } from "./methods/index.js";
