/**
 * `unlost dashboard`: the admin server (the dashboard's pages and actions, `/api`, `/metrics`,
 * `/healthz`, `/readyz`) for a bot's store, SQLite or PostgreSQL, without running the bot: for
 * a bot that runs without `--admin-port`, or one that is down (its backlog and dead letters
 * still show).
 *
 * @module
 */
import { adminOptionsSchema, adminToken } from "../admin/options.js";
import { loadConfig } from "../config/index.js";
import { Scrubber, UnlostError } from "../errors/index.js";
import { createLogger } from "../runtime/logger.js";
import { intOption, parseCommandLine, settingOptions } from "./args.js";
import { openOperatorStore } from "./store-access.js";

/** The port when none is given (also the one the docs use for `--admin-port`). */
const DEFAULT_PORT = 9464;

/** Help text of `unlost dashboard`. */
export const DASHBOARD_HELP = `Usage: unlost dashboard [options]

Serves the admin server for a bot's store, without running the bot: the
dashboard's pages (overview with charts, inbox, outbox, broadcasts, trace) and
their actions, /api, /metrics (Prometheus), /healthz, /readyz. Pages and /api
need UNLOST_ADMIN_TOKEN (log in at / in a browser, or send it as a Bearer
token). Counters of a running bot (send requests, 429s) are only in the bot's
own admin server (unlost run --admin-port); here are the store's counts.
Stops on Ctrl-C. See docs/operations.md.

Environment:
  UNLOST_ADMIN_TOKEN    the admin token of the pages and /api (at least 16 characters)

Options:
  --data <dir>          folder of the store (default ./data; or UNLOST_DATA_DIR)
  --store <url>         a PostgreSQL store instead (postgres://…; or UNLOST_STORE)
  --config <file>       config file (default ./unlost.config.json when present)
  --port <n>            port to listen on (default admin.port of the config, or ${DEFAULT_PORT}; 0: a free one)
  --host <addr>         interface (default admin.host of the config, or 127.0.0.1)
  -h, --help            show this help`;

/** Runs `unlost dashboard` until SIGINT/SIGTERM (or `stop` resolves, for tests); returns the exit code. */
export async function runDashboardCommand(argv: readonly string[], out: (line: string) => void, err: (line: string) => void = console.error, stop?: Promise<void>): Promise<number> {
  const { values, positionals } = parseCommandLine("dashboard", argv, {
    ...settingOptions("operate"), port: { type: "string" }, host: { type: "string" }, help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(DASHBOARD_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UnlostError("INVALID_ARGUMENT", `unexpected argument "${positionals.join(" ")}". Run "unlost dashboard --help" for the options.`);
  // --port and --host are this command's own: to the settings table they are the webhook's.
  const { port: _port, host: _host, ...settingFlags } = values;
  const config = loadConfig({ flags: settingFlags, env: process.env, cwd: process.cwd() });
  const fromConfig = config.runtime.admin;
  const port = intOption(values, "port", fromConfig?.port ?? DEFAULT_PORT, 0, 65_535);
  const host = typeof values["host"] === "string" ? values["host"] : (fromConfig?.host ?? "127.0.0.1");
  const options = adminOptionsSchema.parse({ ...fromConfig, port, host });
  const token = adminToken(options);
  const scrubber = new Scrubber([process.env["BOT_TOKEN"], process.env["UNLOST_WEBHOOK_SECRET"], token]);
  const logger = createLogger({ scrubber, ...(config.logLevel === undefined ? {} : { level: config.logLevel }) });

  const store = await openOperatorStore(config, "dashboard");
  try {
    // Loaded here: the other commands do not need Hono and prom-client.
    const { createAdminApp } = await import("../admin/server.js");
    const app = createAdminApp({ source: { store: () => store, clock: Date.now, scrub: scrubber.scrub }, options, token, logger });
    const listener = await app.listen();
    err(`unlost dashboard: serving ${store.location} at ${listener.url} (/metrics, /healthz, /readyz${token === undefined ? "; /api needs UNLOST_ADMIN_TOKEN" : ", /api"}); Ctrl-C stops it`);
    await (stop ?? untilSignal());
    await listener.close();
  } finally {
    await store.close();
  }
  return 0;
}

/** Resolves at the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
