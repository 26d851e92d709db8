/**
 * The notifier: users /subscribe, a timer sends each subscriber a reminder with
 * `runtime.outbox.notify`, and an admin sends everyone a message with `/broadcast <text>`
 * (`runtime.outbox.broadcast`: durable, paced to Telegram's limits, with progress).
 *
 *   BOT_TOKEN=... NOTIFIER_ADMIN_IDS=<your user id> npx unlost run examples/notifier/bot.ts
 *
 * or against the emulator: `npm run example:notifier`.
 *
 * Environment: NOTIFIER_ADMIN_IDS (comma-separated user ids allowed to /broadcast),
 * NOTIFIER_EVERY_MS (reminder interval, default 60 000).
 */
import type { BotSetup } from "unlost";

const SUBSCRIBERS_KEY = "notifier:subscribers";

const setup: BotSetup = (bot, { runtime, onStop }) => {
  const admins = new Set((process.env["NOTIFIER_ADMIN_IDS"] ?? "").split(",").filter(Boolean).map(Number));
  const everyMs = Number(process.env["NOTIFIER_EVERY_MS"] ?? 60_000);

  // Subscribers live in the store's key/value state, so they survive restarts. Handlers of
  // different chats run in parallel: read-modify-write of the list goes through one chain so
  // two /subscribe at once cannot overwrite each other.
  let chain: Promise<unknown> = Promise.resolve();
  const subscribers = async (): Promise<number[]> => JSON.parse((await runtime.store.state.getValue(SUBSCRIBERS_KEY)) ?? "[]") as number[];
  const change = (edit: (ids: Set<number>) => void): Promise<number> => {
    const next = chain.then(async () => {
      const ids = new Set(await subscribers());
      edit(ids);
      await runtime.store.state.setValue(SUBSCRIBERS_KEY, JSON.stringify([...ids]));
      return ids.size;
    });
    chain = next.catch(() => undefined);
    return next;
  };

  bot.command("start", (ctx) => ctx.reply("Send /subscribe for reminders, /unsubscribe to stop them."));
  bot.command("subscribe", async (ctx) => {
    const count = await change((ids) => ids.add(ctx.from?.id ?? ctx.chat.id));
    await ctx.reply(`subscribed: you will get a reminder every ${everyMs / 1000} s (${count} subscribers)`);
  });
  bot.command("unsubscribe", async (ctx) => {
    await change((ids) => ids.delete(ctx.from?.id ?? ctx.chat.id));
    await ctx.reply("unsubscribed: no more reminders");
  });
  bot.command("broadcast", async (ctx) => {
    if (ctx.from === undefined || !admins.has(ctx.from.id)) return ctx.reply("only admins may broadcast");
    const text = ctx.match.trim();
    if (text === "") return ctx.reply("usage: /broadcast <text>");
    const { broadcastId, jobs } = await runtime.outbox.broadcast(await subscribers(), "sendMessage", { text: `📣 ${text}` });
    return ctx.reply(`broadcast ${broadcastId} queued for ${jobs} subscribers`);
  });

  // The reminder: one idempotency key per subscriber and period, so a restart in the middle of
  // a round (or two instances on one store) never sends the same reminder twice.
  const timer = setInterval(() => {
    if (!runtime.isRunning) return;
    const period = Math.floor(Date.now() / everyMs);
    void subscribers().then(async (ids) => {
      for (const userId of ids) {
        await runtime.outbox.notify(
          userId,
          { title: "Reminder", text: `reminder #${period % 1000}: stretch your legs`, type: "reminder" },
          // A reminder that could not go out within its period is stale: not sent (reason "deadline").
          { idempotencyKey: `reminder:${period}:${userId}`, deadline: (period + 2) * everyMs },
        );
      }
    }).catch((error: unknown) => console.error("reminder round failed:", error));
  }, everyMs);
  onStop(() => clearInterval(timer));
};

export default setup;
