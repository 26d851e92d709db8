import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Api } from "grammy";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { silentLogger } from "../runtime/logger.js";
import { SqliteStore, type NewTask, type TaskStore } from "../store/index.js";
import { resolveTaskOptions } from "./options.js";
import { TaskRunner, type TaskHandler } from "./runner.js";
import { TaskTempDirs } from "./temp-dirs.js";

const base = mkdtempSync(join(tmpdir(), "unlost-runner-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const stores: SqliteStore[] = [];
const runners: TaskRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.stop(0);
  for (const s of stores.splice(0)) await s.close();
});

const task = (id: string, over: Partial<NewTask> = {}): NewTask => ({ id, kind: "k", payload: "{}", userId: 1, chatId: 1, key: null, maxAttempts: 1, notBefore: null, ...over });
const until = async (check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};

function runner(handler: Omit<TaskHandler, "kind" | "options"> & { options?: Parameters<typeof resolveTaskOptions>[1] }, store: TaskStore, leaseMs = 1_000): TaskRunner {
  const h: TaskHandler = { kind: "k", fn: handler.fn, options: resolveTaskOptions("k", handler.options) };
  const r = new TaskRunner({
    store, owner: "me", clock: Date.now, logger: silentLogger(), tempDirs: new TaskTempDirs(join(base, String(runners.length))),
    api: () => new Api("1:x"), leaseMs, pollMs: 20, maxRecoveries: 5, handlers: () => [h],
  });
  runners.push(r);
  return r;
}

function open(): SqliteStore {
  const s = SqliteStore.open({ path: ":memory:" });
  stores.push(s);
  return s;
}

describe("TaskRunner", () => {
  it("fails a try past its timeoutMs with TASK_TIMEOUT, aborting its signal", async () => {
    const store = open();
    let reason: unknown;
    const r = runner({ fn: ({ signal }) => new Promise(() => signal.addEventListener("abort", () => (reason = signal.reason))), options: { timeoutMs: 50, attempts: 1 } }, store.tasks);
    await store.tasks.add(task("t"));
    await r.start();
    await until(async () => (await store.tasks.get("t"))?.state === "failed");
    expect(isUnlostError(reason, "TASK_TIMEOUT")).toBe(true);
    expect((await store.tasks.get("t"))?.lastError).toMatch(/ran longer than its timeoutMs \(50 ms\)/);
    expect(r.counters).toMatchObject({ failed: 1, deadLettered: 1 });
  });

  it("aborts a try whose claim another process took over, and writes nothing for it", async () => {
    const store = open();
    let reason: unknown;
    const r = runner({ fn: ({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject((reason = signal.reason)))) }, store.tasks);
    await store.tasks.add(task("t"));
    await r.start();
    await until(() => r.running === 1);
    // This process "stalled": another one claims the task as if the claim had run out.
    const [other] = await store.tasks.claim({ owner: "other", leaseMs: 60_000, kinds: [{ kind: "k", concurrency: 5, perUser: 5, take: 5 }], now: Date.now() + 5_000 });
    expect(other?.recovered).toBe(true);
    await until(() => r.running === 0);
    expect(isUnlostError(reason, "STOPPED")).toBe(true);
    expect(await store.tasks.get("t")).toMatchObject({ state: "running", leaseOwner: "other" });
    expect(r.counters).toMatchObject({ done: 0, failed: 0, released: 0 });
  });

  it("coalesces progress writes: one in flight, the latest value last", async () => {
    const store = open();
    let writes = 0;
    const counting: TaskStore = Object.create(store.tasks, { progress: { value: (...args: Parameters<TaskStore["progress"]>) => (writes++, store.tasks.progress(...args)) } }) as TaskStore;
    const r = runner({
      fn: async ({ progress }) => {
        const all = [];
        for (let i = 1; i <= 100; i++) all.push(progress(i, `step ${i}`));
        await Promise.all(all);
        await new Promise((res) => setTimeout(res, 100));
      },
    }, counting);
    await store.tasks.add(task("t"));
    await r.start();
    await until(async () => (await store.tasks.get("t"))?.state === "done");
    expect(await store.tasks.get("t")).toMatchObject({ progress: "100", progressNote: "step 100" });
    expect(writes).toBeLessThanOrEqual(3);
  });

  it("a stop past the grace period queues a try that ignores its signal again, without using an attempt", async () => {
    const store = open();
    const r = runner({ fn: () => new Promise(() => undefined) }, store.tasks);
    await store.tasks.add(task("t"));
    await r.start();
    await until(() => r.running === 1);
    await r.stop(50);
    expect(await store.tasks.get("t")).toMatchObject({ state: "queued", failures: 0, leaseOwner: null, lastError: expect.stringMatching(/runtime stopped/) });
    expect(r.counters.released).toBe(1);
  });
});
