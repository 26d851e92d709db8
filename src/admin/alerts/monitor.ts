/**
 * The alert monitor: runs the checks every `intervalMs` and tells the admin chats and the log
 * when a condition starts (⚠️), is still there after each `cooldownMs` (⚠️ again, so that a
 * lasting problem is not forgotten, but not more often), and ends (✅, only for an alert that
 * was sent). Time is the runtime's clock, so tests drive the cool-down with the emulator's.
 *
 * @module
 */
import type { Scrub } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { Store } from "../../store/index.js";
import { runChecks, SYSTEM_PROBES, type AlertProbes, type PollerMemory } from "./checks.js";
import type { ResolvedAlertOptions } from "./options.js";

/** Options of {@link AlertMonitor}. */
export interface AlertMonitorOptions {
  readonly options: ResolvedAlertOptions;
  /** The open store, or undefined (then nothing is checked this round). */
  readonly store: () => Store | undefined;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Removes secrets from a text before it is sent (a store error may quote anything). */
  readonly scrub: Scrub;
  /** The bot's name for the messages, e.g. `@my_bot`. */
  readonly botName: () => string;
  /** The admin chats. */
  readonly adminChatIds: readonly number[];
  /** True for a polling bot: the poller's lease is watched. */
  readonly polling: boolean;
  /** Sends a text to a chat (the runtime: the outbox at high priority). */
  readonly send: (chatId: number, text: string) => Promise<unknown>;
  /** What the checks read (tests inject theirs). */
  readonly probes?: AlertProbes;
}

interface AlertState {
  /** When the alert was last sent (runtime clock), if it is firing and was sent. */
  sentAt: number | undefined;
}

/** Watches the conditions in the background. */
export class AlertMonitor {
  private readonly states = new Map<string, AlertState>();
  private readonly poller: PollerMemory | undefined;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(private readonly o: AlertMonitorOptions) {
    this.poller = o.polling ? { freeSince: undefined } : undefined;
  }

  /** Starts checking every `intervalMs`. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), this.o.options.intervalMs);
    this.timer.unref();
  }

  /** Stops checking; waits for a round in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** One round now (rounds never overlap). Resolves when its messages are handed to `send`. */
  check(): Promise<void> {
    this.round ??= this.checkOnce().finally(() => (this.round = undefined));
    return this.round;
  }

  private async checkOnce(): Promise<void> {
    const store = this.o.store();
    if (store === undefined) return;
    const now = this.o.clock();
    const results = await runChecks(store, now, this.o.options, this.o.probes ?? SYSTEM_PROBES, this.poller);
    for (const result of results) {
      const state = this.states.get(result.name) ?? { sentAt: undefined };
      this.states.set(result.name, state);
      const text = this.o.scrub(result.text);
      if (result.firing) {
        if (state.sentAt !== undefined && now - state.sentAt < this.o.options.cooldownMs) continue;
        const again = state.sentAt !== undefined;
        state.sentAt = now;
        this.o.logger.error({ alert: result.name }, `alert: ${text}`);
        await this.notify(`⚠️ ${this.o.botName()}${again ? " (still)" : ""}: ${text}.`);
      } else if (state.sentAt !== undefined) {
        state.sentAt = undefined;
        this.o.logger.info({ alert: result.name }, `alert resolved: ${text}`);
        await this.notify(`✅ ${this.o.botName()}: resolved: ${text}.`);
      }
    }
  }

  private async notify(text: string): Promise<void> {
    for (const chatId of this.o.adminChatIds) {
      await this.o.send(chatId, text).catch((error: unknown) => this.o.logger.warn({ err: error, chatId }, "sending an alert to an admin chat failed"));
    }
  }
}
