/**
 * The operator's tools of a runtime: the admin server (option `admin`) and the alerts (option
 * `alerts`), created together so that the runtime only composes them. The server itself (Hono,
 * prom-client) is loaded only at the first start, so a bot without an admin server does not
 * carry it; the per-update timings are kept from the start.
 *
 * @module
 */
import type { Scrubber } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import { AlertMonitor } from "./alerts/monitor.js";
import type { ResolvedAlertOptions } from "./alerts/options.js";
import { HandlerTimings } from "./handler-timings.js";
import { adminToken, type ResolvedAdminOptions } from "./options.js";
import type { AdminApp, AdminListener } from "./server.js";
import type { AdminSource, RuntimeView } from "./source.js";

/** What a runtime shows its operator tools. */
export interface RuntimeOperationsParts extends Omit<RuntimeView, "timings">, Pick<AdminSource, "store" | "clock" | "deadLetters" | "broadcasts"> {
  /** The runtime's scrubber: it learns the admin token here, and cleans every answer and alert. */
  readonly scrubber: Scrubber;
  readonly logger: Logger;
  /** The bot's name for alerts, e.g. `@my_bot` (known once started). */
  readonly botName: () => string;
  /** The admin chats alerts go to. */
  readonly adminChatIds: readonly number[];
  /** Sends an alert (the runtime: the outbox at high priority). */
  readonly send: (chatId: number, text: string) => Promise<unknown>;
}

/** The runtime's admin server and alerts: started with the runtime, stopped with it. */
export class RuntimeOperations {
  /** Fed by the runtime per handler run; only with an admin server (nothing else reads it). */
  readonly timings: HandlerTimings | undefined;
  private readonly token: string | undefined;
  private app: AdminApp | undefined;
  private listener: AdminListener | undefined;
  private alerts: AlertMonitor | undefined;

  /**
   * Undefined when neither `admin` nor `alerts` is set.
   *
   * @throws UnlostError `INVALID_CONFIG` for a too short `UNLOST_ADMIN_TOKEN`.
   */
  static create(options: { readonly admin?: ResolvedAdminOptions | undefined; readonly alerts?: ResolvedAlertOptions | undefined }, parts: RuntimeOperationsParts): RuntimeOperations | undefined {
    return options.admin === undefined && options.alerts === undefined ? undefined : new RuntimeOperations(options.admin, options.alerts, parts);
  }

  private constructor(private readonly admin: ResolvedAdminOptions | undefined, private readonly alertOptions: ResolvedAlertOptions | undefined, private readonly parts: RuntimeOperationsParts) {
    this.timings = admin === undefined ? undefined : new HandlerTimings();
    this.token = admin === undefined ? undefined : adminToken(admin);
    parts.scrubber.add(this.token);
  }

  /** The admin server's URL while it listens. */
  get url(): string | undefined {
    return this.listener?.url;
  }

  /** Listens (once per runtime start, first thing: probes see "starting"); the app and its registry are made once. */
  async startServer(): Promise<void> {
    const admin = this.admin;
    if (admin === undefined || this.listener !== undefined) return;
    this.app ??= await this.createApp(admin);
    this.listener = await this.app.listen();
    const loopback = admin.host === "127.0.0.1" || admin.host === "::1" || admin.host === "localhost";
    this.parts.logger.info({ admin: this.listener.url, token: this.token !== undefined, publicMetrics: admin.publicMetrics }, "admin server listening (/metrics, /healthz, /readyz, /api)");
    if (!loopback && this.token === undefined) {
      this.parts.logger.warn({ host: admin.host }, "the admin server listens beyond this machine without an admin token: /metrics and the probes are open to whoever reaches the port; set UNLOST_ADMIN_TOKEN (and admin.publicMetrics: false) or a firewall");
    }
  }

  /** Starts the alerts (once the runtime runs). */
  startAlerts(): void {
    const options = this.alertOptions;
    if (options === undefined || this.alerts !== undefined) return;
    const p = this.parts;
    this.alerts = new AlertMonitor({ options, store: p.store, clock: p.clock, logger: p.logger, scrub: p.scrubber.scrub, botName: p.botName, adminChatIds: p.adminChatIds, send: p.send, polling: p.mode === "polling" });
    this.alerts.start();
  }

  /** Stops listening and alerting; resolves once requests in progress are answered. */
  async stop(): Promise<void> {
    const listener = this.listener;
    const alerts = this.alerts;
    this.listener = undefined;
    this.alerts = undefined;
    await Promise.all([listener?.close(), alerts?.stop()]);
  }

  private async createApp(options: ResolvedAdminOptions): Promise<AdminApp> {
    const { createAdminApp } = await import("./server.js");
    const p = this.parts;
    const timings = this.timings as HandlerTimings; // made with the admin options
    const source: AdminSource = {
      store: p.store,
      clock: p.clock,
      scrub: p.scrubber.scrub,
      runtime: { mode: p.mode, state: p.state, counters: p.counters, delivery: p.delivery, timings, ...(p.breakers === undefined ? {} : { breakers: p.breakers }), ...(p.schedules === undefined ? {} : { schedules: p.schedules }) },
      ...(p.deadLetters === undefined ? {} : { deadLetters: p.deadLetters }),
      ...(p.broadcasts === undefined ? {} : { broadcasts: p.broadcasts }),
    };
    return createAdminApp({ source, options, token: this.token, logger: p.logger });
  }
}
