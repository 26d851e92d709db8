/**
 * The outbox's housekeeping while a bot runs: delivered jobs, old audit entries and orphan
 * blobs are pruned past their retention, and a burst of sends that failed for good alerts the
 * admins (once per window) — a broken token scope, a blocked bot or a bad template shows up
 * there before users complain.
 *
 * @module
 */
import type { Logger } from "pino";
import type { Store } from "../store/index.js";
import type { Outbound } from "./service.js";

/** What {@link startOutboxHousekeeping} needs. */
export interface OutboxHousekeepingOptions {
  readonly store: Store;
  readonly outbound: Outbound;
  readonly logger: Logger;
  readonly clock: () => number;
  /** The bot's @username, for the alert's text. */
  readonly botName: () => string;
  /** Who gets the failure-burst alert. */
  readonly adminChatIds: readonly number[];
  /** How often to prune, ms. */
  readonly pruneIntervalMs: number;
  /** Delivered jobs are kept this long, ms. */
  readonly retentionMs: number;
  /** Audit entries are kept this long, ms. */
  readonly auditRetentionMs: number;
  /** More sends than this failing for good within `failureAlertWindowMs` alert the admins. */
  readonly failureAlertThreshold: number;
  readonly failureAlertWindowMs: number;
}

/** Starts pruning and the failure-burst watch; returns their timers (unref'd) for the caller to clear. */
export function startOutboxHousekeeping(o: OutboxHousekeepingOptions): NodeJS.Timeout[] {
  const { store, outbound, logger, clock } = o;
  const prune = setInterval(() => {
    const now = clock();
    void store.outbox
      .prune({ deliveredBefore: now - o.retentionMs })
      .then(async (removed) => {
        await outbound.blobs.remove(removed.blobs);
        const audit = await store.outbox.audit.prune({ before: now - o.auditRetentionMs });
        if (removed.count + audit > 0) logger.info({ prunedJobs: removed.count, prunedAudit: audit }, "pruned delivered messages past their retention");
      })
      .catch((error: unknown) => logger.warn({ err: error }, "pruning the outbox failed"));
  }, o.pruneIntervalMs);
  let lastFailed: number | undefined;
  let windowStart = Date.now();
  let alerted = false;
  const watch = setInterval(() => {
    void store.outbox.stats({ now: clock() }).then((stats) => {
      const failed = stats.byState.failed;
      if (lastFailed === undefined || Date.now() - windowStart >= o.failureAlertWindowMs) {
        lastFailed = failed;
        windowStart = Date.now();
        alerted = false;
        return;
      }
      const recent = failed - lastFailed;
      if (recent > o.failureAlertThreshold && !alerted) {
        alerted = true;
        const text = `⚠️ @${o.botName()}: ${recent} outgoing messages failed for good in the last ${Math.round(o.failureAlertWindowMs / 60_000)} min. See the outbox dead letters for the reasons.`;
        logger.error({ recentFailures: recent }, "many outgoing messages failed; alerting the admins");
        for (const chatId of o.adminChatIds) void outbound.outbox.sendText(chatId, text, { priority: "critical" }).catch(() => undefined);
      }
    }).catch(() => undefined);
  }, Math.min(60_000, o.failureAlertWindowMs / 10));
  prune.unref();
  watch.unref();
  return [prune, watch];
}
