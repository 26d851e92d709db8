/**
 * The bot token as the command line takes it: from `BOT_TOKEN` only (never a flag, which
 * would show in `ps` and shell history), checked for shape before anything is sent, never
 * printed.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

const TOKEN_SHAPE = /^\d{1,20}:[A-Za-z0-9_-]{1,}$/;

/**
 * Returns the token, or throws a clear `INVALID_CONFIG` (exit code 2) when it is missing or
 * not shaped like one. The message never contains the token.
 */
export function requireToken(token: string | undefined, command: string): string {
  if (token === undefined) {
    throw new UnlostError(
      "INVALID_CONFIG",
      `BOT_TOKEN is not set. unlost ${command} needs your bot's token from @BotFather in the environment, e.g. BOT_TOKEN=123456:ABC... npx unlost ${command} (against the emulator any token like 123456:test works)`,
    );
  }
  if (!TOKEN_SHAPE.test(token)) {
    throw new UnlostError("INVALID_CONFIG", "BOT_TOKEN does not look like a bot token: @BotFather gives tokens of the form <digits>:<letters, digits, - and _> (check for quotes or spaces around it)");
  }
  return token;
}

/** The bot id part of a token (not secret), for messages. */
export function botIdOf(token: string): string {
  return token.slice(0, token.indexOf(":"));
}
