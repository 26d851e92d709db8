/**
 * The durable webhook receiver: Telegram POSTs an update, the receiver checks the secret
 * token, stores the update in the inbox and answers 200. Handling happens later, elsewhere
 * (the dispatcher), so the answer is fast and Telegram rarely re-sends; when it does (a slow
 * answer, a lost connection), the inbox ignores the known `update_id`.
 *
 * Status codes are chosen for what Telegram does with them: 200 forgets the update, anything
 * else makes it retry later. So a store failure answers 500 (the update is not stored: retry),
 * and a closing receiver 503 (the next process or getUpdates gets it).
 *
 * An authenticated body that is JSON but not a storable update (no valid `update_id`) is kept
 * as an unstorable dead letter with its text and answered 200: Telegram never sends one, and
 * answering 400 would make whatever sent it (a local Bot API server's bug, a proxy) re-send it
 * forever, holding up the updates behind it. A body that is not JSON at all is answered 400:
 * it is no update, from Telegram or anyone (a cut body never reaches here: HTTP framing).
 *
 * @module
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { redactSecrets, UnlostError } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import { unstorableReason, type InboxStore, type RawUpdate } from "../../store/index.js";
import { gracefulServer, type ListenOptions, type Listening } from "./listener.js";
import { secretsMatch, validateSecretToken } from "./secret.js";
import { createWarningThrottle, loggableError } from "./logging.js";

/** The header Telegram sends the webhook's secret token in. */
export const SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token";

/** Default path of the webhook endpoint. */
export const DEFAULT_WEBHOOK_PATH = "/telegram/webhook";

/** Default body limit: 1 MiB. Telegram's updates are a few KiB; anything near this is not one. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

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

/** Counters of a receiver since it was created. */
export interface WebhookReceiverStats {
  /** Authenticated, well-formed updates received (re-sent ones included). */
  readonly received: number;
  /** Updates stored for the first time. */
  readonly inserted: number;
  /** Re-sent updates whose `update_id` was already stored (answered 200, ignored). */
  readonly duplicates: number;
  /** Requests refused: bad secret (401), not JSON (400), too large (413), wrong method (405), closing (503). */
  readonly rejected: number;
  /** Authenticated JSON bodies without a valid `update_id`, kept as unstorable dead letters (answered 200). */
  readonly unstorable: number;
  /** Updates that could not be stored (answered 500; Telegram re-sends them). */
  readonly failed: number;
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

/** A counter snapshot under construction. */
type Counters = { -readonly [K in keyof WebhookReceiverStats]: number };

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
  const secretToken = validateSecretToken(options.secretToken);
  const path = validatePath(options.path ?? DEFAULT_WEBHOOK_PATH);
  const maxBodyBytes = validateLimit(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const { inbox, logger } = options;
  const log = logger.child({ component: "webhook" });
  const clean = (text: string): string => redactSecrets(text, [secretToken]);
  const counters: Counters = { received: 0, inserted: 0, duplicates: 0, rejected: 0, unstorable: 0, failed: 0 };
  const authWarning = createWarningThrottle(log, 60_000);

  // The update is stored by the time this runs: a failing wake-up must not turn into a 500.
  const notify = (inserted: number): void => {
    try {
      options.onIngested?.(inserted);
    } catch (error) {
      log.error({ err: loggableError(error, clean) }, "onIngested threw; the update is stored and will be handled on the next wake-up");
    }
  };

  const reject = (c: Context, status: 400 | 401 | 405 | 413 | 503, message: string): Response => {
    counters.rejected++;
    return c.text(message, status);
  };

  const app = new Hono();
  const server = gracefulServer((request) => Promise.resolve(app.fetch(request)));

  // While closing, answers end their connection so the process can exit.
  app.use("*", async (c, next) => {
    await next();
    if (server.closing) c.header("Connection", "close");
  });

  app.post(
    path,
    async (c, next) => {
      if (server.closing) {
        c.header("Retry-After", "1");
        return reject(c, 503, "The bot is shutting down; send again later.");
      }
      // The secret is checked before the body is read: strangers cost no parsing.
      const given = c.req.header(SECRET_TOKEN_HEADER);
      if (!secretsMatch(secretToken, given)) {
        authWarning(given === undefined ? "missing secret token" : "wrong secret token", { path });
        return reject(c, 401, `Unauthorized: the ${SECRET_TOKEN_HEADER} header is missing or wrong.`);
      }
      return next();
    },
    bodyLimit({ maxSize: maxBodyBytes, onError: (c) => reject(c, 413, `Payload Too Large: the limit is ${maxBodyBytes} bytes.`) }),
    async (c) => {
      const body = await c.req.text();
      const parsed = parseUpdate(body);
      if (typeof parsed === "string") {
        const error = parsed === NOT_JSON ? undefined : unstorableReason(JSON.parse(body));
        if (error === undefined) return reject(c, 400, `Bad Request: ${parsed}`);
        return keepUnstorable(c, body, error);
      }
      counters.received++;
      try {
        const result = await inbox.ingest([parsed], options.clock === undefined ? {} : { now: options.clock() });
        counters.inserted += result.inserted;
        counters.duplicates += result.duplicates;
        if (result.duplicates > 0) log.debug({ updateId: parsed.update_id }, "re-sent update ignored (already stored)");
        if (result.inserted > 0) notify(result.inserted);
        // Re-sent updates too: their first copy may have been stored but not flushed yet.
        await options.acknowledge?.();
      } catch (error) {
        counters.failed++;
        log.error({ err: loggableError(error, clean), updateId: parsed.update_id }, "webhook update could not be stored; answering 500 so Telegram re-sends it");
        return c.text("Internal Server Error: the update could not be stored.", 500);
      }
      return c.text("OK", 200);
    },
  );
  /** Keeps an authenticated JSON body that is no storable update as a dead letter; 200 unless the store fails. */
  async function keepUnstorable(c: Context, body: string, error: string): Promise<Response> {
    try {
      const result = await inbox.ingest([], { unstorable: [{ raw: body, error }], ...(options.clock === undefined ? {} : { now: options.clock() }) });
      counters.unstorable += result.unstorable ?? 0;
      log.error({ error, newDeadLetter: (result.unstorable ?? 0) > 0 }, 'a webhook body that is no storable update was kept as a dead letter ("unlost dead-letters list --type unstorable") and answered 200 so that it is not re-sent');
    } catch (storeError) {
      counters.failed++;
      log.error({ err: loggableError(storeError, clean) }, "an unstorable webhook body could not be kept; answering 500 so it is re-sent");
      return c.text("Internal Server Error: the update could not be stored.", 500);
    }
    return c.text("OK", 200);
  }

  app.all(path, (c) => {
    c.header("Allow", "POST");
    return reject(c, 405, "Method Not Allowed: the webhook accepts POST only.");
  });
  app.notFound((c) => c.text("Not Found", 404));
  app.onError((error, c) => {
    counters.failed++;
    log.error({ err: loggableError(error, clean) }, "webhook request failed");
    return c.text("Internal Server Error", 500);
  });

  return {
    app,
    path,
    listen: (listenOptions = {}) => server.listen(listenOptions, path),
    close: () => server.close(options.closeTimeoutMs ?? 10_000),
    stats: () => ({ ...counters }),
  };
}

const NOT_JSON = "the body is not valid JSON.";

/** The update in `body`, or why it is not one (a message for a 400 answer, or a dead letter's). */
export function parseUpdate(body: string): RawUpdate | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return NOT_JSON;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the body must be a JSON object (one Telegram update).";
  const id: unknown = (value as Record<string, unknown>)["update_id"];
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) return 'the update has no non-negative integer "update_id".';
  return value as RawUpdate;
}

function validatePath(path: string): string {
  if (!path.startsWith("/")) throw new UnlostError("INVALID_CONFIG", `The webhook path must start with "/", got ${JSON.stringify(path)}.`);
  return path;
}

function validateLimit(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UnlostError("INVALID_CONFIG", `maxBodyBytes must be a positive integer number of bytes, got ${String(bytes)}.`);
  }
  return bytes;
}
