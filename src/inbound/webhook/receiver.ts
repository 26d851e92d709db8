/**
 * The durable webhook receiver: Telegram POSTs an update, the receiver checks the secret
 * token, stores the update in the inbox and answers 200. Handling happens later, elsewhere
 * (the dispatcher), so the answer is fast and Telegram rarely re-sends; when it does (a slow
 * answer, a lost connection), the inbox ignores the known `update_id`.
 *
 * The receiver is a Hono app with its own listener around the shared core (`ingest.ts`), which
 * decides every answer; the framework adapters (`adapters/`) use the same core. See there for
 * the status codes and why.
 *
 * @module
 */
import { Hono } from "hono";
import { redactSecrets, UnlostError } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { InboxStore } from "../../store/index.js";
import { fetchDelivery, toResponse } from "./adapters/fetch.js";
import { createWebhookIngest, type WebhookReceiverStats } from "./ingest.js";
import { gracefulServer, type ListenOptions, type Listening } from "./listener.js";
import { loggableError } from "./logging.js";

export { DEFAULT_MAX_BODY_BYTES, SECRET_TOKEN_HEADER, parseUpdate, type WebhookReceiverStats } from "./ingest.js";

/** Default path of the webhook endpoint. */
export const DEFAULT_WEBHOOK_PATH = "/telegram/webhook";

/** Options of {@link createWebhookReceiver}. */
export interface WebhookReceiverOptions {
  /** Where updates are stored; only `ingest` is used (so a wrapper is easy to pass). */
  readonly inbox: Pick<InboxStore, "ingest">;
  /** The secret registered with `setWebhook` (see `webhookSecret`); validated. */
  readonly secretToken: string;
  /** The endpoint's path; default `/telegram/webhook`. */
  readonly path?: string;
  /** Larger bodies get 413 without being read; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Where warnings (bad secrets) and store failures are logged. */
  readonly logger: Logger;
  /** Called after an ingest that stored new updates, e.g. to wake the dispatcher. Must not throw. */
  readonly onIngested?: (inserted: number) => void;
  /**
   * Resolves when what was stored may be acknowledged (see `acknowledgeGate`): a 200 makes
   * Telegram forget the update, so it is answered only after this; a rejection answers 500.
   * Default: at once (the commit alone).
   */
  readonly acknowledge?: () => Promise<void>;
  /** The arrival time recorded in the inbox (ms epoch); default the store's clock. */
  readonly clock?: () => number;
  /** How long `close()` waits for requests in progress before cutting connections; default 10 000 ms. */
  readonly closeTimeoutMs?: number;
}

/** A webhook receiver. */
export interface WebhookReceiver {
  /** The Hono app: mount it in your own server, or call `app.request()` / `app.fetch` directly. */
  readonly app: Hono;
  /** The endpoint's path. */
  readonly path: string;
  /** Serves the app on a port (node:http). Call at most once. */
  listen(options?: ListenOptions): Promise<Listening>;
  /**
   * Stops accepting connections, answers 503 to new requests on open connections (Telegram
   * re-sends them later), waits for requests in progress (their ingest included) and resolves.
   * Idempotent. Close the store only after this resolves.
   */
  close(): Promise<void>;
  /** A snapshot of the counters. */
  stats(): WebhookReceiverStats;
}

/**
 * Creates the webhook receiver.
 *
 * @example
 * ```ts
 * const secretToken = await webhookSecret(store.state);
 * const receiver = createWebhookReceiver({ inbox: store.inbox, secretToken, logger, onIngested: wake });
 * await receiver.listen({ port: 8080, host: "0.0.0.0" });
 * await registerWebhook(bot.api, { url: "https://bot.example.com/telegram/webhook", secretToken });
 * // on shutdown: await receiver.close(); await store.close();
 * ```
 * @throws UnlostError `INVALID_CONFIG` for a secret that breaks Telegram's rule, a path not
 * starting with `/`, or a non-positive body limit.
 */
export function createWebhookReceiver(options: WebhookReceiverOptions): WebhookReceiver {
  const path = validatePath(options.path ?? DEFAULT_WEBHOOK_PATH);
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  const core = createWebhookIngest(options);
  const log = options.logger.child({ component: "webhook" });

  const app = new Hono();
  const server = gracefulServer((request) => Promise.resolve(app.fetch(request)));

  // While closing, answers end their connection so the process can exit.
  app.use("*", async (c, next) => {
    await next();
    if (server.closing || core.closing) c.header("Connection", "close");
  });
  app.all(path, async (c) => toResponse(await core.handle(fetchDelivery(c.req.raw))));
  app.notFound((c) => c.text("Not Found", 404));
  app.onError((error, c) => {
    log.error({ err: loggableError(error, (text) => redactSecrets(text, [options.secretToken])) }, "webhook request failed");
    return c.text("Internal Server Error", 500);
  });

  let closed: Promise<void> | undefined;
  return {
    app,
    path,
    listen: (listenOptions = {}) => server.listen(listenOptions, path),
    close: () => (closed ??= Promise.all([core.close(closeTimeoutMs), server.close(closeTimeoutMs)]).then(() => undefined)),
    stats: () => core.stats(),
  };
}

function validatePath(path: string): string {
  if (!path.startsWith("/")) throw new UnlostError("INVALID_CONFIG", `The webhook path must start with "/", got ${JSON.stringify(path)}.`);
  return path;
}
