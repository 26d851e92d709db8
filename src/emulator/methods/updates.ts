/**
 * Receiving updates: getUpdates (long polling) and the webhook settings.
 */
import type { WebhookInfo } from "grammy/types";
import { badRequest, conflict } from "../api-error.js";
import type { Params } from "../params.js";
import type { MethodContext, MethodHandler } from "./context.js";

/** Telegram caps long polling at 50 s. */
export const MAX_POLL_TIMEOUT_S = 50;

const getUpdates: MethodHandler = async (ctx, params) => {
  const { bot } = ctx;
  if (bot.webhook !== undefined) {
    throw conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
  }
  const offset = params.int("offset") ?? 0;
  const limit = clamp(params.int("limit") ?? 100, 1, 100);
  const timeout = clamp(params.int("timeout") ?? 0, 0, MAX_POLL_TIMEOUT_S);
  rememberAllowedUpdates(ctx, params);
  // A newer call terminates an older one that is still waiting, whatever it does next.
  bot.updates.failWaiter(() => conflict("terminated by other getUpdates request; make sure that only one bot instance is running"));
  // Confirmation happens on arrival: even if this call is aborted while it waits.
  bot.updates.confirm(offset);
  let updates = bot.updates.peek(limit);
  if (updates.length === 0 && timeout > 0) {
    await bot.updates.wait(timeout * 1000, ctx.signal);
    updates = bot.webhook === undefined ? bot.updates.peek(limit) : [];
  }
  return updates;
};

/** `allowed_updates` is remembered; an empty list means Telegram's default set. */
function rememberAllowedUpdates(ctx: MethodContext, params: Params): void {
  if (!params.has("allowed_updates")) return;
  const list = params.json("allowed_updates", "allowed updates");
  if (!Array.isArray(list) || !list.every((t) => typeof t === "string")) {
    throw badRequest("can't parse allowed updates JSON object");
  }
  ctx.bot.allowedUpdates = list.length === 0 ? undefined : (list as string[]);
}

const SECRET_TOKEN = /^[A-Za-z0-9_-]+$/;
const WEBHOOK_PORTS = new Set([443, 80, 88, 8443]);

const setWebhook: MethodHandler = (ctx, params) => {
  const { bot } = ctx;
  const url = params.string("url") ?? "";
  if (url === "") return deleteWebhook(ctx, params);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest("bad webhook: Wrong HTTP URL specified");
  }
  if (parsed.protocol !== "https:" && (ctx.settings.requireHttpsWebhook || parsed.protocol !== "http:")) {
    throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
  }
  const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
  if (ctx.settings.strictWebhookPorts && !WEBHOOK_PORTS.has(port)) {
    throw badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443");
  }
  const secretToken = params.string("secret_token");
  if (secretToken !== undefined) {
    if (secretToken.length > 256) throw badRequest("secret token is too long");
    if (!SECRET_TOKEN.test(secretToken)) throw badRequest("secret token contains unallowed characters");
  }
  rememberAllowedUpdates(ctx, params);
  if (params.bool("drop_pending_updates") === true) bot.updates.dropAll();
  bot.webhook = {
    url,
    secretToken,
    maxConnections: clamp(params.int("max_connections") ?? 40, 1, 100),
    ipAddress: params.string("ip_address"),
  };
  bot.webhookErrors.lastErrorDate = undefined;
  bot.webhookErrors.lastErrorMessage = undefined;
  // A poll still waiting returns empty; its next call meets the 409 of an active webhook.
  bot.updates.wakeWaiter();
  ctx.webhooks.start(bot);
  return true;
};

const deleteWebhook: MethodHandler = (ctx, params) => {
  const { bot } = ctx;
  if (params.bool("drop_pending_updates") === true) bot.updates.dropAll();
  bot.webhook = undefined;
  ctx.webhooks.stop(bot);
  return true;
};

const getWebhookInfo: MethodHandler = (ctx) => {
  const { bot } = ctx;
  const info: WebhookInfo = {
    url: bot.webhook?.url ?? "",
    has_custom_certificate: false,
    pending_update_count: bot.updates.count(),
  };
  if (bot.webhook !== undefined) {
    info.max_connections = bot.webhook.maxConnections;
    if (bot.webhook.ipAddress !== undefined) info.ip_address = bot.webhook.ipAddress;
  }
  if (bot.allowedUpdates !== undefined) info.allowed_updates = [...bot.allowedUpdates] as NonNullable<WebhookInfo["allowed_updates"]>;
  if (bot.webhookErrors.lastErrorDate !== undefined) info.last_error_date = bot.webhookErrors.lastErrorDate;
  if (bot.webhookErrors.lastErrorMessage !== undefined) info.last_error_message = bot.webhookErrors.lastErrorMessage;
  return info;
};

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** The update-receiving methods, by name. */
export const updateMethods: Record<string, MethodHandler> = { getUpdates, setWebhook, deleteWebhook, getWebhookInfo };
