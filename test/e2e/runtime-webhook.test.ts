/**
 * Webhook mode with a slow acknowledgement: between the emulator and the bot's receiver sits a
 * small proxy (the "public URL" the bot registers) that forwards every delivery at once but
 * holds the FIRST answer for each update for longer than the emulator's answer deadline. The
 * emulator, like Telegram, takes that for a failure and re-sends the update; the receiver has
 * already stored it and ignores the copy. Every update is handled, completed and replied to once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import {
  countBy, handledEvents, isStarted, logLines, makeTempDir, readCompletions, readExecLog, replyTargets, send, startUnlostBot,
  stopGracefully, updateIdsOf, type TempDir,
} from "./helpers/unlost-bot.js";

/** The emulator's answer deadline for a delivery, and the proxy's hold of a first answer. */
const DEADLINE_MS = 150;
const HOLD_FIRST_ANSWER_MS = 400;

/** A proxy that holds the first answer for each update_id; records every delivery. */
interface SlowAckProxy {
  readonly url: string;
  /** update_id of every delivery the emulator made, in arrival order. */
  readonly deliveries: number[];
  /** Answers the proxy sent back (status per delivery; held answers whose connection was gone are missing). */
  readonly statuses: number[];
  setTarget(origin: Promise<string>): void;
  close(): Promise<void>;
}

async function startSlowAckProxy(): Promise<SlowAckProxy> {
  const deliveries: number[] = [];
  const statuses: number[] = [];
  const answered = new Set<number>();
  let target: Promise<string> = Promise.reject(new Error("no target yet"));
  target.catch(() => undefined);
  const readBody = async (req: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const updateId = Number((JSON.parse(body.toString("utf8")) as { update_id: number }).update_id);
    deliveries.push(updateId);
    const headers: Record<string, string> = { "content-type": String(req.headers["content-type"] ?? "application/json") };
    const secret = req.headers["x-telegram-bot-api-secret-token"];
    if (typeof secret === "string") headers["x-telegram-bot-api-secret-token"] = secret;
    const answer = await fetch(`${await target}${req.url ?? "/"}`, { method: "POST", headers, body: new Uint8Array(body) });
    const text = await answer.text();
    if (!answered.has(updateId)) {
      answered.add(updateId);
      await new Promise((r) => setTimeout(r, HOLD_FIRST_ANSWER_MS)); // the slow acknowledgement
    }
    if (res.destroyed || res.writableEnded) return; // the emulator gave up on this one
    statuses.push(answer.status);
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" }).end(text);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(502).end(String(error));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    statuses,
    setTarget: (origin) => {
      target = origin;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let proxy: SlowAckProxy;
let sim: SimBot;
let users: SimUser[];

beforeEach(async () => {
  tmp = makeTempDir("unlost-webhook-");
  emulator = createEmulator({ seed: 5, limits: false, webhook: { timeoutMs: DEADLINE_MS, firstRetryDelayMs: 50, maxRetryDelayMs: 400 } });
  sim = emulator.createBot({ username: "webhook_bot" });
  server = await startEmulatorServer(emulator);
  proxy = await startSlowAckProxy();
  users = ["Ann", "Ben", "Cat"].map((firstName) => emulator.createUser({ firstName }));
});

afterEach(async () => {
  await killAllBotProcesses();
  await proxy.close();
  await server.close();
  tmp.remove();
});

describe("unlost runtime in webhook mode", () => {
  it("a slow acknowledgement makes the emulator re-send; each update is handled, completed and replied to once", async () => {
    const t0 = Date.now();
    const env = {
      DB_PATH: tmp.file("bot.sqlite"), EXEC_LOG: tmp.file("exec.log"),
      MODE: "webhook", WEBHOOK_URL: `${proxy.url}/telegram/hook`, WEBHOOK_PORT: "0",
    };
    const bot = startUnlostBot(server, sim, env, "webhook bot");
    // The receiver listens on a free port and logs where; the proxy forwards there.
    proxy.setTarget(
      bot.waitForEvent((e) => e["msg"] === "webhook receiver listening").then((e) => new URL(String(e["listening"])).origin),
    );
    await bot.waitForEvent(isStarted);
    expect(sim.webhook?.url).toBe(env.WEBHOOK_URL);

    const sent: SentMessage[] = [];
    for (let i = 1; i <= 3; i++) for (const u of users) sent.push(send(sim, u, `${u.user.first_name} #${i}`));
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length && sim.updates.count() === 0, {
      timeoutMs: 20_000,
      what: "every message answered and every delivery acknowledged",
    });
    expect(await stopGracefully(bot)).toEqual({ code: 0, signal: null });

    const ids = updateIdsOf(sim, sent);
    // The emulator re-sent: every update came at least twice (its first answer was held).
    const deliveries = countBy(proxy.deliveries);
    expect(ids.filter((id) => (deliveries.get(id) ?? 0) < 2)).toEqual([]);
    expect(proxy.deliveries.length).toBeGreaterThan(ids.length);
    expect(proxy.statuses.every((s) => s === 200)).toBe(true);
    // ...and yet each update was handled once, completed once, replied to once, in order.
    expect([...countBy(handledEvents(bot).map((h) => h.updateId)).entries()].sort((a, b) => a[0] - b[0])).toEqual(ids.map((id) => [id, 1]).sort((a, b) => a[0]! - b[0]!));
    expect([...(await readCompletions(env.DB_PATH, ids)).values()]).toEqual(ids.map(() => 1));
    expect([...readExecLog(env.EXEC_LOG).values()]).toEqual(ids.map(() => 1));
    const tally = tallyReplies(sim.record, sent);
    expect(tally).toMatchObject({ lost: 0, duplicates: 0 });
    for (const u of users) expect(replyTargets(sim, u.id)).toEqual(sent.filter((m) => m.chatId === u.id).map((m) => m.messageId));
    expect(logLines(bot, /^unlost started/)[0]).toMatchObject({ mode: "webhook" });
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "runtime-webhook", updates: ids.length, deliveries: proxy.deliveries.length, resent: proxy.deliveries.length - ids.length,
      handled: handledEvents(bot).length, duplicates: tally.duplicates, duration_ms: Date.now() - t0,
    }));
  }, 45_000);
});
