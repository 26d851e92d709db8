/**
 * Sends made through an `Api` built from the bot's token and client options (what
 * @grammyjs/conversations does for every step, and plugins that clone the client) go through
 * the outbox like `ctx.reply`: durable, paced, and keyed by the update when made inside one.
 */
import { conversations, createConversation, type Conversation, type ConversationFlavor } from "@grammyjs/conversations";
import { Api, Bot, GrammyError, InputFile, type ApiClientOptions, type Context } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";

type Ctx = ConversationFlavor<Context & UnlostFlavor>;
let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
});

interface Setup { emulator: Emulator; sim: SimBot; rt: Runtime; bot: Bot<Ctx> }

async function setup(register: (bot: Bot<Ctx>) => void, options: { limits?: boolean; runtime?: RuntimeOptions; client?: ApiClientOptions } = {}): Promise<Setup> {
  const emulator = createEmulator(options.limits === true ? {} : { limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url, ...options.client } });
  register(bot);
  const store = await openStore({ path: ":memory:" });
  runtime = createRuntime(bot, {
    store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 } },
    outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    ...options.runtime,
  });
  await runtime.start();
  return { emulator, sim, rt: runtime, bot };
}

/** The idempotency keys of the outbox's jobs, in the order the audit log saw them delivered. */
async function deliveredKeys(rt: Runtime): Promise<Array<string | null>> {
  const audit = await rt.outbox.audit.list({ limit: 100 });
  const items = [...audit.items].sort((a, b) => a.at - b.at);
  return Promise.all(items.map(async (entry) => (await rt.outbox.status(entry.jobId))?.idempotencyKey ?? null));
}

describe("conversations (@grammyjs/conversations v2) through the outbox", () => {
  it("five replies in one step under 429s: each delivered once, in order, paced, keyed by the update", async () => {
    let updateKey = "";
    let finished = 0;
    const { emulator, sim, rt } = await setup((bot) => {
      bot.use(conversations());
      async function burst(conversation: Conversation<Ctx, Context>, ctx: Context): Promise<void> {
        for (let i = 1; i <= 5; i++) await ctx.reply(`step ${i} of 5`);
        await conversation.external(() => { finished++; });
        await conversation.wait();
      }
      bot.use(createConversation(burst, "burst"));
      bot.command("start", async (ctx) => {
        updateKey = ctx.unlost.idempotencyKey;
        await ctx.conversation.enter("burst");
      });
    }, { limits: true });
    let sendCalls = 0;
    emulator.onCall((call) => { if (call.method === "sendMessage") sendCalls++; });
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, methods: ["sendMessage"], times: 2 });
    const alice = emulator.createUser();
    alice.sendCommand(sim, "start");
    await until(async () => finished >= 1 && (await rt.outbox.stats()).byState.delivered === 5, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual([1, 2, 3, 4, 5].map((i) => `step ${i} of 5`));
    expect(finished).toBe(1);
    // Paced: besides the two injected 429s, no call met the emulator's flood limits.
    expect(sendCalls).toBe(5 + 2);
    expect(emulator.faults.injected().flood).toBe(2);
    expect(await deliveredKeys(rt)).toEqual([0, 1, 2, 3, 4].map((i) => `${updateKey}:${i}:sendMessage`));
    expect((await rt.stats()).dispatcher.failed).toBe(0);
  });

  it("a step re-run after a failure re-uses its keys: the replies are delivered once, and ctx.reply shares the positions", async () => {
    let attempt = 0;
    let updateKey = "";
    let answerKey = "";
    const { emulator, sim, rt } = await setup((bot) => {
      // Runs before the conversation: notes the key of each update.
      bot.use((ctx, next) => { answerKey = ctx.unlost.idempotencyKey; return next(); });
      bot.use(conversations());
      async function ask(conversation: Conversation<Ctx, Context>, ctx: Context): Promise<void> {
        await ctx.reply("what is your name?");
        await ctx.reply("(type it below)");
        // The first try dies after the sends, as a crash would.
        if (attempt === 1) throw new Error("crash after the replies");
        const answer = await conversation.waitFor("message:text");
        await answer.reply(`hello, ${answer.message.text}`);
      }
      bot.use(createConversation(ask, "ask"));
      bot.command("start", async (ctx) => {
        attempt = ctx.unlost.attempt;
        updateKey = ctx.unlost.idempotencyKey;
        await ctx.reply("welcome");
        await ctx.conversation.enter("ask");
      });
    });
    const alice = emulator.createUser();
    alice.sendCommand(sim, "start");
    // The emulator records a message before its answer reaches the outbox: wait for both.
    await until(async () => attempt === 2 && sim.record.to(alice.id).length === 3 && (await rt.outbox.stats()).byState.delivered === 3);
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["welcome", "what is your name?", "(type it below)"]);
    expect(await deliveredKeys(rt)).toEqual(["welcome", "ask", "hint"].map((_, i) => `${updateKey}:${i}:sendMessage`));
    // The conversation goes on with the next update.
    alice.sendText(sim, "Alice");
    await until(async () => sim.record.to(alice.id).length === 4 && (await rt.outbox.stats()).byState.delivered === 4);
    expect(sim.record.to(alice.id).at(-1)?.text).toBe("hello, Alice");
    // The step that resumed the conversation is keyed by its own update.
    expect(answerKey).not.toBe(updateKey);
    expect((await deliveredKeys(rt)).at(-1)).toBe(`${answerKey}:0:sendMessage`);
  });

  it("a conversation's send Telegram refuses reaches the conversation as grammY's GrammyError", async () => {
    const caught: unknown[] = [];
    const { emulator, sim } = await setup((bot) => {
      bot.use(conversations());
      async function bad(conversation: Conversation<Ctx, Context>, ctx: Context): Promise<void> {
        try {
          await ctx.api.sendMessage(-100_999_999, "to nowhere");
        } catch (error) {
          await conversation.external(() => { caught.push(error); });
        }
        await ctx.reply("done");
      }
      bot.use(createConversation(bad, "bad"));
      bot.command("start", (ctx) => ctx.conversation.enter("bad"));
    });
    const alice = emulator.createUser();
    alice.sendCommand(sim, "start");
    await until(() => sim.record.to(alice.id).length === 1);
    expect(caught).toHaveLength(1);
    expect(caught[0]).toBeInstanceOf(GrammyError);
    expect((caught[0] as GrammyError).error_code).toBe(400);
    expect((caught[0] as GrammyError).description).toMatch(/chat not found/);
  });
});

describe("an Api built from the bot's token and options", () => {
  it("inside a handler, from ctx.api: durable and keyed by the update; a re-run delivers nothing twice", async () => {
    let runs = 0;
    let updateKey = "";
    const seen: number[] = [];
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      runs++;
      updateKey = ctx.unlost.idempotencyKey;
      const clone = new Api(ctx.api.token, ctx.api.options);
      const a = await clone.sendMessage(ctx.chat.id, "from a clone");
      const b = await ctx.reply("from ctx");
      seen.push(a.message_id, b.message_id);
      if (runs === 1) throw new Error("fail once");
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => runs === 2);
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["from a clone", "from ctx"]);
    expect(seen.slice(2)).toEqual(seen.slice(0, 2));
    expect(await deliveredKeys(rt)).toEqual([`${updateKey}:0:sendMessage`, `${updateKey}:1:sendMessage`]);
  });

  it("from bot.api's options, outside handlers and inside: through the outbox (durable, without a key)", async () => {
    let handled = 0;
    let bot!: Bot<Ctx>;
    const { emulator, sim, rt } = await setup((b) => {
      bot = b;
      b.on("message:text", async (ctx) => {
        await new Api(bot.token, bot.api.options).sendMessage(ctx.chat.id, "inside, through bot.api's options");
        handled++;
      });
    });
    const alice = emulator.createUser();
    const sent = await new Api(bot.token, bot.api.options).sendMessage(alice.id, "outside handlers");
    expect(sent.text).toBe("outside handlers");
    alice.sendText(sim, "go");
    await until(() => handled === 1);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["outside handlers", "inside, through bot.api's options"]);
    const audit = (await rt.outbox.audit.list()).items;
    expect(audit.map((e) => e.outcome)).toEqual(["delivered", "delivered"]);
    expect(await deliveredKeys(rt)).toEqual([null, null]);
  });

  it("sends files (InputFile from a Buffer, an album) through a clone: the right bytes arrive; getFile and getMe still work", async () => {
    const bytes = Buffer.from("%PDF-1.4 unlost clone upload \u0000\u0001\u0002 end", "latin1");
    let updateKey = "";
    let result: { fileId: string; path: string; me: string; album: number; caption: string | undefined } | undefined;
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      updateKey = ctx.unlost.idempotencyKey;
      const clone = new Api(ctx.api.token, ctx.api.options);
      const me = await clone.getMe();
      const doc = await clone.sendDocument(ctx.chat.id, new InputFile(bytes, "report.pdf"), { caption: "123" });
      const album = await clone.sendMediaGroup(ctx.chat.id, [
        { type: "photo", media: new InputFile(Buffer.from("photo one")), caption: "true" },
        { type: "photo", media: new InputFile(Buffer.from("photo two")) },
      ]);
      const file = await clone.getFile(doc.document!.file_id);
      result = { fileId: doc.document!.file_id, path: file.file_path!, me: me.username, album: album.length, caption: doc.caption };
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => result !== undefined);
    expect(result!.me).toBe(sim.info.username);
    expect(result!.album).toBe(2);
    expect(result!.caption).toBe("123");
    expect(Buffer.from(emulator.download(sim.token, result!.path)!)).toEqual(bytes);
    expect(sim.record.to(alice.id).map((m) => [m.kind, m.text])).toEqual([["document", "123"], ["photo", "true"], ["photo", undefined]]);
    expect(await deliveredKeys(rt)).toEqual([`${updateKey}:0:sendDocument`, `${updateKey}:1:sendMediaGroup`]);
  });

  it("a send Telegram refuses answers the clone with grammY's GrammyError, as without unlost", async () => {
    let caught: unknown;
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      try {
        await new Api(ctx.api.token, ctx.api.options).sendMessage(-100_999_999, "to nowhere");
      } catch (error) {
        caught = error;
      }
    }));
    emulator.createUser().sendText(sim, "go");
    await until(() => caught !== undefined);
    expect(caught).toBeInstanceOf(GrammyError);
    expect((caught as GrammyError).error_code).toBe(400);
    expect((caught as GrammyError).method).toBe("sendMessage");
  });

  it("the bot's own client.fetch still makes the real calls: the clone's getMe, and the delivery of its send", async () => {
    const methods: string[] = [];
    const fetch = ((url: string | URL, init?: RequestInit) => {
      methods.push(String(url).split("/").at(-1) as string);
      return globalThis.fetch(url, init);
    }) as unknown as NonNullable<ApiClientOptions["fetch"]>;
    let done = false;
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      const clone = new Api(ctx.api.token, ctx.api.options);
      await clone.getMe();
      await clone.sendMessage(ctx.chat.id, "through the user's fetch");
      done = true;
    }), { client: { fetch } });
    const alice = emulator.createUser();
    methods.length = 0;
    alice.sendText(sim, "go");
    await until(() => done);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["through the user's fetch"]);
    expect(methods.filter((m) => m !== "getUpdates")).toEqual(["getMe", "sendMessage"]);
    expect((await rt.outbox.stats()).byState.delivered).toBe(1);
  });
});
