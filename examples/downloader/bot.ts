/**
 * The downloader: every message is a link; the handler asks a slow external service (1–3 s)
 * for the file and replies with the result. unlost handles chats in parallel (one update at a
 * time per chat, in order), so a slow handler in one chat does not hold up the others.
 *
 *   BOT_TOKEN=... npx unlost run examples/downloader/bot.ts
 *
 * or against the emulator: `npm run example:downloader`. Environment: SLOW_SERVICE_URL (the
 * service to call; default: the example starts its own fake one).
 */
import type { BotSetup } from "unlost";
import { startSlowService } from "./slow-service.js";

interface Download {
  readonly file: string;
  readonly bytes: number;
  readonly ms: number;
}

const setup: BotSetup = async (bot, { onStop }) => {
  let serviceUrl = process.env["SLOW_SERVICE_URL"];
  if (serviceUrl === undefined) {
    const service = await startSlowService();
    onStop(() => service.close());
    serviceUrl = service.url;
  }

  bot.command("start", (ctx) => ctx.reply("Send me a link and I will fetch it."));
  bot.on("message:text", async (ctx) => {
    const link = ctx.message.text.trim();
    await ctx.reply(`⏳ fetching ${link}…`);
    // If the process dies here, the update is handled again after the restart: the "fetching"
    // reply above is not sent twice (its send has a deterministic key), the download is redone.
    const response = await fetch(`${serviceUrl}/download?q=${encodeURIComponent(link)}`, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`the download service answered ${response.status}`); // retried with backoff
    const got = (await response.json()) as Download;
    await ctx.reply(`✅ ${got.file}: ${(got.bytes / 1e6).toFixed(1)} MB, fetched in ${got.ms} ms`);
  });
};

export default setup;
