#!/usr/bin/env node
/**
 * The emulator side of `bench/postgres.mjs`, in its own process: one emulator with `--users`
 * users who started every bot, served over HTTP, with flood limits off (`--limits 0`, the
 * inbound runs) or Telegram's real ones (`--limits 1`, the senders' run).
 *
 * Usage: node bench/postgres-emulator-server.mjs [--users 1000] [--limits 0|1] [--port 0]
 *
 * Protocol (one JSON object per line): `{"event":"ready","url","pid","users"}` once listening;
 * stdin commands, each answered on stdout:
 * - `bot`: a fresh bot; `{"event":"bot","token"}`.
 * - `prefill <token> <n>`: the users, round robin, send `n` texts; `{"event":"prefilled","count"}`.
 * - `users <k>`: `{"event":"users","ids"}`, the first k users' chat ids.
 * - `stats <token>`: `{"event":"stats","first_get_updates_at","polls"}` (wall-clock ms).
 * - `polls <token> <since>`: `{"event":"polls","first_after"}`, the first getUpdates at or after
 *   `since` (wall-clock ms), or null.
 * - `sends <token>`: `{"event":"sends","delivered","first_at","last_at","responses_429"}`:
 *   sendMessage calls answered 200 (wall-clock times as the emulator answered) and 429s.
 * - `exit`: closes the server and exits.
 */
import { createInterface } from "node:readline";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseNumberArgs, send, serverShutdown } from "./lib/emulator-process.mjs";

const args = parseNumberArgs(process.argv.slice(2), "postgres-emulator-server.mjs [--users N] [--limits 0|1] [--port N]");
const userCount = Math.max(1, args.users ?? 1000);
const wallNow = () => performance.timeOrigin + performance.now();

const emulator = createEmulator({ seed: 11, ...(args.limits === 1 ? {} : { limits: false }) });
const users = Array.from({ length: userCount }, (_, i) => emulator.createUser({ startedBots: true, firstName: `User${i}` }));
/** Per token: getUpdates times; sendMessage answers. */
const polls = new Map();
const sends = new Map();
const original = emulator.handle.bind(emulator);
emulator.handle = async (call) => {
  const method = call.method.toLowerCase();
  if (method === "getupdates") polls.set(call.token, [...(polls.get(call.token) ?? []), wallNow()]);
  const outcome = await original(call);
  if (method === "sendmessage" && outcome.kind === "answer") {
    const s = sends.get(call.token) ?? { delivered: 0, first: null, last: null, r429: 0 };
    if (outcome.status === 429) s.r429++;
    else if (outcome.status === 200) {
      s.delivered++;
      s.first ??= wallNow();
      s.last = wallNow();
    }
    sends.set(call.token, s);
  }
  return outcome;
};

const server = await startEmulatorServer(emulator, { port: args.port ?? 0 });
send({ event: "ready", url: server.url, pid: process.pid, users: userCount });
let next = 0;
const shutdown = serverShutdown(server, emulator);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, ...rest] = line.trim().split(/\s+/);
  try {
    if (command === "bot") {
      send({ event: "bot", token: emulator.createBot().token });
    } else if (command === "prefill") {
      const bot = botOf(rest[0]);
      const n = Number(rest[1]);
      for (let i = 0; i < n; i++) users[next++ % users.length].sendText(bot, `p ${i}`);
      send({ event: "prefilled", count: n });
    } else if (command === "users") {
      send({ event: "users", ids: users.slice(0, Number(rest[0])).map((u) => u.id) });
    } else if (command === "stats") {
      const p = polls.get(botOf(rest[0]).token) ?? [];
      send({ event: "stats", first_get_updates_at: p[0] ?? null, polls: p.length });
    } else if (command === "polls") {
      const since = Number(rest[1]);
      send({ event: "polls", first_after: (polls.get(botOf(rest[0]).token) ?? []).find((t) => t >= since) ?? null });
    } else if (command === "sends") {
      const s = sends.get(botOf(rest[0]).token) ?? { delivered: 0, first: null, last: null, r429: 0 };
      send({ event: "sends", delivered: s.delivered, first_at: s.first, last_at: s.last, responses_429: s.r429 });
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
