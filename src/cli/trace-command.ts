/**
 * `unlost trace`: "why did this user get no reply?" — an update's timeline (received, stored,
 * each handler try, each send and Telegram's answers, completed or dead-lettered), or a chat's.
 *
 * @module
 */
import { loadConfig } from "../config/index.js";
import { UnlostError } from "../errors/index.js";
import { traceChat, traceUpdate, CHAT_TRACE_LIMIT } from "../trace/build.js";
import { formatChatTrace, formatUpdateTrace } from "../trace/format.js";
import { intOption, parseCommandLine, settingOptions } from "./args.js";
import { withStore } from "./store-access.js";

/** Help text of `unlost trace`. */
export const TRACE_HELP = `Usage: unlost trace <update_id> [options]
       unlost trace --chat <chat_id> | --user <user_id> [options]

"Why did this user get no reply?" Shows an update's timeline: when the user
acted, when and how it was received (its poll batch, or by webhook) and
stored, each handler try (start, duration, error), each send it made
(attempts, Telegram's answers, delivered at), and whether it was completed or
dead-lettered, with a verdict. Updates handled on the polling fast path are
kept (in their journal batch) for the retention of handled updates. With --chat or --user: the chat's
last updates and sends. Works while the bot runs and while it does not.

Options:
  --chat <id>           a chat's timeline (chat id, or @username of a channel)
  --user <id>           the timeline of a user's private chat
  --limit <n>           updates of the chat to show (default ${CHAT_TRACE_LIMIT}, at most 100)
  --data <dir>          folder of the store (default ./data; or UNLOST_DATA_DIR)
  --store <url>         a PostgreSQL store (postgres://…; or UNLOST_STORE)
  --config <file>       config file (default ./unlost.config.json when present)
  --json                one JSON object instead of text
  -h, --help            show this help`;

/** Runs `unlost trace`. */
export async function runTraceCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine("trace", argv, {
    ...settingOptions("operate"), chat: { type: "string" }, user: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(TRACE_HELP);
    return 0;
  }
  const chat = values["chat"];
  const user = values["user"];
  const ways = [positionals.length > 0, typeof chat === "string", typeof user === "string"].filter(Boolean).length;
  if (ways !== 1 || positionals.length > 1) {
    throw new UnlostError("INVALID_ARGUMENT", 'give exactly one of an update id ("unlost trace 123456"), --chat <id> or --user <id>. Run "unlost trace --help" for the options.');
  }
  const limit = intOption(values, "limit", CHAT_TRACE_LIMIT, 1, 100);
  const { chat: _c, user: _u, limit: _l, json: _j, ...settingFlags } = values;
  const config = loadConfig({ flags: settingFlags, env: process.env, cwd: process.cwd() });
  const now = Date.now();
  const json = values["json"] === true;
  const first = positionals[0];
  if (first !== undefined) {
    if (!/^\d{1,16}$/.test(first)) throw new UnlostError("INVALID_ARGUMENT", `an update id is a whole number (Telegram's update_id), got "${first}". For a chat use --chat <id>.`);
    const trace = await withStore(config, "trace", (store) => traceUpdate(store, Number(first), now));
    if (json) out(JSON.stringify(trace));
    else for (const line of formatUpdateTrace(trace)) out(line);
    return 0;
  }
  let who: { chatId: string } | { userId: number };
  if (typeof user === "string") {
    if (!/^\d{1,16}$/.test(user)) throw new UnlostError("INVALID_ARGUMENT", `--user takes a Telegram user id (a whole number), got "${user}".`);
    who = { userId: Number(user) };
  } else {
    const id = String(chat);
    if (!/^-?\d{1,16}$/.test(id) && !/^@\w{1,64}$/.test(id)) throw new UnlostError("INVALID_ARGUMENT", `--chat takes a chat id (e.g. 123 or -100123) or a channel's @username, got "${id}".`);
    who = { chatId: id };
  }
  const trace = await withStore(config, "trace", (store) => traceChat(store, who, now, limit));
  if (json) out(JSON.stringify(trace));
  else for (const line of formatChatTrace(trace, now)) out(line);
  return 0;
}
