/**
 * The downloader: every message is a link; a durable **task** fetches it from a slow external
 * service (1–3 s, and it fails now and then) and sends the result when it is ready. The
 * handler only queues the task and answers at once, so users are never kept waiting:
 *
 * - at most 3 downloads run at once (`concurrency`), one per user (`perUser`); a user's fourth
 *   waiting link is refused with a clear message (`perUserQueueLimit`);
 * - a circuit breaker stops calling the service after 3 failures in a row and lets one probe
 *   through 2 s later; tasks that meet the open breaker wait for it without using an attempt;
 * - each download writes to the task's own temp folder, removed when the task ends, fails or
 *   is cancelled, and found and removed after a crash;
 * - the task is added with the update's completion: a replayed update (after a crash) does not
 *   queue it twice, and a task cut off by `kill -9` is taken over after the restart.
 *
 *   BOT_TOKEN=... npx unlost run examples/downloader/bot.ts
 *
 * or against the emulator: `npm run example:downloader`. Environment: SLOW_SERVICE_URL (the
 * service to call; default: the example starts its own fake one).
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isUnlostError, type BotSetup } from "unlost";
import { startSlowService } from "./slow-service.js";

interface Download {
  readonly file: string;
  readonly bytes: number;
  readonly ms: number;
}

const setup: BotSetup = async (bot, { runtime, onStop }) => {
  let serviceUrl = process.env["SLOW_SERVICE_URL"];
  if (serviceUrl === undefined) {
    const service = await startSlowService();
    onStop(() => service.close());
    serviceUrl = service.url;
  }
  const service = runtime.breaker("download-service", { opensAfter: 3, halfOpenAfterMs: 2_000 });

  runtime.tasks.handle<{ link: string }, { file: string }>("download", async ({ payload, chatId, tmpDir, signal, progress, api }) => {
    const got = await service.execute(async (callSignal) => {
      const response = await fetch(`${serviceUrl}/download?q=${encodeURIComponent(payload.link)}`, { signal: callSignal });
      if (!response.ok) throw new Error(`the download service answered ${response.status}`); // retried with backoff
      return (await response.json()) as Download;
    }, signal);
    await progress(50, "downloaded");
    // The file lives in the task's own folder: gone when the task ends, whatever happens.
    const file = join(tmpDir, got.file);
    await writeFile(file, `${got.file}: ${got.bytes} bytes`);
    const size = (await readFile(file)).length;
    // Through the outbox, keyed by the task: a retried task does not send it twice.
    await api.sendMessage(chatId!, `✅ ${got.file}: ${(got.bytes / 1e6).toFixed(1)} MB, fetched in ${got.ms} ms (${size} bytes written)`);
    return { file: got.file };
  }, { concurrency: 3, perUser: 1, perUserQueueLimit: 3, attempts: 5, backoff: { baseMs: 500, maxMs: 5_000 }, timeoutMs: 60_000 });

  bot.command("start", (ctx) => ctx.reply("Send me a link and I will fetch it."));
  bot.on("message:text", async (ctx) => {
    const link = ctx.message.text.trim();
    try {
      await ctx.unlost.task("download", { link });
      await ctx.reply(`⏳ queued ${link}`);
    } catch (error) {
      if (!isUnlostError(error, "TASK_QUEUE_FULL")) throw error;
      await ctx.reply(`✋ you already have 3 links waiting; send ${link} again when one is done`);
    }
  });
};

export default setup;
