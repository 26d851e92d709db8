/**
 * grammY's error habits under unlost: `bot.catch` is called on every failed try, with
 * `ctx.unlost.attempt` and `willRetry`, and its sends are keyed like the handler's; a send that
 * fails reaches the handler as the `GrammyError` Telegram's answer makes (also when unlost
 * refuses it before sending); `bot.api` before `start()` behaves like after it.
 */
import { Bot, GrammyError, type Context } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, UnlostGrammyError, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";

type Ctx = Context & UnlostFlavor;
let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
});

async function setup(register: (bot: Bot<Ctx>) => void, options: RuntimeOptions = {}, start = true): Promise<{ emulator: Emulator; sim: SimBot; rt: Runtime; bot: Bot<Ctx> }> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  register(bot);
  const store = await openStore({ path: ":memory:" });
  runtime = createRuntime(bot, {
    store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 } },
    outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    ...options,
  });
  if (start) await runtime.start();
  return { emulator, sim, rt: runtime, bot };
}

/** What a grammY user's `catch` logic reads of an error. */
function telegramSide(error: unknown): { error_code: number; description: string; parameters: unknown } {
  expect(error).toBeInstanceOf(GrammyError);
  const e = error as GrammyError;
  return { error_code: e.error_code, description: e.description, parameters: e.parameters };
}

describe("bot.catch under unlost", () => {
  it("is called on every failed try with attempt and willRetry; its reply is delivered once across tries", async () => {
    const calls: Array<{ attempt: number; willRetry: boolean; message: string }> = [];
    let runs = 0;
    const { emulator, sim, rt } = await setup((bot) => {
      bot.on("message:text", async (ctx) => {
        runs++;
        // The second try fails after a send: the error handler's reply is at another position
        // of the handler's sends, yet keyed the same.
        if (runs === 2) await ctx.reply("thinking…");
        throw new Error(`boom ${runs}`);
      });
      bot.catch(async (err) => {
        const ctx = err.ctx as Ctx;
        calls.push({ attempt: ctx.unlost.attempt, willRetry: ctx.unlost.willRetry, message: (err.error as Error).message });
        await ctx.reply("sorry, something went wrong");
      });
    }, { inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 }, maxAttempts: 3 } });
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(async () => (await rt.stats()).dispatcher.deadLettered === 1);
    expect(calls).toEqual([
      { attempt: 1, willRetry: true, message: "boom 1" },
      { attempt: 2, willRetry: true, message: "boom 2" },
      { attempt: 3, willRetry: false, message: "boom 3" },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["sorry, something went wrong", "thinking…"]);
  });

  it("is called when a try times out (the handler never threw): HANDLER_TIMEOUT, with attempt and willRetry", async () => {
    const calls: Array<{ attempt: number; willRetry: boolean; code: unknown; text: string | undefined }> = [];
    const { emulator, sim, rt } = await setup((bot) => {
      bot.on("message:text", () => new Promise<void>(() => undefined));
      bot.catch(async (err) => {
        const ctx = err.ctx as Ctx;
        calls.push({ attempt: ctx.unlost.attempt, willRetry: ctx.unlost.willRetry, code: (err.error as { code?: unknown }).code, text: ctx.message?.text });
        if (!ctx.unlost.willRetry) await ctx.reply("that took too long, sorry");
      });
    }, { inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 }, maxAttempts: 2, handlerTimeoutMs: 100 } });
    const alice = emulator.createUser();
    alice.sendText(sim, "slow");
    await until(async () => (await rt.stats()).dispatcher.deadLettered === 1 && calls.length === 2);
    expect(calls).toEqual([
      { attempt: 1, willRetry: true, code: "HANDLER_TIMEOUT", text: "slow" },
      { attempt: 2, willRetry: false, code: "HANDLER_TIMEOUT", text: "slow" },
    ]);
    await until(() => sim.record.to(alice.id).length === 1);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["that took too long, sorry"]);
  });

  it("an error handler that throws is logged and the try still fails (retried, then a dead letter)", async () => {
    let caught = 0;
    const { emulator, sim, rt } = await setup((bot) => {
      bot.on("message:text", () => { throw new Error("handler"); });
      bot.catch(() => { caught++; throw new Error("the error handler broke too"); });
    }, { inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 }, maxAttempts: 2 } });
    emulator.createUser().sendText(sim, "hi");
    await until(async () => (await rt.stats()).dispatcher.deadLettered === 1);
    expect(caught).toBe(2);
    const dead = await rt.deadLetters.list();
    expect(dead.items[0]?.error).toMatch(/handler/);
  });
});

describe("a failed send is grammY's GrammyError with Telegram's answer", () => {
  it("403 blocked, 400 chat not found, too long and bad HTML: the same code, description and parameters as without unlost, unlost's reason beside", async () => {
    let target = { blocked: 0, me: 0 };
    const calls: Array<(api: Bot["api"]) => Promise<unknown>> = [
      (api) => api.sendMessage(target.blocked, "are you there?"),
      (api) => api.sendMessage(-100999, "to nowhere"),
      (api) => api.sendMessage(target.me, "x".repeat(5000)),
      (api) => api.sendMessage(target.me, "<b>unclosed", { parse_mode: "HTML" }),
    ];
    const errors: unknown[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      if (ctx.message.text !== "go") return;
      for (const call of calls) await call(ctx.api).catch((e: unknown) => errors.push(e));
    }));
    const alice = emulator.createUser();
    const bob = emulator.createUser();
    bob.sendText(sim, "/start");
    bob.block(sim);
    target = { blocked: bob.id, me: alice.id };
    // Telegram (the emulator) asked the same through grammY alone, without unlost.
    const plain = new Bot(sim.token, { client: { apiRoot: (server as EmulatorServer).url } });
    const expected: unknown[] = [];
    for (const call of calls) await call(plain.api).catch((e: unknown) => expected.push(telegramSide(e)));
    expect(expected).toHaveLength(4);
    alice.sendText(sim, "go");
    await until(() => errors.length === 4);
    expect(errors.map(telegramSide)).toEqual(expected);
    for (const e of errors) {
      expect(e).toBeInstanceOf(UnlostGrammyError);
      expect((e as UnlostGrammyError).unlost.reason.length).toBeGreaterThan(0);
    }
    const [blocked, nowhere, long, html] = errors as UnlostGrammyError[];
    expect(blocked!.unlost).toMatchObject({ failureReason: "unreachable", answeredByTelegram: true });
    expect(blocked!.unlost.jobId).not.toBeNull();
    expect(nowhere!.unlost).toMatchObject({ failureReason: "unreachable", answeredByTelegram: true });
    expect(long!.unlost).toMatchObject({ failureReason: "invalid", jobId: null, answeredByTelegram: false });
    expect(long!.unlost.reason).toMatch(/4096/);
    expect(html!.unlost).toMatchObject({ failureReason: "invalid", jobId: null });
  });

  it("a send to a chat already marked unreachable (no request made) still carries Telegram's 403 answer", async () => {
    const errors: unknown[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      if (ctx.message.text === "/start") return;
      await ctx.api.sendMessage(Number(ctx.message.text), "one").catch((e: unknown) => errors.push(e));
      await ctx.api.sendMessage(Number(ctx.message.text), "two").catch((e: unknown) => errors.push(e));
    }));
    const bob = emulator.createUser();
    bob.sendText(sim, "/start");
    bob.block(sim);
    emulator.createUser().sendText(sim, String(bob.id));
    await until(() => errors.length === 2);
    expect(errors.map(telegramSide)).toEqual([
      { error_code: 403, description: "Forbidden: bot was blocked by the user", parameters: {} },
      { error_code: 403, description: "Forbidden: bot was blocked by the user", parameters: {} },
    ]);
    expect((errors[1] as UnlostGrammyError).unlost.answeredByTelegram).toBe(false);
  });
});

describe("bot.api before runtime.start()", () => {
  it("a startup notice and setMyCommands before start behave as after it: the send is durable (in the outbox and its audit)", async () => {
    const { emulator, sim, rt, bot } = await setup(() => undefined, {}, false);
    const admin = emulator.createUser();
    admin.sendText(sim, "/start");
    await bot.api.setMyCommands([{ command: "help", description: "help" }]);
    const sent = await bot.api.sendMessage(admin.id, "starting up");
    const refused = await bot.api.sendMessage(admin.id, "y".repeat(5000)).catch((e: unknown) => e);
    await rt.start();
    expect(sent.text).toBe("starting up");
    expect(sim.record.to(admin.id).map((m) => m.text)).toEqual(["starting up"]);
    const audit = await rt.outbox.audit.list();
    expect(audit.items).toMatchObject([{ chatId: admin.id, method: "sendMessage", outcome: "delivered", messageId: sent.message_id }]);
    expect(refused).toBeInstanceOf(UnlostGrammyError);
    expect(telegramSide(refused)).toEqual({ error_code: 400, description: "Bad Request: message is too long", parameters: {} });
    expect((await bot.api.getMyCommands()).map((c) => c.command)).toEqual(["help"]);
  });
});
