/**
 * The `alerts` option of the runtime: conditions watched in the background and reported to
 * the admin chats (`downtime.adminChatIds`, through the outbox at high priority) and the log,
 * each with a cool-down and a "resolved" message.
 *
 * @module
 */
import { z } from "zod";

/** Options of the operator alerts (`RuntimeOptions.alerts`). Every threshold has a default. */
export interface AlertOptions {
  /** How often the conditions are checked, ms. Default 30 000. */
  intervalMs?: number;
  /** After an alert, the same alert is not sent again for this long (while it lasts, it is repeated this often), ms. Default 1 h. */
  cooldownMs?: number;
  /** The oldest unfinished update waited longer than this, ms. Default 600 000 (10 min). */
  backlogAgeMs?: number;
  /** The process's resident memory is above this, bytes. Default 1 GiB. */
  rssBytes?: number;
  /** Free space at the store's folder is below this, bytes (stores in memory are not watched). Default 1 GiB. */
  diskFreeBytes?: number;
  /** Reading the store's counts took longer than this (locked or overloaded store), or failed, ms. Default 2 000. */
  storeSlowMs?: number;
  /**
   * Polling bots: nobody has held the poller lease for this long (no instance polls: standing
   * by instances would have taken over), ms. Default 120 000 (2 min).
   */
  pollerDownMs?: number;
}

/** The schema of {@link AlertOptions}, with its defaults. */
export const alertOptionsSchema = z.strictObject({
  intervalMs: z.number().int().min(10).default(30_000),
  cooldownMs: z.number().int().min(0).default(3_600_000),
  backlogAgeMs: z.number().int().min(1).default(600_000),
  rssBytes: z.number().int().min(1).default(1024 ** 3),
  diskFreeBytes: z.number().int().min(0).default(1024 ** 3),
  storeSlowMs: z.number().int().min(1).default(2_000),
  pollerDownMs: z.number().int().min(1).default(120_000),
});

/** {@link AlertOptions} with every default applied. */
export type ResolvedAlertOptions = z.output<typeof alertOptionsSchema>;
