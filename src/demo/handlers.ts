/**
 * The demo bot's handlers, shared by the unlost bot and the stock grammY bot of `--compare`
 * so that both sides of the comparison run the very same code. Every reply ends with a tag
 * naming the update it answers (`· #<update_id>`): the demo verifies against the emulator's
 * record which update got which reply, exactly, with no guessing from texts or times.
 */
import type { Bot, Context } from "grammy";

/** The tag at the end of every reply: the id of the update it answers. */
export function replyTag(updateId: number): string {
  return ` · #${updateId}`;
}

const TAG = / · #(\d+)$/;

/** The update id a reply text answers, or undefined for a text without the tag (a notice, an alert). */
export function parseReplyTag(text: string | undefined): number | undefined {
  const match = text === undefined ? null : TAG.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/** The inline buttons of the `/menu` reply: callback data and what a press answers. */
export const MENU_BUTTONS: ReadonlyArray<{ readonly data: string; readonly label: string }> = [
  { data: "like", label: "👍 like" },
  { data: "nope", label: "👎 nope" },
  { data: "roll", label: "🎲 roll a die" },
];

/** The first words of the `/menu` reply; simulated users look for it to press a button. */
export const MENU_TEXT = "Menu: press a button";

/**
 * Simulated work per kind of update, in ms: a real bot reads a database or calls a service
 * before it answers, and that is when a `kill -9` hurts (the handler is mid-way).
 */
export const WORK_MS = { text: 40, command: 15, photo: 300, button: 60 } as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers the demo's handlers: commands, an echo, photos and button presses, each replying once. */
export function registerDemoHandlers<C extends Context>(bot: Bot<C>): void {
  const tag = (ctx: Context): string => replyTag(ctx.update.update_id);
  // Replies quote the user's message too, so a human reading a chat sees what was answered.
  const quoting = (ctx: Context) => (ctx.msgId === undefined ? {} : { reply_parameters: { message_id: ctx.msgId } });

  bot.command("start", async (ctx) => {
    await sleep(WORK_MS.command);
    await ctx.reply(`Welcome, ${ctx.from?.first_name ?? "friend"}! Try /menu, /ping or send a photo.${tag(ctx)}`, quoting(ctx));
  });
  bot.command("help", async (ctx) => {
    await sleep(WORK_MS.command);
    await ctx.reply(`I echo texts, look at photos and have a /menu with buttons.${tag(ctx)}`, quoting(ctx));
  });
  bot.command("ping", async (ctx) => {
    await sleep(WORK_MS.command);
    await ctx.reply(`pong${tag(ctx)}`, quoting(ctx));
  });
  bot.command("menu", async (ctx) => {
    await sleep(WORK_MS.command);
    const inline_keyboard = [MENU_BUTTONS.slice(0, 2), MENU_BUTTONS.slice(2)].map((row) =>
      row.map((b) => ({ text: b.label, callback_data: b.data })),
    );
    await ctx.reply(`${MENU_TEXT}${tag(ctx)}`, { ...quoting(ctx), reply_markup: { inline_keyboard } });
  });
  bot.on("message:photo", async (ctx) => {
    await sleep(WORK_MS.photo); // "looking at" the photo
    const biggest = ctx.message.photo.at(-1);
    const size = biggest === undefined ? "" : ` ${biggest.width}×${biggest.height}, ${Math.round((biggest.file_size ?? 0) / 1024)} kB`;
    await ctx.reply(`Nice photo:${size}.${tag(ctx)}`, quoting(ctx));
  });
  bot.on("message:text", async (ctx) => {
    await sleep(WORK_MS.text);
    await ctx.reply(`“${ctx.message.text}”: got it.${tag(ctx)}`, quoting(ctx));
  });
  bot.on("callback_query:data", async (ctx) => {
    await sleep(WORK_MS.button);
    const button = MENU_BUTTONS.find((b) => b.data === ctx.callbackQuery.data);
    const result = ctx.callbackQuery.data === "roll" ? `you rolled ${1 + (ctx.update.update_id % 6)}` : `you pressed ${button?.label ?? "a button"}`;
    // The little toast may come too late (Telegram forgets a press after a while, e.g. while
    // the bot was down); the reply below is what matters, so a refused toast is not an error.
    await ctx.answerCallbackQuery({ text: result }).catch(() => undefined);
    await ctx.reply(`${ctx.from.first_name}, ${result}.${tag(ctx)}`);
  });
}
