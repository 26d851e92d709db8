/**
 * The durable webhook receiver: Telegram's deliveries go straight into the inbox (deduplicated
 * on `update_id`) and are answered 200 once stored; framework adapters (Express, fastify,
 * Hono, node:http, std/http) around the same core; plus registering the webhook with a
 * persisted secret and switching back to polling without losing pending updates.
 *
 * @module
 */
export {
  createWebhookReceiver,
  parseUpdate,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_WEBHOOK_PATH,
  SECRET_TOKEN_HEADER,
  type WebhookReceiver,
  type WebhookReceiverOptions,
  type WebhookReceiverStats,
} from "./receiver.js";
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
