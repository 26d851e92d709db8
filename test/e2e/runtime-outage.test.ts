/**
 * A 25 h outage on the emulator's clock. The bot runs, is stopped, a day and an hour pass
 * (users write before and after), and it is started again with the emulator's time: the admin
 * chat gets the downtime alert (the offline window, ~25 h, and that updates may have been
 * lost — the message written before the advance is indeed gone: Telegram keeps updates ~24 h).
 * A poison update (its handler always throws) ends as a dead letter while the same chat's next
 * updates are handled.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { openStore } from "../../src/store/index.js";
import { killAllBotProcesses } from "./helpers/bot-process.js";
import { tallyReplies, waitFor } from "./helpers/emulator-probes.js";
import {
  countBy, handledEvents, isHandled, isStarted, logLines, makeTempDir, readCompletions, send, startUnlostBot, stopGracefully,
  updateIdsOf, type TempDir,
} from "./helpers/unlost-bot.js";

const HOUR = 3600_000;
const POISON = "this message breaks the bot";

let tmp: TempDir;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let admin: SimUser;
let ann: SimUser;
let ben: SimUser;

beforeEach(async () => {
  tmp = makeTempDir("unlost-outage-");
  emulator = createEmulator({ seed: 25, limits: false });
  sim = emulator.createBot({ username: "outage_bot" });
  server = await startEmulatorServer(emulator);
  admin = emulator.createUser({ firstName: "Admin" }); // has started the bot: it may write first
  ann = emulator.createUser({ firstName: "Ann" });
  ben = emulator.createUser({ firstName: "Ben" });
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("unlost runtime after a 25 h outage", () => {
  it("alerts the admin with the offline window; a poison update becomes a dead letter while its chat goes on", async () => {
    const t0 = Date.now();
    const env = { DB_PATH: tmp.file("bot.sqlite"), ADMIN_CHAT_IDS: String(admin.id), POISON_TEXT: POISON, MAX_ATTEMPTS: "2" };

    const first = startUnlostBot(server, sim, { ...env, CLOCK_OFFSET_MS: String(emulator.clock.offsetMs()) }, "before the outage");
    await first.waitForEvent(isStarted);
    const hello = send(sim, ann, "hello");
    await first.waitForEvent(isHandled);
    expect(await stopGracefully(first)).toEqual({ code: 0, signal: null });
    expect(sim.record.to(admin.id)).toEqual([]); // a first start alerts nobody

    // The outage: one message before the clock jumps 25 h (Telegram forgets it after 24 h)...
    const forgotten = send(sim, ben, "written at the start of the outage");
    const forgottenDate = emulator.clock.now();
    emulator.clock.advance(25 * HOUR);
    // ...and the users who write after it, one of them a poison message with more behind it.
    const after = [
      send(sim, ben, "good morning"),
      send(sim, ann, POISON),
      send(sim, ann, "after the poison, 1"),
      send(sim, ann, "after the poison, 2"),
    ];
    const [, poison, ...healthy] = after;
    // Two more seconds of outage: message dates are whole seconds, and a message counts as
    // "arrived while down" when its whole second lies inside the offline window.
    emulator.clock.advance(2_000);

    const second = startUnlostBot(server, sim, { ...env, CLOCK_OFFSET_MS: String(emulator.clock.offsetMs()) }, "after the outage");
    await second.waitForEvent(isStarted);
    // The admin is alerted.
    const alert = await waitFor(() => sim.record.to(admin.id)[0], { what: "the downtime alert" });
    await second.waitForEvent((e) => e["msg"] === "update moved to the dead letters");
    await waitFor(() => tallyReplies(sim.record, [after[0]!, ...healthy]).answered === 3, { what: "the healthy messages answered" });
    expect(await stopGracefully(second)).toEqual({ code: 0, signal: null });

    // The alert: the window, ~25 h, and that updates sent before to-24h may have been lost.
    const text = alert.text ?? "";
    expect(text).toMatch(/^⚠️ @outage_bot was offline from \S+ to \S+ \(25 h \d+ min\)/);
    expect(text).toMatch(/may have been lost/);
    const lostBefore = Date.parse(/updates sent before (\S+) may have been lost/.exec(text)?.[1] ?? "");
    expect(forgottenDate).toBeLessThan(lostBefore); // the forgotten message is covered by the warning
    expect(sim.record.to(admin.id)).toHaveLength(1);
    const windowLog = logLines(second, /the bot was offline for 25 h/)[0];
    expect(windowLog).toMatchObject({ level: 40 });
    expect(Number(windowLog!["durationMs"])).toBeGreaterThanOrEqual(25 * HOUR);
    expect(Number(windowLog!["durationMs"])).toBeLessThan(25 * HOUR + 60_000);
    expect(logLines(second, /^downtime alert sent/)).toHaveLength(1);
    // Telegram did forget the message written 25 h ago: it never reached the bot.
    expect(tallyReplies(sim.record, [forgotten]).lost).toBe(1);

    // The poison update is a dead letter (with its error); the chat went on in order.
    const [poisonId, ...healthyIds] = updateIdsOf(sim, [poison!, ...healthy]);
    const store = await openStore({ path: env.DB_PATH });
    let dead;
    try {
      dead = await store.inbox.deadLetters.list();
    } finally {
      await store.close();
    }
    expect(dead.items.map((d) => d.updateId)).toEqual([poisonId]);
    expect(dead.items[0]).toMatchObject({ attempts: 2 });
    expect(dead.items[0]!.error).toContain("poison message");
    expect(sim.record.to(ann.id).map((d) => d.text)).toEqual(["re: hello", ...healthy.map((m) => m.expectedReply)]);
    expect(tallyReplies(sim.record, [hello, after[0]!, ...healthy])).toMatchObject({ lost: 0, duplicates: 0 });
    const handled = handledEvents(first, second);
    expect([...countBy(handled.map((h) => h.updateId)).values()].every((n) => n === 1)).toBe(true);
    expect(handled.some((h) => h.updateId === poisonId)).toBe(false);
    // Handled in catch-up: they arrived while the bot was down.
    expect(handledEvents(second).every((h) => h.arrivedWhileDown)).toBe(true);
    expect([...(await readCompletions(env.DB_PATH, [...healthyIds, poisonId!])).values()]).toEqual([1, 1, 0]);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      e2e: "runtime-outage", offline_ms: Number(windowLog!["durationMs"]), alert: text, dead_letters: dead.items.length,
      forgotten_by_telegram: 1, duration_ms: Date.now() - t0,
    }));
  }, 45_000);
});
