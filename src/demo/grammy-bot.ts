/**
 * The comparison bot of `unlost demo --compare`: the same handlers on a stock grammY
 * `bot.start()` (long polling, no store). Started as a child process like the unlost bot.
 *
 * @module
 */
import { Bot } from "grammy";
import { registerDemoHandlers } from "./handlers.js";
import { childEnv, printEvent } from "./child-env.js";

const env = childEnv();
// The same client settings as the unlost bot, so the comparison is about durability only.
const bot = new Bot(env.token, { client: { apiRoot: env.apiRoot, timeoutSeconds: 10 } });
registerDemoHandlers(bot);
// What a careful grammY bot does: log a failed handler and go on (without it, bot.start() stops).
bot.catch((error) => printEvent({ event: "error", message: String(error.error) }));
await bot.start({ timeout: 5, onStart: () => printEvent({ event: "started", pid: process.pid }) });
