/**
 * The bot module `bench/postgres.mjs` runs with `unlost run` (a setup function: unlost makes the
 * Bot from BOT_TOKEN and `--api-root`). Its handler is a no-op that records, for the order check,
 * each message's update_id, chat and start time (wall-clock epoch ms, comparable across the
 * processes of one machine).
 *
 * Protocol (one JSON object per line on stdout; unlost's own log lines are JSON without `event`
 * and are ignored by the bench; commands on stdin):
 * - `{"event":"ready","pid"}` once the runtime started.
 * - `{"event":"poll","at"}` at this process's first getUpdates, when env BENCH_WATCH_POLLS=1
 *   (a transformer sees getUpdates: the runtime then polls through grammY's client).
 * - stdin `count`: `{"event":"count","started"}`, how many handler runs this process started
 *   (in memory: no store read).
 * - stdin `watch <n>`: `{"event":"done","done_at"}` once the store counts n updates done
 *   (their completions committed: durable), polled every 10 ms.
 * - stdin `report`: `{"event":"report","ids","chats","starts","received"}` (this process's
 *   handler starts, and when each update was stored: `ctx.unlost.receivedAt`).
 * - stdin `broadcast <chat id>…`: enqueues one sendMessage per chat (`runtime.outbox.broadcast`),
 *   answers `{"event":"broadcast","jobs"}` once the jobs are durable.
 * - stdin `exit`: SIGTERM to itself: unlost stops gracefully and the process exits.
 */
import { createInterface } from "node:readline";
import pg from "pg";

const wallNow = () => performance.timeOrigin + performance.now();
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
// The bench may have stopped reading (it killed this process's peer, or is done).
process.stdout.on("error", () => undefined);

/**
 * With env BENCH_COUNT_QUERIES=1: every statement this process sends (by its first words) is
 * counted with its round-trip time, for `report` (statements per update, where the time goes).
 */
const queries = new Map();
if (process.env.BENCH_COUNT_QUERIES === "1") {
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, values, callback) {
    const text = typeof config === "string" ? config : config?.text ?? "";
    const key = text.replace(/\s+/g, " ").trim().slice(0, 70);
    const started = performance.now();
    const result = query.call(this, config, values, callback);
    if (result && typeof result.then === "function") {
      result.then(
        () => { const q = queries.get(key) ?? { n: 0, ms: 0 }; q.n++; q.ms += performance.now() - started; queries.set(key, q); },
        () => undefined,
      );
    }
    return result;
  };
}

export default function setup(bot, { runtime, onStop }) {
  const ids = [];
  const chats = [];
  const starts = [];
  const received = [];
  bot.on("message", (ctx) => {
    ids.push(ctx.update.update_id);
    chats.push(ctx.chat.id);
    starts.push(wallNow());
    received.push(ctx.unlost.receivedAt);
  });
  if (process.env.BENCH_WATCH_POLLS === "1") {
    let seen = false;
    bot.api.config.use((prev, method, payload, signal) => {
      if (method === "getUpdates" && !seen) {
        seen = true;
        print({ event: "poll", at: wallNow() });
      }
      return prev(method, payload, signal);
    });
  }
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [command, ...rest] = line.trim().split(/\s+/);
    if (command === "queries-reset") { queries.clear(); print({ event: "queries-reset" }); }
    else if (command === "count") print({ event: "count", started: ids.length });
    else if (command === "watch") void watch(runtime, Number(rest[0]));
    else if (command === "report") print({ event: "report", ids, chats, starts, received, queries: Object.fromEntries(queries) });
    else if (command === "broadcast") {
      runtime.outbox.broadcast(rest.map(Number), "sendMessage", { text: "bench news" }).then(
        (r) => print({ event: "broadcast", jobs: r.jobs }),
        (e) => print({ event: "error", message: `broadcast failed: ${e instanceof Error ? e.message : String(e)}` }),
      );
    } else if (command === "exit") process.kill(process.pid, "SIGTERM");
  });
  onStop(() => lines.close());
  // Ready once started (the outbox exists only then; `unlost run` starts right after setup).
  const started = setInterval(() => {
    try {
      void runtime.outbox;
    } catch {
      return;
    }
    clearInterval(started);
    print({ event: "ready", pid: process.pid });
  }, 10);
}

async function watch(runtime, n) {
  for (;;) {
    try {
      const stats = await runtime.stats();
      if (stats.inbox.done >= n) {
        print({ event: "done", done_at: wallNow(), done: stats.inbox.done });
        return;
      }
    } catch {
      // Not started yet: ask again.
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
