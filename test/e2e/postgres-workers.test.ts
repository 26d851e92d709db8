/**
 * Several `unlost` processes of one bot on one PostgreSQL schema, as separate containers or
 * machines would run them.
 *
 * - Failover: three processes with chosen instance ids (no shared pid space, so nothing but the
 *   worker lease tells that a process is gone); the one polling is killed with `kill -9` three
 *   times under load, and restarted like a supervisor would. Another process takes polling
 *   over each time (the time from the SIGKILL to its "polling" line is printed); every process
 *   handles updates (not only the poller); every update is completed exactly once and each
 *   chat's updates run in order, one at a time, across all of them.
 * - Webhook mode: two processes each receive every update (a fan-out in front of them, as a
 *   load balancer retrying on another instance, or Telegram re-delivering): each update is
 *   stored once (dedupe by update_id), handled once and answered once.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { killAllBotProcesses, type BotProcess } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { chatOrder, countBy, handledEvents, isStarted, readCompletions, send, startUnlostBot, stopGracefully, updateIdsOf } from "./helpers/unlost-bot.js";

const db = usePgDatabase();
const POLLING = /^(polling for updates|the instance that was polling is gone; taking over polling)$/;

let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];
let load: NodeJS.Timeout | undefined;

beforeEach(async () => {
  emulator = createEmulator({ seed: 41, limits: false });
  sim = emulator.createBot({ username: "workers_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: 8 }, (_, i) => emulator.createUser({ firstName: `W${i}` }));
});

afterEach(async () => {
  clearInterval(load);
  await killAllBotProcesses();
  await server.close();
});

/** Times (the runtime's log time) at which `p` started polling. */
const pollingSince = (p: BotProcess): number[] =>
  p.events().filter((e) => typeof e["msg"] === "string" && POLLING.test(e["msg"])).map((e) => Number(e["time"]));

describe("several processes on one PostgreSQL schema", () => {
  it("the poller killed with kill -9 three times (ids chosen: the worker lease alone decides): another takes over; every update once, in order", async () => {
    const schema = db.freshSchema();
    const env = { STORE_URL: db.url(), STORE_SCHEMA: schema, HEARTBEAT_MS: "1000", POLLER_LEASE_MS: "4000", UNPACED: "1",
      // Handlers slower than one process can keep up with alone (2 at a time, ~70 ms each, for
      // 25 messages/s): the others must take their share.
      CONCURRENCY: "2", HANDLER_DELAY_MS: "60", HANDLER_JITTER_MS: "20" };
    const start = (id: string): BotProcess => startUnlostBot(server, sim, { ...env, INSTANCE_ID: id }, id);
    const procs = new Map<string, BotProcess>();
    const all: BotProcess[] = [];
    for (const id of ["worker-a", "worker-b", "worker-c"]) {
      const p = start(id);
      procs.set(id, p);
      all.push(p);
      await p.waitForEvent(isStarted, { timeoutMs: 20_000 });
    }
    const sent: SentMessage[] = [];
    let n = 0;
    load = setInterval(() => {
      const user = users[n % users.length] as SimUser;
      n++;
      sent.push(send(sim, user, `${user.user.first_name} ${n}`));
    }, 40);

    const failovers: number[] = [];
    let firstKillAt = 0;
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 2_500));
      const poller = await waitFor(() => [...procs].find(([, p]) => !p.hasExited() && pollingSince(p).length > 0 && Math.max(...pollingSince(p)) >= Math.max(0, ...all.filter((o) => o !== p).flatMap(pollingSince))), { timeoutMs: 15_000, what: "the process polling" });
      const [id, victim] = poller;
      const killedAt = Date.now();
      if (firstKillAt === 0) firstKillAt = killedAt;
      await victim.kill9();
      const next = await waitFor(() => {
        const times = all.filter((p) => p !== victim && !p.hasExited()).flatMap(pollingSince).filter((t) => t >= killedAt);
        return times.length > 0 ? Math.min(...times) : undefined;
      }, { timeoutMs: 30_000, what: `another process polling after the kill of ${id}` });
      failovers.push(next - killedAt);
      const restarted = start(id);
      procs.set(id, restarted);
      all.push(restarted);
      await restarted.waitForEvent(isStarted, { timeoutMs: 20_000 });
    }
    clearInterval(load);
    load = undefined;
    console.log(JSON.stringify({ failover_ms: failovers, messages: sent.length }));

    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 40_000, what: "every message answered" });
    for (const p of procs.values()) expect((await stopGracefully(p)).code).toBe(0);
    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions({ url: db.url(), schema }, ids);
    expect([...completions].filter(([, c]) => c !== 1), "updates not completed exactly once").toEqual([]);
    expect(chatOrder(...all)).toEqual({ outOfOrder: [], overlaps: [] });
    expect(failovers).toHaveLength(3);
    // Every process handles, not only the poller: each of the first three did before the first
    // kill, while one of them polled.
    const runsBeforeKill = all.slice(0, 3).map((p) => handledEvents(p).filter((h) => h.end < firstKillAt).length);
    console.log(JSON.stringify({ handled_before_first_kill: runsBeforeKill }));
    expect(runsBeforeKill.every((n) => n > 0), `handled per process before the first kill: ${runsBeforeKill.join(", ")}`).toBe(true);
    expect(emulator.internalErrors).toEqual([]);
  }, 150_000);

  it("a poller paused (SIGSTOP) past its leases is deposed; resumed, its late writes change nothing: it stands by, every update once", async () => {
    const schema = db.freshSchema();
    const env = { STORE_URL: db.url(), STORE_SCHEMA: schema, HEARTBEAT_MS: "500", POLLER_LEASE_MS: "3000", UNPACED: "1", HANDLER_DELAY_MS: "20", HANDLER_JITTER_MS: "20" };
    const a = startUnlostBot(server, sim, { ...env, INSTANCE_ID: "paused-a" }, "paused-a");
    await a.waitForEvent(isStarted, { timeoutMs: 20_000 });
    await a.waitForEvent((e) => typeof e["msg"] === "string" && POLLING.test(e["msg"]), { timeoutMs: 10_000 });
    const b = startUnlostBot(server, sim, { ...env, INSTANCE_ID: "standby-b" }, "standby-b");
    await b.waitForEvent(isStarted, { timeoutMs: 20_000 });
    const offsets: number[] = [];
    emulator.onCall((call) => {
      if (call.method.toLowerCase() === "getupdates") offsets.push(Number((call.params as { offset?: unknown }).offset ?? 0));
    });
    const sent: SentMessage[] = [];
    let n = 0;
    load = setInterval(() => {
      const user = users[n % users.length] as SimUser;
      n++;
      sent.push(send(sim, user, `${user.user.first_name} p${n}`));
    }, 50);
    await new Promise((r) => setTimeout(r, 1_000));
    const stoppedAt = Date.now();
    a.child.kill("SIGSTOP");
    await waitFor(() => pollingSince(b).some((t) => t >= stoppedAt), { timeoutMs: 20_000, what: "the standby polling while the poller is paused" });
    await new Promise((r) => setTimeout(r, 1_000));
    a.child.kill("SIGCONT");
    // Resumed: it finds its lease gone (its fenced writes refused) and stands by.
    await a.waitForLine(/lost the poller lease|another instance took over polling|another instance on this store is polling/, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 1_500));
    clearInterval(load);
    load = undefined;
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, what: "every message answered" });
    expect(a.hasExited()).toBe(false);
    expect((await stopGracefully(b)).code).toBe(0);
    expect((await stopGracefully(a)).code).toBe(0);

    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions({ url: db.url(), schema }, ids);
    expect([...completions].filter(([, c]) => c !== 1), "updates not completed exactly once").toEqual([]);
    // The stored offset is past every update: no late write of the deposed poller moved it back.
    const store = await openStore({ url: db.url(), schema });
    try {
      expect(await store.state.offset()).toBe(Math.max(...ids) + 1);
    } finally {
      await store.close();
    }
    // What each getUpdates confirmed never went back below what had been confirmed before.
    const regressions = offsets.filter((o, i) => o > 0 && i > 0 && o < Math.max(...offsets.slice(0, i)));
    expect(regressions, "getUpdates offsets below one already confirmed").toEqual([]);
  }, 90_000);

  it("webhook mode, two processes receiving every update: stored once, handled once, answered once", async () => {
    const schema = db.freshSchema();
    const ports = [await freePort(), await freePort()];
    // The fan-out: the URL the bot registers; each delivery goes to both processes, and the
    // emulator gets the first answer.
    const deliveries: number[] = [];
    const fanout: Server = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        deliveries.push(Number((JSON.parse(body.toString("utf8")) as { update_id: number }).update_id));
        const headers: Record<string, string> = { "content-type": "application/json" };
        const secret = req.headers["x-telegram-bot-api-secret-token"];
        if (typeof secret === "string") headers["x-telegram-bot-api-secret-token"] = secret;
        const answers = await Promise.all(ports.map((port) =>
          fetch(`http://127.0.0.1:${port}/hook`, { method: "POST", headers, body: new Uint8Array(body) }).then((a) => a.status, () => 599)));
        res.writeHead(answers.every((s) => s === 200) ? 200 : 503).end();
      })();
    });
    await new Promise<void>((r) => fanout.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${(fanout.address() as AddressInfo).port}/hook`;
    try {
      const env = { STORE_URL: db.url(), STORE_SCHEMA: schema, MODE: "webhook", WEBHOOK_URL: hook, UNPACED: "1" };
      const a = startUnlostBot(server, sim, { ...env, WEBHOOK_PORT: String(ports[0]) }, "receiver A");
      await a.waitForEvent(isStarted, { timeoutMs: 20_000 });
      const b = startUnlostBot(server, sim, { ...env, WEBHOOK_PORT: String(ports[1]) }, "receiver B");
      await b.waitForEvent(isStarted, { timeoutMs: 20_000 });
      const sent: SentMessage[] = [];
      for (let i = 0; i < 24; i++) {
        const user = users[i % users.length] as SimUser;
        sent.push(send(sim, user, `${user.user.first_name} hook ${i}`));
      }
      await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 30_000, what: "every message answered" });
      expect((await stopGracefully(a)).code).toBe(0);
      expect((await stopGracefully(b)).code).toBe(0);

      const ids = updateIdsOf(sim, sent);
      // Both processes received every update; each was stored and run once.
      expect(new Set(deliveries)).toEqual(new Set(ids));
      const runs = countBy(handledEvents(a, b).map((h) => h.updateId));
      expect(ids.filter((id) => runs.get(id) !== 1), "updates not handled exactly once").toEqual([]);
      const completions = await readCompletions({ url: db.url(), schema }, ids);
      expect([...completions.values()].every((c) => c === 1)).toBe(true);
      const tally = tallyReplies(sim.record, sent);
      expect(tally.duplicated).toBe(0);
      const store = await openStore({ url: db.url(), schema });
      try {
        expect((await store.inbox.stats()).done).toBe(ids.length);
      } finally {
        await store.close();
      }
      expect(chatOrder(a, b)).toEqual({ outOfOrder: [], overlaps: [] });
    } finally {
      await new Promise<void>((r) => fanout.close(() => r()));
    }
  }, 90_000);
});

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
