/**
 * `unlost run <bot-module>`: runs a user's grammY bot under the runtime (durable inbox and
 * outbox, retries, dead letters, graceful shutdown). Exit code 0 after a clean stop, 2 for bad
 * usage, a missing or rejected token or a store of another bot, 1 for any other fatal error.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { Bot, type Context } from "grammy";
import { loadConfig } from "../config/index.js";
import { UnlostError, isUnlostError } from "../errors/index.js";
import { createLogger } from "../runtime/logger.js";
import { createRuntime } from "../runtime/runtime.js";
import { parseCommandLine, settingOptions } from "./args.js";
import { loadBotModule, retargetBot, runSetup, type UnlostContext } from "./bot-module.js";
import { requireToken } from "./token.js";

/** Help text of `unlost run`. */
export const RUN_HELP = `Usage: unlost run <bot-module> [options]

Runs your grammY bot under unlost. The module (.ts or .js) default-exports either
a grammY Bot, or a function (bot, { runtime, onStop, dataDir }) that registers
handlers on the Bot unlost creates with BOT_TOKEN. Stops gracefully on SIGINT/SIGTERM.

Environment:
  BOT_TOKEN                 the bot's token from @BotFather (required)
  UNLOST_ADMIN_TOKEN        bearer token of the admin server's protected endpoints

Options (each also UNLOST_* in the environment or a key in unlost.config.json;
see docs/configuration.md):
  --data <dir>              folder of the store (default ./data)
  --api-root <url>          Bot API server, e.g. the emulator (default Telegram's)
  --webhook <url>           receive updates by webhook at this public URL (default: polling)
  --port <n>                port of the local webhook receiver (default 8080)
  --host <addr>             interface of the webhook receiver (default 0.0.0.0)
  --concurrency <n>         updates handled at once, each from another chat (default 256)
  --max-attempts <n>        tries of a failing update before it is a dead letter (default 5)
  --handler-timeout <ms>    a try running longer fails (retry or dead letter) and its
                            chat goes on (default 300000 = 5 min; 0: no limit)
  --notify-offline          tell users their message is handled late after a downtime
  --admin <ids>             comma-separated chats alerted after long outages
  --shutdown-deadline <ms>  time in-flight handlers get on stop (default 10000)
  --admin-port <n>          serve /metrics (Prometheus), /healthz, /readyz and the
                            operator's API on this port (token: UNLOST_ADMIN_TOKEN)
  --admin-host <addr>       interface of the admin server (default 127.0.0.1)
  --log-level <level>       fatal, error, warn, info (default), debug, trace, silent
  --config <file>           config file (default ./unlost.config.json when present)
  -h, --help                show this help

Exit codes: 0 stopped cleanly, 1 fatal error, 2 bad usage, a missing/rejected token, a
store that belongs to another bot, or a bot module that does not load (syntax error,
missing package, an error thrown by it or its setup: one line with file and line).`;

/** Runs `unlost run`; resolves with the exit code once the bot stopped. */
export async function runRunCommand(argv: readonly string[], out: (line: string) => void, err: (line: string) => void = console.error): Promise<number> {
  const { values, positionals } = parseCommandLine("run", argv, { ...settingOptions("run"), help: { type: "boolean", short: "h" } });
  if (values["help"] === true) {
    out(RUN_HELP);
    return 0;
  }
  const [modulePath, ...extra] = positionals;
  if (modulePath === undefined) throw new UnlostError("INVALID_ARGUMENT", 'which bot? Give the module to run, e.g. "unlost run ./bot.ts". Run "unlost run --help" for the options.');
  if (extra.length > 0) throw new UnlostError("INVALID_ARGUMENT", `one bot module at a time; unexpected "${extra.join(" ")}". Run "unlost run --help" for the options.`);

  const config = loadConfig({ flags: values, env: process.env, cwd: process.cwd() });
  for (const warning of config.warnings) err(`unlost run: warning: ${warning}`);
  const token = requireToken(config.token, "run");
  const loaded = await loadBotModule(modulePath, process.cwd());

  const own = loaded.kind === "setup" ? new Bot<UnlostContext>(token, config.apiRoot === undefined ? {} : { client: { apiRoot: config.apiRoot } }) : undefined;
  if (loaded.kind === "bot" && config.apiRoot !== undefined) retargetBot(loaded.bot, config.apiRoot);
  // The runtime only needs grammY's own Context; ctx.unlost is installed by the runtime itself.
  const bot = loaded.kind === "bot" ? loaded.bot : (own as unknown as Bot<Context>);

  // The logger knows every secret from the start: log lines before the runtime's (loading the
  // module, a webhook URL with the token in it) are scrubbed too. The runtime adds to it a
  // webhook secret it generates.
  const secrets = [token, ...(config.runtime.webhook?.secretToken === undefined ? [] : [config.runtime.webhook.secretToken])];
  const logger = createLogger({ secrets, ...(config.logLevel === undefined ? {} : { level: config.logLevel }) });
  const runtime = createRuntime(bot, { ...config.runtime, logger });
  const cleanups: Array<() => void | Promise<void>> = [];
  if (loaded.kind === "setup" && own !== undefined) {
    // The folder exists before setup, so a setup may keep its own files there at once.
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    try {
      await runSetup(loaded, own, { runtime, dataDir: config.dataDir, onStop: (cleanup) => cleanups.push(cleanup) });
    } catch (error) {
      // What the setup opened before it threw (timers, servers) must not keep the process up.
      for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
      throw error;
    }
  }

  let code = 0;
  try {
    await runtime.start();
    err(`unlost run: @${bot.botInfo.username} is running (${config.runtime.mode ?? "polling"}, store ${config.storeUrl === null ? config.storePath : "PostgreSQL"}); Ctrl-C stops it gracefully`);
    if (runtime.adminUrl !== undefined) err(`unlost run: admin server at ${runtime.adminUrl} (/metrics, /healthz, /readyz; docs/operations.md)`);
    await runtime.wait();
  } catch (error) {
    // A token rejected at start or later (401 while polling), or given a store of another bot,
    // is a usage problem: exit 2.
    if (isUnlostError(error) && (error.code === "UNAUTHORIZED" || error.code === "INVALID_CONFIG" || error.code === "STORE_BOT_MISMATCH")) throw error;
    err(`unlost run: the bot stopped on a fatal error: ${error instanceof Error ? error.message : String(error)}`);
    code = 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch((e: unknown) => err(`unlost run: cleanup failed: ${e instanceof Error ? e.message : String(e)}`));
    if (runtime.isRunning) await runtime.stop();
  }
  return code;
}
