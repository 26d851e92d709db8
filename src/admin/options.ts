/**
 * The `admin` option of the runtime: where the admin server (metrics, health, the operator's
 * API) listens and who may use it. Validated with the rest of the runtime's options.
 *
 * @module
 */
import { z } from "zod";
import { UnlostError } from "../errors/index.js";

/** The admin token's minimum length: a short one could be guessed over the network. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Default of {@link AdminOptions.maxBacklogAgeMs}: 5 minutes. */
export const DEFAULT_MAX_BACKLOG_AGE_MS = 5 * 60_000;

/** The environment variable the admin token is read from when `admin.token` is not given. */
export const ADMIN_TOKEN_ENV = "UNLOST_ADMIN_TOKEN";

/** Options of the admin server (`RuntimeOptions.admin`). */
export interface AdminOptions {
  /** Port of the admin server; 0 takes a free one (see `runtime.adminUrl`). */
  port: number;
  /**
   * Interface to listen on. Default `127.0.0.1`: only this machine reaches it. Use `0.0.0.0`
   * only behind a firewall or with a token, e.g. for a Prometheus on another host.
   */
  host?: string;
  /**
   * The token protected endpoints require (`Authorization: Bearer <token>`), at least 16
   * characters. Default: the `UNLOST_ADMIN_TOKEN` environment variable. Without one, protected
   * endpoints answer 403 saying how to set it.
   */
  token?: string;
  /**
   * Serve `GET /metrics` without the token. Default true: metrics are counts and durations
   * (no user data, no secrets), Prometheus scrapes without credentials by default, and the
   * server listens on 127.0.0.1 unless told otherwise. `false` puts it behind the token
   * (Prometheus: `authorization: { credentials: <token> }` in the scrape config).
   */
  publicMetrics?: boolean;
  /**
   * `GET /readyz` answers 503 when the oldest unfinished update waited longer than this, ms.
   * Default 300 000 (5 minutes).
   */
  maxBacklogAgeMs?: number;
  /**
   * How often the dashboard's overview takes a sample for its charts (updates in, handled,
   * failed, sends, 429s, backlog), ms; the last 360 are kept in memory (30 min at the default).
   * Default 5000.
   */
  sampleIntervalMs?: number;
}

/** The schema of {@link AdminOptions}, with its defaults. */
export const adminOptionsSchema = z.strictObject({
  port: z.number({ error: "the admin server needs a port (--admin-port, UNLOST_ADMIN_PORT or admin.port)" }).int().min(0).max(65_535),
  host: z.string().min(1).default("127.0.0.1"),
  token: z.string().trim().min(MIN_ADMIN_TOKEN_LENGTH, `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`).optional(),
  publicMetrics: z.boolean().default(true),
  maxBacklogAgeMs: z.number().int().min(1).default(DEFAULT_MAX_BACKLOG_AGE_MS),
  sampleIntervalMs: z.number().int().min(100).max(3_600_000).default(5_000),
});

/** {@link AdminOptions} with every default applied. */
export type ResolvedAdminOptions = z.output<typeof adminOptionsSchema>;

/**
 * The token in effect: the option, else `UNLOST_ADMIN_TOKEN` (trimmed; empty is none).
 *
 * @throws UnlostError `INVALID_CONFIG` for a token from the environment shorter than 16
 * characters (the option's length is checked by its schema).
 */
export function adminToken(options: Pick<ResolvedAdminOptions, "token">, env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  if (options.token !== undefined) return options.token;
  const fromEnv = env[ADMIN_TOKEN_ENV]?.trim();
  if (fromEnv === undefined || fromEnv === "") return undefined;
  if (fromEnv.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new UnlostError("INVALID_CONFIG", `${ADMIN_TOKEN_ENV} must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24); a short token could be guessed`);
  }
  return fromEnv;
}
