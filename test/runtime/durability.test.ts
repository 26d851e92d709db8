/**
 * "Acknowledged means on disk": nothing is acknowledged to the outside before the store's
 * flush covers it. The store's WAL flush is replaced by a gate the test opens by hand (the
 * injected `flushFile` hook, which then runs the real fdatasync), so each test can hold the
 * flush and watch what unlost does meanwhile: the getUpdates that would confirm a stored batch
 * is not sent, a webhook update is not answered 200, `outbox.send` and `broadcast` do not
 * resolve — while handlers go on running.
 */
import { Bot, type Context } from "grammy";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type ApiCall, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { createWebhookReceiver, SECRET_TOKEN_HEADER } from "../../src/inbound/webhook/receiver.js";
import { openStore, type Store } from "../../src/store/index.js";
import { fdatasyncAsync } from "../../src/store/sqlite/wal-sync.js";
import { until } from "../helpers/until.js";

type Ctx = Context & UnlostFlavor;

/** A flush that waits while the gate is closed, then flushes for real; counts completed flushes. */
class FlushGate {
  private closed = false;
  private waiting: Array<() => void> = [];
  completed = 0;
  failNext = false;
  readonly flush = async (fd: number): Promise<void> => {
    while (this.closed) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    }
    await fdatasyncAsync(fd);
    this.completed++;
  };
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.closed = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

const dirs: string[] = [];
let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
let store: Store | undefined;
let gate: FlushGate;
afterEach(async () => {
  gate?.open();
  await runtime?.stop();
  runtime = undefined;
  await store?.close();
  store = undefined;
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fileStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "unlost-durable-"));
  dirs.push(dir);
  gate = new FlushGate();
  store = await openStore({ path: join(dir, "unlost.sqlite"), flushFile: gate.flush });
  return store;
}

async function start(register: (bot: Bot<Ctx>) => void, options: RuntimeOptions = {}) {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  register(bot);
  const polls: number[] = [];
  emulator.onCall((call: ApiCall) => {
    if (call.method.toLowerCase() === "getupdates") polls.push(Number(call.params["offset"] ?? 0));
  });
  runtime = createRuntime(bot, {
    store: await fileStore(), logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20 }, outbox: { idleMs: 20 }, ...options,
  });
  await runtime.start();
  await until(() => polls.length > 0);
  return { emulator, sim, rt: runtime, polls };
}

describe("acknowledged means on disk", () => {
  it("the getUpdates that confirms a batch is not sent before the batch's flush; its handlers run meanwhile", async () => {
    const handled: string[] = [];
    const { emulator, sim, polls } = await start((bot) => bot.on("message:text", (ctx) => { handled.push(ctx.message.text); }));
    gate.close();
    const alice = emulator.createUser();
    for (const text of ["one", "two", "three"]) alice.sendText(sim, text);
    const ids = sim.updates.pending().map((u) => u.update.update_id);
    expect(ids).toHaveLength(3);
    const firstId = Math.min(...ids);
    // The batch is stored and handled while its flush is held...
    await until(() => handled.length === 3);
    await new Promise((r) => setTimeout(r, 300));
    // ...but no request has told the emulator (Telegram) to forget it.
    expect(polls.filter((offset) => offset > firstId)).toEqual([]);
    expect(sim.updates.pending().map((u) => u.update.update_id)).toEqual(ids);
    gate.open();
    await until(() => polls.some((offset) => offset > Math.max(...ids)));
    expect(gate.completed).toBeGreaterThan(0);
  });

  it("with durability \"process\", the confirming getUpdates does not wait for a flush", async () => {
    const handled: string[] = [];
    const { emulator, sim, polls } = await start((bot) => bot.on("message:text", (ctx) => { handled.push(ctx.message.text); }), { durability: "process" });
    gate.close();
    const alice = emulator.createUser();
    alice.sendText(sim, "fast");
    const updateId = sim.updates.pending()[0]?.update.update_id ?? 0;
    await until(() => polls.some((offset) => offset > updateId));
    expect(handled).toEqual(["fast"]);
  });

  it("outbox.send and broadcast resolve only once their jobs are flushed (the jobs may go out meanwhile)", async () => {
    const { emulator, sim, rt } = await start(() => undefined);
    const alice = emulator.createUser();
    const bob = emulator.createUser();
    gate.close();
    let sent = false;
    let broadcast = false;
    const sending = rt.outbox.sendText(alice.id, "stored").then(() => { sent = true; });
    const broadcasting = rt.outbox.broadcast([alice.id, bob.id], "sendMessage", { text: "news" }).then(() => { broadcast = true; });
    await until(() => sim.record.to(bob.id).length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect([sent, broadcast]).toEqual([false, false]);
    gate.open();
    await Promise.all([sending, broadcasting]);
  });

  it("a webhook update is answered 200 only after its flush, and 500 (Telegram re-sends) when the flush fails", async () => {
    const s = await fileStore();
    const receiver = createWebhookReceiver({ inbox: s.inbox, secretToken: "secret-0123456789", logger: silentLogger(), acknowledge: () => s.sync() });
    const post = async (id: number): Promise<Response> => receiver.app.request("http://receiver.test/telegram/webhook", {
      method: "POST",
      headers: { "content-type": "application/json", [SECRET_TOKEN_HEADER]: "secret-0123456789" },
      body: JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: 7, type: "private" }, text: "hi" } }),
    });
    try {
      gate.close();
      let status: number | undefined;
      const answering = post(1).then((res) => { status = res.status; });
      await until(async () => (await s.inbox.get(1)) !== null);
      await new Promise((r) => setTimeout(r, 200));
      expect(status).toBeUndefined();
      gate.open();
      await answering;
      expect(status).toBe(200);
      gate.failNext = true;
      expect((await post(2)).status).toBe(500);
      // Telegram re-sends it: stored already, flushed now, answered 200.
      expect((await post(2)).status).toBe(200);
    } finally {
      await receiver.close();
    }
  });
});
