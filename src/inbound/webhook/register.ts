/**
 * Registering the receiver with Telegram, and switching back to long polling. Neither ever
 * drops pending updates unless the user asks: Telegram keeps undelivered updates for 24 h, and
 * they are exactly what a switch must not lose.
 *
 * @module
 */
import { GrammyError, type Api } from "grammy";
import type { Update, WebhookInfo } from "grammy/types";
import { redactSecrets, UnlostError } from "../../errors/index.js";
import { validateSecretToken } from "./secret.js";

/** Options of {@link registerWebhook}. */
export interface RegisterWebhookOptions {
  /** The public HTTPS URL Telegram posts to (ending in the receiver's path). */
  readonly url: string;
  /** The receiver's secret token (see `webhookSecret`). */
  readonly secretToken: string;
  /** Update types to receive; omitted keeps Telegram's current setting. */
  readonly allowedUpdates?: ReadonlyArray<Exclude<keyof Update, "update_id">>;
  /** Parallel connections Telegram may open (1–100; Telegram's default 40). */
  readonly maxConnections?: number;
  /**
   * Deletes every update Telegram holds for the bot. Default false; only when the user
   * explicitly asks, since those updates would be lost for good.
   */
  readonly dropPendingUpdates?: boolean;
}

/**
 * Calls `setWebhook` and then `getWebhookInfo` to confirm the URL is set (another instance
 * may have changed it in between). Returns the webhook info read back.
 *
 * @throws UnlostError `INVALID_CONFIG` for a bad secret or a URL/option Telegram refuses,
 * `UNAUTHORIZED` when the token is rejected, `CONFLICT` when the info read back shows another
 * URL. Network errors and Telegram's 5xx/429 are rethrown as they are (retry later).
 */
export async function registerWebhook(api: Api, options: RegisterWebhookOptions): Promise<WebhookInfo> {
  const secretToken = validateSecretToken(options.secretToken);
  await telegram("setWebhook", () =>
    api.setWebhook(options.url, {
      secret_token: secretToken,
      drop_pending_updates: options.dropPendingUpdates === true,
      ...(options.allowedUpdates === undefined ? {} : { allowed_updates: options.allowedUpdates }),
      ...(options.maxConnections === undefined ? {} : { max_connections: options.maxConnections }),
    }),
  );
  const info = await telegram("getWebhookInfo", () => api.getWebhookInfo());
  if (info.url !== options.url) {
    throw new UnlostError(
      "CONFLICT",
      `setWebhook succeeded but getWebhookInfo reports the URL ${JSON.stringify(info.url)} instead of ${JSON.stringify(options.url)}; ` +
        "another process is probably managing this bot's webhook or polling.",
      // The URL may carry the token in its path (a common grammY pattern).
      { details: { expected: redactSecrets(options.url), actual: info.url === undefined ? undefined : redactSecrets(info.url) } },
    );
  }
  return info;
}

/**
 * Removes the webhook so the bot can poll again, keeping every pending update for getUpdates
 * (`drop_pending_updates: false`). The receiver can be closed after this resolves: deliveries
 * already under way get 503 and stay pending at Telegram.
 *
 * @throws UnlostError `UNAUTHORIZED` when the token is rejected; network errors are rethrown.
 */
export async function unregisterWebhook(api: Api): Promise<void> {
  await telegram("deleteWebhook", () => api.deleteWebhook({ drop_pending_updates: false }));
}

/** Runs a Bot API call, turning the answers that need a human into an {@link UnlostError}. */
async function telegram<T>(method: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof GrammyError) {
      const what = `${method} was refused by Telegram (${error.error_code}: ${error.description})`;
      if (error.error_code === 401 || error.error_code === 404) {
        throw new UnlostError("UNAUTHORIZED", `${what}; check the bot token.`, { cause: error });
      }
      if (error.error_code === 400) {
        throw new UnlostError("INVALID_CONFIG", `${what}; check the webhook URL and options.`, { cause: error });
      }
    }
    throw error;
  }
}
