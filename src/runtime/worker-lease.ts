/**
 * The lease that says "this instance is alive" (`worker:<instance id>`), renewed by a
 * heartbeat. Other instances take over the journal, claims and poller lease of an instance
 * whose worker lease ran out (see liveness.ts), so it must be renewed for as long as this
 * process works on anything: also while it stops and its handlers finish, not only while it
 * polls. And work that is only safe while the lease holds (starting a handler of the journal)
 * asks {@link WorkerLease.fresh} first: a process that was paused (SIGSTOP, a frozen VM, a
 * long GC) may have been taken over while it could not renew.
 *
 * @module
 */
import type { InboxJournal, Store } from "../store/index.js";
import { workerLeaseName } from "./liveness.js";

/** The worker lease of one runtime instance. */
export class WorkerLease {
  private epoch = 0;
  /** When the lease runs out as far as this instance knows (its clock); 0: not held. */
  private expiresAt = 0;
  /**
   * The lease ran out before a renewal (the process was paused, or starved): others may have
   * taken this instance's work over meanwhile. Stays set until {@link confirmed}.
   */
  private lapsed = false;

  /**
   * @param ttlMs the lease's lifetime: others think this instance gone once it passed unrenewed
   * @param renewEveryMs how often the heartbeat renews it (less than `ttlMs`)
   */
  constructor(
    private readonly store: Store,
    readonly instanceId: string,
    private readonly ttlMs: number,
    private readonly renewEveryMs: number,
    private readonly clock: () => number,
  ) {}

  /** Takes or renews the lease. */
  async renew(): Promise<void> {
    const now = this.clock();
    const grant = await this.store.leases.acquire(workerLeaseName(this.instanceId), this.instanceId, this.ttlMs, { now });
    if (grant.held) {
      if (this.expiresAt !== 0 && now >= this.expiresAt) this.lapsed = true;
      this.epoch = grant.epoch;
      this.expiresAt = now + this.ttlMs;
    }
  }

  /** The caller checked that what it owns is still its own after a lapse. */
  confirmed(): void {
    this.lapsed = false;
  }

  /**
   * True while no other instance can think this one gone, with one renewal interval to spare.
   * False after a pause longer than that (also once a late renewal succeeded: the lease had
   * lapsed meanwhile): the caller must {@link renew}, check what it owns, and call
   * {@link confirmed} before it acts on it.
   */
  fresh(): boolean {
    return !this.lapsed && this.clock() < this.expiresAt - this.renewEveryMs;
  }

  /**
   * The journal dispatcher's ownership check (see `JournalDispatcherOptions.ownership`): fresh
   * while the lease holds; else renew it and look whether the store still has a journal of
   * this instance (an adopter deletes all of it).
   */
  journalOwnership(journal: InboxJournal): { fresh(): boolean; confirm(): Promise<boolean> } {
    return {
      fresh: () => this.fresh(),
      confirm: async () => {
        await this.renew();
        const owned = (await journal.owners()).includes(this.instanceId);
        if (owned) this.confirmed();
        return owned;
      },
    };
  }

  /** Gives the lease up (a clean stop with nothing left to take over). */
  async release(): Promise<void> {
    await this.store.leases.release({ name: workerLeaseName(this.instanceId), owner: this.instanceId, epoch: this.epoch }).catch(() => false);
    this.expiresAt = 0;
  }
}
