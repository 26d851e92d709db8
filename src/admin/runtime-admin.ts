/**
 * The admin server of a runtime: what the runtime creates when `admin` is set. The server
 * itself (Hono, prom-client) is loaded only at the first start, so a bot without an admin
 * server does not carry it; the per-update timings are kept from the start.
 *
 * @module
 */
import type { Scrubber } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import { HandlerTimings } from "./handler-timings.js";
import { adminToken, type ResolvedAdminOptions } from "./options.js";
import type { AdminApp, AdminListener } from "./server.js";
import type { AdminSource, RuntimeView } from "./source.js";

/** What a runtime shows its admin server. */
export interface RuntimeAdminParts extends Omit<RuntimeView, "timings">, Pick<AdminSource, "store" | "clock"> {
  /** The runtime's scrubber: it learns the admin token here, and cleans every answer. */
  readonly scrubber: Scrubber;
  readonly logger: Logger;
}

/** A runtime's admin server: started with the runtime, closed with it. */
export class RuntimeAdmin {
  /** Fed by the runtime per handler run. */
  readonly timings = new HandlerTimings();
  private readonly token: string | undefined;
  private app: AdminApp | undefined;
  private listener: AdminListener | undefined;

  /** @throws UnlostError `INVALID_CONFIG` for a too short `UNLOST_ADMIN_TOKEN`. */
  constructor(private readonly options: ResolvedAdminOptions, private readonly parts: RuntimeAdminParts) {
    this.token = adminToken(options);
    parts.scrubber.add(this.token);
  }

  /** The URL while listening. */
  get url(): string | undefined {
    return this.listener?.url;
  }

  /** Listens (once per runtime start); the app and its registry are made at the first. */
  async start(): Promise<void> {
    if (this.listener !== undefined) return;
    this.app ??= await this.createApp();
    this.listener = await this.app.listen();
    const { host } = this.options;
    const loopback = host === "127.0.0.1" || host === "::1" || host === "localhost";
    this.parts.logger.info({ admin: this.listener.url, token: this.token !== undefined, publicMetrics: this.options.publicMetrics }, "admin server listening (/metrics, /healthz, /readyz, /api)");
    if (!loopback && this.token === undefined) {
      this.parts.logger.warn({ host }, "the admin server listens beyond this machine without an admin token: /metrics and the probes are open to whoever reaches the port; set UNLOST_ADMIN_TOKEN (and admin.publicMetrics: false) or a firewall");
    }
  }

  /** Stops listening; resolves once requests in progress are answered. */
  async stop(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }

  private async createApp(): Promise<AdminApp> {
    const { createAdminApp } = await import("./server.js");
    const p = this.parts;
    const source: AdminSource = {
      store: p.store,
      clock: p.clock,
      scrub: p.scrubber.scrub,
      runtime: { mode: p.mode, state: p.state, counters: p.counters, delivery: p.delivery, timings: this.timings },
    };
    return createAdminApp({ source, options: this.options, token: this.token, logger: p.logger });
  }
}
