/**
 * Every setting the `unlost` command line understands, in one table: its key in the config
 * file, its flag, its environment variable, its type, its default and what it means. The
 * loader, the help texts and docs/configuration.md all follow this table, so a setting cannot
 * exist in one place and be missing in another.
 *
 * Keys with a dot are `createRuntime` options (`inbox.concurrency` is
 * `RuntimeOptions.inbox.concurrency`): the runtime stays the single source of truth for their
 * ranges and defaults; this table only says how to spell them outside code.
 *
 * @module
 */

/** How a setting's text (from a flag or an environment variable) becomes a value. */
export type SettingKind = "string" | "url" | "int" | "bool" | "ids" | "level" | "mode" | "synchronous" | "durability";

/** One row of the settings table. */
export interface Setting {
  /** Key in the config file, dotted for nested runtime options (e.g. `inbox.concurrency`). */
  readonly key: string;
  /** Flag of `unlost run` (and of the other commands when `everywhere`), without `--`. */
  readonly flag?: string;
  /** Environment variable. */
  readonly env?: string;
  /** Type of the value. */
  readonly kind: SettingKind;
  /** The default, as shown in docs. */
  readonly defaultText: string;
  /** One sentence: what it changes. */
  readonly meaning: string;
  /** True for settings every command reads (data dir, API root); false for `run` only. */
  readonly everywhere?: boolean;
}

/** The levels pino understands (and `--log-level` accepts). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The settings table (see docs/configuration.md, which mirrors it). */
export const SETTINGS: readonly Setting[] = [
  { key: "dataDir", flag: "data", env: "UNLOST_DATA_DIR", kind: "string", defaultText: "./data", meaning: "folder of the store (unlost.sqlite) and its blobs", everywhere: true },
  { key: "storeUrl", flag: "store", env: "UNLOST_STORE", kind: "string", defaultText: "SQLite in the data folder", meaning: "a PostgreSQL URL (postgres://user:password@host/db): the store lives there instead of SQLite in the data folder (several processes may share it)", everywhere: true },
  { key: "store.schema", flag: "schema", env: "UNLOST_STORE_SCHEMA", kind: "string", defaultText: "unlost", meaning: "the PostgreSQL schema of the store (with --store): one database can hold several bots, a schema each", everywhere: true },
  { key: "apiRoot", flag: "api-root", env: "UNLOST_API_ROOT", kind: "url", defaultText: "https://api.telegram.org", meaning: "Bot API server: the emulator or a local Bot API server", everywhere: true },
  { key: "logLevel", flag: "log-level", env: "UNLOST_LOG_LEVEL", kind: "level", defaultText: "info (or LOG_LEVEL)", meaning: "least severe log level written (JSON lines on stdout)" },
  { key: "mode", env: "UNLOST_MODE", kind: "mode", defaultText: "polling (webhook when a webhook URL is set)", meaning: "how updates arrive: polling or webhook", everywhere: true },
  { key: "webhook.url", flag: "webhook", env: "UNLOST_WEBHOOK_URL", kind: "url", defaultText: "none", meaning: "public HTTPS URL Telegram posts updates to; setting it selects webhook mode", everywhere: true },
  { key: "webhook.port", flag: "port", env: "UNLOST_WEBHOOK_PORT", kind: "int", defaultText: "8080", meaning: "port of the local webhook receiver" },
  { key: "webhook.host", flag: "host", env: "UNLOST_WEBHOOK_HOST", kind: "string", defaultText: "0.0.0.0", meaning: "interface of the local webhook receiver" },
  { key: "webhook.secretToken", env: "UNLOST_WEBHOOK_SECRET", kind: "string", defaultText: "generated once, kept in the store", meaning: "secret Telegram sends with every webhook request" },
  { key: "polling.timeoutSeconds", env: "UNLOST_POLLING_TIMEOUT", kind: "int", defaultText: "30", meaning: "long-poll timeout of getUpdates, seconds (0–50)" },
  { key: "inbox.concurrency", flag: "concurrency", env: "UNLOST_CONCURRENCY", kind: "int", defaultText: "256", meaning: "updates handled at once, each from a different chat" },
  { key: "inbox.maxAttempts", flag: "max-attempts", env: "UNLOST_MAX_ATTEMPTS", kind: "int", defaultText: "5", meaning: "tries of a failing handler before the update becomes a dead letter" },
  { key: "inbox.handlerTimeoutMs", flag: "handler-timeout", env: "UNLOST_HANDLER_TIMEOUT_MS", kind: "int", defaultText: "300000 (5 min)", meaning: "how long one try of a handler may run before it counts as failed (retried or dead-lettered) and its chat goes on, ms; 0: no limit" },
  { key: "catchUp.notifyOffline", flag: "notify-offline", env: "UNLOST_NOTIFY_OFFLINE", kind: "bool", defaultText: "false", meaning: "tell users once that the bot was offline and their message is handled now" },
  { key: "catchUp.dropOlderThanMs", env: "UNLOST_DROP_OLDER_THAN_MS", kind: "int", defaultText: "never", meaning: "skip updates older than this after a downtime, ms" },
  { key: "downtime.adminChatIds", flag: "admin", env: "UNLOST_ADMIN_CHAT_IDS", kind: "ids", defaultText: "none", meaning: "comma-separated chat ids alerted after a long outage or a burst of failed sends" },
  { key: "outbox.concurrency", env: "UNLOST_OUTBOX_CONCURRENCY", kind: "int", defaultText: "32", meaning: "outgoing requests in flight at once" },
  { key: "shutdown.deadlineMs", flag: "shutdown-deadline", env: "UNLOST_SHUTDOWN_DEADLINE_MS", kind: "int", defaultText: "10000", meaning: "how long in-flight handlers may finish after SIGINT/SIGTERM, ms" },
  { key: "durability", flag: "durability", env: "UNLOST_DURABILITY", kind: "durability", defaultText: "disk", meaning: "disk: nothing is acknowledged (getUpdates offset, webhook 200, send) before it is flushed to disk, so power loss loses nothing; process: acknowledged once committed, which survives a crash of the bot but not of the machine" },
  { key: "admin.port", flag: "admin-port", env: "UNLOST_ADMIN_PORT", kind: "int", defaultText: "none (no admin server)", meaning: "port of the admin server: Prometheus /metrics, /healthz, /readyz and the operator's API (docs/operations.md); the token comes from UNLOST_ADMIN_TOKEN" },
  { key: "admin.host", flag: "admin-host", env: "UNLOST_ADMIN_HOST", kind: "string", defaultText: "127.0.0.1", meaning: "interface of the admin server (0.0.0.0 only behind a firewall or with a token)" },
  { key: "store.synchronous", env: "UNLOST_SYNCHRONOUS", kind: "synchronous", defaultText: "normal", meaning: "full: SQLite fsyncs inside every commit, on the main thread (rarely needed: acknowledgements are flushed anyway with durability disk)" },
];

/** The sections of `createRuntime` options a config file may hold (validated by the runtime). */
export const RUNTIME_SECTIONS = ["mode", "polling", "webhook", "inbox", "catchUp", "outbox", "downtime", "shutdown", "store", "admin", "alerts"] as const;

/**
 * Variables read elsewhere than through the table: secrets, which have no flag and no file key
 * (`UNLOST_ADMIN_TOKEN` is read by the runtime's admin server itself).
 */
export const SECRET_VARIABLES = ["UNLOST_ADMIN_TOKEN"] as const;
