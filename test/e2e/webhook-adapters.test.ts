/**
 * `runtime.webhookCallback(adapter)` mounted in real servers on ephemeral ports — Express (with
 * and without `express.json()`), fastify, Hono on @hono/node-server, node:http's
 * `createServer`, and a std/http-style `(Request) => Response` handler served by
 * @hono/node-server — with the emulator as the Bot API. Each framework gets the same checks:
 * the emulator's deliveries and hand-made POSTs are stored and handled; a wrong or missing
 * secret is refused and nothing stored; a re-sent update_id is answered 200 and handled once;
 * 413 over the body limit, 400 for a body that is not JSON, a dead letter (200) for JSON
 * without an update_id; 500 when the store fails; no 200 before the store's flush; 503 before
 * `start()` and after `stop()`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Api, Bot, type Context } from "grammy";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, isUnlostError, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { registerWebhook, SECRET_TOKEN_HEADER } from "../../src/inbound/webhook/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { fdatasyncAsync } from "../../src/store/sqlite/wal-sync.js";
import { until } from "../helpers/until.js";

const PATH = "/telegram/hook";
const SECRET = "adapter_Secret-0123456789";
const MAX_BODY = 4_000;

/** A running server with the runtime's handler mounted at PATH. */
interface Served {
  readonly url: string;
  close(): Promise<void>;
}

function listening(server: Server): Promise<Served> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}${PATH}`,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

/** Each framework, mounting the runtime's callback the way its users would. */
const frameworks: Record<string, (runtime: Runtime) => Promise<Served>> = {
  express: (runtime) => {
    const app = express();
    app.post(PATH, runtime.webhookCallback("express"));
    return listening(createServer(app));
  },
  "express + express.json()": (runtime) => {
    const app = express();
    app.use(express.json());
    app.post(PATH, runtime.webhookCallback("express"));
    return listening(createServer(app));
  },
  fastify: async (runtime) => {
    const app = Fastify();
    app.post(PATH, runtime.webhookCallback("fastify"));
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url: `${address}${PATH}`, close: () => app.close() };
  },
  hono: (runtime) => {
    const app = new Hono();
    app.post(PATH, runtime.webhookCallback("hono"));
    return listening(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", createServer }) as Server);
  },
  http: (runtime) => listening(createServer(runtime.webhookCallback("http"))),
  "std/http": (runtime) => listening(serve({ fetch: runtime.webhookCallback("std/http"), port: 0, hostname: "127.0.0.1", createServer }) as Server),
};

/** A WAL flush that waits while the gate is closed (see test/runtime/durability.test.ts). */
class FlushGate {
  private closed = false;
  private waiting: Array<() => void> = [];
  readonly flush = async (fd: number): Promise<void> => {
    while (this.closed) await new Promise<void>((resolve) => this.waiting.push(resolve));
    await fdatasyncAsync(fd);
  };
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.closed = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/** The store, with `inbox.ingest` failing while `failing.ingest` is set. */
function withFailingIngest(store: Store, failing: { ingest: boolean }): Store {
  const bind = <T extends object>(target: T, prop: string | symbol): unknown => {
    const value: unknown = Reflect.get(target, prop, target);
    return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  };
  const inbox = new Proxy(store.inbox, {
    get(target, prop) {
      if (prop === "ingest" && failing.ingest) return () => Promise.reject(new Error("SQLITE_IOERR: disk I/O error"));
      return bind(target, prop);
    },
  });
  return new Proxy(store, { get: (target, prop) => (prop === "inbox" ? inbox : bind(target, prop)) });
}

function update(id: number, text = `hello ${id}`): Record<string, unknown> {
  return { update_id: id, message: { message_id: id, date: Math.floor(Date.now() / 1000), chat: { id: 42, type: "private" }, from: { id: 42, is_bot: false, first_name: "Ann" }, text } };
}

interface Harness {
  readonly emulator: Emulator;
  readonly sim: SimBot;
  /** The emulator's URL (the Bot API root). */
  readonly apiRoot: string;
  readonly runtime: Runtime;
  readonly store: Store;
  readonly served: Served;
  readonly gate: FlushGate;
  readonly failing: { ingest: boolean };
  /** update_ids the bot's handler ran for, in order. */
  readonly handled: number[];
  post(body: string | Record<string, unknown>, init?: { secret?: string | null; headers?: Record<string, string> }): Promise<Response>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(framework: string, options: { start?: boolean; runtime?: Partial<RuntimeOptions> } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "unlost-adapters-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const emulator = createEmulator({ limits: false, webhook: { timeoutMs: 5_000, firstRetryDelayMs: 20, maxRetryDelayMs: 200 } });
  const sim = emulator.createBot({ username: "adapter_bot" });
  const apiServer: EmulatorServer = await startEmulatorServer(emulator);
  cleanups.push(() => apiServer.close());
  const gate = new FlushGate();
  const store = await openStore({ path: join(dir, "unlost.sqlite"), flushFile: gate.flush });
  cleanups.push(async () => {
    gate.open();
    await store.close();
  });
  const failing = { ingest: false };
  const bot = new Bot<Context & UnlostFlavor>(sim.token, { client: { apiRoot: apiServer.url } });
  const handled: number[] = [];
  bot.on("message", (ctx) => {
    handled.push(ctx.update.update_id);
  });
  const runtime = createRuntime(bot, {
    store: withFailingIngest(store, failing),
    mode: "webhook",
    // Registered by hand below, once the server's URL is known.
    webhook: { url: "https://bot.example.com/telegram/hook", listen: false, register: false, secretToken: SECRET, maxBodyBytes: MAX_BODY },
    logger: silentLogger(),
    shutdown: { handleSignals: false },
    inbox: { idleMs: 20 },
    outbox: { idleMs: 20 },
    ...options.runtime,
  });
  cleanups.push(() => runtime.stop());
  const served = await frameworks[framework]!(runtime);
  cleanups.push(() => served.close());
  if (options.start !== false) await runtime.start();
  const post: Harness["post"] = (body, init = {}) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...init.headers };
    const secret = init.secret === undefined ? SECRET : init.secret;
    if (secret !== null) headers[SECRET_TOKEN_HEADER] = secret;
    return fetch(served.url, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  };
  return { emulator, sim, apiRoot: apiServer.url, runtime, store, served, gate, failing, handled, post };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(Object.keys(frameworks))("webhookCallback(%s) in a real server", (framework) => {
  it("stores and handles what the emulator delivers and what is POSTed with the right secret (200)", async () => {
    const h = await setup(framework);
    await registerWebhook(new Api(h.sim.token, { apiRoot: h.apiRoot }), { url: h.served.url, secretToken: SECRET });
    const user = h.emulator.createUser();
    user.sendText(h.sim, "via the emulator");
    user.sendText(h.sim, "and again");
    await until(() => h.handled.length === 2 && h.sim.updates.count() === 0, 10_000, "the emulator's deliveries handled");
    const res = await h.post(update(900_001));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("OK");
    await until(() => h.handled.includes(900_001), 10_000, "the posted update handled");
    expect(await h.store.inbox.get(900_001)).toMatchObject({ updateId: 900_001 });
  });

  it("refuses a wrong or missing secret with 401 and stores nothing", async () => {
    const h = await setup(framework);
    const wrong = await h.post(update(900_010), { secret: `${SECRET}x` });
    const missing = await h.post(update(900_011), { secret: null });
    expect([wrong.status, missing.status]).toEqual([401, 401]);
    expect(await wrong.text()).not.toContain(SECRET);
    expect(await h.store.inbox.get(900_010)).toBeNull();
    expect(await h.store.inbox.get(900_011)).toBeNull();
    expect((await h.store.inbox.stats()).pending + (await h.store.inbox.stats()).done).toBe(0);
  });

  it("answers 200 to a re-sent update_id and handles it once", async () => {
    const h = await setup(framework);
    for (let i = 0; i < 3; i++) expect((await h.post(update(900_020))).status).toBe(200);
    await until(() => h.handled.includes(900_020));
    await sleep(150);
    expect(h.handled.filter((id) => id === 900_020)).toHaveLength(1);
  });

  it("answers 413 over webhook.maxBodyBytes (announced or chunked), 400 to a body that is not JSON, and keeps JSON without an update_id as a dead letter (200)", async () => {
    const h = await setup(framework);
    const big = JSON.stringify(update(900_030, "x".repeat(MAX_BODY)));
    expect((await h.post(big)).status).toBe(413);
    const chunked = await fetch(h.served.url, {
      method: "POST",
      headers: { "content-type": "application/json", [SECRET_TOKEN_HEADER]: SECRET },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(JSON.stringify(update(900_031, "y".repeat(MAX_BODY)))));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await h.post("{not json")).status).toBe(400);
    expect((await h.post(update(900_032, "just under the limit"))).status).toBe(200);
    expect(await h.store.inbox.get(900_030)).toBeNull();
    expect(await h.store.inbox.get(900_031)).toBeNull();

    expect((await h.post({ update_id: "5", message: { text: "no valid id" } })).status).toBe(200);
    const dead = await h.runtime.deadLetters.list({ updateType: "unstorable" });
    expect(dead.items).toHaveLength(1);
    expect(JSON.parse(String(dead.items[0]!.update["unstorable"]))).toEqual({ update_id: "5", message: { text: "no valid id" } });
  });

  it("answers 500 when the store fails (Telegram re-sends), then 200 and one handling once it works", async () => {
    const h = await setup(framework);
    h.failing.ingest = true;
    expect((await h.post(update(900_040))).status).toBe(500);
    expect(await h.store.inbox.get(900_040)).toBeNull();
    h.failing.ingest = false;
    expect((await h.post(update(900_040))).status).toBe(200);
    await until(() => h.handled.includes(900_040));
    expect(h.handled.filter((id) => id === 900_040)).toHaveLength(1);
  });

  it("answers 200 only after the store's flush (sync) resolves", async () => {
    const h = await setup(framework);
    h.gate.close();
    let status: number | undefined;
    const answering = h.post(update(900_050)).then((res) => {
      status = res.status;
    });
    await until(async () => (await h.store.inbox.get(900_050)) !== null, 10_000, "the update stored");
    await sleep(250);
    expect(status).toBeUndefined();
    h.gate.open();
    await answering;
    expect(status).toBe(200);
  });

  it("answers 503 before start() and after stop() (Telegram re-sends), storing nothing", async () => {
    const h = await setup(framework, { start: false });
    const early = await h.post(update(900_060));
    expect(early.status).toBe(503);
    expect(early.headers.get("retry-after")).toBe("1");
    await h.runtime.start();
    expect((await h.post(update(900_061))).status).toBe(200);
    await until(() => h.handled.includes(900_061));
    await h.runtime.stop();
    expect((await h.post(update(900_062))).status).toBe(503);
    expect(await h.store.inbox.get(900_060)).toBeNull();
    expect(await h.store.inbox.get(900_062)).toBeNull();
  });
});

describe("webhook mode without a listener", () => {
  it("registers webhook.url on start; the server, listening before the runtime exists, mounts the callback", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    const apiServer = await startEmulatorServer(emulator);
    cleanups.push(() => apiServer.close());
    const server = createServer();
    const served = await listening(server);
    cleanups.push(() => served.close());
    const bot = new Bot(sim.token, { client: { apiRoot: apiServer.url } });
    const texts: string[] = [];
    bot.on("message:text", (ctx) => {
      texts.push(ctx.message.text);
    });
    const store = await openStore({ path: ":memory:" });
    cleanups.push(() => store.close());
    const runtime = createRuntime(bot, { store, mode: "webhook", webhook: { url: served.url, listen: false }, logger: silentLogger(), shutdown: { handleSignals: false }, inbox: { idleMs: 20 } });
    cleanups.push(() => runtime.stop());
    server.on("request", runtime.webhookCallback("http"));
    await runtime.start();
    expect(sim.webhook?.url).toBe(served.url);
    // The generated secret, kept in the store, is the one registered.
    expect(sim.webhook?.secretToken).toMatch(/^[A-Za-z0-9_-]{48}$/);
    emulator.createUser().sendText(sim, "registered by the runtime");
    await until(() => texts.length === 1);
    expect(texts).toEqual(["registered by the runtime"]);
  });

  it("refuses webhookCallback() without webhook.listen: false, unknown adapters, and port/host/path with listen: false", () => {
    const bot = new Bot("123:abc");
    const polling = createRuntime(bot, { logger: silentLogger() });
    expect(() => polling.webhookCallback("express")).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", message: expect.stringContaining('mode "webhook"') }) as Error);
    const listener = createRuntime(bot, { mode: "webhook", webhook: { url: "https://bot.example.com/hook" }, logger: silentLogger() });
    expect(() => listener.webhookCallback("express")).toThrow(/webhook\.listen: false/);
    const mounted = createRuntime(bot, { mode: "webhook", webhook: { url: "https://bot.example.com/hook", listen: false }, logger: silentLogger() });
    let caught: unknown;
    try {
      mounted.webhookCallback("koa" as "express");
    } catch (error) {
      caught = error;
    }
    expect(isUnlostError(caught, "INVALID_ARGUMENT")).toBe(true);
    expect(String((caught as Error).message)).toContain('"std/http"');
    expect(() => createRuntime(bot, { mode: "webhook", webhook: { url: "https://bot.example.com/hook", listen: false, port: 8443 } })).toThrow(/webhook\.port .*webhook\.listen is false/);
  });
});

