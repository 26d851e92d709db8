/**
 * Webhook delivery as Telegram's server does it: one FIFO per chat (a chat's next update is
 * sent only after the previous one was accepted), chats in parallel up to `max_connections`,
 * and failed deliveries (non-2xx, timeout, closed connection) retried with a doubling delay
 * that honours the bot's `Retry-After`.
 */
import type { EmulatorClock } from "./clock.js";
import type { WebhookControl } from "./methods/index.js";
import type { SimBot, WebhookSettings } from "./sim-bot.js";
import type { QueuedUpdate } from "./update-queue.js";

/** Timing of webhook delivery. */
export interface WebhookTiming {
  /** A delivery not answered within this many ms fails (Telegram: tens of seconds). Default 60 000. */
  timeoutMs: number;
  /** Delay before the first retry of a chat's failed update. Default 1 000 (doubles each time). */
  firstRetryDelayMs: number;
  /** Cap of the retry delay. Default 60 000. */
  maxRetryDelayMs: number;
}

/** Telegram's timing. */
export const DEFAULT_WEBHOOK_TIMING: WebhookTiming = { timeoutMs: 60_000, firstRetryDelayMs: 1_000, maxRetryDelayMs: 60_000 };

/** Delivers the pending updates of every bot that has a webhook. */
export class WebhookDeliverer implements WebhookControl {
  private readonly runs = new Map<SimBot, WebhookRun>();

  constructor(private readonly timing: WebhookTiming, private readonly clock: EmulatorClock) {}

  start(bot: SimBot): void {
    this.stop(bot);
    const run = new WebhookRun(bot, this.timing, this.clock);
    this.runs.set(bot, run);
    run.kick();
  }

  stop(bot: SimBot): void {
    this.runs.get(bot)?.stop();
    this.runs.delete(bot);
  }

  /** Stops every bot's delivery (on emulator shutdown). */
  stopAll(): void {
    for (const run of this.runs.values()) run.stop();
    this.runs.clear();
  }
}

/** Delivery to one bot's webhook. */
class WebhookRun {
  private inFlight = 0;
  private readonly busyChats = new Set<string>();
  private readonly retryAt = new Map<string, number>();
  private readonly attempts = new WeakMap<QueuedUpdate, number>();
  private readonly controllers = new Set<AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly bot: SimBot, private readonly timing: WebhookTiming, private readonly clock: EmulatorClock) {
    bot.updates.onAdded = () => this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.bot.updates.onAdded !== undefined) this.bot.updates.onAdded = undefined;
    clearTimeout(this.timer);
    for (const c of this.controllers) c.abort();
  }

  /** Starts every delivery that may start now, and schedules the next retry. */
  kick(): void {
    const settings = this.bot.webhook;
    if (this.stopped || settings === undefined) return;
    const now = Date.now();
    const seen = new Set<string>();
    let nextRetry = Number.POSITIVE_INFINITY;
    for (const item of this.bot.updates.pending()) {
      if (this.inFlight >= settings.maxConnections) break;
      const key = item.chatKey;
      // Only the oldest pending update of each chat may go.
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.busyChats.has(key)) continue;
      const at = this.retryAt.get(key) ?? 0;
      if (at > now) {
        nextRetry = Math.min(nextRetry, at);
        continue;
      }
      void this.deliver(item, settings);
    }
    clearTimeout(this.timer);
    if (nextRetry !== Number.POSITIVE_INFINITY) this.timer = setTimeout(() => this.kick(), nextRetry - now);
  }

  private async deliver(item: QueuedUpdate, settings: WebhookSettings): Promise<void> {
    const key = item.chatKey;
    this.inFlight++;
    this.busyChats.add(key);
    const controller = new AbortController();
    this.controllers.add(controller);
    const timeout = setTimeout(() => controller.abort(), this.timing.timeoutMs);
    let failure: string | undefined;
    let retryAfterMs: number | undefined;
    try {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (settings.secretToken !== undefined) headers["X-Telegram-Bot-Api-Secret-Token"] = settings.secretToken;
      const res = await fetch(settings.url, { method: "POST", headers, body: JSON.stringify(item.update), signal: controller.signal });
      await res.arrayBuffer(); // read the answer fully; its content is not used
      if (res.status < 200 || res.status > 299) {
        failure = `Wrong response from the webhook: ${res.status} ${res.statusText}`.trim();
        const retryAfter = Number(res.headers.get("retry-after"));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
      }
    } catch (error) {
      failure = controller.signal.aborted && !this.stopped ? "Read timeout expired" : describeNetworkError(error);
    } finally {
      clearTimeout(timeout);
      this.controllers.delete(controller);
      this.inFlight--;
      this.busyChats.delete(key);
    }
    if (this.stopped) {
      if (failure === undefined) this.bot.updates.markDone(item);
      return;
    }
    if (failure === undefined) {
      this.bot.updates.markDone(item);
      this.retryAt.delete(key);
    } else {
      const attempt = (this.attempts.get(item) ?? 0) + 1;
      this.attempts.set(item, attempt);
      const backoff = Math.min(this.timing.firstRetryDelayMs * 2 ** (attempt - 1), this.timing.maxRetryDelayMs);
      this.retryAt.set(key, Date.now() + (retryAfterMs ?? backoff));
      this.bot.webhookErrors.lastErrorDate = this.clock.unixSeconds();
      this.bot.webhookErrors.lastErrorMessage = failure;
    }
    this.kick();
  }
}

/** Telegram's wording for network failures of a webhook. */
function describeNetworkError(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } })?.cause?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "Connection refused";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "Connection reset by peer";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "Failed to resolve host: Name or service not known";
    default:
      return "Connection closed";
  }
}
