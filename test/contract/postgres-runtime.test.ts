/**
 * The runtime on a PostgreSQL store (given open: `createRuntime(bot, { store })`), against the
 * emulator: the store's parts working together as the runtime drives them (the journal of long
 * polling, the outbox's replies, dead letters and their retry), and two runtimes sharing one
 * schema through pools of their own, as two processes would (the poller lease decides who polls).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bot, type Context } from "grammy";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type UnlostFlavor } from "../../src/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";

const db = usePgDatabase();

// On PostgreSQL the outbox spills files to ./data/blobs under the working directory: these
// tests run in a temp folder of their own, so that nothing lands in the repository's data/.
const cwd = process.cwd();
const workDir = mkdtempSync(join(tmpdir(), "unlost-pg-runtime-"));
beforeAll(() => process.chdir(workDir));
afterAll(() => {
  process.chdir(cwd);
  rmSync(workDir, { recursive: true, force: true });
});

let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
let store: Store | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await store?.close();
  store = undefined;
  await server?.close();
  server = undefined;
});

describe("createRuntime on PostgreSQL (polling, in-process)", () => {
  it("handles updates through the durable inbox and replies through the outbox, in order per chat", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const bot = new Bot<Context & UnlostFlavor>(sim.token, { client: { apiRoot: server.url } });
    bot.on("message:text", async (ctx) => {
      await ctx.reply(`re: ${ctx.message.text}`);
    });
    store = await openStore({ url: db.url(), schema: db.freshSchema() });
    runtime = createRuntime(bot, { store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, inbox: { idleMs: 20 } });
    await runtime.start();
    const users = [emulator.createUser(), emulator.createUser(), emulator.createUser()];
    for (let i = 0; i < 5; i++) for (const u of users) u.sendText(sim, `${u.id}:${i}`);
    await until(() => sim.record.size === 15, 20_000, "15 replies");
    for (const u of users) expect(sim.record.to(u.id).map((m) => m.text)).toEqual([0, 1, 2, 3, 4].map((i) => `re: ${u.id}:${i}`));
    await until(async () => (await runtime!.stats()).inbox.done === 15, 10_000, "15 updates done");
    expect(await store.state.offset()).toBeGreaterThan(0);
    expect(emulator.internalErrors).toEqual([]);
  });

  it("takes the store as a URL (createRuntime(bot, { store: \"postgres://…\" }) or { url, schema }), opens and closes it itself", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const bot = new Bot(sim.token, { client: { apiRoot: server.url } });
    bot.on("message:text", (ctx) => ctx.reply(`re: ${ctx.message.text}`));
    const schema = db.freshSchema();
    runtime = createRuntime(bot, { store: { url: db.url(), schema, poolSize: 3 }, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, inbox: { idleMs: 20 } });
    await runtime.start();
    const bob = emulator.createUser();
    bob.sendText(sim, "hi");
    await until(() => sim.record.size === 1, 20_000, "the reply");
    await runtime.stop();
    runtime = undefined;
    // The store it made is in that schema; and a bare URL string selects PostgreSQL too.
    store = await openStore({ url: db.url(), schema });
    expect(await store.state.offset()).toBeGreaterThan(0);
    expect(() => createRuntime(bot, { store: "mysql://nope" as string })).toThrow(/PostgreSQL URL/);
    const stringUrl = createRuntime(new Bot(sim.token, { client: { apiRoot: server.url } }), { store: db.url(), logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false } });
    await stringUrl.start();
    await stringUrl.stop();
  });

  it("retries a failing handler and dead-letters it; the chat goes on; the dead letter can be retried", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const bot = new Bot(sim.token, { client: { apiRoot: server.url } });
    let healed = false;
    bot.on("message:text", async (ctx) => {
      if (ctx.message.text === "poison" && !healed) throw new Error("cannot digest this");
      await ctx.reply(`re: ${ctx.message.text}`);
    });
    store = await openStore({ url: db.url(), schema: db.freshSchema() });
    runtime = createRuntime(bot, {
      store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
      inbox: { idleMs: 20, maxAttempts: 2, backoff: { baseMs: 10, maxMs: 20 } },
    });
    await runtime.start();
    const alice = emulator.createUser();
    alice.sendText(sim, "poison");
    alice.sendText(sim, "after");
    await until(() => sim.record.size === 1, 20_000, "the reply after the poison");
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["re: after"]);
    const dead = await runtime.deadLetters.list();
    expect(dead.items).toHaveLength(1);
    expect(dead.items[0]).toMatchObject({ attempts: 2, error: "Error: cannot digest this" });
    healed = true;
    expect(await runtime.deadLetters.retry({ updateId: dead.items[0]!.updateId })).toBe(1);
    await until(() => sim.record.size === 2, 20_000, "the retried reply");
    expect((await runtime.deadLetters.list()).items).toHaveLength(0);
  });

  it("two runtimes on one schema (two processes' pools): every update handled once, replies in order per chat", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    const schema = db.freshSchema();
    const handledBy = new Map<number, string[]>();
    const make = (name: string): Bot<Context & UnlostFlavor> => {
      const bot = new Bot<Context & UnlostFlavor>(sim.token, { client: { apiRoot: server!.url } });
      bot.on("message:text", async (ctx) => {
        handledBy.set(ctx.update.update_id, [...(handledBy.get(ctx.update.update_id) ?? []), name]);
        await ctx.reply(`re: ${ctx.message.text}`);
      });
      return bot;
    };
    store = await openStore({ url: db.url(), schema });
    const second = await openStore({ url: db.url(), schema });
    const options = { logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, inbox: { idleMs: 20 } } as const;
    runtime = createRuntime(make("a"), { ...options, store });
    const other = createRuntime(make("b"), { ...options, store: second });
    try {
      await runtime.start();
      await other.start();
      const users = Array.from({ length: 4 }, () => emulator.createUser());
      for (let i = 0; i < 6; i++) for (const u of users) u.sendText(sim, `${u.id}:${i}`);
      await until(() => sim.record.size === 24, 30_000, "24 replies");
      for (const u of users) expect(sim.record.to(u.id).map((m) => m.text)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `re: ${u.id}:${i}`));
      expect(handledBy.size).toBe(24);
      expect([...handledBy.values()].every((by) => by.length === 1)).toBe(true);
      expect(emulator.internalErrors).toEqual([]);
    } finally {
      await other.stop();
      await second.close();
    }
  });
});
