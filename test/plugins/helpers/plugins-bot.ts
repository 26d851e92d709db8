/**
 * The plugin compatibility suite's harness: an emulator server in the test process whose sends
 * fail with 429 three times in ten, and the plugins bot (`fixtures/plugins-bot.ts`, run by
 * `unlost run` as a real process) on a SQLite store in a temp data folder. Tests start, kill -9
 * and restart the bot, drive simulated users, and read what was delivered (`sim.record`), what
 * the bot printed (its marks) and what it committed (the store, after it exited).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../../src/emulator/index.js";
import { openStore } from "../../../src/store/index.js";
import { killAllBotProcesses, spawnBotProcess, type BotExit, type BotProcess } from "../../e2e/helpers/bot-process.js";
import { makeTempDir, type TempDir } from "../../e2e/helpers/unlost-bot.js";
import { until } from "../../helpers/until.js";

/** `unlost run fixtures/plugins-bot.ts`, as a script. */
const LAUNCHER = fileURLToPath(new URL("../fixtures/run-plugins-bot.mjs", import.meta.url));

/**
 * The Bot API methods that get 429s: the messages the bot sends and edits (what goes through
 * unlost's outbox). Not answerCallbackQuery: it goes straight to Telegram (a late answer is
 * useless), so a 429 there fails the handler's try, as in plain grammY, and unlost retries it.
 */
export const FLOODED_METHODS = ["sendMessage", "editMessageText", "editMessageReplyMarkup"] as const;
/** Share of those calls answered 429 `retry after 1`. */
export const FLOOD_PROBABILITY = 0.3;

/** What the fixture reads from its environment (see fixtures/plugins-bot.ts). */
export interface PluginsBotEnv {
  /** The mark at which the update hangs for good (the test kills the process there). */
  readonly HOLD_AT?: string;
  readonly RATE_LIMIT?: string;
  readonly RATE_TIME_FRAME_MS?: string;
  /** Breaks one guarantee on purpose (a control run that must fail). */
  readonly CONTROL?: "memory-session" | "memory-conversations" | "unguarded-limiter";
}

/** One test's world: the emulator, its server, the bot's data folder, and the processes started. */
export interface PluginsHarness {
  readonly emulator: Emulator;
  readonly sim: SimBot;
  readonly server: EmulatorServer;
  readonly tmp: TempDir;
  /** The store file (`<data folder>/unlost.sqlite`). */
  readonly dbPath: string;
  /** Every bot process started so far, in order. */
  readonly processes: readonly BotProcess[];
  /** Starts the bot and waits until it polls. `CONTROL` from the test's environment is passed on. */
  start(name: string, env?: PluginsBotEnv): Promise<BotProcess>;
  /** Kills every process still running, closes the server, removes the folder. */
  close(): Promise<void>;
}

/** A control run (`PLUGINS_CONTROL=memory-session npx vitest run test/plugins/session.test.ts`) breaks one guarantee. */
export function controlFromEnv(): PluginsBotEnv["CONTROL"] {
  const value = process.env["PLUGINS_CONTROL"];
  if (value === undefined || value === "") return undefined;
  if (value === "memory-session" || value === "memory-conversations" || value === "unguarded-limiter") return value;
  throw new Error(`PLUGINS_CONTROL=${value}: use memory-session, memory-conversations or unguarded-limiter`);
}

export async function createHarness(name: string, seed: number): Promise<PluginsHarness> {
  const tmp = makeTempDir(`unlost-plugins-${name}-`);
  const emulator = createEmulator({ seed });
  const sim = emulator.createBot({ username: `${name.replace(/\W/g, "_")}_plugins_bot` });
  const server = await startEmulatorServer(emulator);
  emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, methods: FLOODED_METHODS, probability: FLOOD_PROBABILITY });
  const dataDir = tmp.file("data");
  const config = tmp.file("unlost.config.json");
  // Quick restarts and retries for a test; everything else is unlost's defaults.
  writeFileSync(config, JSON.stringify({
    polling: { timeoutSeconds: 1 },
    // The kills are not the updates' fault: they are run again however often they die.
    inbox: { maxAttempts: 100, maxRecoveries: 100, backoff: { baseMs: 50, maxMs: 500 } },
    downtime: { heartbeatMs: 200 },
    shutdown: { deadlineMs: 2_000 },
  }));
  const control = controlFromEnv();
  const processes: BotProcess[] = [];
  return {
    emulator, sim, server, tmp, processes,
    dbPath: `${dataDir}/unlost.sqlite`,
    async start(processName, env = {}) {
      const p = spawnBotProcess(LAUNCHER, {
        name: processName,
        env: {
          BOT_TOKEN: sim.token, UNLOST_API_ROOT: server.url, UNLOST_DATA_DIR: dataDir, UNLOST_CONFIG: config,
          RUN_CWD: tmp.path, LOG_LEVEL: "info",
          ...(control === undefined ? {} : { CONTROL: control }),
          ...env,
        },
      });
      processes.push(p);
      await p.waitForEvent((e) => typeof e["msg"] === "string" && e["msg"].startsWith("unlost started"), { timeoutMs: 30_000 });
      return p;
    },
    async close() {
      await killAllBotProcesses();
      await server.close();
      tmp.remove();
    },
  };
}

/** A `{"event":"mark"}` line of the fixture. */
export interface Mark {
  readonly label: string;
  readonly by: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The marks the processes printed, in order (process by process), optionally only `label`'s. */
export function marks(procs: readonly BotProcess[], label?: string): Mark[] {
  return procs.flatMap((p) =>
    p.events()
      .filter((e) => e["event"] === "mark" && (label === undefined || e["label"] === label))
      .map((e) => ({ label: String(e["label"]), by: p.name, fields: e })),
  );
}

/** Waits for the `count`-th mark `label` of `p`. */
export async function waitForMark(p: BotProcess, label: string, count = 1, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return p.waitForEvent((e) => e["event"] === "mark" && e["label"] === label, { count, timeoutMs });
}

/** Waits until `p` holds at its HOLD_AT mark, then kills it with SIGKILL. */
export async function killWhenHeld(p: BotProcess, label: string, timeoutMs = 60_000): Promise<BotExit> {
  await p.waitForEvent((e) => e["event"] === "hold" && e["label"] === label, { timeoutMs });
  return p.kill9();
}

/** SIGTERM, then the exit (a graceful stop). */
export async function stopGracefully(p: BotProcess): Promise<BotExit> {
  if (!p.hasExited()) p.child.kill("SIGTERM");
  return p.exited;
}

/** The texts delivered to a chat, in delivery order. */
export function textsTo(sim: SimBot, chatId: number): Array<string | undefined> {
  return sim.record.to(chatId).map((m) => m.text);
}

/** Waits until `count` messages were delivered to the chat. */
export async function untilDelivered(sim: SimBot, chatId: number, count: number, timeoutMs = 60_000): Promise<void> {
  await until(() => sim.record.to(chatId).length >= count, timeoutMs, `${count} messages delivered to chat ${chatId}`).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; delivered: ${JSON.stringify(textsTo(sim, chatId))}`, { cause: error });
  });
}

/** Waits until the store (shared with the running bot) has no update pending or in flight. */
export async function untilInboxDrained(dbPath: string, timeoutMs = 60_000): Promise<void> {
  const store = await openStore({ path: dbPath });
  try {
    await until(async () => {
      const stats = await store.inbox.stats();
      return stats.pending === 0 && stats.inflight === 0;
    }, timeoutMs, "the inbox drained");
  } finally {
    await store.close();
  }
}

/** A JSON value kept by the bot in the store's data (a session: `session:<chat id>`), or null. */
export async function storedData<T>(dbPath: string, key: string): Promise<T | null> {
  const store = await openStore({ path: dbPath });
  try {
    const text = await store.data.get(key);
    return text === null ? null : (JSON.parse(text) as T);
  } finally {
    await store.close();
  }
}

/**
 * Waits until the wall clock is in a later whole second than `epochMs`: a message sent then is
 * dated (whole seconds) no earlier than `epochMs`.
 */
export async function untilSecondAfter(epochMs: number): Promise<void> {
  const next = Math.floor(epochMs / 1000) * 1000 + 1000;
  await until(() => Date.now() >= next, 2_000, `the second after ${epochMs}`);
}

/** What one chat received, accounted against the store. */
export interface DeliveryAccount {
  /** The texts delivered, in order, each repeat of an earlier text left out. */
  readonly firstDeliveries: ReadonlyArray<string | undefined>;
  /** Deliveries that repeated an earlier one. */
  readonly duplicates: number;
  /**
   * The chat's sends (sendMessage, keyed by their updates) whose job records an ambiguous
   * attempt: sent again because a kill cut off the run (or the try) while the first send was
   * on the wire, so it may have been delivered twice. Every duplicate must be one of these.
   */
  readonly ambiguous: number;
}

/**
 * Accounts for what a chat received (every text is unique in the suite's scenarios): what
 * arrived, in order, and how many repeats, against the sends the store says may have repeated.
 * Open the store only after the bot exited.
 */
export async function deliveryAccount(h: PluginsHarness, chatId: number): Promise<DeliveryAccount> {
  const texts = h.sim.record.to(chatId).map((m) => m.text);
  const firstDeliveries = texts.filter((t, i) => texts.indexOf(t) === i);
  const botId = h.sim.token.split(":")[0] ?? "";
  const updates = h.sim.updateLog.filter((u) => (u.message?.chat.id ?? u.callback_query?.message?.chat.id) === chatId).map((u) => u.update_id);
  const store = await openStore({ path: h.dbPath });
  let ambiguous = 0;
  try {
    for (const updateId of updates) {
      for (let position = 0; position < 8; position++) {
        const job = await store.outbox.getByKey(`${botId}:${updateId}:${position}:sendMessage`);
        if (job?.history.some((a) => a.ambiguous)) ambiguous++;
      }
    }
  } finally {
    await store.close();
  }
  return { firstDeliveries, duplicates: texts.length - firstDeliveries.length, ambiguous };
}

/** How many 429s the emulator answered so far. */
export function floodsInjected(emulator: Emulator): number {
  return emulator.faults.injected().flood;
}
