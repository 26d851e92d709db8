/**
 * Tasks under `kill -9`: the fixture bot (TASKS=1) adds a durable task with each message's
 * completion (`ctx.unlost.task`); each task writes a file in its temp folder, works a while,
 * sends "job done: <text>" through its `api` and returns. The bot is killed several times while
 * tasks run (with their temp files written) and restarted. At the end: one task per message
 * (a retried update did not add its task twice), each done exactly once with its result, its
 * message delivered (a duplicate only where the outbox counted an ambiguous attempt), and no
 * temp folder left behind.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore, SqliteStore } from "../../src/store/index.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { prng, until } from "./helpers/outbox-probes.js";
import { isStarted, makeTempDir, send, startUnlostBot, stopGracefully, type TempDir } from "./helpers/unlost-bot.js";

const USERS = 3;
const PER_USER = 4;
const KILLS = 4;

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];

beforeEach(async () => {
  tmp = makeTempDir("unlost-tasks-kill9-");
  emulator = createEmulator({ seed: 16, limits: false });
  sim = emulator.createBot({ username: "tasks_kill9_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: USERS }, (_, i) => emulator.createUser({ firstName: `T${i}` }));
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

const isTaskBegin = (e: Record<string, unknown>): boolean => e["event"] === "task-begin";
const tempFolders = (root: string): string[] => (existsSync(root) ? readdirSync(root) : []);

describe("tasks under kill -9", () => {
  it(`${KILLS} kill -9 while tasks run: each task added once, done once, its message delivered, every temp folder removed`, async () => {
    const random = prng(Number(process.env["TASKS_KILL9_SEED"] ?? 1616));
    const db = tmp.file("bot.sqlite");
    const tmpRoot = join(tmp.path, "tasks-tmp");
    const env = { DB_PATH: db, TASKS: "1", TASK_WORK_MS: "300", TASK_CONCURRENCY: "3", TASK_PER_USER: "1", UNPACED: "1", MAX_ATTEMPTS: "100", MAX_RECOVERIES: "100" };
    const sent: SentMessage[] = [];
    for (let n = 1; n <= PER_USER; n++) for (const u of users) sent.push(send(sim, u, `${u.user.first_name} #${n}`));

    const procs: BotProcess[] = [];
    const leftBehind: number[] = [];
    /** Tasks the store had done at each kill: no later run may begin them again. */
    const doneAtKill: Array<{ run: number; ids: string[] }> = [];
    for (let k = 0; k < KILLS; k++) {
      const p = startUnlostBot(server, sim, env, `run ${k + 1}`);
      procs.push(p);
      await p.waitForEvent(isStarted, { timeoutMs: 40_000 });
      // Killed while the n-th task this run began works (its temp file written); with n past the
      // first wave, tasks of this run have completed before the kill.
      const remaining = sent.length - (doneAtKill.at(-1)?.ids.length ?? 0);
      const n = 1 + Math.floor(random() * Math.min(6, remaining));
      await p.waitForEvent(isTaskBegin, { count: n, timeoutMs: 40_000 });
      await new Promise((r) => setTimeout(r, 50 + Math.floor(random() * 200)));
      await p.kill9();
      leftBehind.push(tempFolders(tmpRoot).length);
      doneAtKill.push({ run: k, ids: await doneIds(db) });
    }
    // The kills cut tasks off with their folders on disk: the sweep at start has work to do.
    expect(leftBehind.some((n) => n > 0)).toBe(true);

    const last = startUnlostBot(server, sim, env, "last run");
    procs.push(last);
    await last.waitForEvent(isStarted, { timeoutMs: 40_000 });
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 60_000, what: "every message answered" });
    await untilTasksDone(db, sent.length, 90_000);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const store = await openStore({ path: db });
    try {
      // One task per message although killed updates were handled again; each done once.
      expect(await store.tasks.counts()).toEqual([{ kind: "job", state: "done", count: sent.length }]);
      const outbox = await store.outbox.stats();
      let duplicates = 0;
      for (const u of users) {
        const texts = sim.record.to(u.id).map((m) => m.text ?? "").filter((t) => t.startsWith("job done: "));
        const expected = Array.from({ length: PER_USER }, (_, i) => `job done: ${u.user.first_name} #${i + 1}`);
        expect(new Set(texts)).toEqual(new Set(expected));
        duplicates += texts.length - expected.length;
      }
      // A send whose process died with the request on the wire may be delivered twice; every such
      // attempt is counted by the outbox.
      expect(duplicates).toBeLessThanOrEqual(outbox.ambiguousAttempts);
      const begins = procs.flatMap((p) => p.events().filter(isTaskBegin));
      const reruns = begins.length - sent.length;
      console.log(JSON.stringify({ e2e: "tasks-kill9", kills: KILLS, tasks: sent.length, tries: begins.length, reruns, duplicates, ambiguous: outbox.ambiguousAttempts, leftBehind, doneAtKills: doneAtKill.map((d) => d.ids.length) }));
      expect(reruns).toBeGreaterThan(0); // the kills did cut tasks off
      // Done means done: a task completed before a kill never began again in a later run.
      for (const { run, ids } of doneAtKill) {
        const later = procs.slice(run + 1).flatMap((p) => p.events().filter(isTaskBegin).map((e) => String(e["id"])));
        expect(later.filter((id) => ids.includes(id)), `tasks done before kill ${run + 1} ran again`).toEqual([]);
      }
      expect(doneAtKill.at(-1)!.ids.length).toBeGreaterThan(0); // some completed between kills
      expect(begins.some((b) => b["recovered"] === true)).toBe(true);
    } finally {
      await store.close();
    }
    expect(tempFolders(tmpRoot)).toEqual([]);
  }, 240_000);
});

/** The ids of the tasks done in the store (read while no bot process runs). */
async function doneIds(dbPath: string): Promise<string[]> {
  const store = SqliteStore.open({ path: dbPath });
  try {
    return (store.database.handle.prepare("SELECT id FROM tasks WHERE state = 'done'").all() as Array<{ id: string }>).map((r) => r.id);
  } finally {
    await store.close();
  }
}

/** Waits until the store (shared with the running bot) has `count` tasks done. */
async function untilTasksDone(dbPath: string, count: number, timeoutMs: number): Promise<void> {
  const store = await openStore({ path: dbPath });
  try {
    await until(async () => (await store.tasks.counts()).find((c) => c.state === "done")?.count === count, { timeoutMs, intervalMs: 100, what: `${count} tasks done` });
  } finally {
    await store.close();
  }
}
