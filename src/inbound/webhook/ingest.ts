/**
 * The framework-independent half of the webhook: what a delivery is answered, whatever server
 * it came through. The Hono receiver (`createWebhookReceiver`) and every framework adapter
 * (`runtime.webhookCallback("express" | ...)`) turn their request into a
 * {@link WebhookDelivery}, call {@link WebhookIngest.handle}, and write the
 * {@link WebhookAnswer} back. So the secret check, the body limit, the parsing, the durable
 * ingest and the status codes are the same everywhere.
 *
 * Status codes are chosen for what Telegram does with them: 200 forgets the update, anything
 * else makes it retry later. So a store failure answers 500 (the update is not stored: retry),
 * and a closing endpoint 503 (the next process or getUpdates gets it).
 *
 * An authenticated body that is JSON but not a storable update (no valid `update_id`) is kept
 * as an unstorable dead letter with its text and answered 200: Telegram never sends one, and
 * answering 400 would make whatever sent it (a local Bot API server's bug, a proxy) re-send it
 * forever, holding up the updates behind it. A body that is not JSON at all is answered 400:
 * it is no update, from Telegram or anyone (a cut body never reaches here: HTTP framing).
 *
 * @module
 */
import { redactSecrets, UnlostError } from "../../errors/index.js";
import type { Logger } from "../../runtime/logger.js";
import { unstorableReason, type InboxStore, type RawUpdate } from "../../store/index.js";
import { createWarningThrottle, loggableError } from "./logging.js";
import { secretsMatch, validateSecretToken } from "./secret.js";

/** The header Telegram sends the webhook's secret token in. */
export const SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token";

/** Default body limit: 1 MiB. Telegram's updates are a few KiB; anything near this is not one. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * The body of a delivery as an adapter read it: its text (the common case: the raw bytes,
 * decoded as UTF-8), a value a framework already parsed (`express.json()`, fastify's JSON
 * parser), or `too-large` when reading stopped at the limit.
 */
export type WebhookBody =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "value"; readonly value: unknown }
  | { readonly kind: "too-large" };

/** One HTTP request to the webhook, as a framework adapter sees it. */
export interface WebhookDelivery {
  /** The HTTP method; only `POST` is accepted. */
  readonly method: string;
  /** The value of the `X-Telegram-Bot-Api-Secret-Token` header, if present. */
  readonly secretToken: string | undefined;
  /**
   * The declared `Content-Length`, if any (not with `Transfer-Encoding`): a larger one is
   * answered 413 without reading the body.
   */
  readonly contentLength: number | undefined;
  /**
   * Reads the body, stopping (`too-large`) once more than `maxBytes` arrived. Called at most
   * once, and only after the secret matched: strangers cost no reading or parsing.
   */
  readBody(maxBytes: number): Promise<WebhookBody>;
}

/** The HTTP status codes a delivery can be answered with. */
export type WebhookStatus = 200 | 400 | 401 | 405 | 413 | 500 | 503;

/** The answer to a delivery, for an adapter to write back. */
export interface WebhookAnswer {
  /** The status code (see the module's doc for what Telegram does with each). */
  readonly status: WebhookStatus;
  /** A short plain-text body saying why (never the secret). */
  readonly text: string;
  /** Extra headers: `Allow` with 405, `Retry-After` with 503, `Connection: close` with 413. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Answers one delivery; never rejects. */
export type WebhookHandle = (delivery: WebhookDelivery) => Promise<WebhookAnswer>;

/** Options of {@link createWebhookIngest}. */
export interface WebhookIngestOptions {
  /** Where updates are stored; only `ingest` is used (so a wrapper is easy to pass). */
  readonly inbox: Pick<InboxStore, "ingest">;
  /** The secret registered with `setWebhook` (see `webhookSecret`); validated. */
  readonly secretToken: string;
  /** Larger bodies get 413; default 1 MiB. */
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
}

/** Counters of a webhook endpoint since it was created. */
export interface WebhookReceiverStats {
  /** Authenticated, well-formed updates received (re-sent ones included). */
  readonly received: number;
  /** Updates stored for the first time. */
  readonly inserted: number;
  /** Re-sent updates whose `update_id` was already stored (answered 200, ignored). */
  readonly duplicates: number;
  /**
   * Requests refused: bad secret (401), not JSON or a body that could not be read (400), too
   * large (413), wrong method (405), closing (503).
   */
  readonly rejected: number;
  /** Authenticated JSON bodies without a valid `update_id`, kept as unstorable dead letters (answered 200). */
  readonly unstorable: number;
  /** Updates that could not be stored (answered 500; Telegram re-sends them). */
  readonly failed: number;
}

/** The shared core of every webhook endpoint. */
export interface WebhookIngest {
  /** Answers one delivery: checks, reads, stores durably, wakes; never rejects. */
  readonly handle: WebhookHandle;
  /** True once `close` was called: every delivery is answered 503 (Telegram re-sends it later). */
  readonly closing: boolean;
  /**
   * Answers 503 from now on and resolves once the deliveries in progress are answered (their
   * ingest included), or after `timeoutMs`. Idempotent. Close the store only after this.
   */
  close(timeoutMs: number): Promise<void>;
  /** A snapshot of the counters. */
  stats(): WebhookReceiverStats;
}

/** A counter snapshot under construction. */
type Counters = { -readonly [K in keyof WebhookReceiverStats]: number };

const TEXT = "text/plain; charset=UTF-8";

/** A 503 answer: Telegram re-sends the update later. */
export function serviceUnavailable(text: string): WebhookAnswer {
  return { status: 503, text, headers: { "Content-Type": TEXT, "Retry-After": "1" } };
}

function answer(status: WebhookStatus, text: string, headers: Readonly<Record<string, string>> = {}): WebhookAnswer {
  return { status, text, headers: { "Content-Type": TEXT, ...headers } };
}

/**
 * Creates the shared core of a webhook endpoint.
 *
 * @throws UnlostError `INVALID_CONFIG` for a secret that breaks Telegram's rule or a
 * non-positive body limit.
 */
export function createWebhookIngest(options: WebhookIngestOptions): WebhookIngest {
  const secretToken = validateSecretToken(options.secretToken);
  const maxBodyBytes = validateLimit(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const { inbox } = options;
  const log = options.logger.child({ component: "webhook" });
  const clean = (text: string): string => redactSecrets(text, [secretToken]);
  const counters: Counters = { received: 0, inserted: 0, duplicates: 0, rejected: 0, unstorable: 0, failed: 0 };
  const authWarning = createWarningThrottle(log, 60_000);
  const now = (): { now?: number } => (options.clock === undefined ? {} : { now: options.clock() });
  let closing = false;
  let closed: Promise<void> | undefined;
  let inFlight = 0;
  const drainWaiters: Array<() => void> = [];

  // The update is stored by the time this runs: a failing wake-up must not turn into a 500.
  const notify = (inserted: number): void => {
    try {
      options.onIngested?.(inserted);
    } catch (error) {
      log.error({ err: loggableError(error, clean) }, "onIngested threw; the update is stored and will be handled on the next wake-up");
    }
  };

  const reject = (status: 400 | 401 | 405 | 413 | 503, text: string, headers: Readonly<Record<string, string>> = {}): WebhookAnswer => {
    counters.rejected++;
    return status === 503 ? serviceUnavailable(text) : answer(status, text, headers);
  };
  const tooLarge = (): WebhookAnswer => reject(413, `Payload Too Large: the limit is ${maxBodyBytes} bytes.`, { Connection: "close" });
  const storeFailed = (): WebhookAnswer => answer(500, "Internal Server Error: the update could not be stored.");

  async function respond(delivery: WebhookDelivery): Promise<WebhookAnswer> {
    if (delivery.method.toUpperCase() !== "POST") return reject(405, "Method Not Allowed: the webhook accepts POST only.", { Allow: "POST" });
    if (closing) return reject(503, "The bot is shutting down; send again later.");
    // The secret is checked before the body is read: strangers cost no reading or parsing.
    const given = delivery.secretToken;
    if (!secretsMatch(secretToken, given)) {
      authWarning(given === undefined ? "missing secret token" : "wrong secret token");
      return reject(401, `Unauthorized: the ${SECRET_TOKEN_HEADER} header is missing or wrong.`);
    }
    if (delivery.contentLength !== undefined && delivery.contentLength > maxBodyBytes) return tooLarge();
    let body: WebhookBody;
    try {
      body = await delivery.readBody(maxBodyBytes);
    } catch (error) {
      log.warn({ err: loggableError(error, clean) }, "a webhook body could not be read (the sender went away?); answering 400");
      return reject(400, "Bad Request: the body could not be read.");
    }
    if (body.kind === "too-large") return tooLarge();
    let update: RawUpdate;
    if (body.kind === "text") {
      const parsed = parseUpdate(body.text);
      if (typeof parsed === "string") {
        const error = parsed === NOT_JSON ? undefined : unstorableReason(JSON.parse(body.text));
        if (error === undefined) return reject(400, `Bad Request: ${parsed}`);
        return keepUnstorable(body.text, error);
      }
      update = parsed;
    } else {
      // Parsed by the framework (express.json(), fastify): the same rules, on the value.
      const error = unstorableReason(body.value);
      if (error !== undefined) return keepUnstorable(JSON.stringify(body.value) ?? String(body.value), error);
      update = body.value as RawUpdate;
    }
    return store(update);
  }

  async function store(update: RawUpdate): Promise<WebhookAnswer> {
    counters.received++;
    try {
      const result = await inbox.ingest([update], now());
      counters.inserted += result.inserted;
      counters.duplicates += result.duplicates;
      if (result.duplicates > 0) log.debug({ updateId: update.update_id }, "re-sent update ignored (already stored)");
      if (result.inserted > 0) notify(result.inserted);
      // Re-sent updates too: their first copy may have been stored but not flushed yet.
      await options.acknowledge?.();
    } catch (error) {
      counters.failed++;
      log.error({ err: loggableError(error, clean), updateId: update.update_id }, "webhook update could not be stored; answering 500 so Telegram re-sends it");
      return storeFailed();
    }
    return answer(200, "OK");
  }

  /** Keeps an authenticated JSON body that is no storable update as a dead letter; 200 unless the store fails. */
  async function keepUnstorable(raw: string, error: string): Promise<WebhookAnswer> {
    try {
      const result = await inbox.ingest([], { unstorable: [{ raw, error }], ...now() });
      counters.unstorable += result.unstorable ?? 0;
      log.error({ error, newDeadLetter: (result.unstorable ?? 0) > 0 }, 'a webhook body that is no storable update was kept as a dead letter ("unlost dead-letters list --type unstorable") and answered 200 so that it is not re-sent');
      await options.acknowledge?.();
    } catch (storeError) {
      counters.failed++;
      log.error({ err: loggableError(storeError, clean) }, "an unstorable webhook body could not be kept; answering 500 so it is re-sent");
      return storeFailed();
    }
    return answer(200, "OK");
  }

  const handle: WebhookHandle = async (delivery) => {
    inFlight++;
    try {
      return await respond(delivery);
    } catch (error) {
      // Nothing above should throw; if it does, Telegram re-sends.
      counters.failed++;
      log.error({ err: loggableError(error, clean) }, "webhook request failed");
      return answer(500, "Internal Server Error");
    } finally {
      inFlight--;
      if (inFlight === 0) for (const wake of drainWaiters.splice(0)) wake();
    }
  };

  return {
    handle,
    get closing() {
      return closing;
    },
    close(timeoutMs) {
      if (closed !== undefined) return closed;
      closing = true;
      closed = new Promise<void>((resolve) => {
        if (inFlight === 0) return resolve();
        drainWaiters.push(resolve);
        // A sender that never finishes its body must not hold the shutdown forever.
        setTimeout(resolve, timeoutMs).unref();
      });
      return closed;
    },
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

function validateLimit(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UnlostError("INVALID_CONFIG", `maxBodyBytes must be a positive integer number of bytes, got ${String(bytes)}.`);
  }
  return bytes;
}
