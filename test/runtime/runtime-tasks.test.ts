/**
 * Tasks inside a runtime, against the emulator: started by handlers (`ctx.unlost.task`, with the
 * update's completion) and by code (`runtime.tasks.add`), run within the global and per-user
 * limits under load, retried with backoff, dead-lettered, cancelled, held back by an open
 * breaker without using attempts, stopped gracefully; their temp folders always removed.
 */
import { Bot, type Context } from "grammy";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, isUnlostError, silentLogger, type Runtime, type RuntimeOptions, type TaskRun, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { statusReport } from "../../src/cli/status-report.js";
import { until } from "../helpers/until.js";

type Ctx = Context & UnlostFlavor;
const dir = mkdtempSync(join(tmpdir(), "unlost-tasks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let server: EmulatorServer | undefined;
const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  await server?.close();
  server = undefined;
});

let n = 0;
/** A runtime on a fresh (or the given) SQLite file against a fresh emulator; `setup` registers handlers and tasks. */
async function world(): Promise<{ emulator: ReturnType<typeof createEmulator>; sim: ReturnType<ReturnType<typeof createEmulator>["createBot"]>; path: string; make: (setup: (bot: Bot<Ctx>, rt: Runtime) => void, options?: RuntimeOptions) => Runtime }> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const path = join(dir, `bot-${++n}`, "unlost.sqlite");
  const make = (setup: (bot: Bot<Ctx>, rt: Runtime) => void, options: RuntimeOptions = {}): Runtime => {
    const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server!.url } });
    const rt = createRuntime(bot, {
      store: { path }, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
      inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 20, jitter: 0 } }, outbox: { idleMs: 20 }, tasks: { pollMs: 50 }, ...options,
    });
    setup(bot, rt);
    runtimes.push(rt);
    return rt;
  };
  return { emulator, sim, path, make };
}

const tmpRoot = (path: string): string => join(path, "..", "tasks-tmp");
const folders = async (path: string): Promise<string[]> => (existsSync(tmpRoot(path)) ? await readdir(tmpRoot(path)) : []);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("runtime.tasks", () => {
  it("never runs more than the global and per-user limits under load; every task runs once, its sends delivered once, its temp folder gone", async () => {
    const { emulator, sim, path, make } = await world();
    const users = Array.from({ length: 5 }, (_, i) => emulator.createUser({ firstName: `u${i}` }));
    let running = 0;
    let maxRunning = 0;
    const perUser = new Map<number, number>();
    let maxPerUser = 0;
    const ran = new Map<string, number>();
    const dirs = new Set<string>();
    const soloByUser = new Map<number, number>();
    let maxSolo = 0;
    const rt = make((bot, r) => {
      bot.on("message:text", async (ctx) => {
        const id = await ctx.unlost.task("work", { text: ctx.message.text });
        expect(id).toBe(`${ctx.me.id}:${ctx.update.update_id}:task:0`);
        await ctx.unlost.task("solo", null);
      });
      // Room for every user at once: only the per-user limit holds them back.
      r.tasks.handle("solo", async ({ userId }) => {
        const mine = (soloByUser.get(userId!) ?? 0) + 1;
        soloByUser.set(userId!, mine);
        maxSolo = Math.max(maxSolo, mine);
        await sleep(20);
        soloByUser.set(userId!, mine - 1);
      }, { concurrency: 50, perUser: 1 });
      r.tasks.handle<{ text: string }>("work", async (task: TaskRun<{ text: string }>) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const mine = (perUser.get(task.userId!) ?? 0) + 1;
        perUser.set(task.userId!, mine);
        maxPerUser = Math.max(maxPerUser, mine);
        ran.set(task.id, (ran.get(task.id) ?? 0) + 1);
        expect(statSync(task.tmpDir).mode & 0o777).toBe(0o700);
        dirs.add(task.tmpDir);
        writeFileSync(join(task.tmpDir, "part"), "x".repeat(1000));
        await task.progress({ pct: 50 }, "halfway");
        await sleep(5 + Math.floor(Math.random() * 15));
        await task.api.sendMessage(task.chatId!, `done: ${task.payload.text}`);
        running--;
        perUser.set(task.userId!, (perUser.get(task.userId!) ?? 1) - 1);
        return { length: task.payload.text.length };
      }, { concurrency: 3, perUser: 1 });
    });
    await rt.start();
    const perEach = 8;
    for (let i = 0; i < perEach; i++) for (const u of users) u.sendText(sim, `m${i}-${u.id}`);
    const total = perEach * users.length;
    await until(async () => ((await rt.tasks.stats()).byKind["work"]?.done ?? 0) === total, 30_000, "every task done");
    await until(async () => ((await rt.tasks.stats()).byKind["solo"]?.done ?? 0) === total, 30_000, "every solo task done");
    expect(maxSolo).toBe(1);
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBeGreaterThan(1); // the limit, not a serial runner
    expect(maxPerUser).toBe(1);
    expect([...ran.values()].every((x) => x === 1)).toBe(true);
    expect(ran.size).toBe(total);
    for (const u of users) {
      await until(() => sim.record.to(u.id).length === perEach, 10_000, `the results of user ${u.id}`);
      expect(new Set(sim.record.to(u.id).map((m) => m.text)).size).toBe(perEach);
    }
    const some = [...ran.keys()][0]!;
    expect(await rt.tasks.get(some)).toMatchObject({ state: "done", kind: "work", failures: 0, progress: { pct: 50 }, progressNote: "halfway" });
    expect((await rt.tasks.get(some))?.result).toMatchObject({ length: expect.any(Number) });
    expect(dirs.size).toBe(total);
    expect(await folders(path)).toEqual([]);
    const stats = await rt.tasks.stats();
    expect(stats.process).toMatchObject({ done: 2 * total, failed: 0, running: 0 });
  });

  it("refuses a user's task past perUserQueueLimit with TASK_QUEUE_FULL, so the handler can answer", async () => {
    const { emulator, sim, make } = await world();
    const alice = emulator.createUser({ firstName: "Alice" });
    const bob = emulator.createUser({ firstName: "Bob" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const rt = make((bot, r) => {
      bot.on("message:text", async (ctx) => {
        try {
          await ctx.unlost.task("download", { url: ctx.message.text });
          await ctx.reply("queued");
        } catch (error) {
          if (!isUnlostError(error, "TASK_QUEUE_FULL")) throw error;
          expect(error.message).toMatch(/perUserQueueLimit 2/);
          expect(error.details).toMatchObject({ kind: "download", limit: 2, open: 2 });
          await ctx.reply("too many downloads waiting");
        }
      });
      r.tasks.handle("download", () => gate, { concurrency: 5, perUser: 1, perUserQueueLimit: 2 });
    });
    await rt.start();
    for (const text of ["a", "b", "c", "d"]) alice.sendText(sim, text);
    bob.sendText(sim, "e");
    await until(() => sim.record.to(alice.id).length === 4 && sim.record.to(bob.id).length === 1, 10_000, "answers");
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["queued", "queued", "too many downloads waiting", "too many downloads waiting"]);
    expect(sim.record.to(bob.id).map((m) => m.text)).toEqual(["queued"]);
    // Outside handlers the same limit holds.
    await expect(rt.tasks.add("download", { url: "x" }, { userId: alice.id })).rejects.toMatchObject({ code: "TASK_QUEUE_FULL" });
    release();
    await until(async () => ((await rt.tasks.stats()).byKind["download"]?.done ?? 0) === 3);
    expect(await rt.tasks.add("download", { url: "x" }, { userId: alice.id })).toMatch(/^t-/);
  });

  it("a task's sends wait behind users' replies when both wait for the rate limit (users first)", async () => {
    const { emulator, sim, make } = await world();
    const alice = emulator.createUser({ firstName: "Alice" });
    const bob = emulator.createUser({ firstName: "Bob" });
    let started!: () => void;
    const sending = new Promise<void>((r) => (started = r));
    const rt = make((bot, r) => {
      bot.on("message:text", (ctx) => ctx.reply(`reply to ${ctx.message.text}`));
      r.tasks.handle("report", async ({ api, userId }) => {
        // Eight messages queued at once for one chat; the pacer lets out 4 a second.
        const sends = Array.from({ length: 8 }, (_, i) => api.sendMessage(userId!, `report part ${i + 1}`));
        started();
        await Promise.all(sends);
      }, { concurrency: 1 });
    }, { outbox: { idleMs: 20, limits: { global: { perSecond: 4, burst: 1 }, perChat: { perSecond: 100, burst: 100 } } } });
    await rt.start();
    await rt.tasks.add("report", {}, { userId: alice.id, chatId: alice.id });
    await sending;
    await sleep(300); // a part or two has left
    bob.sendText(sim, "hi");
    await until(() => sim.record.to(alice.id).length === 8 && sim.record.to(bob.id).length === 1, 15_000, "everything delivered");
    const order = sim.record.messages().map((m) => m.text);
    // Bob's reply jumped the queue: at most the parts already out (and the one being paced) came first.
    expect(order.indexOf("reply to hi")).toBeLessThanOrEqual(3);
  });

  it("retries a failing task with backoff, dead-letters it after its attempts, and runs it again from the dead letters", async () => {
    const { make } = await world();
    const tries: Array<{ id: string; attempt: number; at: number }> = [];
    let healthy = false;
    const rt = make((_bot, r) => {
      r.tasks.handle("flaky", async (task) => {
        tries.push({ id: task.id, attempt: task.attempt, at: Date.now() });
        if ((task.payload as { failTimes: number }).failTimes >= task.attempt && !healthy) throw new Error(`service down (try ${task.attempt})`);
        return "ok";
      }, { attempts: 3, backoff: { baseMs: 100, maxMs: 1_000 } });
    });
    await rt.start();
    const recovers = await rt.tasks.add("flaky", { failTimes: 2 });
    const dies = await rt.tasks.add("flaky", { failTimes: 99 });
    await until(async () => (await rt.tasks.get(recovers))?.state === "done" && (await rt.tasks.get(dies))?.state === "failed", 10_000);
    const of = (id: string) => tries.filter((t) => t.id === id);
    expect(of(recovers).map((t) => t.attempt)).toEqual([1, 2, 3]);
    // Backoff: 100 ms, then 200 ms between tries (at least).
    const [a, b, c] = of(recovers);
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(95);
    expect(c!.at - b!.at).toBeGreaterThanOrEqual(195);
    expect(await rt.tasks.get(recovers)).toMatchObject({ state: "done", failures: 2, result: "ok", lastError: "service down (try 2)" });
    expect(of(dies).length).toBe(3);
    const dead = await rt.tasks.deadLetters.list({ kind: "flaky" });
    expect(dead.map((d) => [d.id, d.failures, d.lastError])).toEqual([[dies, 3, "service down (try 3)"]]);
    healthy = true;
    expect(await rt.tasks.deadLetters.retry({ ids: [dies] })).toBe(1);
    await until(async () => (await rt.tasks.get(dies))?.state === "done");
    expect(of(dies).length).toBe(4);
  });

  it("an open breaker queues the task again after its half-open time without using an attempt", async () => {
    const { make } = await world();
    let serviceUp = false;
    const calls: string[] = [];
    const rt = make((_bot, r) => {
      const service = r.breaker("download-service", { opensAfter: 1, halfOpenAfterMs: 400 });
      r.tasks.handle("download", async ({ signal }) => {
        try {
          return await service.execute(() => {
            calls.push(serviceUp ? "up" : "down");
            if (!serviceUp) {
              serviceUp = true; // back by the half-open probe
              throw new Error("503");
            }
            return "file";
          }, signal);
        } catch (error) {
          if (!isUnlostError(error, "CIRCUIT_OPEN")) throw error;
          calls.push("fast-fail");
          // Wrapped by the task's own error: the open breaker is found as its cause.
          throw new Error("download service unavailable", { cause: error });
        }
      }, { attempts: 2, backoff: { baseMs: 10, maxMs: 10 } });
    });
    await rt.start();
    const id = await rt.tasks.add("download", null);
    await until(async () => ["done", "failed"].includes((await rt.tasks.get(id))?.state ?? ""), 10_000);
    // Try 1 failed (an attempt), try 2 met the open breaker (no attempt: released for 400 ms),
    // the try after the half-open time probed and succeeded. With attempts: 2 it would have
    // been a dead letter if the open breaker had used one.
    expect(await rt.tasks.get(id)).toMatchObject({ state: "done", failures: 1, result: "file" });
    expect(calls).toEqual(["down", "fast-fail", "up"]);
  });

  it("cancels a queued task before it runs and a running one through its signal; its folder is removed", async () => {
    const { path, make } = await world();
    const seen: string[] = [];
    let reason: unknown;
    const rt = make((_bot, r) => {
      r.tasks.handle("long", async ({ id, signal, tmpDir }) => {
        seen.push(id);
        writeFileSync(join(tmpDir, "partial"), "data");
        await new Promise((_, reject) => signal.addEventListener("abort", () => {
          reason = signal.reason;
          reject(signal.reason);
        }));
      }, { concurrency: 1 });
    });
    await rt.start();
    const running = await rt.tasks.add("long", 1);
    const queued = await rt.tasks.add("long", 2);
    await until(() => seen.length === 1);
    expect(await folders(path)).toHaveLength(1);
    expect(await rt.tasks.cancel(queued)).toBe("cancelled");
    expect(await rt.tasks.cancel(running)).toBe("cancelling");
    await until(async () => (await rt.tasks.get(running))?.state === "cancelled");
    expect(isUnlostError(reason, "TASK_CANCELLED")).toBe(true);
    expect((await rt.tasks.get(queued))?.state).toBe("cancelled");
    expect(await rt.tasks.cancel(queued)).toBe("finished");
    await sleep(200);
    expect(seen).toEqual([running]);
    expect(await folders(path)).toEqual([]);
  });

  it("a stop lets running tasks finish within the grace period, aborts the rest and queues them again (no attempt used); queued ones stay queued", async () => {
    const { path, make } = await world();
    const finished: string[] = [];
    const setup = (_bot: Bot<Ctx>, r: Runtime): void => {
      r.tasks.handle<{ ms: number; name: string }>("job", async ({ payload, signal }) => {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, payload.ms);
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        });
        finished.push(payload.name);
      }, { concurrency: 2 });
    };
    const rt = make(setup, { tasks: { graceMs: 400, pollMs: 50 } });
    await rt.start();
    const quick = await rt.tasks.add("job", { ms: 150, name: "quick" });
    const slow = await rt.tasks.add("job", { ms: 5_000, name: "slow" });
    const waiting = await rt.tasks.add("job", { ms: 10, name: "waiting" });
    await until(async () => (await rt.tasks.stats()).process.running === 2);
    const began = Date.now();
    await rt.stop();
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(3_000);
    expect(finished).toEqual(["quick"]);
    const store = await openStore({ path });
    expect((await store.tasks.get(quick))?.state).toBe("done");
    expect(await store.tasks.get(slow)).toMatchObject({ state: "queued", failures: 0, leaseOwner: null });
    expect(await store.tasks.get(waiting)).toMatchObject({ state: "queued", runs: 0 });
    // `unlost status` shows them by kind and state.
    const report = await statusReport(store, { now: Date.now() });
    expect(report.tasks).toEqual([{ kind: "job", state: "done", count: 1 }, { kind: "job", state: "queued", count: 2 }]);
    await store.close();
    expect(await folders(path)).toEqual([]);
    // The next start runs them.
    const again = make(setup, { tasks: { graceMs: 400, pollMs: 50 } });
    await again.start();
    await until(async () => (await again.tasks.stats()).byKind["job"]?.done === 3, 15_000);
    expect(finished.sort()).toEqual(["quick", "slow", "waiting"]);
  });

  it("commits tasks a handler did not await, in call order; a refused one not awaited neither crashes nor is added", async () => {
    const { emulator, sim, make } = await world();
    const alice = emulator.createUser();
    let key = "";
    const rt = make((bot, r) => {
      bot.on("message:text", async (ctx) => {
        key = ctx.unlost.idempotencyKey;
        void ctx.unlost.task("bg", { n: 1 });
        void ctx.unlost.task("bg", { n: 2 });
        void ctx.unlost.task("bg", { n: 3 }); // past perUserQueueLimit 2: refused
        await ctx.reply("ok");
      });
      r.tasks.handle("bg", ({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))), { perUserQueueLimit: 2, concurrency: 1 });
    });
    await rt.start();
    alice.sendText(sim, "go");
    await until(() => sim.record.to(alice.id).length === 1);
    await until(async () => (await rt.tasks.get(`${key}:task:1`)) !== null);
    expect((await rt.tasks.get(`${key}:task:0`))?.payload).toEqual({ n: 1 });
    expect((await rt.tasks.get(`${key}:task:1`))?.payload).toEqual({ n: 2 });
    expect(await rt.tasks.get(`${key}:task:2`)).toBeNull();
    expect(await rt.store.tasks.countOpen("bg", alice.id)).toBe(2);
  });

  it("sweeps temp folders left by a crash at start; a handler's task is added once although its update is retried", async () => {
    const { emulator, sim, path, make } = await world();
    const alice = emulator.createUser();
    mkdirSync(join(tmpRoot(path), "left-over"), { recursive: true });
    writeFileSync(join(tmpRoot(path), "left-over", "big.bin"), "x");
    let tries = 0;
    const ran: string[] = [];
    const rt = make((bot, r) => {
      bot.on("message:text", async (ctx) => {
        tries++;
        await ctx.unlost.task("once", { text: ctx.message.text });
        // The first try fails after adding the task: nothing it added is committed.
        if (tries === 1) throw new Error("flaky handler");
      });
      r.tasks.handle("once", ({ id }) => void ran.push(id));
    });
    await rt.start();
    expect(await folders(path)).toEqual([]);
    alice.sendText(sim, "go");
    await until(() => ran.length === 1, 10_000);
    await sleep(300);
    expect(tries).toBe(2);
    expect(ran).toHaveLength(1);
    expect((await rt.tasks.stats()).byKind["once"]).toMatchObject({ done: 1, queued: 0 });
  });
});
