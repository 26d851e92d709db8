/**
 * The multi-service bot: private messages are answered at once while four background services
 * run beside them, as in the client this example is modelled on:
 *
 * - **discovery scan** every 5 minutes: looks for new channels and queues an invitation task
 *   for each (keyed by the channel, so a scan that runs twice queues it once);
 * - **audience scan** every 2 hours: recounts the audience;
 * - **publisher** every hour: posts a digest to the admins;
 * - **invitations**, continuously: a durable task kind working off the queue one at a time,
 *   through a circuit breaker around the (fake) invitation service.
 *
 * Handling always goes first: schedules and tasks have their own concurrency, their sends wait
 * behind users' replies in the outbox, and a restart neither skips a due run nor runs it twice
 * (each schedule's last and next run are stored). `/status` shows the services.
 *
 *   BOT_TOKEN=... ADMIN_IDS=123 npx unlost run examples/multi-service/bot.ts
 *
 * or against the emulator: `npm run example:multi-service`. Environment: ADMIN_IDS (who gets the
 * digest), MULTI_SERVICE_FAST=1 (seconds instead of minutes and hours, for the demo).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BotSetup, ScheduleSpec } from "unlost";

const setup: BotSetup = (bot, { runtime }) => {
  const admins = (process.env["ADMIN_IDS"] ?? "").split(",").filter((s) => s !== "").map(Number);
  const fast = process.env["MULTI_SERVICE_FAST"] === "1";
  const every = (slow: ScheduleSpec, quick: string): ScheduleSpec => (fast ? { every: quick } : slow);
  const state = { channelsSeen: 0, audience: 0, digests: 0, invited: 0 };
  const invitations = runtime.breaker("invitation-service", { opensAfter: 5, halfOpenAfterMs: 30_000 });

  // 1. Discovery: new channels become invitation tasks (the key makes a re-run harmless).
  runtime.schedule("discovery-scan", every("*/5 * * * *", "2s"), async ({ signal }) => {
    await sleep(200, undefined, { signal }); // the search API
    const found = [state.channelsSeen + 1, state.channelsSeen + 2];
    state.channelsSeen += found.length;
    for (const channel of found) await runtime.tasks.add("invite", { channel }, { key: `invite:${channel}` });
  });
  // 2. Audience: a longer scan, off the handlers' way.
  runtime.schedule("audience-scan", every({ every: "2h" }, "3s"), async ({ signal }) => {
    await sleep(500, undefined, { signal });
    state.audience = 1_000 + state.invited * 17;
  });
  // 3. Publisher: a digest for the admins, sent through the outbox behind users' replies.
  runtime.schedule("publisher", every("0 * * * *", "4s"), async () => {
    state.digests++;
    for (const admin of admins) await bot.api.sendMessage(admin, `📰 digest #${state.digests}: ${state.channelsSeen} channels found, ${state.invited} invited, audience ${state.audience}`);
  });
  // 4. Invitations, continuously: one at a time, through the breaker.
  runtime.tasks.handle<{ channel: number }>("invite", async ({ payload, signal }) => {
    await invitations.execute(async (callSignal) => sleep(100, undefined, { signal: callSignal }), signal); // the invitation API
    state.invited++;
    return { channel: payload.channel };
  }, { concurrency: 1, attempts: 5 });

  // Private messages: answered at once, whatever the services are doing.
  bot.command("status", async (ctx) => {
    const schedules = await runtime.schedules();
    const tasks = (await runtime.tasks.stats()).byKind["invite"];
    const lines = schedules.map((s) => `• ${s.name}: ${s.runs} runs, last ${s.lastResult ?? "none"}, next ${s.nextRunAt === null ? "—" : new Date(s.nextRunAt).toISOString().slice(11, 19)}`);
    await ctx.reply(`services:\n${lines.join("\n")}\n• invitations: ${tasks?.done ?? 0} done, ${(tasks?.queued ?? 0) + (tasks?.running ?? 0)} waiting`);
  });
  bot.on("message:text", (ctx) => ctx.reply(`you said: ${ctx.message.text}`));
};

export default setup;
