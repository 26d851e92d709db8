/**
 * The durable webhook receiver: Telegram's deliveries go straight into the inbox (deduplicated
 * on `update_id`) and are answered 200 once stored; framework adapters (Express, fastify,
 * Hono, node:http, std/http) around the same core; plus registering the webhook with a
 * persisted secret and switching back to polling without losing pending updates.
 *
 * @module
 */
// The receiver (Hono) is imported by path where it is used (`./receiver.js`), so that this
// index does not load Hono into every process.
export type { WebhookReceiver, WebhookReceiverOptions, WebhookReceiverStats } from "./receiver.js";
export { DEFAULT_MAX_BODY_BYTES, SECRET_TOKEN_HEADER, parseUpdate } from "./ingest.js";
export type { ListenOptions, Listening } from "./listener.js";
export {
  createWebhookIngest,
  serviceUnavailable,
  type WebhookAnswer,
  type WebhookBody,
  type WebhookDelivery,
  type WebhookHandle,
  type WebhookIngest,
  type WebhookIngestOptions,
  type WebhookStatus,
} from "./ingest.js";
export {
  webhookAdapter,
  WEBHOOK_ADAPTERS,
  type ExpressRequestLike,
  type ExpressWebhookHandler,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type FastifyWebhookHandler,
  type HonoContextLike,
  type HonoWebhookHandler,
  type HttpWebhookHandler,
  type StdHttpWebhookHandler,
  type WebhookAdapterName,
  type WebhookHandlers,
} from "./adapters/index.js";
export { registerWebhook, unregisterWebhook, type RegisterWebhookOptions } from "./register.js";
export {
  generateSecretToken,
  secretsMatch,
  validateSecretToken,
  webhookSecret,
  SECRET_TOKEN_PATTERN,
  WEBHOOK_SECRET_KEY,
  type WebhookSecretOptions,
} from "./secret.js";
