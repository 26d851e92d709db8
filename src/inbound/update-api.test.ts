import { Api, Bot, BotError, GrammyError, HttpError, type ApiClientOptions, type Context, type Transformer } from "grammy";
import type { Update, UserFromGetMe } from "grammy/types";
import { describe, expect, it } from "vitest";
import { handleWithInfo, installUpdateInfo, type UnlostUpdateInfo } from "./update-info.js";

const ME: UserFromGetMe = { id: 42, is_bot: true, first_name: "bot", username: "the_bot", can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false } as UserFromGetMe;

/** One Bot API request as the network saw it. */
interface Seen { method: string; body: unknown }

/** A bot whose client talks to a recording `fetch` (grammY's own client code runs as usual). */
function recordingBot(answer: (method: string) => unknown = () => ({ ok: true, result: true })): { bot: Bot<Context>; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch = (async (url: string, init: { body?: string }) => {
    const method = String(url).split("/").pop()!;
    seen.push({ method, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const json = answer(method);
    if (json instanceof Error) throw json;
    return { json: async () => json };
  }) as unknown as ApiClientOptions["fetch"];
  const bot = new Bot<Context>("42:secret", { botInfo: ME, client: { apiRoot: "http://telegram.test", fetch } });
  return { bot, seen };
}

function update(id: number, chat = 5): Update {
  return { update_id: id, message: { message_id: id, date: 0, chat: { id: chat, type: "private", first_name: "u" }, from: { id: chat, is_bot: false, first_name: "u" }, text: "hi" } } as Update;
}

const INFO = { updateId: 1 } as unknown as UnlostUpdateInfo;

/** Handles `u` through unlost's path (the context's API from UpdateApis). */
function viaUnlost(bot: Bot<Context>, u: Update): Promise<void> {
  installUpdateInfo(bot);
  return handleWithInfo(bot, u, INFO);
}

/** The calls every comparison makes: methods with and without payloads, raw, a signal. */
async function someCalls(api: Api): Promise<unknown[]> {
  return [
    await api.sendMessage(5, "hello", { parse_mode: "HTML" }),
    await api.getMe(),
    await api.getWebhookInfo(new AbortController().signal as never),
    await api.raw.sendMessage({ chat_id: 5, text: "raw" }),
    await api.deleteMessage(5, 9),
    await api.getChat(5),
  ];
}

describe("each update's ctx.api (UpdateApis)", () => {
  it("makes the same requests, with the same results, as the ctx.api grammY's bot.handleUpdate builds", async () => {
    const results: unknown[][] = [];
    const requests: Seen[][] = [];
    for (const handle of [(b: Bot<Context>, u: Update) => b.handleUpdate(u), viaUnlost]) {
      const { bot, seen } = recordingBot((method) => ({ ok: true, result: method === "getMe" ? ME : { method } }));
      bot.on("message", async (ctx) => {
        results.push(await someCalls(ctx.api));
      });
      await handle(bot, update(1));
      requests.push(seen);
    }
    expect(requests[1]).toEqual(requests[0]);
    expect(requests[1]!.map((r) => r.method)).toEqual(["sendMessage", "getMe", "getWebhookInfo", "sendMessage", "deleteMessage", "getChat"]);
    expect(results[1]).toEqual(results[0]);
  });

  it("is grammY's Api: its class, token and client options, bot.api's transformers copied", async () => {
    const { bot } = recordingBot();
    const botWide: Transformer = (prev, method, payload, signal) => prev(method, payload, signal);
    bot.api.config.use(botWide);
    let seen: Api | undefined;
    bot.on("message", (ctx) => {
      seen = ctx.api;
    });
    await viaUnlost(bot, update(1));
    expect(seen).toBeInstanceOf(Api);
    expect(seen!.token).toBe(bot.token);
    expect(seen!.options).toEqual({ apiRoot: "http://telegram.test", fetch: expect.any(Function) });
    expect(seen!.config.installedTransformers()).toEqual([botWide]);
    expect(seen).not.toBe(bot.api);
  });

  it("keeps a transformer installed on one ctx.api to that update, and runs bot.api's in grammY's order", async () => {
    const { bot } = recordingBot();
    const order: string[] = [];
    const named = (name: string): Transformer => (prev, method, payload, signal) => {
      order.push(`${name}:${method}`);
      return prev(method, payload, signal);
    };
    const botWide = named("bot");
    bot.api.config.use(botWide);
    const apis: Api[] = [];
    bot.on("message", async (ctx) => {
      apis.push(ctx.api);
      if (ctx.update.update_id === 1) {
        const transformable = ctx.api.config.use(named("own"));
        expect(transformable.installedTransformers).toHaveLength(2);
      }
      await ctx.api.sendChatAction(ctx.chat.id, "typing");
    });
    await viaUnlost(bot, update(1));
    await viaUnlost(bot, update(2));
    // The update's own transformer wraps bot.api's (installed later, so outermost).
    expect(order).toEqual(["own:sendChatAction", "bot:sendChatAction", "bot:sendChatAction"]);
    expect(apis[0]!.config.installedTransformers()).toHaveLength(2);
    expect(apis[1]!.config.installedTransformers()).toEqual([botWide]);
    expect(bot.api.config.installedTransformers()).toEqual([botWide]);
  });

  it("picks up a transformer installed on bot.api after earlier updates were handled", async () => {
    const { bot } = recordingBot();
    const calls: string[] = [];
    bot.on("message", (ctx) => ctx.api.sendChatAction(ctx.chat.id, "typing").then(() => undefined));
    await viaUnlost(bot, update(1));
    bot.api.config.use((prev, method, payload, signal) => {
      calls.push(method);
      return prev(method, payload, signal);
    });
    await viaUnlost(bot, update(2));
    expect(calls).toEqual(["sendChatAction"]);
  });

  it("runs each update's own transformers when calls of many updates interleave", async () => {
    const { bot } = recordingBot();
    const seenBy = new Map<number, number[]>();
    bot.on("message", async (ctx) => {
      const id = ctx.update.update_id;
      ctx.api.config.use((prev, method, payload, signal) => {
        seenBy.set(id, [...(seenBy.get(id) ?? []), (payload as { chat_id: number }).chat_id]);
        return prev(method, payload, signal);
      });
      // Several calls in flight at once, from every update.
      await Promise.all([ctx.api.sendMessage(id, "a"), ctx.api.sendMessage(id, "b")]);
      await ctx.api.sendMessage(id, "c");
    });
    await Promise.all([1, 2, 3, 4].map((id) => viaUnlost(bot, update(id, id))));
    expect([...seenBy].sort((a, b) => a[0] - b[0])).toEqual([[1, [1, 1, 1]], [2, [2, 2, 2]], [3, [3, 3, 3]], [4, [4, 4, 4]]]);
  });

  it("rejects a refused call with grammY's GrammyError and a network failure with its HttpError, as grammY's ctx.api does", async () => {
    const errors: unknown[][] = [];
    for (const handle of [(b: Bot<Context>, u: Update) => b.handleUpdate(u), viaUnlost]) {
      const { bot } = recordingBot((method) => (method === "getChat" ? new Error("connection reset") : { ok: false, error_code: 400, description: "Bad Request: chat not found" }));
      const caught: unknown[] = [];
      bot.on("message", async (ctx) => {
        caught.push(await ctx.api.sendMessage(5, "x").catch((e: unknown) => e));
        caught.push(await ctx.api.getChat(5).catch((e: unknown) => e));
      });
      await handle(bot, update(1));
      errors.push(caught);
    }
    const [grammy, unlost] = errors as [unknown[], unknown[]];
    expect(unlost[0]).toBeInstanceOf(GrammyError);
    expect((unlost[0] as GrammyError).message).toBe((grammy[0] as GrammyError).message);
    expect((unlost[0] as GrammyError).method).toBe("sendMessage");
    expect((unlost[0] as GrammyError).payload).toEqual({ chat_id: 5, text: "x" });
    expect(unlost[1]).toBeInstanceOf(HttpError);
    expect((unlost[1] as HttpError).message).toBe((grammy[1] as HttpError).message);
  });

  it("rejects a middleware error as a BotError with the context, as bot.handleUpdate does", async () => {
    const { bot } = recordingBot();
    const failure = new Error("handler failed");
    let context: Context | undefined;
    bot.on("message", (ctx) => {
      context = ctx;
      throw failure;
    });
    const error = await viaUnlost(bot, update(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BotError);
    expect((error as BotError).error).toBe(failure);
    expect((error as BotError<Context>).ctx).toBe(context);
    expect(context?.me).toEqual(ME);
  });

  it("refuses to handle an update before the bot knows itself (grammY's message)", async () => {
    const bot = new Bot<Context>("42:secret", { client: { apiRoot: "http://telegram.test" } });
    installUpdateInfo(bot);
    expect(() => handleWithInfo(bot, update(1), INFO)).toThrow(/Bot information unavailable/);
  });
});
