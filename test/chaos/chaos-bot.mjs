// The bot of the chaos run (test/chaos/chaos.ts): a grammY bot run by unlost that takes
// inbound load (replies to every text message from its handler) and makes outbound load of its
// own (sends and broadcasts outside handlers, on timers, with idempotency keys). Environment:
//   API_ROOT, BOT_TOKEN, DB_PATH     the emulator, the bot, the SQLite store
//   STORE_URL, STORE_SCHEMA          a PostgreSQL store instead (schema default "unlost")
//   NAME                             this process's name: unique per process, it makes the keys
//                                    and texts of its own sends unique
//   HANDLER_DELAY_MIN_MS, _MAX_MS    work per update before replying; picked from the update id,
//                                    so a re-run of an update takes as long as its first run
//   NOTE_EVERY_MS, NOTE_CHATS        a send to one of these chats (comma-separated) every so
//                                    often, `outbox.send` with an idempotency key (0: none)
//   BROADCAST_EVERY_MS, BROADCAST_FILE  a broadcast to the chats of this JSON array every so
//                                    often, with an idempotency key (0: none)
//   SENDS_STOP_FILE                  once this file exists, no more sends outside handlers (the
//                                    chaos run's drain: the outbox must be able to run empty)
//   MAX_ATTEMPTS, MAX_RECOVERIES     the inbox's (default: the runtime's defaults)
//   POLLER_LEASE_MS, HEARTBEAT_MS    the poller lease and the heartbeat (the worker lease is three
//                                    heartbeats); default the runtime's
// Prints JSON lines: started; begin / handled / failed (each handler run, with wall-clock
// times, for order and overlap checks across processes); send / sent / send-error and
// broadcast / broadcasted / broadcast-error (made, acknowledged, refused). The runtime's own
// log lines are JSON too.
import { Bot } from "grammy";
import { existsSync, readFileSync } from "node:fs";
import { createRuntime } from "../../dist/index.js";

const env = process.env;
const name = env.NAME ?? `pid${process.pid}`;
const minDelay = Number(env.HANDLER_DELAY_MIN_MS ?? 10);
const maxDelay = Number(env.HANDLER_DELAY_MAX_MS ?? 60);
const print = (event) => console.log(JSON.stringify(event));
// A client timeout well under grammY's 500 s: a hung getMe or getWebhookInfo at start-up must
// not stall a restart for minutes (the outbox has its own per-attempt timeout).
const bot = new Bot(env.BOT_TOKEN, { client: { apiRoot: env.API_ROOT, timeoutSeconds: 5 } });

bot.on("message:text", async (ctx) => {
  const updateId = ctx.update.update_id;
  const begin = Date.now();
  print({ event: "begin", updateId, chatId: ctx.chat.id, t: begin });
  try {
    // Slow enough (tens of ms, plus the reply's delivery) that kills land mid-handler.
    const delay = minDelay + ((updateId * 2654435761) >>> 0) % (maxDelay - minDelay + 1);
    await new Promise((r) => setTimeout(r, delay));
    await ctx.reply(`re: ${ctx.message.text}`, { reply_parameters: { message_id: ctx.message.message_id } });
    ctx.unlost.commitWithCompletion({ kind: "kv.increment", key: `completed:${updateId}` });
  } catch (error) {
    // The run's end, for the overlap check: the chat's next update may start after this.
    print({ event: "failed", updateId, chatId: ctx.chat.id, t: Date.now(), message: String(error?.message ?? error) });
    throw error;
  }
  print({
    event: "handled", updateId, chatId: ctx.chat.id, text: ctx.message.text, attempt: ctx.unlost.attempt,
    recovered: ctx.unlost.recovered, arrivedWhileDown: ctx.unlost.arrivedWhileDown, begin, end: Date.now(),
  });
});

const runtime = createRuntime(bot, {
  // STORE_URL (+ STORE_SCHEMA): a PostgreSQL store instead of the SQLite file.
  store: env.STORE_URL ? { url: env.STORE_URL, schema: env.STORE_SCHEMA ?? "unlost" } : { path: env.DB_PATH },
  polling: { timeoutSeconds: 1, ...(env.POLLER_LEASE_MS ? { leaseTtlMs: Number(env.POLLER_LEASE_MS) } : {}) },
  inbox: {
    concurrency: 16,
    ...(env.MAX_ATTEMPTS ? { maxAttempts: Number(env.MAX_ATTEMPTS) } : {}),
    ...(env.MAX_RECOVERIES ? { maxRecoveries: Number(env.MAX_RECOVERIES) } : {}),
    backoff: { baseMs: 50, maxMs: 1_000 },
    leaseMs: 10_000,
    idleMs: 50,
  },
  outbox: {
    concurrency: 16,
    idleMs: 20,
    // The emulator's limits are off: pace high enough for the load, not to Telegram's 1/s per chat.
    limits: { global: { perSecond: 300, burst: 30 }, perChat: { perSecond: 20, burst: 5 } },
    // 20 % of sends fail: enough attempts that none gives up, short backoffs, hangs end in 3 s.
    defaults: { attempts: 100, backoff: { baseMs: 100, maxMs: 2_000, jitter: 0.2 }, timeoutMs: 3_000 },
  },
  ...(env.HEARTBEAT_MS ? { downtime: { heartbeatMs: Number(env.HEARTBEAT_MS) } } : {}),
  shutdown: { deadlineMs: 5_000 },
});
await runtime.start();
print({ event: "started", instanceId: runtime.instanceId });

let stopping = false;
process.once("SIGTERM", () => { stopping = true; });
const noMoreSends = () => stopping || (env.SENDS_STOP_FILE !== undefined && existsSync(env.SENDS_STOP_FILE));
const timers = [];

const noteChats = (env.NOTE_CHATS ?? "").split(",").filter(Boolean).map(Number);
if (Number(env.NOTE_EVERY_MS ?? 0) > 0 && noteChats.length > 0) {
  let n = 0;
  timers.push(setInterval(() => {
    if (noMoreSends()) return;
    n++;
    const key = `note:${name}:${n}`;
    const chatId = noteChats[(n * 7 + name.length) % noteChats.length];
    const text = `note ${name} ${n}`;
    print({ event: "send", key, chatId, text });
    runtime.outbox.send("sendMessage", { chat_id: chatId, text }, { idempotencyKey: key }).then(
      () => print({ event: "sent", key }),
      (error) => print({ event: "send-error", key, message: String(error?.message ?? error) }),
    );
  }, Number(env.NOTE_EVERY_MS)));
}

if (Number(env.BROADCAST_EVERY_MS ?? 0) > 0 && env.BROADCAST_FILE) {
  const chats = JSON.parse(readFileSync(env.BROADCAST_FILE, "utf8"));
  let n = 0;
  timers.push(setInterval(() => {
    if (noMoreSends()) return;
    n++;
    const key = `bc:${name}:${n}`;
    const text = `bc ${name} ${n}`;
    print({ event: "broadcast", key, text, chats: chats.length });
    runtime.outbox.broadcast(chats, "sendMessage", { text }, { idempotencyKey: key }).then(
      ({ jobs }) => print({ event: "broadcasted", key, jobs }),
      (error) => print({ event: "broadcast-error", key, message: String(error?.message ?? error) }),
    );
  }, Number(env.BROADCAST_EVERY_MS)));
}

try {
  await runtime.wait();
  print({ event: "stopped" });
} catch (error) {
  print({ event: "fatal", message: error.message });
  process.exitCode = 2;
} finally {
  for (const t of timers) clearInterval(t);
}
