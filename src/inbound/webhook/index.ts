/**
 * The durable webhook receiver: Telegram's deliveries go straight into the inbox (deduplicated
 * on `update_id`) and are answered 200 at once; plus registering the webhook with a persisted
 * secret and switching back to polling without losing pending updates.
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
