/**
 * The echo bot: the smallest bot unlost runs. Run it with
 *
 *   BOT_TOKEN=... npx unlost run examples/echo/bot.ts
 *
 * or against the emulator with simulated users: `npm run example:echo`.
 *
 * The default export is a setup function: unlost creates the grammY Bot (with BOT_TOKEN and
 * --api-root) and runs it durably; the handlers are plain grammY. `ctx.reply` goes through
 * the durable outbox, so a reply survives a crash between handling and sending.
 */
import type { BotSetup } from "unlost";

const setup: BotSetup = (bot) => {
  bot.command("start", (ctx) => ctx.reply("Hi! Send me anything and I will send it back."));
  bot.on("message:text", async (ctx) => {
    // arrivedWhileDown: the message came while the bot was not running (a crash, a deploy).
    const late = ctx.unlost.arrivedWhileDown ? " (sorry for the wait: I was offline)" : "";
    await ctx.reply(`echo: ${ctx.message.text}${late}`);
  });
};

export default setup;
