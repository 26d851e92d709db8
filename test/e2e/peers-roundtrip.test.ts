/**
 * The peers work against the emulator: an unmodified grammY bot on `bot.start()` and one on
 * @grammyjs/runner round-trip messages from several simulated users through the emulator's
 * HTTP server, and each user gets exactly the expected replies, in order.
 */
import { run, sequentialize, type RunnerHandle } from "@grammyjs/runner";
import { Bot } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot, type SimUser } from "../../src/emulator/index.js";
import { waitFor } from "./helpers/emulator-probes.js";

const USERS = 3;
const MESSAGES_PER_USER = 6;

let emulator: Emulator;
let server: EmulatorServer;
let simBot: SimBot;
let users: SimUser[];
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeEach(async () => {
  emulator = createEmulator({ seed: 7, limits: false });
  simBot = emulator.createBot({ username: "peer_bot" });
  server = await startEmulatorServer(emulator);
  users = ["Alice", "Bob", "Carol"].slice(0, USERS).map((firstName) => emulator.createUser({ firstName }));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.close();
});

/** The bot every test runs: `/start` greets, text is echoed as a reply to the message. */
function echoBot(): Bot {
  const bot = new Bot(simBot.token, { client: { apiRoot: server.url } });
  bot.command("start", (ctx) => ctx.reply(`welcome, ${ctx.from?.first_name ?? "stranger"}`));
  bot.on("message:text", (ctx) =>
    ctx.reply(`echo: ${ctx.message.text}`, { reply_parameters: { message_id: ctx.message.message_id } }),
  );
  return bot;
}

/** Each user sends `/start` then its messages, interleaved across users; returns what each should get. */
function sendInterleaved(): Map<number, Array<{ text: string; replyTo: number }>> {
  const expected = new Map<number, Array<{ text: string; replyTo: number }>>(users.map((u) => [u.id, []]));
  for (const user of users) {
    user.sendText(simBot, "/start");
    expected.get(user.id)?.push({ text: `welcome, ${user.user.first_name}`, replyTo: -1 });
  }
  for (let i = 1; i <= MESSAGES_PER_USER; i++) {
    for (const user of users) {
      const text = `${user.user.first_name} #${i}`;
      const m = user.sendText(simBot, text);
      expected.get(user.id)?.push({ text: `echo: ${text}`, replyTo: m.message_id });
    }
  }
  return expected;
}

/** Asserts every user got exactly the expected replies, in order, and nothing else happened. */
function expectExactReplies(expected: Map<number, Array<{ text: string; replyTo: number }>>): void {
  for (const user of users) {
    const got = simBot.record.to(user.id).map((d) => ({ text: d.text, replyTo: d.replyToMessageId ?? -1 }));
    expect(got, `replies to ${user.user.first_name}`).toEqual(expected.get(user.id));
  }
  expect(simBot.record.size).toBe(USERS * (MESSAGES_PER_USER + 1));
  expect(simBot.record.duplicates()).toEqual([]);
  expect(emulator.internalErrors).toEqual([]);
}

const allReplied = (): boolean => simBot.record.size >= USERS * (MESSAGES_PER_USER + 1);

describe("grammY bot.start() against the emulator", () => {
  it("round-trips messages from several users: each gets exactly its replies, in order", async () => {
    const bot = echoBot();
    const started = new Promise<void>((resolve) => {
      void bot.start({ onStart: () => resolve() });
    });
    cleanups.push(() => bot.stop());
    await started;

    const expected = sendInterleaved();
    await waitFor(allReplied, { what: "every reply" });
    expectExactReplies(expected);

    // A second wave while the bot is long polling (the poll returns as soon as updates arrive).
    const wave2 = new Map<number, Array<{ text: string; replyTo: number }>>();
    for (const user of users) {
      const m = user.sendText(simBot, `${user.user.first_name} again`);
      wave2.set(user.id, [...(expected.get(user.id) ?? []), { text: `echo: ${user.user.first_name} again`, replyTo: m.message_id }]);
    }
    await waitFor(() => simBot.record.size >= USERS * (MESSAGES_PER_USER + 2), { what: "second wave" });
    for (const user of users) {
      expect(simBot.record.to(user.id).map((d) => ({ text: d.text, replyTo: d.replyToMessageId ?? -1 }))).toEqual(wave2.get(user.id));
    }

    await bot.stop();
    // bot.stop() confirms what was handled: nothing is left on the emulator's side.
    expect(simBot.updates.count()).toBe(0);
  });
});

describe("@grammyjs/runner against the emulator", () => {
  it("round-trips conversations with run(bot) defaults: each user gets exactly its replies, in order", async () => {
    const bot = echoBot();
    await bot.init();
    const handle: RunnerHandle = run(bot);
    cleanups.push(() => (handle.isRunning() ? handle.stop() : undefined));

    // The concurrent sink gives no order between updates of one chat, so each user waits for
    // the reply before writing again (a conversation); the users write in parallel.
    const expected = new Map<number, Array<{ text: string; replyTo: number }>>();
    await Promise.all(
      users.map(async (user) => {
        const mine: Array<{ text: string; replyTo: number }> = [];
        expected.set(user.id, mine);
        user.sendText(simBot, "/start");
        mine.push({ text: `welcome, ${user.user.first_name}`, replyTo: -1 });
        await waitFor(() => simBot.record.to(user.id).length >= mine.length, { what: `${user.user.first_name}'s welcome` });
        for (let i = 1; i <= MESSAGES_PER_USER; i++) {
          const text = `${user.user.first_name} #${i}`;
          const m = user.sendText(simBot, text);
          mine.push({ text: `echo: ${text}`, replyTo: m.message_id });
          await waitFor(() => simBot.record.to(user.id).length >= mine.length, { what: `reply to ${text}` });
        }
      }),
    );
    expectExactReplies(expected);
    await handle.stop();
  });

  it("round-trips bursts with run(bot) and sequentialize per chat: exact replies, in order", async () => {
    const bot = new Bot(simBot.token, { client: { apiRoot: server.url } });
    bot.use(sequentialize((ctx) => ctx.chat?.id.toString()));
    bot.command("start", (ctx) => ctx.reply(`welcome, ${ctx.from?.first_name ?? "stranger"}`));
    bot.on("message:text", (ctx) =>
      ctx.reply(`echo: ${ctx.message.text}`, { reply_parameters: { message_id: ctx.message.message_id } }),
    );
    await bot.init();
    const handle = run(bot);
    cleanups.push(() => (handle.isRunning() ? handle.stop() : undefined));

    const expected = sendInterleaved();
    await waitFor(allReplied, { what: "every reply" });
    expectExactReplies(expected);
    await handle.stop();
  });
});
