#!/usr/bin/env node
/**
 * The emulator side of `bench/inbound.mjs`, in its own process: one emulator with flood limits
 * off and `--users` users who started every bot, served over HTTP on a free port. Each
 * benchmark round creates a fresh bot (fresh token), so no round sees another's updates.
 *
 * Every update is a text whose body is its creation time: `p <ms>` (pre-filled backlog) or
 * `s <ms>` (steady load), `<ms>` being wall-clock epoch ms with sub-ms digits
 * (`performance.timeOrigin + performance.now()`), comparable with the bot process's clock on
 * the same machine. Handlers subtract it from their own start time.
 *
 * Usage: node bench/inbound-emulator-server.mjs [--users 1000] [--port 0]
 *
 * Protocol (one JSON object per line):
 * - stdout, once listening: `{"event":"ready","url","pid","users"}`.
 * - stdin commands, each answered on stdout:
 *   - `bot`: a fresh bot; `{"event":"bot","token","bot_id"}`.
 *   - `prefill <token> <n>`: the users, round robin, send `n` texts to the bot through the
 *     in-process API; `{"event":"prefilled","count","ms","pending"}`.
 *   - `steady <token> <rate> <seconds>`: the users send texts at `rate` per second for
 *     `seconds`; `{"event":"steady-done","count","seconds","rate","max_lag_ms"}` when finished
 *     (`max_lag_ms`: how far the producer fell behind its schedule at worst).
 *   - `stats <token>`: `{"event":"stats","first_get_updates_at","get_updates_calls","pending","cpu_ms"}`
 *     (`first_get_updates_at`: wall-clock ms when the bot's first getUpdates arrived, or null;
 *     `cpu_ms`: this process's CPU time so far).
 *   - `exit`: closes the server and exits.
 * SIGTERM and SIGINT close the server too; stdin closing (the parent died) exits.
 */
import { createInterface } from "node:readline";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseNumberArgs, send, serverShutdown } from "./lib/emulator-process.mjs";

const args = parseNumberArgs(process.argv.slice(2), "inbound-emulator-server.mjs [--users N] [--port N]");
const userCount = Math.max(1, args.users ?? 1000);
const wallNow = () => performance.timeOrigin + performance.now();

const emulator = createEmulator({ limits: false, seed: 7 });
const users = Array.from({ length: userCount }, (_, i) => emulator.createUser({ startedBots: true, firstName: `User${i}` }));
/** Per token: when its first getUpdates arrived and how many there were. */
const polls = new Map();
emulator.onCall((call) => {
  if (call.method.toLowerCase() !== "getupdates") return;
  const p = polls.get(call.token);
  if (p === undefined) polls.set(call.token, { first: wallNow(), calls: 1 });
  else p.calls++;
});

const server = await startEmulatorServer(emulator, { port: args.port ?? 0 });
send({ event: "ready", url: server.url, pid: process.pid, users: userCount });

let next = 0; // round-robin position over the users, across commands
const shutdown = serverShutdown(server, emulator);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, ...rest] = line.trim().split(/\s+/);
  try {
    if (command === "bot") {
      const bot = emulator.createBot();
      send({ event: "bot", token: bot.token, bot_id: bot.id });
    } else if (command === "prefill") {
      const bot = botOf(rest[0]);
      const n = Number(rest[1]);
      const started = performance.now();
      for (let i = 0; i < n; i++) sendOne(bot, "p");
      send({ event: "prefilled", count: n, ms: Math.round(performance.now() - started), pending: bot.updates.count() });
    } else if (command === "steady") {
      void steady(botOf(rest[0]), Number(rest[1]), Number(rest[2]));
    } else if (command === "stats") {
      const bot = botOf(rest[0]);
      const p = polls.get(bot.token);
      const cpu = process.cpuUsage();
      send({ event: "stats", first_get_updates_at: p?.first ?? null, get_updates_calls: p?.calls ?? 0, pending: bot.updates.count(), cpu_ms: (cpu.user + cpu.system) / 1000 });
    } else if (command === "exit") {
      void shutdown();
    } else if (command !== "") {
      send({ event: "error", message: `unknown command ${JSON.stringify(line)}` });
    }
  } catch (error) {
    send({ event: "error", message: error instanceof Error ? error.message : String(error) });
  }
});
lines.on("close", () => void shutdown());

function botOf(token) {
  const bot = emulator.bot(token ?? "");
  if (bot === undefined) throw new Error(`no bot with token ${JSON.stringify(token)}`);
  return bot;
}

function sendOne(bot, kind) {
  users[next++ % users.length].sendText(bot, `${kind} ${wallNow().toFixed(3)}`);
}

/**
 * A producer at a fixed rate: every timer tick (~1 ms) it creates the updates that are due by
 * now, so the rate holds on average even though timers are coarse. Each update carries its own
 * creation time, so the producer's burstiness does not hide in the latency.
 */
async function steady(bot, rate, seconds) {
  if (!(rate > 0) || !(seconds > 0)) throw new Error(`steady takes a rate and seconds, got ${rate} ${seconds}`);
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let sent = 0;
  let maxLag = 0;
  while (sent < total) {
    const elapsed = performance.now() - started;
    const due = Math.min(total, Math.floor((elapsed * rate) / 1000));
    if (due - sent > 0) maxLag = Math.max(maxLag, ((due - sent) / rate) * 1000);
    while (sent < due) {
      sendOne(bot, "s");
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const took = (performance.now() - started) / 1000;
  send({ event: "steady-done", count: sent, seconds: Number(took.toFixed(3)), rate: Math.round(sent / took), max_lag_ms: Number(maxLag.toFixed(1)) });
}
