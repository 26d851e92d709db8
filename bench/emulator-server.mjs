#!/usr/bin/env node
/**
 * The emulator side of `bench/emulator.mjs`, in its own process: one emulator with flood limits
 * off, one bot and a few users (who started the bot), served over HTTP on a free port.
 *
 * Usage: node bench/emulator-server.mjs [--users 16] [--prefill 0] [--port 0]
 *
 * Protocol (one JSON object per line):
 * - stdout, once listening: `{"event":"ready","url","token","bot_id","user_ids","prefilled"}`.
 * - stdin commands, each answered on stdout:
 *   - `prefill <n>`: the users send `n` texts to the bot through the in-process API (the HTTP
 *     control endpoint creates one message per request, far too slow for 200 000 updates);
 *     answers `{"event":"prefilled","count","ms","pending"}`.
 *   - `exit`: closes the server and exits (so a `--cpu-prof` profile gets written).
 * SIGTERM and SIGINT close the server too; stdin closing (the parent died) exits.
 */
import { createInterface } from "node:readline";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseNumberArgs, send, serverShutdown } from "./lib/emulator-process.mjs";

const args = parseNumberArgs(process.argv.slice(2), "emulator-server.mjs [--users N] [--prefill N] [--port N]");
const userCount = Math.max(1, args.users ?? 16);

const emulator = createEmulator({ limits: false, seed: 42 });
const bot = emulator.createBot({ username: "bench_bot" });
const users = Array.from({ length: userCount }, (_, i) => emulator.createUser({ startedBots: true, firstName: `User${i}` }));

const initial = args.prefill ?? 0;
if (initial > 0) prefill(initial);

const server = await startEmulatorServer(emulator, { port: args.port ?? 0 });
send({
  event: "ready",
  url: server.url,
  token: bot.token,
  bot_id: bot.id,
  user_ids: users.map((u) => u.id),
  prefilled: initial,
  pid: process.pid,
});

const shutdown = serverShutdown(server, emulator, { failOnInternalErrors: false });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === "prefill") {
    const started = performance.now();
    const count = prefill(Number(arg));
    send({ event: "prefilled", count, ms: Math.round(performance.now() - started), pending: bot.updates.count() });
  } else if (command === "exit") {
    void shutdown();
  } else if (command !== "") {
    send({ event: "error", message: `unknown command ${JSON.stringify(line)}` });
  }
});
lines.on("close", () => void shutdown());

/** The users, round robin, each send a text to the bot: `n` message updates. */
function prefill(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`prefill takes a count, got ${n}`);
  for (let i = 0; i < n; i++) users[i % users.length].sendText(bot, `hi ${i}`);
  return n;
}
