/**
 * PostgreSQL going away under a running bot, for real: the bot's store URL points at a TCP
 * proxy in front of the test server, and the test cuts it (open connections destroyed, new ones
 * closed at once) and restores it, twice, while users keep writing.
 *
 * What must hold: the process does not crash; each outage is logged in ONE line when it starts
 * and one when it ends (not a line per failed operation, not a crash loop); nothing is
 * confirmed to Telegram while the store cannot take it (the messages sent during an outage stay
 * at the emulator); after each restore every update is handled and completed exactly once (the
 * `completed:<id>` counter is committed with the completion), in order per chat. A slow server
 * (latency added by the proxy) is no outage: everything is handled once, only later.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { killAllBotProcesses } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { chatOrder, handledEvents, isStarted, logLines, readCompletions, send, startUnlostBot, stopGracefully, updateIdsOf } from "./helpers/unlost-bot.js";

const db = usePgDatabase();
const DOWN = /the store's server cannot be reached/;
const BACK = /the store's server is reachable again/;

let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];
let proxy: TcpProxy;

beforeEach(async () => {
  emulator = createEmulator({ seed: 14, limits: false });
  sim = emulator.createBot({ username: "outage_bot" });
  server = await startEmulatorServer(emulator);
  users = Array.from({ length: 4 }, (_, i) => emulator.createUser({ firstName: `O${i}` }));
  const target = new URL(db.url());
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
});

afterEach(async () => {
  await killAllBotProcesses();
  await proxy.close();
  await server.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("PostgreSQL down under a running bot", () => {
  it("two outages: no crash, one line each way per outage, nothing confirmed meanwhile, every update handled exactly once after", async () => {
    const schema = db.freshSchema();
    const bot = startUnlostBot(server, sim, { STORE_URL: proxy.through(db.url()), STORE_SCHEMA: schema, HANDLER_DELAY_MS: "5" }, "bot on the proxy");
    await bot.waitForEvent(isStarted, { timeoutMs: 20_000 });
    const sent: SentMessage[] = [];
    const write = (label: string, n: number): void => {
      for (let i = 0; i < n; i++) {
        const user = users[i % users.length] as SimUser;
        sent.push(send(sim, user, `${user.user.first_name} ${label} ${i}`));
      }
    };
    const answered = () => tallyReplies(sim.record, sent).answered === sent.length;

    write("before", 8);
    await waitFor(answered, { timeoutMs: 15_000, what: "replies before the outages" });

    for (const outage of [1, 2]) {
      proxy.cut();
      // Messages written while the store is away: fetched maybe, but not stored, so not confirmed.
      write(`during outage ${outage}`, 8);
      await sleep(4_000);
      expect(bot.hasExited(), `the bot exited during outage ${outage}: ${bot.stderr().slice(-2_000)}`).toBe(false);
      expect(sim.updates.count(), "updates confirmed to Telegram while the store was away").toBeGreaterThanOrEqual(8);
      expect(logLines(bot, DOWN)).toHaveLength(outage);
      proxy.restore();
      await waitFor(answered, { timeoutMs: 40_000, what: `replies after outage ${outage}` }).catch((e: unknown) => {
        console.log(bot.lines.slice(-60).join("\n"));
        throw e;
      });
      await waitFor(() => logLines(bot, BACK).length === outage, { timeoutMs: 10_000, what: `the recovery line of outage ${outage}` });
    }
    expect(proxy.refused, "connections the bot tried during the outages").toBeGreaterThan(0);

    write("after", 8);
    await waitFor(answered, { timeoutMs: 15_000, what: "replies after the outages" });
    expect((await stopGracefully(bot)).code).toBe(0);

    // One line per outage and per recovery; no flood of store errors in between.
    expect(logLines(bot, DOWN)).toHaveLength(2);
    expect(logLines(bot, BACK)).toHaveLength(2);
    const events = bot.events();
    const noisy = events.filter((e) => (e["level"] === 40 || e["level"] === 50) && !DOWN.test(String(e["msg"])) && JSON.stringify(e["err"] ?? "").includes("STORE_FAILURE"));
    expect(noisy.map((e) => e["msg"]), "store failures logged one by one").toEqual([]);
    const back = logLines(bot, BACK)[0] as Record<string, unknown>;
    expect(Number(back["failedOperations"])).toBeGreaterThan(0);

    // Every update completed exactly once, in order per chat.
    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions({ url: db.url(), schema }, ids);
    const handledBy = (id: number) => handledEvents(bot).filter((h) => h.updateId === id).map((h) => ({ attempt: h.attempt, recovered: h.recovered, begin: h.begin, end: h.end }));
    expect([...completions].filter(([, n]) => n !== 1).map(([id, n]) => ({ id, n, runs: handledBy(id) })), "updates not completed exactly once").toEqual([]);
    expect(new Set(handledEvents(bot).map((h) => h.updateId)).size).toBe(ids.length);
    expect(chatOrder(bot)).toEqual({ outOfOrder: [], overlaps: [] });
  }, 150_000);

  it("a slow server (40 ms added each way to every packet): no outage reported, nothing fails for good, every update once, in order", async () => {
    const schema = db.freshSchema();
    const bot = startUnlostBot(server, sim, { STORE_URL: proxy.through(db.url()), STORE_SCHEMA: schema, HANDLER_DELAY_MS: "5" }, "bot on a slow link");
    await bot.waitForEvent(isStarted, { timeoutMs: 20_000 });
    proxy.slow(40);
    const sent: SentMessage[] = [];
    for (let i = 0; i < 16; i++) {
      const user = users[i % users.length] as SimUser;
      sent.push(send(sim, user, `${user.user.first_name} slow ${i}`));
    }
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { timeoutMs: 60_000, what: "replies over the slow link" }).catch((e: unknown) => {
      console.log(`answered ${tallyReplies(sim.record, sent).answered} of ${sent.length}\n${bot.lines.slice(-40).join("\n")}`);
      throw e;
    });
    proxy.slow(0);
    expect((await stopGracefully(bot)).code).toBe(0);
    expect(logLines(bot, DOWN)).toEqual([]);
    const ids = updateIdsOf(sim, sent);
    const completions = await readCompletions({ url: db.url(), schema }, ids);
    expect([...completions.values()].filter((n) => n !== 1)).toEqual([]);
    expect(tallyReplies(sim.record, sent).duplicated).toBe(0);
    expect(chatOrder(bot)).toEqual({ outOfOrder: [], overlaps: [] });
  }, 90_000);
});
