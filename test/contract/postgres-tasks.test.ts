/**
 * Tasks on PostgreSQL across processes: two runtimes on one schema (pools of their own, as two
 * processes would have) run the same kind; together they never exceed its global and per-user
 * limits, and each task runs once.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bot, type Context } from "grammy";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type UnlostFlavor } from "../../src/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";

const db = usePgDatabase();
const workDir = mkdtempSync(join(tmpdir(), "unlost-pg-tasks-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let server: EmulatorServer | undefined;
const runtimes: Runtime[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  for (const s of stores.splice(0)) await s.close();
  await server?.close();
  server = undefined;
});

describe("tasks on PostgreSQL, two processes", () => {
  it("never exceed the kind's global and per-user limits together; each task runs once", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const schema = db.freshSchema();
    const tmpDir = join(workDir, "tasks-tmp");
    let running = 0;
    let maxRunning = 0;
    const byUser = new Map<number, number>();
    let maxByUser = 0;
    const ran = new Map<string, string[]>();
    for (const name of ["a", "b"]) {
      const store = await openStore({ url: db.url(), schema, poolSize: 4 });
      stores.push(store);
      const bot = new Bot<Context & UnlostFlavor>(sim.token, { client: { apiRoot: server.url } });
      const rt = createRuntime(bot, { store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, tasks: { pollMs: 20, tmpDir } });
      rt.tasks.handle("work", async ({ id, userId }) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const mine = (byUser.get(userId!) ?? 0) + 1;
        byUser.set(userId!, mine);
        maxByUser = Math.max(maxByUser, mine);
        ran.set(id, [...(ran.get(id) ?? []), name]);
        await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 30)));
        byUser.set(userId!, (byUser.get(userId!) ?? 1) - 1);
        running--;
      }, { concurrency: 3, perUser: 1 });
      runtimes.push(rt);
      await rt.start();
    }
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) for (let user = 1; user <= 4; user++) ids.push(await runtimes[i % 2]!.tasks.add("work", { i }, { userId: user }));
    await until(async () => (await runtimes[0]!.tasks.stats()).byKind["work"]?.done === ids.length, 30_000, "every task done");
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxByUser).toBe(1);
    expect([...ran.values()].every((by) => by.length === 1)).toBe(true);
    expect(ran.size).toBe(ids.length);
    // Both processes ran some.
    expect(new Set([...ran.values()].flat())).toEqual(new Set(["a", "b"]));
    expect(readdirSync(tmpDir)).toEqual([]);
  });
});
