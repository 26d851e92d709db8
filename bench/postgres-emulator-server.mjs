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
 * - `prefill <token> <n>`: the users, round robin, send `n` texts; `{"event":"prefilled","count","at"}`
 *   (`at`: wall-clock ms when the last was created: none was fetched before, as the loop holds the
 *   event loop).
 * - `users <k>`: `{"event":"users","ids"}`, the first k users' chat ids.
 * - `stats <token>`: `{"event":"stats","first_get_updates_at","polls"}` (wall-clock ms).
 * - `polls <token> <since>`: `{"event":"polls","first_after"}`, the first getUpdates at or after
 *   `since` (wall-clock ms), or null.
 * - `sends <token>`: `{"event":"sends","delivered","first_at","last_at","responses_429"}`:
 *   sendMessage calls answered 200 (wall-clock times as the emulator answered) and 429s.
 * - `exit`: closes the server and exits.
 */
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { botOf, parseNumberArgs, send, serveCommands, serverShutdown } from "./lib/emulator-process.mjs";

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
const bot = (token) => botOf(emulator, token);

await serveCommands({
  bot: () => send({ event: "bot", token: emulator.createBot().token }),
  prefill: ([token, n]) => {
    const target = bot(token);
    for (let i = 0; i < Number(n); i++) users[next++ % users.length].sendText(target, `p ${i}`);
    // The loop holds this event loop: no update leaves before now.
    send({ event: "prefilled", count: Number(n), at: wallNow() });
  },
  users: ([k]) => send({ event: "users", ids: users.slice(0, Number(k)).map((u) => u.id) }),
  stats: ([token]) => {
    const p = polls.get(bot(token).token) ?? [];
    send({ event: "stats", first_get_updates_at: p[0] ?? null, polls: p.length });
  },
  polls: ([token, since]) => send({ event: "polls", first_after: (polls.get(bot(token).token) ?? []).find((t) => t >= Number(since)) ?? null }),
  sends: ([token]) => {
    const s = sends.get(bot(token).token) ?? { delivered: 0, first: null, last: null, r429: 0 };
    send({ event: "sends", delivered: s.delivered, first_at: s.first, last_at: s.last, responses_429: s.r429 });
  },
}, shutdown);
