/**
 * An unlost runtime in the test process (store in a temp folder) against its own emulator
 * served over real HTTP, for outbox end-to-end tests that need no `kill -9`. Each call makes
 * a fresh emulator, so tests can run concurrently (one may put its emulator in an outage).
 */
import { Bot, type Context } from "grammy";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorOptions, type EmulatorServer, type SimBot } from "../../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../../src/index.js";
import { makeTempDir, type TempDir } from "./unlost-bot.js";

export type Ctx = Context & UnlostFlavor;

export interface OutboxWorld {
  readonly emulator: Emulator;
  readonly server: EmulatorServer;
  readonly sim: SimBot;
  readonly bot: Bot<Ctx>;
  readonly rt: Runtime;
  readonly tmp: TempDir;
  close(): Promise<void>;
}

/** Starts an emulator (limits on unless `emulator.limits` says otherwise) and a runtime on it. */
export async function startOutboxWorld(options: {
  emulator?: EmulatorOptions;
  runtime?: RuntimeOptions;
  register?: (bot: Bot<Ctx>) => void;
  /** Use this emulator (served by `server`, bot `sim`) instead of a new one; it is left running on close. */
  use?: { emulator: Emulator; server: EmulatorServer; sim: SimBot };
} = {}): Promise<OutboxWorld> {
  const emulator = options.use?.emulator ?? createEmulator({ seed: 1, ...options.emulator });
  const sim = options.use?.sim ?? emulator.createBot({ username: "outbox_e2e_bot" });
  const server = options.use?.server ?? (await startEmulatorServer(emulator));
  const tmp = makeTempDir("unlost-outbox-");
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  options.register?.(bot);
  const rt = createRuntime(bot, {
    store: { path: tmp.file("bot.sqlite") },
    logger: silentLogger(),
    polling: { timeoutSeconds: 1 },
    shutdown: { handleSignals: false, deadlineMs: 3_000 },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 } },
    ...options.runtime,
  });
  await rt.start();
  let closed = false;
  return {
    emulator, server, sim, bot, rt, tmp,
    close: async () => {
      if (closed) return;
      closed = true;
      emulator.faults.clear();
      await rt.stop().catch(() => undefined);
      if (options.use === undefined) await server.close();
      tmp.remove();
    },
  };
}
