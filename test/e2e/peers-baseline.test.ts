/**
 * Baselines: the peers' known failure modes, reproduced with real child processes killed with
 * `kill -9` while the emulator (in this process) records what the users received.
 *
 * - grammY `bot.start()` confirms a batch only when it fetches the next one, so a kill in the
 *   middle of a batch re-delivers the whole batch: already handled updates are handled again and
 *   users get duplicate replies (at-least-once).
 * - @grammyjs/runner fetches ahead and confirms offsets before its handlers finish, so a kill
 *   after the confirming getUpdates and before the handlers are done loses those updates for
 *   good (no guarantee at all).
 *
 * Each test prints a one-line JSON summary; these are the numbers unlost's runtime is measured
 * against. Counting (see {@link tallyReplies}): every message gets a unique expected reply;
 * `lost` = messages with no reply at the end, `duplicates` = extra deliveries of a reply.
 */
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { killAllBotProcesses, spawnBotProcess, type BotProcess } from "./helpers/bot-process.js";
import { offsetOf, tallyReplies, waitFor, watchCalls, type SentMessage } from "./helpers/emulator-probes.js";

const GRAMMY_START_BOT = fileURLToPath(new URL("./fixtures/grammy-start-bot.mjs", import.meta.url));
const RUNNER_BOT = fileURLToPath(new URL("./fixtures/runner-bot.mjs", import.meta.url));

const USERS = 3;
const MESSAGES_PER_USER = 10;
const TOTAL = USERS * MESSAGES_PER_USER;
/** Handled updates seen on stdout before the kill. */
const KILL_AFTER_HANDLED = 10;

let emulator: Emulator;
let server: EmulatorServer;
let simBot: SimBot;
let users: SimUser[];

beforeEach(async () => {
  emulator = createEmulator({ seed: 11, limits: false });
  simBot = emulator.createBot({ username: "baseline_bot" });
  server = await startEmulatorServer(emulator);
  users = ["Alice", "Bob", "Carol"].slice(0, USERS).map((firstName) => emulator.createUser({ firstName }));
});

afterEach(async () => {
  await killAllBotProcesses();
  await server.close();
});

/** The users write TOTAL messages, interleaved, while no bot runs. */
function queueMessages(): SentMessage[] {
  const sent: SentMessage[] = [];
  for (let i = 1; i <= MESSAGES_PER_USER; i++) {
    for (const user of users) {
      const text = `${user.user.first_name} #${i}`;
      const m = user.sendText(simBot, text);
      sent.push({ chatId: user.id, messageId: m.message_id, text, expectedReply: `echo: ${text}` });
    }
  }
  return sent;
}

function startBot(script: string, env: Record<string, string> = {}): BotProcess {
  return spawnBotProcess(script, { env: { API_ROOT: server.url, BOT_TOKEN: simBot.token, ...env } });
}

const isHandled = (e: Record<string, unknown>): boolean => e["event"] === "handled";
const isStarted = (e: Record<string, unknown>): boolean => e["event"] === "started";
const handledIds = (p: BotProcess): number[] => p.events().filter(isHandled).map((e) => Number(e["update_id"]));
const receivedIds = (p: BotProcess): number[] => p.events().filter((e) => e["event"] === "received").map((e) => Number(e["update_id"]));

describe("baseline: grammY bot.start() killed with kill -9 in the middle of a batch", () => {
  it("re-handles the already handled updates after restart: users get duplicate replies", async () => {
    const sent = queueMessages();
    expect(simBot.updates.count()).toBe(TOTAL);

    // Handlers reply, then work 75 ms: the 30 updates come as one batch, handled one by one.
    const first = startBot(GRAMMY_START_BOT, { HANDLER_DELAY_MS: "75" });
    await first.waitForEvent(isHandled, { count: KILL_AFTER_HANDLED });
    await first.kill9();
    const handledBeforeKill = handledIds(first);
    expect(handledBeforeKill.length).toBeGreaterThanOrEqual(KILL_AFTER_HANDLED);
    expect(handledBeforeKill.length).toBeLessThan(TOTAL);
    // The batch was never confirmed: Telegram still holds all of it.
    expect(simBot.updates.count()).toBe(TOTAL);

    const second = startBot(GRAMMY_START_BOT, { HANDLER_DELAY_MS: "5" });
    await second.waitForEvent(isHandled, { count: TOTAL });
    // It confirms the batch with its next getUpdates.
    await waitFor(() => simBot.updates.count() === 0, { what: "the batch confirmed" });

    // Every update handled before the kill was received and handled again.
    const rehandled = handledBeforeKill.filter((id) => receivedIds(second).includes(id));
    expect(rehandled).toEqual(handledBeforeKill);

    const tally = tallyReplies(simBot.record, sent);
    expect(tally.lost).toBe(0);
    expect(tally.duplicates).toBeGreaterThan(0);
    // One extra reply per update handled before the kill, plus possibly the one whose reply
    // was delivered just before the kill landed.
    expect(tally.duplicates).toBeGreaterThanOrEqual(handledBeforeKill.length);
    expect(tally.duplicates).toBeLessThanOrEqual(handledBeforeKill.length + 1);
    expect(simBot.record.duplicates().length).toBe(tally.duplicated);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      baseline: "grammy-bot-start-kill9-mid-batch",
      sent: tally.sent,
      handled_before_kill: handledBeforeKill.length,
      duplicates: tally.duplicates,
      duplicated_messages: tally.duplicated,
      lost: tally.lost,
    }));
  }, 30_000);
});

describe("baseline: @grammyjs/runner killed with kill -9 after it confirmed a batch", () => {
  it("loses the updates whose handlers had not finished: they are never handled", async () => {
    const sent = queueMessages();
    const lastId = simBot.updateLog.at(-1)?.update_id ?? 0;
    // Watch the runner confirm: a getUpdates whose offset is past the last queued update.
    let confirmedAt: number | undefined;
    const unwatch = watchCalls(emulator, (call) => {
      if (call.method.toLowerCase() === "getupdates" && offsetOf(call) > lastId && confirmedAt === undefined) confirmedAt = Date.now();
    });

    // Handlers work 50, 90, 130, … ms (by arrival) before replying: concurrent and slow.
    const first = startBot(RUNNER_BOT, { HANDLER_DELAY_MS: "50", HANDLER_DELAY_STEP_MS: "40" });
    await waitFor(() => confirmedAt, { what: "the runner's confirming getUpdates" });
    const handledAtConfirm = handledIds(first).length;
    expect(simBot.updates.count()).toBe(0); // Telegram has forgotten the whole batch
    await first.waitForEvent(isHandled, { count: KILL_AFTER_HANDLED });
    const killedAt = Date.now();
    await first.kill9();
    unwatch();
    const handledBeforeKill = handledIds(first);
    expect(confirmedAt).toBeLessThanOrEqual(killedAt);
    expect(handledBeforeKill.length).toBeLessThan(TOTAL);

    // Restart, and let it drain: it gets nothing of the old batch. A message per user after
    // the restart proves it polls and handles; once those are handled, anything Telegram
    // still held would have been handled before them.
    const second = startBot(RUNNER_BOT, { HANDLER_DELAY_MS: "5" });
    await second.waitForEvent(isStarted);
    const after = users.map((user) => {
      const text = `${user.user.first_name} after restart`;
      const m = user.sendText(simBot, text);
      return { chatId: user.id, messageId: m.message_id, text, expectedReply: `echo: ${text}` };
    });
    await second.waitForEvent(isHandled, { count: after.length });
    await waitFor(() => tallyReplies(simBot.record, after).answered === after.length, { what: "replies after restart" });
    expect(receivedIds(second).filter((id) => id <= lastId)).toEqual([]); // none of the batch came back

    const tally = tallyReplies(simBot.record, sent);
    expect(tally.lost).toBeGreaterThan(0);
    expect(tally.answered).toBeGreaterThanOrEqual(handledBeforeKill.length);
    expect(tally.lost).toBe(TOTAL - tally.answered);
    expect(tally.duplicates).toBe(0);
    expect(emulator.internalErrors).toEqual([]);

    console.log(JSON.stringify({
      baseline: "runner-kill9-after-confirm",
      sent: tally.sent,
      handled_at_confirm: handledAtConfirm,
      handled_before_kill: handledBeforeKill.length,
      lost: tally.lost,
      duplicates: tally.duplicates,
    }));
  }, 30_000);
});
