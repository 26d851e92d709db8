/**
 * How a stopping poller gives polling up without breaking per-chat order across processes.
 *
 * @module
 */
import type { Poller } from "../inbound/poller.js";
import type { InboxJournal } from "../store/index.js";
import type { Logger } from "./logger.js";

/** What {@link handOverPolling} needs. */
export interface HandOver {
  /** The store's journal, when this process polled with one. */
  readonly journal: InboxJournal | undefined;
  readonly poller: Poller | undefined;
  readonly instanceId: string;
  readonly clock: () => number;
  readonly logger: Logger;
}

/**
 * Gives polling up only once this process's journal is handed over: the updates it fetched
 * and did not start become inbox rows, in order, so the instance that polls next (a standby,
 * a deploy's new process) finds those chats blocked by them and handles each chat's older
 * updates first, one at a time. With handlers still running past the deadline
 * (`fromJournal.abandoned > 0`), lease and journal stay: they are taken over once this process
 * is gone or its leases ran out.
 */
export async function handOverPolling(h: HandOver, fromJournal: { readonly abandoned: number } | undefined): Promise<void> {
  if (h.journal !== undefined) {
    if (fromJournal === undefined || fromJournal.abandoned > 0) {
      h.logger.warn({ running: fromJournal?.abandoned }, "handlers still running at the deadline: polling is taken over once this process is gone (or its leases run out)");
      return;
    }
    try {
      const moved = await h.journal.adopt(h.instanceId, { now: h.clock() });
      if (moved > 0) h.logger.info({ moved }, "updates fetched but not started are left as inbox rows, in order, for whoever polls next");
    } catch (error) {
      h.logger.warn({ err: error }, "could not hand the journal over; polling is taken over once this process is gone (or its leases run out)");
      return;
    }
  }
  await h.poller?.releaseLease();
}
