/**
 * The manual test from the field, automated: a bot run by unlost, five users write, the bot is
 * stopped gracefully (SIGTERM), the users write again while it is down, and it is started
 * again. Every message is handled exactly once, in order per user, and the second start logs
 * the backlog and the offline window.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses } from "./helpers/bot-process.js";
import { tallyReplies, waitFor, type SentMessage } from "./helpers/emulator-probes.js";
import { until } from "../helpers/until.js";
import {
  countBy, handledEvents, isHandled, isStarted, logLines, makeTempDir, readCompletions, readExecLog, replyTargets, send,
  startUnlostBot, stopGracefully, updateIdsOf, type TempDir,
} from "./helpers/unlost-bot.js";

/** Sleeps into the next whole second of the clock (plus a margin). */
const nextWholeSecond = (): Promise<void> => new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 20));

let tmp: TempDir;
let server: EmulatorServer;
let sim: SimBot;
let users: SimUser[];

beforeEach(async () => {
  tmp = makeTempDir("unlost-restart-");
  const emulator = createEmulator({ seed: 3, limits: false });
  sim = emulator.createBot({ username: "restart_bot" });
  server = await startEmulatorServer(emulator);
  users = ["Ann", "Ben", "Cat", "Dan", "Eve"].map((firstName) => emulator.createUser({ firstName }));
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
  tmp.remove();
});

describe("unlost runtime: stop (SIGTERM), messages while down, restart", () => {
  it("handles all 10 messages exactly once, in order per user, and logs the catch-up", async () => {
    const env = { DB_PATH: tmp.file("bot.sqlite"), EXEC_LOG: tmp.file("exec.log") };
    const t0 = Date.now();

    const first = startUnlostBot(server, sim, env, "first run");
    await first.waitForEvent(isStarted);
    const sent: SentMessage[] = users.map((u) => send(sim, u, `${u.user.first_name} before the stop`));
    await first.waitForEvent(isHandled, { count: users.length });
    // Telegram forgets a batch when the next getUpdates confirms it (after the batch's flush):
    // wait for that, so that what it keeps below is only what arrives while the bot is down.
    await until(() => sim.updates.count() === 0, 10_000);
    const firstExit = await stopGracefully(first);
    expect(firstExit).toEqual({ code: 0, signal: null }); // it exits on its own, cleanly
    expect(logLines(first, /^stopped/)).toHaveLength(1);

    // While the bot is down: Telegram keeps these. Message dates are whole seconds, and an update
    // counts as "arrived while down" only when its whole second is inside the offline window, so
    // the users write in the first whole second after the stop and the bot restarts after it.
    await nextWholeSecond();
    sent.push(...users.map((u) => send(sim, u, `${u.user.first_name} while the bot is down`)));
    expect(sim.updates.count()).toBe(users.length);
    const downSince = Date.now();
    await nextWholeSecond();

    const second = startUnlostBot(server, sim, env, "second run");
    await second.waitForEvent(isStarted);
    await second.waitForEvent(isHandled, { count: users.length });
    await waitFor(() => tallyReplies(sim.record, sent).answered === sent.length, { what: "every message answered" });
    expect(await stopGracefully(second)).toEqual({ code: 0, signal: null });

    const ids = updateIdsOf(sim, sent);
    // One handled event per update across both runs, and the first run handled the first five.
    const handled = handledEvents(first, second);
    expect([...countBy(handled.map((h) => h.updateId)).entries()].sort((a, b) => a[0] - b[0])).toEqual(ids.map((id) => [id, 1]));
    expect(handledEvents(first).map((h) => h.updateId).sort()).toEqual(ids.slice(0, users.length).sort());
    // The second run's messages were sent while the bot was down, and it knows.
    expect(handledEvents(second).every((h) => h.arrivedWhileDown)).toBe(true);
    // Completions exactly once (read from the store), executions once.
    const completions = await readCompletions(env.DB_PATH, ids);
    expect([...completions.values()]).toEqual(ids.map(() => 1));
    expect([...readExecLog(env.EXEC_LOG).values()]).toEqual(ids.map(() => 1));
    // Each user got one reply per message, in the order written.
    const tally = tallyReplies(sim.record, sent);
    expect(tally).toMatchObject({ lost: 0, duplicates: 0, answered: 10 });
    for (const u of users) {
      const mine = sent.filter((m) => m.chatId === u.id);
      expect(replyTargets(sim, u.id)).toEqual(mine.map((m) => m.messageId));
      expect(sim.record.to(u.id).map((d) => d.text)).toEqual(mine.map((m) => m.expectedReply));
    }

    // The second start reports the backlog and the offline window.
    const startLine = logLines(second, /^unlost started/)[0];
    expect(startLine, `log lines of the second run:\n${second.lines.join("\n")}`).toBeDefined();
    expect(startLine).toMatchObject({ mode: "polling", msg: "unlost started; catching up on the backlog" });
    expect(Number(startLine!["backlog"])).toBe(users.length);
    const offlineMs = Number(startLine!["offlineMs"]);
    expect(offlineMs).toBeGreaterThan(0);
    expect(offlineMs).toBeLessThan(Date.now() - downSince + 1_000);
    // The offline window has its own line too.
    expect(logLines(second, /offline for/)).toHaveLength(1);
    // The first run was a first start: no window.
    expect(logLines(first, /^unlost started/)[0]).toMatchObject({ backlog: 0, offlineMs: null });

    console.log(JSON.stringify({
      e2e: "runtime-restart", sent: sent.length, handled: handled.length, duplicates: tally.duplicates,
      backlog_logged: startLine!["backlog"], offline_ms_logged: offlineMs, duration_ms: Date.now() - t0,
    }));
  }, 45_000);
});
