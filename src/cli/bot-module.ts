/**
 * Loading a user's bot module for `unlost run`. The module's default export is either a grammY
 * `Bot`, or a setup function that receives a `Bot` created by unlost (with `BOT_TOKEN` and the
 * API root) and registers its handlers. TypeScript modules are loaded through tsx, so a bot
 * author needs no build step.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Api, type Bot, type Context } from "grammy";
import { UnlostError } from "../errors/index.js";
import type { UnlostFlavor } from "../inbound/update-info.js";
import type { Runtime } from "../runtime/runtime.js";

/** The context type of a bot run by `unlost run`: grammY's with `ctx.unlost`. */
export type UnlostContext = Context & UnlostFlavor;

/** What a setup function gets besides the bot. */
export interface BotSetupContext {
  /**
   * The data folder (absolute): where the store lives, and a place for the bot's own files
   * (a cache, a downloaded model). It exists (created 0700) when setup runs.
   */
  readonly dataDir: string;
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
 * `C` is the bot's context type, for bots that install plugins or flavors of their own
 * (`BotSetup<MyContext>` with `type MyContext = UnlostContext & SessionFlavor<S>`): the bot is
 * typed `Bot<C>` without a cast. What the plugins add at run time is the setup's to install
 * (`bot.use(session(...))`); unlost creates a plain grammY Bot.
 *
 * @example
 * ```ts
 * import type { BotSetup } from "unlost";
 * const setup: BotSetup = (bot, { dataDir }) => {
 *   bot.on("message:text", (ctx) => ctx.reply(`you said: ${ctx.message.text}`));
 * };
 * export default setup;
 * ```
 */
export type BotSetup<C extends Context = UnlostContext> = (bot: Bot<C>, context: BotSetupContext) => void | Promise<void>;

/** What a bot module's default export was found to be. */
export type LoadedBotModule =
  | { readonly kind: "bot"; readonly bot: Bot<Context> }
  | { readonly kind: "setup"; readonly setup: BotSetup; readonly file: string };

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);

let typeScriptRegistered: Promise<void> | undefined;

/**
 * Lets this process import TypeScript (tsx's loader, registered once for the process). Not
 * `tsImport`: that loads the module and everything it imports in a namespace of its own, so a
 * bot module's `import { unlostSession } from "unlost"` would get a second copy of unlost,
 * whose session and conversation storage do not know the runtime's updates (every update
 * failed with INVALID_CONFIG "this update has no ctx.unlost").
 */
function registerTypeScript(): Promise<void> {
  typeScriptRegistered ??= import("tsx/esm/api").then(({ register }) => {
    register();
  });
  return typeScriptRegistered;
}

/**
 * Imports the module at `path` (relative to `cwd`) and classifies its default export.
 *
 * @throws UnlostError `INVALID_ARGUMENT` when the file is missing or its default export is
 * neither a Bot nor a function; `BOT_MODULE` when it does not load (a syntax error, a package
 * that is not installed, an error thrown while it runs), with the file and line.
 */
export async function loadBotModule(path: string, cwd: string): Promise<LoadedBotModule> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new UnlostError("INVALID_ARGUMENT", `the bot module ${file} does not exist; give the path of a file whose default export is your grammY Bot or a setup function`);
  const url = pathToFileURL(file).href;
  let loaded: unknown;
  try {
    if (TS_EXTENSIONS.has(extname(file))) await registerTypeScript();
    loaded = await import(url);
  } catch (error) {
    throw moduleLoadError(file, error);
  }
  let exported = defaultOf(loaded);
  // A .ts file outside a "type": "module" package is compiled as CommonJS: its `export default`
  // arrives one level deeper, as `module.exports.default`.
  if (!isBot(exported) && typeof exported !== "function") exported = defaultOf(exported) ?? exported;
  if (isBot(exported)) return { kind: "bot", bot: exported };
  if (typeof exported === "function") return { kind: "setup", setup: exported as BotSetup, file };
  throw new UnlostError(
    "INVALID_ARGUMENT",
    `${file} has no usable default export: export default a grammY Bot ("export default bot") or a function that registers handlers on the bot it receives ("export default (bot) => { bot.on(...) }")`,
  );
}

/**
 * Runs a module's setup function; an error it throws becomes one line naming where it was
 * thrown (a stack trace of unlost's own frames helps no bot author).
 *
 * @throws UnlostError `BOT_MODULE`
 */
export async function runSetup<C extends Context>(loaded: { readonly setup: BotSetup<C>; readonly file: string }, bot: Bot<C>, context: BotSetupContext): Promise<void> {
  try {
    await loaded.setup(bot, context);
  } catch (error) {
    throw new UnlostError("BOT_MODULE", `the bot module's setup failed at ${whereThrown(loaded.file, error)}: ${describe(error)}`, { cause: error });
  }
}

/** One line for a module that did not load: a syntax error, a missing package, or a throw. */
function moduleLoadError(file: string, error: unknown): UnlostError {
  const message = error instanceof Error ? error.message : String(error);
  // esbuild (TypeScript through tsx): "Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: <what>"
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (esbuild !== null) return new UnlostError("BOT_MODULE", `the bot module ${esbuild[1]}:${esbuild[2]}:${esbuild[3]} has a syntax error: ${esbuild[4]}`, { cause: error });
  if (error instanceof SyntaxError) {
    // Node's own parser (a .js module) puts "<file url>:<line>" on the stack's first line.
    const at = /^(file:\/\/\S+?|\/\S+?):(\d+)$/m.exec(error.stack ?? "");
    const where = at === null ? file : `${at[1]!.startsWith("file:") ? fileURLToPath(at[1]!) : at[1]}:${at[2]}`;
    return new UnlostError("BOT_MODULE", `the bot module ${where} has a syntax error: ${firstLine(message)}`, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(message);
  if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && missing !== null) {
    const name = missing[1]!;
    const local = name.startsWith(".") || name.startsWith("/");
    const from = /imported from (\S+)/.exec(message)?.[1] ?? /Require stack:\n- ([^?\n]+)/.exec(message)?.[1] ?? file;
    const where = `${from}${lineOf(from, name)}`;
    if (local) return new UnlostError("BOT_MODULE", `the bot module ${where} imports "${name}", which does not exist (check the path and its extension)`, { cause: error });
    const pkg = name.startsWith("@") ? name.split("/").slice(0, 2).join("/") : name.split("/")[0]!;
    return new UnlostError("BOT_MODULE", `the bot module ${where} imports "${name}", which is not installed (npm install ${pkg})`, { cause: error });
  }
  return new UnlostError("BOT_MODULE", `the bot module ${file} failed to load at ${whereThrown(file, error)}: ${describe(error)}`, { cause: error });
}

/** "Name: first line of the message". */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${firstLine(error.message)}` : firstLine(String(error));
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

/** unlost's own folder (dist/ or src/): its frames are never where a bot author's error is. */
const OWN = resolve(dirname(fileURLToPath(import.meta.url)), "..") + sep;

/**
 * The `file:line:column` of the first stack frame in the bot's code: the module itself, else
 * the first frame outside node_modules, node's internals and unlost. A TypeScript module that
 * tsx compiled as CommonJS (no `"type": "module"`) runs from a data: URL without a source map:
 * then only the file is known.
 */
function whereThrown(file: string, error: unknown): string {
  const frames = (error instanceof Error ? (error.stack ?? "") : "").split("\n").flatMap((line) => {
    const m = /^\s+at (?:.*\()?(.+?):(\d+):(\d+)\)?$/.exec(line);
    if (m === null) return [];
    const path = m[1]!.startsWith("file:") ? fileURLToPath(m[1]!) : m[1]!;
    return [{ path, at: `${path}:${m[2]}:${m[3]}` }];
  });
  const own = frames.find((f) => f.path === file);
  if (own !== undefined) return own.at;
  const user = frames.find((f) => f.path.startsWith(sep) && !f.path.includes(`${sep}node_modules${sep}`) && !f.path.startsWith(OWN));
  return user?.at ?? file;
}

/** ":<line>" of the first line of `file` that names `specifier` in quotes ("" if none). */
function lineOf(file: string, specifier: string): string {
  try {
    const index = readFileSync(file, "utf8").split("\n").findIndex((l) => l.includes(`"${specifier}"`) || l.includes(`'${specifier}'`));
    return index < 0 ? "" : `:${index + 1}`;
  } catch {
    return "";
  }
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
