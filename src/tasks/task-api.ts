/**
 * The `api` a task's try gets: grammY's `Api` for the bot, built as grammY builds `ctx.api`
 * (the bot's client options and transformers), with unlost's outbox transformer outermost and
 * bound to the task's scope: each send is keyed by the task and its position in the try, so a
 * retried task re-uses the keys and a send delivered by an earlier try is not sent again.
 *
 * @module
 */
import { Api, type Bot, type Context } from "grammy";
import type { Outbox } from "../outbound/outbox.js";
import { outboxTransformer } from "../outbound/transformer.js";
import { newUpdateScope } from "../outbound/update-scope.js";

/** Makes the `api` of a try: `scopeKey` is `task:<id>`; `rerun` when an earlier try may have sent. */
export function taskApiFactory(bot: Bot<Context>, outbox: () => Outbox | undefined): (scopeKey: string, rerun: boolean) => Api {
  return (scopeKey, rerun) => {
    const api = new Api(bot.token, bot.api.options);
    const installed = bot.api.config.installedTransformers();
    if (installed.length > 0) api.config.use(...installed);
    const box = outbox();
    // Never direct (no job stored first): a task has no update whose replay would find the send.
    if (box !== undefined) api.config.use(outboxTransformer(box, newUpdateScope(scopeKey, false, false, rerun, "normal")));
    return api;
  };
}
