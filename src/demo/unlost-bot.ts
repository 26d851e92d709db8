/**
 * The demo's example bot, run by unlost on the SQLite store. `unlost demo` starts this file as
 * a child process (so that it can `kill -9` it) with `API_ROOT`, `BOT_TOKEN` and `DB_PATH` in the
 * environment, and waits for the `{"event":"started"}` line on stdout.
 *
 * @module
 */
import { Bot, type Context } from "grammy";
import { createRuntime, type UnlostFlavor } from "../index.js";
import { registerDemoHandlers } from "./handlers.js";
import { childEnv, printEvent } from "./child-env.js";

const env = childEnv();
// A hang (a request Telegram never answers) must not stall the bot for grammY's default 500 s.
const bot = new Bot<Context & UnlostFlavor>(env.token, { client: { apiRoot: env.apiRoot, timeoutSeconds: 10 } });
registerDemoHandlers(bot);

const runtime = createRuntime(bot, {
  store: { path: env.dbPath },
  polling: { timeoutSeconds: 5 },
  // Tuned for a one-minute demo rather than a long-running bot: retry sooner and more often,
  // so that a 429 storm or a stretch of resets is outlasted within seconds, not minutes.
  inbox: { concurrency: 16, idleMs: 20, backoff: { baseMs: 200, maxMs: 2_000 } },
  outbox: { idleMs: 20, defaults: { attempts: 30, backoff: { baseMs: 250, maxMs: 2_000, jitter: 0.2 }, timeoutMs: 4_000 } },
  downtime: { heartbeatMs: 500 },
  shutdown: { deadlineMs: 3_000 },
});
await runtime.start();
printEvent({ event: "started", pid: process.pid });
await runtime.wait();
