/**
 * Loading a user's bot module for `unlost run`. The module's default export is either a grammY
 * `Bot`, or a setup function that receives a `Bot` created by unlost (with `BOT_TOKEN` and the
 * API root) and registers its handlers. TypeScript modules are loaded through tsx, so a bot
 * author needs no build step.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Api, type Bot, type Context } from "grammy";
import { UnlostError } from "../errors/index.js";
import type { UnlostFlavor } from "../inbound/update-info.js";
import type { Runtime } from "../runtime/runtime.js";

/** The context type of a bot run by `unlost run`: grammY's with `ctx.unlost`. */
export type UnlostContext = Context & UnlostFlavor;

/** What a setup function gets besides the bot. */
export interface BotSetupContext {
  /**
   * The runtime that will run the bot. Its `outbox`, `store`, `deadLetters` and `stats()` work
   * once the bot is running: use them in handlers and timers, not during setup itself.
   */
  readonly runtime: Runtime;
  /** Registers cleanup (timers, servers, connections) to run after the runtime stopped. */
  onStop(cleanup: () => void | Promise<void>): void;
}

/**
 * The default export of a bot module in function form: registers handlers on `bot` (which
 * unlost created with `BOT_TOKEN` and the API root). May be async.
 *
 * @example
 * ```ts
 * import type { BotSetup } from "unlost";
 * const setup: BotSetup = (bot) => {
 *   bot.on("message:text", (ctx) => ctx.reply(`you said: ${ctx.message.text}`));
 * };
 * export default setup;
 * ```
 */
export type BotSetup = (bot: Bot<UnlostContext>, context: BotSetupContext) => void | Promise<void>;

/** What a bot module's default export was found to be. */
export type LoadedBotModule =
  | { readonly kind: "bot"; readonly bot: Bot<Context> }
  | { readonly kind: "setup"; readonly setup: BotSetup };

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);

/**
 * Imports the module at `path` (relative to `cwd`) and classifies its default export.
 *
 * @throws UnlostError `INVALID_ARGUMENT` when the file is missing or its default export is
 * neither a Bot nor a function. Errors thrown by the module itself are passed through.
 */
export async function loadBotModule(path: string, cwd: string): Promise<LoadedBotModule> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new UnlostError("INVALID_ARGUMENT", `the bot module ${file} does not exist; give the path of a file whose default export is your grammY Bot or a setup function`);
  const url = pathToFileURL(file).href;
  const loaded: unknown = TS_EXTENSIONS.has(extname(file))
    ? await (await import("tsx/esm/api")).tsImport(url, { parentURL: import.meta.url })
    : await import(url);
  let exported = defaultOf(loaded);
  // A .ts file outside a "type": "module" package is compiled as CommonJS: its `export default`
  // arrives one level deeper, as `module.exports.default`.
  if (!isBot(exported) && typeof exported !== "function") exported = defaultOf(exported) ?? exported;
  if (isBot(exported)) return { kind: "bot", bot: exported };
  if (typeof exported === "function") return { kind: "setup", setup: exported as BotSetup };
  throw new UnlostError(
    "INVALID_ARGUMENT",
    `${file} has no usable default export: export default a grammY Bot ("export default bot") or a function that registers handlers on the bot it receives ("export default (bot) => { bot.on(...) }")`,
  );
}

function defaultOf(value: unknown): unknown {
  return typeof value === "object" && value !== null ? (value as { default?: unknown }).default : undefined;
}

/**
 * True for a grammY Bot. Checked by shape, not `instanceof`: the bot's project may have its
 * own copy of grammY.
 */
function isBot(value: unknown): value is Bot<Context> {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v["handleUpdate"] === "function" && typeof v["token"] === "string" && typeof v["api"] === "object";
}

/**
 * Points an exported Bot at another API root (the emulator, a local Bot API server). grammY
 * fixes the API root when the Bot is created, so its `api` is replaced by one with the same
 * token and the same installed transformers, and the client options grammY gives each
 * update's `ctx.api` (and unlost's polling client reads) get the new root too; other client
 * options of that Bot are not kept.
 */
export function retargetBot(bot: Bot<Context>, apiRoot: string): void {
  const api = new Api(bot.token, { apiRoot });
  for (const transformer of bot.api.config.installedTransformers()) api.config.use(transformer);
  Object.defineProperty(bot, "api", { value: api, writable: false, configurable: true });
  Object.defineProperty(bot, "clientConfig", { value: { apiRoot }, writable: false, configurable: true });
}
