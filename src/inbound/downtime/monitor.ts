/**
 * Downtime tracking: a heartbeat in the store while the bot runs; on start, the offline window
 * since the last heartbeat is logged and, after a long outage, reported to admin chats.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { OfflineWindow, StateStore } from "../../store/index.js";
import { downtimeAlertText, formatDuration, formatInstant, TELEGRAM_UPDATE_RETENTION_MS } from "./format.js";
import { isInsideWindow } from "./window.js";

/** Default {@link DowntimeMonitorOptions.heartbeatMs}: 5 s. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Default {@link DowntimeMonitorOptions.alertAfterMs}: 24 h, Telegram's retention of updates. */
export const DEFAULT_ALERT_AFTER_MS = TELEGRAM_UPDATE_RETENTION_MS;

/** Options of {@link createDowntimeMonitor}. */
export interface DowntimeMonitorOptions {
  /** Where the heartbeat and offline windows are kept. */
  readonly state: StateStore;
  /** The current time, ms epoch. Default `Date.now` (pass the emulator's clock in tests). */
  readonly clock?: () => number;
  /** Where the window and alert failures are logged. */
  readonly logger: Logger;
  /**
   * How often the heartbeat is written, ms. Default 5 000. An outage is measured from the last
   * heartbeat, so it may look up to this much longer than it was.
   */
  readonly heartbeatMs?: number;
  /** An outage longer than this alerts the admin chats, ms. Default 24 h (Telegram keeps updates ~24 h). */
  readonly alertAfterMs?: number;
  /** Chats that get the alert. Default none (the outage is still logged as a warning). */
  readonly adminChatIds?: readonly number[];
  /** Sends an alert (the runtime passes `bot.api.sendMessage`, later the outbox). */
  readonly send: (chatId: number, text: string) => Promise<unknown>;
  /** Names the bot in the alert, e.g. `@my_bot`. Default "The bot". */
  readonly botName?: string;
}

/** Tracks downtime across runs. */
export interface DowntimeMonitor {
  /**
   * Records this start: returns the offline window since the last heartbeat (null on first
   * start), logs it (info; warn when over `alertAfterMs`), alerts admins when over the
   * threshold, and starts the heartbeat timer (unref'd: it never keeps the process alive).
   *
   * The alerts are sent in the background so that a slow or failing network does not delay
   * the start; a failure is logged (error), never thrown. `alertsSettled()` waits for them.
   * Calling `start` again returns the same result (or retries, when the first call failed).
   *
   * @throws UnlostError `STOPPED` after `stop()`; the store's error if the start cannot be recorded.
   */
  start(): Promise<OfflineWindow | null>;
  /** The window found at start (null before start or on first run). */
  readonly lastWindow: OfflineWindow | null;
  /**
   * True when `atMs` (a message date) falls inside an offline window: the one found at start,
   * or an earlier one whose backlog Telegram may still hand over (a process that died during
   * catch-up). Whole-second dates count only when their whole second is inside; see
   * `isInsideWindow`.
   */
  wasDown(atMs: number): boolean;
  /** Resolves when every alert of this start was sent or failed (at once when there were none). */
  alertsSettled(): Promise<void>;
  /**
   * Stops the timer and writes a final heartbeat, so the next start measures the outage from
   * now. Idempotent; does nothing before `start`. Does not wait for alerts still being sent.
   *
   * @throws the store's error when the final heartbeat cannot be written.
   */
  stop(): Promise<void>;
}

/** Offline windows read at start for `wasDown` (those within Telegram's retention among them). */
const RECENT_WINDOWS = 50;

function invalid(message: string): never {
  throw new UnlostError("INVALID_CONFIG", `downtime: ${message}`);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) invalid(`${name} must be a number of milliseconds > 0; got ${String(value)}.`);
  return value;
}

function checkOptions(options: DowntimeMonitorOptions): { heartbeatMs: number; alertAfterMs: number; adminChatIds: readonly number[] } {
  if (typeof options !== "object" || options === null) invalid("options are required.");
  if (typeof options.state?.recordStart !== "function") invalid("state must be the store's StateStore.");
  if (typeof options.send !== "function") invalid("send must be a function (chatId, text) => Promise.");
  if (typeof options.logger?.info !== "function") invalid("logger must be a pino logger.");
  if (options.clock !== undefined && typeof options.clock !== "function") invalid("clock must be a function returning ms since the epoch.");
  const adminChatIds = options.adminChatIds ?? [];
  if (!Array.isArray(adminChatIds) || !adminChatIds.every((id) => Number.isSafeInteger(id) && id !== 0)) {
    invalid("adminChatIds must be an array of Telegram chat ids (non-zero integers).");
  }
  return {
    heartbeatMs: positive("heartbeatMs", options.heartbeatMs, DEFAULT_HEARTBEAT_MS),
    alertAfterMs: positive("alertAfterMs", options.alertAfterMs, DEFAULT_ALERT_AFTER_MS),
    adminChatIds: [...new Set(adminChatIds)],
  };
}

/**
 * Creates the downtime monitor. Nothing happens until `start()`.
 *
 * @example
 * ```ts
 * const monitor = createDowntimeMonitor({ state: store.state, logger, adminChatIds: [ADMIN], send: (c, t) => bot.api.sendMessage(c, t) });
 * const window = await monitor.start();
 * // ... per update: monitor.wasDown(messageDate)
 * await monitor.stop();
 * ```
 * @throws UnlostError `INVALID_CONFIG` when an option is malformed.
 */
export function createDowntimeMonitor(options: DowntimeMonitorOptions): DowntimeMonitor {
  const { heartbeatMs, alertAfterMs, adminChatIds } = checkOptions(options);
  const { state, logger, send } = options;
  const clock = options.clock ?? Date.now;
  let window: OfflineWindow | null = null;
  /**
   * Every offline window whose updates Telegram may still hand over (ended within its ~24 h
   * retention): a process that dies during catch-up leaves the rest of the first outage's
   * backlog to the next start, whose own window is only the short gap of the crash.
   */
  let windows: readonly OfflineWindow[] = [];
  let starting: Promise<OfflineWindow | null> | undefined;
  let stopping: Promise<void> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let beating: Promise<void> | undefined;
  let alerts: Promise<void> = Promise.resolve();

  function tick(): void {
    // A slow store must not pile up beats; the next tick will write a fresher one anyway.
    if (beating !== undefined) return;
    beating = state
      .beat(clock())
      .catch((error: unknown) => logger.warn({ err: error }, "heartbeat could not be written; an outage may later look longer than it was"))
      .finally(() => {
        beating = undefined;
      });
  }

  async function sendAlerts(found: OfflineWindow): Promise<void> {
    const text = downtimeAlertText(found, { botName: options.botName });
    // One at a time: a handful of admins, and Telegram frowns on bursts.
    for (const chatId of adminChatIds) {
      try {
        await send(chatId, text);
        logger.info({ chatId }, "downtime alert sent");
      } catch (error) {
        logger.error({ err: error, chatId }, "downtime alert could not be sent");
      }
    }
  }

  function report(found: OfflineWindow): void {
    const fields = {
      offlineFromMs: found.from,
      offlineToMs: found.to,
      durationMs: found.durationMs,
      offlineFrom: formatInstant(found.from),
      offlineTo: formatInstant(found.to),
      duration: formatDuration(found.durationMs),
    };
    if (found.durationMs <= alertAfterMs) {
      logger.info(fields, `the bot was offline for ${fields.duration}; catching up`);
      return;
    }
    const lost = found.durationMs > TELEGRAM_UPDATE_RETENTION_MS ? found.to - TELEGRAM_UPDATE_RETENTION_MS : null;
    logger.warn(
      { ...fields, alertAfterMs, possiblyLostBeforeMs: lost, adminChats: adminChatIds.length },
      lost === null
        ? `the bot was offline for ${fields.duration}, longer than the alert threshold`
        : `the bot was offline for ${fields.duration}: updates sent before ${formatInstant(lost)} may have been lost (Telegram keeps them ~24 h)`,
    );
    if (adminChatIds.length === 0) logger.warn("no downtime.adminChatIds configured: nobody is alerted about this outage");
    else alerts = sendAlerts(found);
  }

  async function doStart(): Promise<OfflineWindow | null> {
    const found = await state.recordStart(clock());
    window = found;
    const since = clock() - TELEGRAM_UPDATE_RETENTION_MS;
    windows = (await state.offlineWindows({ limit: RECENT_WINDOWS }).catch(() => (found === null ? [] : [found]))).filter((w) => w.to >= since);
    if (found === null) logger.info("first start: no earlier heartbeat, so no offline window");
    else report(found);
    if (stopping === undefined) {
      timer = setInterval(tick, heartbeatMs);
      // The heartbeat must never be what keeps a finished process alive.
      timer.unref?.();
    }
    return found;
  }

  return {
    start() {
      if (stopping !== undefined) return Promise.reject(new UnlostError("STOPPED", "the downtime monitor was stopped; create a new one"));
      // Nothing was recorded when the start failed, so a later call may try again.
      starting ??= doStart().catch((error: unknown) => {
        starting = undefined;
        throw error;
      });
      return starting;
    },
    get lastWindow() {
      return window;
    },
    wasDown(atMs: number) {
      for (const w of windows) if (isInsideWindow(w, atMs)) return true;
      return false;
    },
    alertsSettled() {
      return alerts;
    },
    stop() {
      stopping ??= (async () => {
        if (starting === undefined) return;
        // A start still recording must finish first, or its beat could land after ours.
        await starting.catch(() => undefined);
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
        await beating;
        await state.beat(clock());
      })();
      return stopping;
    },
  };
}
