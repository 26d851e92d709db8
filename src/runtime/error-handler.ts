/**
 * grammY's error habit under unlost: the bot's error handler (`bot.catch`) is called on every
 * failed try, with grammY's `BotError` and its `ctx` (whose `ctx.unlost.attempt` and
 * `willRetry` say which try it was and whether another follows). It only observes: the try
 * fails all the same, and unlost retries the update (or dead-letters it) as without one.
 *
 * @module
 */
import { BotError, type Bot, type Context } from "grammy";
import type { Logger } from "./logger.js";

/** What the error handler needs of the run that failed. */
export interface FailedRun {
  readonly updateId: number;
  readonly attempt: number;
  /** Called before the error handler runs: its sends get a key scope of their own. */
  enterErrorHandler(): void;
}

/**
 * True when the bot's error handler is the user's (`bot.catch(...)`), not grammY's default,
 * which prints "No error handler was set!" and rethrows: calling that on every failed try
 * would only add console noise beside unlost's own logs. grammY keeps no flag for it, so the
 * default is recognised by its text (checked once per handler function).
 */
export function hasOwnErrorHandler(bot: Bot<Context>): boolean {
  const handler = bot.errorHandler;
  let own = ownHandlers.get(handler);
  if (own === undefined) {
    own = !String(handler).includes("No error handler was set");
    ownHandlers.set(handler, own);
  }
  return own;
}
const ownHandlers = new WeakMap<object, boolean>();

/**
 * Runs the bot's error handler for a failed try, then rethrows `error`: the try's own error is
 * what the dispatcher records. An error handler that throws is logged.
 */
export async function callErrorHandler(bot: Bot<Context>, error: unknown, run: FailedRun, logger: Logger): Promise<never> {
  if (error instanceof BotError) {
    run.enterErrorHandler();
    try {
      await bot.errorHandler(error as BotError<Context>);
    } catch (thrown) {
      if (thrown !== error) logger.warn({ err: thrown, updateId: run.updateId, attempt: run.attempt }, "the bot's error handler (bot.catch) threw; the try counts as failed");
    }
  }
  throw error;
}
