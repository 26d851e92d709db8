/**
 * Helpers for end-to-end tests of the unlost runtime: start the fixture bot
 * (`fixtures/unlost-bot.mjs`) against an in-process emulator with a SQLite store in a temp
 * folder, read what it printed (handled events, the runtime's JSON log lines), and read what it
 * committed (the exactly-once completion counters `completed:<update_id>`) from the store file
 * after it exited.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EmulatorServer, SimBot, SimUser } from "../../../src/emulator/index.js";
import { openStore } from "../../../src/store/index.js";
import { spawnBotProcess, type BotExit, type BotProcess } from "./bot-process.js";
import type { SentMessage } from "./emulator-probes.js";

/** The unlost fixture bot. */
export const UNLOST_BOT = fileURLToPath(new URL("../fixtures/unlost-bot.mjs", import.meta.url));

/** A temp folder for one test (store file, execution log); `remove()` deletes it. */
export interface TempDir {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function makeTempDir(prefix = "unlost-e2e-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file: (name) => join(path, name),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** Starts the unlost fixture bot against `server` as `sim`; `env` adds to or overrides the defaults. */
export function startUnlostBot(server: EmulatorServer, sim: SimBot, env: Record<string, string>, name = "unlost-bot"): BotProcess {
  return spawnBotProcess(UNLOST_BOT, { name, env: { API_ROOT: server.url, BOT_TOKEN: sim.token, LOG_LEVEL: "info", ...env } });
}

/** SIGTERM, then the exit (a graceful stop). */
export async function stopGracefully(p: BotProcess): Promise<BotExit> {
  if (!p.hasExited()) p.child.kill("SIGTERM");
  return p.exited;
}

export const isHandled = (e: Record<string, unknown>): boolean => e["event"] === "handled";
export const isStarted = (e: Record<string, unknown>): boolean => e["event"] === "started";

/** A `{"event":"handled"}` line of the fixture. */
export interface HandledEvent {
  readonly updateId: number;
  readonly chatId: number;
  readonly text: string;
  readonly attempt: number;
  readonly recovered: boolean;
  readonly arrivedWhileDown: boolean;
  /** Wall-clock start and end of the run (ms). */
  readonly begin: number;
  readonly end: number;
  /** The process that ran it. */
  readonly by: string;
}

/** Every handled event the processes printed, in order (process by process). */
export function handledEvents(...procs: readonly BotProcess[]): HandledEvent[] {
  return procs.flatMap((p) =>
    p.events().filter(isHandled).map((e) => ({
      updateId: Number(e["updateId"]),
      chatId: Number(e["chatId"]),
      text: String(e["text"]),
      attempt: Number(e["attempt"]),
      recovered: e["recovered"] === true,
      arrivedWhileDown: e["arrivedWhileDown"] === true,
      begin: Number(e["begin"]),
      end: Number(e["end"]),
      by: p.name,
    })),
  );
}

/**
 * Order and overlap per chat over every run of every process: `outOfOrder` lists chats whose
 * updates did not *first* start in update_id order; `overlaps` lists two runs of one chat
 * whose [begin, end] intervals intersect (two handlers of a chat at once), with the
 * processes. Runs that began and never ended (a kill) count from their `begin` event on.
 */
export function chatOrder(...procs: readonly BotProcess[]): { outOfOrder: string[]; overlaps: string[] } {
  const runs = new Map<number, Array<{ updateId: number; begin: number; end: number; by: string }>>();
  for (const p of procs) {
    const ended = new Map<number, number[]>();
    for (const e of p.events()) if (isHandled(e)) (ended.get(Number(e["updateId"])) ?? ended.set(Number(e["updateId"]), []).get(Number(e["updateId"]))!).push(Number(e["end"]));
    for (const e of p.events()) {
      if (e["event"] !== "begin") continue;
      const updateId = Number(e["updateId"]);
      const chat = Number(e["chatId"]);
      // The run's end: the first `handled` of this update at or after its begin; none: still running at a kill (to the process's end).
      const begin = Number(e["t"]);
      const end = (ended.get(updateId) ?? []).find((t) => t >= begin) ?? Number.POSITIVE_INFINITY;
      (runs.get(chat) ?? runs.set(chat, []).get(chat)!).push({ updateId, begin, end: Number.isFinite(end) ? end : begin, by: p.name });
    }
  }
  const outOfOrder: string[] = [];
  const overlaps: string[] = [];
  for (const [chat, list] of runs) {
    list.sort((a, b) => a.begin - b.begin);
    const firstStarts: number[] = [];
    for (const r of list) if (!firstStarts.includes(r.updateId)) firstStarts.push(r.updateId);
    const sorted = [...firstStarts].sort((a, b) => a - b);
    if (firstStarts.join() !== sorted.join()) outOfOrder.push(`chat ${chat}: ${firstStarts.join(" ")}`);
    // Against the run that ends last so far, not only the previous one: a long run may span several.
    let last = list[0];
    for (const cur of list.slice(1)) {
      if (last !== undefined && cur.begin < last.end) overlaps.push(`chat ${chat}: ${last.updateId} (${last.by}) and ${cur.updateId} (${cur.by})`);
      if (last === undefined || cur.end > last.end) last = cur;
    }
  }
  return { outOfOrder, overlaps };
}

/** The runtime's own log lines (pino JSON: `msg`, `level`), optionally only those whose message matches. */
export function logLines(p: BotProcess, msg?: RegExp): Array<Record<string, unknown>> {
  return p.events().filter((e) => typeof e["msg"] === "string" && (msg === undefined || msg.test(e["msg"] as string)));
}

/** How many times each id occurs. */
export function countBy(ids: Iterable<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Executions per update id from an EXEC_LOG file (a handler run that reached its end). */
export function readExecLog(path: string): Map<number, number> {
  if (!existsSync(path)) return new Map();
  return countBy(readFileSync(path, "utf8").split("\n").filter(Boolean).map(Number));
}

/**
 * The exactly-once completion counters `completed:<id>` of `ids`, read from the store file
 * (open it only after every bot process on it has exited).
 */
export async function readCompletions(dbPath: string, ids: readonly number[]): Promise<Map<number, number>> {
  const store = await openStore({ path: dbPath });
  try {
    const out = new Map<number, number>();
    for (const id of ids) {
      const v = await store.state.getValue(`completed:${id}`);
      out.set(id, v === null ? 0 : Number(v));
    }
    return out;
  } finally {
    await store.close();
  }
}

/** Update ids of the `sent` messages, from the emulator's update log (matched by chat and message id). */
export function updateIdsOf(sim: SimBot, sent: readonly SentMessage[]): number[] {
  const byMessage = new Map<string, number>();
  for (const u of sim.updateLog) {
    const m = (u as { message?: { chat: { id: number }; message_id: number } }).message;
    if (m !== undefined) byMessage.set(`${m.chat.id}:${m.message_id}`, u.update_id);
  }
  return sent.map((m) => {
    const id = byMessage.get(`${m.chatId}:${m.messageId}`);
    if (id === undefined) throw new Error(`no update for message ${m.messageId} in chat ${m.chatId}`);
    return id;
  });
}

/** A user sends `text`; returns what the fixture should reply (`re: <text>`, as a reply to it). */
export function send(sim: SimBot, user: SimUser, text: string): SentMessage {
  const m = user.sendText(sim, text);
  return { chatId: user.id, messageId: m.message_id, text, expectedReply: `re: ${text}` };
}

/**
 * The replies in one chat, as the message ids they answer, in delivery order (the fixture
 * replies with `reply_parameters`). Deliveries with no reply target (alerts, notices) are left out.
 */
export function replyTargets(sim: SimBot, chatId: number): number[] {
  return sim.record.to(chatId).flatMap((d) => (d.replyToMessageId === undefined || d.replyToMessageId === null ? [] : [d.replyToMessageId]));
}

/** `targets` with every repeat of an earlier id removed (the first reply of each message, in order). */
export function firstOccurrences(targets: readonly number[]): number[] {
  const seen = new Set<number>();
  return targets.filter((t) => (seen.has(t) ? false : (seen.add(t), true)));
}
