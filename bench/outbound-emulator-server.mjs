#!/usr/bin/env node
/**
 * The emulator side of `bench/outbound.mjs`, in its own process: one emulator with `--users`
 * users (ids `--first-id` …, each started every bot, so bots may write first), served over
 * HTTP on a free port, counting every sendMessage answer it gives.
 *
 * Flood limits: `--scale S` enforces Telegram's limits with every rate ×S (30·S/s per bot,
 * S/s per private chat with the usual burst of 3, 20·S per minute per group, 1000·S/s paid);
 * `--scale 0` switches limits off. `--latency-ms L` adds L ms (± 20 %) before every
 * sendMessage is handled, standing in for the network between a bot and Telegram.
 *
 * Each run creates a fresh bot (fresh token): its flood-control buckets start full and its
 * counters at zero, so no run sees another's sends.
 *
 * Usage: node bench/outbound-emulator-server.mjs [--scale 10] [--latency-ms 0] [--users 3000] [--first-id 1000000]
 *
 * Protocol (one JSON object per line):
 * - stdout, once listening: `{"event":"ready","url","pid","users","first_id","scale","limits"}`.
 * - stdin commands, each answered on stdout:
 *   - `bot`: a fresh bot; `{"event":"bot","token","bot_id"}`.
 *   - `stats <token> [<threshold ms>]`: sendMessage answers for that bot so far:
 *     `{"event":"stats","ok","responses_429","other_errors","first_ok_at","last_ok_at","first_call_at","chats","duplicates","cpu_ms","max_gap_ms","gaps_over","gap_excess_ms"}`
 *     (times: wall-clock epoch ms when the answer was decided; `duplicates`: ok answers beyond
 *     one per chat; `cpu_ms`: this process's CPU time so far; `max_gap_ms`: longest pause between
 *     two accepted sends; `gaps_over`/`gap_excess_ms`: pauses longer than the threshold, and
 *     their total length beyond it).
 *   - `exit`: closes the server and exits.
 * SIGTERM and SIGINT close the server too; stdin closing (the parent died) exits.
 */
import { createInterface } from "node:readline";
import { createEmulator, startEmulatorServer } from "../dist/emulator/index.js";
import { parseNumberArgs, send, serverShutdown } from "./lib/emulator-process.mjs";

const args = parseNumberArgs(process.argv.slice(2), "outbound-emulator-server.mjs [--scale S] [--latency-ms L] [--users N] [--first-id ID] [--port P]");
const scale = args.scale ?? 10;
const userCount = Math.max(1, args.users ?? 3000);
const firstId = args["first-id"] ?? 1_000_000;
const latencyMs = args["latency-ms"] ?? 0;
const wallNow = () => performance.timeOrigin + performance.now();

const limits = scale > 0
  ? { perChat: { perSecond: 1 * scale, burst: 3 }, perGroupPerMinute: 20 * scale, perBotPerSecond: 30 * scale, paidBroadcastPerSecond: 1000 * scale }
  : false;
const emulator = createEmulator({ limits, seed: 11 });
for (let i = 0; i < userCount; i++) emulator.createUser({ id: firstId + i, startedBots: true, firstName: `User${i}` });
if (latencyMs > 0) {
  emulator.faults.add({ fault: { kind: "latency", ms: latencyMs * 0.8, jitterMs: latencyMs * 0.4 }, methods: ["sendMessage"] });
}

/** Per token: what its sendMessage calls were answered. */
const tallies = new Map();
const tallyOf = (token) => {
  let t = tallies.get(token);
  if (t === undefined) {
    t = { ok: 0, r429: 0, other: 0, firstOk: null, lastOk: null, firstCall: null, perChat: new Map(), okTimes: [] };
    tallies.set(token, t);
  }
  return t;
};
// Every transport calls `emulator.handle`; wrapping it sees each answer as it is decided.
const handle = emulator.handle.bind(emulator);
emulator.handle = async (call) => {
  if (call.method.toLowerCase() !== "sendmessage") return handle(call);
  const t = tallyOf(call.token);
  t.firstCall ??= wallNow();
  const outcome = await handle(call);
  const now = wallNow();
  if (outcome.kind === "answer" && outcome.status === 200) {
    t.ok++;
    t.firstOk ??= now;
    t.lastOk = now;
    t.okTimes.push(now);
    const chat = String(call.params.chat_id);
    t.perChat.set(chat, (t.perChat.get(chat) ?? 0) + 1);
  } else if (outcome.kind === "answer" && outcome.status === 429) t.r429++;
  else t.other++;
  return outcome;
};

const server = await startEmulatorServer(emulator, { port: args.port ?? 0 });
send({ event: "ready", url: server.url, pid: process.pid, users: userCount, first_id: firstId, scale, limits, latency_ms: latencyMs });

const shutdown = serverShutdown(server, emulator);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, ...rest] = line.trim().split(/\s+/);
  try {
    if (command === "bot") {
      const bot = emulator.createBot();
      send({ event: "bot", token: bot.token, bot_id: bot.id });
    } else if (command === "stats") {
      const t = tallyOf(rest[0] ?? "");
      const cpu = process.cpuUsage();
      // Pauses between accepted sends longer than `threshold` ms: for a sender whose bucket holds
      // b sends at r per second, the time beyond b / r of each pause is sending capacity lost.
      const threshold = Number(rest[1] ?? Infinity);
      let gapsOver = 0;
      let gapExcess = 0;
      let maxGap = 0;
      for (let i = 1; i < t.okTimes.length; i++) {
        const gap = t.okTimes[i] - t.okTimes[i - 1];
        maxGap = Math.max(maxGap, gap);
        if (gap > threshold) {
          gapsOver++;
          gapExcess += gap - threshold;
        }
      }
      send({
        event: "stats", ok: t.ok, responses_429: t.r429, other_errors: t.other, first_ok_at: t.firstOk, last_ok_at: t.lastOk,
        first_call_at: t.firstCall, chats: t.perChat.size, duplicates: t.ok - t.perChat.size, cpu_ms: (cpu.user + cpu.system) / 1000,
        max_gap_ms: Number(maxGap.toFixed(2)), gaps_over: gapsOver, gap_excess_ms: Number(gapExcess.toFixed(1)),
      });
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
