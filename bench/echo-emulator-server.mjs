#!/usr/bin/env node
/**
 * The emulator side of `bench/echo.mjs`, in its own process: one emulator with flood limits
 * off and `--users` users who started every bot, served over HTTP on a free port. Each run
 * creates a fresh bot (fresh token), so no run sees another's updates or replies.
 *
 * Every pre-filled update is a text `e <seq>` (seq 0 … n-1, round robin over the users); the
 * echo bot answers each with the same text in the same chat. This process counts the accepted
 * sendMessage answers per seq: how many seqs got a reply (`distinct`), how many replies came
 * beyond one per seq (`duplicates`), replies with a text that was never sent or in the wrong
 * chat (`strays`), and when the first and last reply were accepted.
 *
 * Usage: node bench/echo-emulator-server.mjs [--users 1000] [--port 0]
 *
 * Protocol (one JSON object per line):
 * - stdout, once listening: `{"event":"ready","url","pid","users"}`.
 * - stdin commands, each answered on stdout:
 *   - `bot`: a fresh bot; `{"event":"bot","token","bot_id"}`.
 *   - `prefill <token> <n>`: the users send `n` texts; `{"event":"prefilled","count","ms","pending"}`.
 *   - `wait <token>`: answers `{"event":"replied",…tally}` once every pre-filled text got a reply.
 *   - `tally <token>`: `{"event":"tally","distinct","duplicates","strays","first_reply_at","last_reply_at","cpu_ms"}`
 *     (times: wall-clock epoch ms).
 *   - `exit`: closes the server and exits.
 */
import { createInterface } from "node:readline";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseNumberArgs, send, serverShutdown } from "./lib/emulator-process.mjs";

const args = parseNumberArgs(process.argv.slice(2), "echo-emulator-server.mjs [--users N] [--port N]");
const userCount = Math.max(1, args.users ?? 1000);
const wallNow = () => performance.timeOrigin + performance.now();

const emulator = createEmulator({ limits: false, seed: 9 });
const users = Array.from({ length: userCount }, (_, i) => emulator.createUser({ startedBots: true, firstName: `User${i}` }));

/** Per token: the replies counted so far. */
const tallies = new Map();
function tallyOf(token) {
  let t = tallies.get(token);
  if (t === undefined) {
    t = { n: 0, replies: new Uint16Array(0), chatOf: new Float64Array(0), distinct: 0, duplicates: 0, strays: 0, first: null, last: null, onDone: null };
    tallies.set(token, t);
  }
  return t;
}

// Every transport calls `emulator.handle`; wrapping it sees each answer as it is decided.
const handle = emulator.handle.bind(emulator);
emulator.handle = async (call) => {
  if (call.method.toLowerCase() !== "sendmessage") return handle(call);
  const outcome = await handle(call);
  if (outcome.kind !== "answer" || outcome.status !== 200) return outcome;
  const t = tallyOf(call.token);
  const now = wallNow();
  t.first ??= now;
  t.last = now;
  const text = String(call.params.text ?? "");
  const seq = text.startsWith("e ") ? Number(text.slice(2)) : NaN;
  if (!(Number.isInteger(seq) && seq >= 0 && seq < t.n) || t.chatOf[seq] !== Number(call.params.chat_id)) {
    t.strays++;
    return outcome;
  }
  if (t.replies[seq]++ === 0) {
    t.distinct++;
    if (t.distinct === t.n && t.onDone !== null) t.onDone();
  } else t.duplicates++;
  return outcome;
};

const server = await startEmulatorServer(emulator, { port: args.port ?? 0 });
send({ event: "ready", url: server.url, pid: process.pid, users: userCount });
const shutdown = serverShutdown(server, emulator);

let next = 0;
const summary = (t) => {
  const cpu = process.cpuUsage();
  return { distinct: t.distinct, duplicates: t.duplicates, strays: t.strays, first_reply_at: t.first, last_reply_at: t.last, cpu_ms: (cpu.user + cpu.system) / 1000 };
};
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
      const t = tallyOf(bot.token);
      t.n = n;
      t.replies = new Uint16Array(n);
      t.chatOf = new Float64Array(n);
      const started = performance.now();
      for (let seq = 0; seq < n; seq++) {
        const user = users[next++ % users.length];
        t.chatOf[seq] = user.id;
        user.sendText(bot, `e ${seq}`);
      }
      send({ event: "prefilled", count: n, ms: Math.round(performance.now() - started), pending: bot.updates.count() });
    } else if (command === "wait") {
      const t = tallyOf(botOf(rest[0]).token);
      if (t.n > 0 && t.distinct === t.n) send({ event: "replied", ...summary(t) });
      else t.onDone = () => { t.onDone = null; send({ event: "replied", ...summary(t) }); };
    } else if (command === "tally") {
      send({ event: "tally", ...summary(tallyOf(botOf(rest[0]).token)) });
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
