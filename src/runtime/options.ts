/**
 * The runtime's options: every field optional, every default resolved once here, every bad
 * value rejected here with a message that says which option, what was wrong and what to do.
 */
import { z } from "zod";
import { adminOptionsSchema, type AdminOptions } from "../admin/options.js";
import { alertOptionsSchema, type AlertOptions } from "../admin/alerts/options.js";
import { UnlostError } from "../errors/index.js";
import { resolveCatchUpOptions, type CatchUpOptions } from "../inbound/catch-up/index.js";
import type { OutboxDefaults } from "../outbound/outbox.js";
import type { PacingLimits } from "../outbound/pacing.js";
import type { PostgresStoreOptions, Store } from "../store/index.js";
import type { Logger } from "./logger.js";

/** Options of {@link createRuntime}. Every field is optional; defaults are in each field's doc. */
export interface RuntimeOptions {
  /**
   * Where unlost keeps its data: an open {@link Store}, SQLite options, or a PostgreSQL URL
   * (`"postgres://user:pass@host/db"`, or `{ url, schema, poolSize, ssl }`). Default: SQLite at
   * `./data/unlost.sqlite`.
   */
  store?: Store | string | {
    path?: string;
    synchronous?: "normal" | "full";
    busyTimeoutMs?: number;
    /** Keep no message payloads in the outbox's audit log (only who, when, which method, result). Default false. */
    auditRedaction?: boolean;
  } | {
    /** A PostgreSQL URL: the store is there (see docs/postgres.md). A string `store` is the same. */
    url: string;
    /** The schema of unlost's tables. Default `unlost`. */
    schema?: string;
    /** Connections in this process's pool. Default 10. */
    poolSize?: number;
    /** TLS options passed to `pg` (`true`, or node:tls options). Default: what the URL says. */
    ssl?: PostgresStoreOptions["ssl"];
    /** How long to wait for a connection, ms. Default 10 000. */
    connectTimeoutMs?: number;
    /** As for SQLite. */
    auditRedaction?: boolean;
  };
  /**
   * What "acknowledged" survives. `"disk"` (default): nothing is acknowledged to the outside
   * (the getUpdates that confirms a batch, a webhook's 200, a resolved `outbox.send` or
   * `broadcast`) before it is on stable storage, so an OS crash or power cut loses nothing
   * Telegram or a caller was told is safe; one flush per batch, off the main thread.
   * `"process"`: acknowledged once committed, which survives a killed or crashed process but
   * not an OS crash or power cut (the last second or so of acknowledged updates and sends may
   * be gone). See docs/guarantees.md.
   */
  durability?: "disk" | "process";
  /** How updates arrive. Default `"polling"`. */
  mode?: "polling" | "webhook";
  /** Long polling. */
  polling?: {
    /** Updates per getUpdates, 1–100. Default 100. */
    limit?: number;
    /** Long-poll timeout, seconds, 0–50. Default 30. */
    timeoutSeconds?: number;
    /** Update types to receive. Default: Telegram's setting is kept. */
    allowedUpdates?: readonly string[];
    /** Lifetime of the store lease that makes one instance the poller, ms. Default 60 000. */
    leaseTtlMs?: number;
    /**
     * How getUpdates is called. `lean` (default): unlost's own keep-alive HTTP client, which
     * keeps the answer's text for the journal — used only when the bot's API client has no
     * custom fetch, URL builder, fetch options or API transformers; otherwise, and with
     * `grammy`, through `bot.api.getUpdates`.
     */
    client?: "lean" | "grammy";
  };
  /** Webhook mode (with `mode: "webhook"`). */
  webhook?: {
    /** The public HTTPS URL Telegram posts to (registered with setWebhook). */
    url: string;
    /**
     * Serve the webhook on a listener of the runtime's own (`port`, `host`, `path`). Default
     * true. `false`: no listener; mount `runtime.webhookCallback("express" | "fastify" | "hono" |
     * "http" | "std/http")` in your own server at the path of `url` instead (same secret check,
     * durable ingest and status codes). `port`, `host` and `path` are then refused.
     */
    listen?: boolean;
    /** Port of the local receiver. Default 8080. */
    port?: number;
    /** Interface of the local receiver. Default `0.0.0.0`. */
    host?: string;
    /** Path of the receiver. Default: the path of `url`. */
    path?: string;
    /** Larger request bodies are answered 413 (Telegram's updates are a few KiB), bytes. Default 1 MiB. */
    maxBodyBytes?: number;
    /** Secret checked on every request; default: generated once and kept in the store. */
    secretToken?: string;
    /** Telegram's `max_connections`, 1–100. Default 40. */
    maxConnections?: number;
    /** Register the webhook with Telegram on start. Default true. */
    register?: boolean;
  };
  /** Handling of updates. */
  inbox?: {
    /**
     * Updates handled at once, each from a different chat. Default 256 (@grammyjs/runner's is
     * 500): with a backlog, fetched updates go straight to free handler slots.
     */
    concurrency?: number;
    /** Failed tries (the handler threw) before an update becomes a dead letter. Default 5. */
    maxAttempts?: number;
    /**
     * Times an update may kill its process and still be run again; one more and it is a dead
     * letter without running again. "Killed its process" needs evidence: the process died while
     * the update ran *alone* (an update taken over from a dead process runs next isolated from
     * the rest of its process; see docs/guarantees.md, "Poison updates"). Deaths while it ran
     * beside other updates never count, so crashes, deploys and `kill -9` do not dead-letter
     * innocent updates. Default 3: an external kill landing exactly in the moment one update
     * runs alone, four times for the same update, is not a realistic accident. 0 gives up at the
     * first death alone. Kept apart from `maxAttempts` (handlers that throw).
     */
    maxRecoveries?: number;
    /** Delay between tries: `baseMs · 2^(try-1)`, capped at `maxMs`, ± `jitter`. Default 1 000 / 60 000 / 0.2. */
    backoff?: { baseMs?: number; maxMs?: number; jitter?: number };
    /** Claim lease, ms; a dead process's updates are taken over after it. Default 30 000. */
    leaseMs?: number;
    /**
     * How long one try of a handler may run, ms. At the deadline `ctx.unlost.signal` is
     * aborted, the try counts as failed (retried after the backoff, or a dead letter after
     * `maxAttempts`), the chat's next update may start, and whatever the handler completes
     * later is refused. Default 300 000 (5 minutes); 0 turns it off. Independent of `leaseMs`:
     * the lease is renewed while a handler runs, so a long handler keeps its claim until then.
     */
    handlerTimeoutMs?: number;
    /** How long handled updates are kept before pruning, ms. Default 3 days. */
    retentionMs?: number;
    /** How often pruning runs, ms. Default 10 minutes. */
    pruneIntervalMs?: number;
    /** How long the dispatcher sleeps when idle (new updates wake it at once), ms. Default 250. */
    idleMs?: number;
    /**
     * Long polling's fast path: store each fetched batch as one journal record and schedule its
     * updates in memory, writing rows only for updates that fail or are left behind by a
     * crash (see docs/runtime.md). Default true on SQLite; false on PostgreSQL, where one row per
     * update lets every process claim and handle (the journal's updates are handled by the
     * process that polled them). False stores one row per update (slower; every update then
     * visible to `inbox.get`).
     */
    journal?: boolean;
    /**
     * Long polling pauses while this many fetched updates wait to be handled (the rest waits
     * at Telegram, and memory stays bounded). Default 1 000; never below twice `concurrency`.
     */
    maxBuffered?: number;
  };
  /**
   * Catch-up after downtime: the offline notice (en, fa, ru, uz), dropping too-old updates,
   * answering stale button presses. Default: every policy off. See `CatchUpOptions`.
   */
  catchUp?: CatchUpOptions;
  /** The durable outbox: every send of the bot goes through it. */
  outbox?: {
    /** Route the bot's sends through the outbox. Default true. */
    enabled?: boolean;
    /** Requests in flight at once. Default 32. */
    concurrency?: number;
    /** Claim lease of a job, ms (longer than any per-attempt timeout). Default 180 000. */
    leaseMs?: number;
    /** How long the delivery loop sleeps when idle (enqueues wake it at once), ms. Default 250. */
    idleMs?: number;
    /** Flood limits to pace to. Default Telegram's: 30/s per bot, ~1/s per chat, 20/min per group, 1000/s paid. */
    limits?: Partial<PacingLimits>;
    /** Defaults of every send: attempts (5), backoff (2 s doubling to 5 min), per-attempt timeout (30 s; uploads 120 s). */
    defaults?: Partial<OutboxDefaults>;
    /** How long delivered jobs (and their idempotency keys) are kept, ms. Default 3 days. */
    retentionMs?: number;
    /** How long audit entries are kept, ms. Default 30 days. */
    auditRetentionMs?: number;
    /**
     * Alert the admin chats (`downtime.adminChatIds`) when more than this many jobs failed for
     * good within `failureAlertWindowMs`. Default 50.
     */
    failureAlertThreshold?: number;
    /** The window of the failure alert, ms. Default 10 minutes. */
    failureAlertWindowMs?: number;
  };
  /** Downtime tracking. */
  downtime?: {
    /** Offline longer than this alerts the admin chats, ms. Default 24 h. */
    alertAfterMs?: number;
    /** Chats that get downtime alerts. Default none. */
    adminChatIds?: readonly number[];
    /** Heartbeat interval, ms. Default 5 000. */
    heartbeatMs?: number;
  };
  /** Durable tasks (`runtime.tasks`). */
  tasks?: {
    /** How long running tasks may finish after a stop before they are aborted and queued again (no attempt used), ms. Default 10 000. */
    graceMs?: number;
    /** The longest wait before looking for due tasks again (added ones are seen at once), ms. Default 1 000. */
    pollMs?: number;
    /** How long a claim holds without renewal: a dead process's tasks are taken over after it, ms. Default 30 000. */
    leaseMs?: number;
    /** A dead process's claim on a task is taken over at most this many times; then the task is a dead letter (it may be what kills its process). Default 5. */
    maxRecoveries?: number;
    /** Where each task's temp folder goes (`<tmpDir>/<id>`). Default `tasks-tmp` beside the SQLite file, else `./data/tasks-tmp`. */
    tmpDir?: string;
  };
  /** Shutdown. */
  shutdown?: {
    /** How long in-flight handlers may finish after a stop, ms. Default 10 000. */
    deadlineMs?: number;
    /** Stop on SIGINT/SIGTERM (a second signal exits at once). Default true. */
    handleSignals?: boolean;
  };
  /**
   * The admin server: Prometheus `/metrics`, `/healthz`, `/readyz` and the operator's API on
   * `host:port` (127.0.0.1 by default), started and stopped with the runtime. Default: none.
   * See `AdminOptions` and docs/operations.md.
   */
  admin?: AdminOptions;
  /**
   * Operator alerts to `downtime.adminChatIds` (high priority) and the log, each with a
   * cool-down and a "resolved" message: memory (RSS), free disk at the store's folder, a slow or
   * failing store, the backlog's age, nobody polling. Default: off; `{}` switches them on with the documented
   * thresholds. See `AlertOptions` and docs/operations.md.
   */
  alerts?: AlertOptions;
  /** A pino logger; default a JSON logger on stdout at `LOG_LEVEL` or `info`. */
  logger?: Logger;
  /** The clock (ms epoch). Default `Date.now`; tests pass the emulator's. */
  clock?: () => number;
  /** This process's id in the store (claims, leases). Default `<host>/<pid>/<random>`. */
  instanceId?: string;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const ms = (min = 1) => int(min);

const storeSchema = z.union([
  z.custom<Store>((v) => typeof v === "object" && v !== null && "inbox" in v && "state" in v && "leases" in v, "an open Store"),
  z.string().regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL ("postgres://user:password@host:5432/database"); for SQLite give { path }'),
  z.strictObject({
    kind: z.literal("postgres").optional(),
    url: z.string().regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL ("postgres://user:password@host:5432/database")'),
    schema: z.string().optional(),
    poolSize: int(1, 1_000).optional(),
    ssl: z.custom<PostgresStoreOptions["ssl"]>((v) => v === undefined || typeof v === "boolean" || (typeof v === "object" && v !== null), "true, false or node:tls options").optional(),
    connectTimeoutMs: ms(1).optional(),
    auditRedaction: z.boolean().optional(),
  }),
  z.strictObject({
    kind: z.literal("sqlite").optional(),
    path: z.string().min(1).optional(),
    synchronous: z.enum(["normal", "full"]).optional(),
    busyTimeoutMs: ms(0).optional(),
    auditRedaction: z.boolean().optional(),
  }),
]);

const schema = z.strictObject({
  store: storeSchema.optional(),
  durability: z.enum(["disk", "process"]).default("disk"),
  mode: z.enum(["polling", "webhook"]).default("polling"),
  polling: z
    .strictObject({
      limit: int(1, 100).default(100),
      timeoutSeconds: int(0, 50).default(30),
      allowedUpdates: z.array(z.string()).readonly().optional(),
      leaseTtlMs: ms(1_000).default(60_000),
      client: z.enum(["lean", "grammy"]).default("lean"),
    })
    .prefault({}),
  webhook: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }),
      listen: z.boolean().default(true),
      port: int(0, 65_535).default(8080),
      host: z.string().default("0.0.0.0"),
      path: z.string().startsWith("/").optional(),
      secretToken: z.string().optional(),
      maxBodyBytes: int(1).default(1024 * 1024),
      maxConnections: int(1, 100).default(40),
      register: z.boolean().default(true),
    })
    .optional(),
  inbox: z
    .strictObject({
      concurrency: int(1, 10_000).default(256),
      maxAttempts: int(1, 1_000).default(5),
      maxRecoveries: int(0, 1_000).default(3),
      backoff: z
        .strictObject({ baseMs: ms(0).default(1_000), maxMs: ms(0).default(60_000), jitter: z.number().min(0).max(1).default(0.2) })
        .prefault({}),
      leaseMs: ms(100).default(30_000),
      handlerTimeoutMs: ms(0).default(300_000),
      retentionMs: ms(0).default(3 * 24 * 3600_000),
      pruneIntervalMs: ms(1_000).default(10 * 60_000),
      idleMs: ms(1).default(250),
      journal: z.boolean().optional(),
      maxBuffered: int(100, 1_000_000).default(1_000),
    })
    .prefault({}),
  // Validated by the catch-up policy's own resolver (below), which knows every field.
  catchUp: z.custom<CatchUpOptions>((v) => v === undefined || (typeof v === "object" && v !== null), "an object").optional(),
  outbox: z
    .strictObject({
      enabled: z.boolean().default(true),
      concurrency: int(1, 10_000).default(32),
      leaseMs: ms(1_000).default(180_000),
      idleMs: ms(1).default(250),
      limits: z.custom<Partial<PacingLimits>>((v) => typeof v === "object" && v !== null, "an object of pacing limits").default({}),
      defaults: z
        .strictObject({
          attempts: int(1, 1_000).optional(),
          backoff: z.strictObject({ baseMs: ms(0), maxMs: ms(0), jitter: z.number().min(0).max(1) }).optional(),
          timeoutMs: ms(1).optional(),
          uploadTimeoutMs: ms(1).optional(),
        })
        .default({}),
      retentionMs: ms(0).default(3 * 24 * 3600_000),
      auditRetentionMs: ms(0).default(30 * 24 * 3600_000),
      failureAlertThreshold: int(1).default(50),
      failureAlertWindowMs: ms(1_000).default(10 * 60_000),
    })
    .prefault({}),
  downtime: z
    .strictObject({
      alertAfterMs: ms(1).default(24 * 3600_000),
      adminChatIds: z.array(z.number().int()).readonly().default([]),
      heartbeatMs: ms(100).default(5_000),
    })
    .prefault({}),
  tasks: z
    .strictObject({ graceMs: ms(0).default(10_000), pollMs: ms(10).default(1_000), leaseMs: ms(1_000).default(30_000), maxRecoveries: int(0, 1_000).default(5), tmpDir: z.string().min(1).optional() })
    .prefault({}),
  shutdown: z.strictObject({ deadlineMs: ms(0).default(10_000), handleSignals: z.boolean().default(true) }).prefault({}),
  admin: adminOptionsSchema.optional(),
  alerts: alertOptionsSchema.optional(),
  logger: z.custom<Logger>((v) => typeof v === "object" && v !== null && typeof (v as { info?: unknown }).info === "function", "a pino logger").optional(),
  clock: z.custom<() => number>((v) => typeof v === "function", "a function returning ms since the epoch").optional(),
  instanceId: z.string().min(1).optional(),
});

/** Options with every default applied. */
export type ResolvedOptions = z.output<typeof schema>;

/** Validates options and applies defaults; throws `INVALID_CONFIG` listing every problem. */
export function resolveOptions(options: RuntimeOptions = {}): ResolvedOptions {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join(".") || "(options)"}: ${issue.message}`);
    throw new UnlostError("INVALID_CONFIG", `invalid unlost options:\n${problems.join("\n")}\nSee the options table in the README.`, { cause: parsed.error });
  }
  const resolved = parsed.data;
  resolveCatchUpOptions(resolved.catchUp ?? {}); // throws INVALID_CONFIG naming the wrong field
  if (resolved.mode === "webhook" && resolved.webhook === undefined) {
    throw new UnlostError("INVALID_CONFIG", 'mode "webhook" needs webhook.url (the public HTTPS URL Telegram posts to), e.g. { webhook: { url: "https://bot.example.com/telegram" } }');
  }
  const given = options.webhook as Record<string, unknown> | undefined;
  const ownListenerOnly = (["port", "host", "path"] as const).filter((key) => given?.[key] !== undefined);
  if (resolved.webhook?.listen === false && ownListenerOnly.length > 0) {
    const fields = ownListenerOnly.map((key) => `webhook.${key}`).join(", ");
    throw new UnlostError(
      "INVALID_CONFIG",
      `invalid unlost options: ${fields} configure the runtime's own webhook listener, but webhook.listen is false (your server receives the webhook through runtime.webhookCallback()). Remove ${fields}, or set webhook.listen: true.`,
    );
  }
  return resolved;
}
