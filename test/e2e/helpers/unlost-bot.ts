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
import { openStore, type StoreOptions } from "../../../src/store/index.js";
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
  const { outOfOrder, overlaps } = chatOrderOf(procs.map((p) => ({ name: p.name, events: p.events() })));
  return { outOfOrder, overlaps };
}

/** One process's printed events for {@link chatOrderOf}, and when it died, if the caller knows. */
export interface ProcessRuns {
  readonly name: string;
  readonly events: ReadonlyArray<Record<string, unknown>>;
  /**
   * When the process could no longer run code (wall clock, ms): the moment its SIGKILL was
   * sent, or its exit was seen. A run that began and never printed its end lasted until then.
   * Unknown: such a run counts as a point at its `begin` (it cannot overlap anything after it).
   */
  readonly diedAt?: number;
}

/** An update whose first run started after the first run of a newer update of its chat. */
export interface OrderInversion {
  readonly chatId: number;
  readonly updateId: number;
  /** The process that first started it. */
  readonly by: string;
  /** The newer update that had started before it, and the process that started that one. */
  readonly after: number;
  readonly afterBy: string;
}

/** Two runs of one chat at once. */
export interface RunOverlap {
  readonly chatId: number;
  readonly first: { readonly updateId: number; readonly by: string; readonly begin: number; readonly end: number };
  readonly second: { readonly updateId: number; readonly by: string; readonly begin: number; readonly end: number };
}

/**
 * {@link chatOrder} over printed events (`begin` with `t`; `handled` with `end`, or `failed` with
 * `t`, ends a run), with every violation itemised: `inversions` counts updates (not chats) that
 * first started after a newer update of their chat, `overlapPairs` each pair of runs of one chat
 * at once. With `diedAt`, a run cut short by its process's death lasts until the death, so a run
 * another process started meanwhile in the same chat is caught as an overlap.
 */
export function chatOrderOf(procs: readonly ProcessRuns[]): {
  outOfOrder: string[];
  overlaps: string[];
  inversions: OrderInversion[];
  overlapPairs: RunOverlap[];
} {
  type Run = { updateId: number; begin: number; end: number; by: string };
  const runs = new Map<number, Run[]>();
  for (const p of procs) {
    const ended = new Map<number, number[]>();
    for (const e of p.events) {
      const end = e["event"] === "handled" ? Number(e["end"]) : e["event"] === "failed" ? Number(e["t"]) : undefined;
      if (end !== undefined) (ended.get(Number(e["updateId"])) ?? ended.set(Number(e["updateId"]), []).get(Number(e["updateId"]))!).push(end);
    }
    for (const e of p.events) {
      if (e["event"] !== "begin") continue;
      const updateId = Number(e["updateId"]);
      const chat = Number(e["chatId"]);
      // The run's end: the first end of this update at or after its begin; none: still running
      // when the process died (until then, if known).
      const begin = Number(e["t"]);
      const end = (ended.get(updateId) ?? []).find((t) => t >= begin) ?? p.diedAt ?? begin;
      (runs.get(chat) ?? runs.set(chat, []).get(chat)!).push({ updateId, begin, end: Math.max(begin, end), by: p.name });
    }
  }
  const outOfOrder: string[] = [];
  const overlaps: string[] = [];
  const inversions: OrderInversion[] = [];
  const overlapPairs: RunOverlap[] = [];
  for (const [chat, list] of runs) {
    list.sort((a, b) => a.begin - b.begin);
    const firstStarts: Run[] = [];
    for (const r of list) if (!firstStarts.some((f) => f.updateId === r.updateId)) firstStarts.push(r);
    const ids = firstStarts.map((r) => r.updateId);
    if (ids.join() !== [...ids].sort((a, b) => a - b).join()) outOfOrder.push(`chat ${chat}: ${ids.join(" ")}`);
    for (const [i, r] of firstStarts.entries()) {
      const newer = firstStarts.slice(0, i).find((f) => f.updateId > r.updateId);
      if (newer !== undefined) inversions.push({ chatId: chat, updateId: r.updateId, by: r.by, after: newer.updateId, afterBy: newer.by });
    }
    // Against the run that ends last so far, not only the previous one: a long run may span several.
    let last = list[0];
    for (const cur of list.slice(1)) {
      if (last !== undefined && cur.begin < last.end) {
        overlaps.push(`chat ${chat}: ${last.updateId} (${last.by}) and ${cur.updateId} (${cur.by})`);
        overlapPairs.push({ chatId: chat, first: last, second: cur });
      }
      if (last === undefined || cur.end > last.end) last = cur;
    }
  }
  return { outOfOrder, overlaps, inversions, overlapPairs };
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
 * The exactly-once completion counters `completed:<id>` of `ids`, read from the store (a SQLite
 * file path, or the options of a PostgreSQL store)
 * (open it only after every bot process on it has exited).
 */
export async function readCompletions(where: string | StoreOptions, ids: readonly number[]): Promise<Map<number, number>> {
  const store = await openStore(typeof where === "string" ? { path: where } : where);
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
