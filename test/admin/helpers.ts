/**
 * A runtime with an admin server on the emulator, and readers of its answers.
 */
import { Bot, type Context } from "grammy";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type RuntimeOptions, type Store, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";

export type Ctx = Context & UnlostFlavor;

/** An admin token for tests (long enough). */
export const ADMIN_TOKEN = "admin-secret-0123456789abcdef";

/** A running bot with its admin server. */
export interface AdminSetup {
  readonly emulator: Emulator;
  readonly sim: SimBot;
  readonly runtime: Runtime;
  readonly store: Store;
  /** The admin server's base URL. */
  readonly url: string;
  /** The emulator server (closed by {@link AdminSetup.close}). */
  readonly server: EmulatorServer;
  close(): Promise<void>;
}

/**
 * Starts an emulator, a bot with `register`'s handlers and a runtime with `admin: { port: 0,
 * token }`, `options` and what `more` returns (it may create users first, e.g. admin chats).
 */
export async function startWithAdmin(register: (bot: Bot<Ctx>) => void, options: RuntimeOptions = {}, store?: Store, more?: (emulator: Emulator) => RuntimeOptions): Promise<AdminSetup> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  const server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  register(bot);
  const theStore = store ?? (await openStore({ path: ":memory:" }));
  const runtime = createRuntime(bot, {
    store: theStore, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50, jitter: 0 } },
    outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    admin: { port: 0, token: ADMIN_TOKEN },
    ...options,
    ...more?.(emulator),
  });
  await runtime.start();
  const url = runtime.adminUrl;
  if (url === undefined) throw new Error("the admin server does not listen");
  return {
    emulator, sim, runtime, store: theStore, url, server,
    async close() {
      await runtime.stop();
      await server.close();
    },
  };
}

/** A GET with an optional bearer token; the status, the body as text and the headers. */
export async function get(url: string, token?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/**
 * The value of one sample in Prometheus text: `name` with exactly `labels` (none by default).
 * Undefined when absent.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",");
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const got = (match[2] ?? "").split(",").filter((p) => p !== "").sort().join(",");
    if (got === wanted) return Number(match[3]);
  }
  return undefined;
}

/** A store whose inbox (and outbox) stats can be made to fail, as if the database were gone. */
export function breakableStore(inner: Store): { store: Store; fail(error: Error | undefined): void } {
  let failure: Error | undefined;
  const inbox = new Proxy(inner.inbox, {
    get(target, key) {
      if (key === "stats") return (...args: Parameters<Store["inbox"]["stats"]>) => (failure === undefined ? target.stats(...args) : Promise.reject(failure));
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === "inbox") return inbox;
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, fail: (error) => (failure = error) };
}
