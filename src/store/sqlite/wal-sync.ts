/**
 * Group commit for the SQLite store: "acknowledged means on disk" at the price of one
 * `fdatasync` per batch of commits, off the main thread.
 *
 * The database runs WAL with `synchronous=NORMAL`: a commit writes its frames to the WAL file
 * (the OS page cache) before `COMMIT` returns, which survives a killed process, but does not
 * flush them, so a power cut or OS crash can lose the last commits. `FULL` would flush inside
 * every `COMMIT`, on the event loop's thread (better-sqlite3 is synchronous): each flush stalls
 * every handler. Instead, before unlost acknowledges anything to the outside (the next
 * getUpdates that confirms a batch, a webhook's 200, a resolved `outbox.send`), it awaits
 * {@link WalSync.sync}: one asynchronous `fdatasync` of the WAL file on libuv's thread pool
 * covers every commit made before it started, and every caller that arrives while it runs
 * shares the next one. Handlers keep running meanwhile.
 *
 * Why flushing the WAL file is enough: committed frames live only there until a checkpoint,
 * and SQLite itself flushes the WAL before a checkpoint copies it, the database file after
 * one, and the WAL header when the WAL is reused from its start (all in NORMAL mode). The
 * file is not replaced while the database is open here (SQLite deletes it only when the last
 * connection closes, and this one holds it open), so one descriptor serves for the store's life.
 *
 * @module
 */
import { closeSync, fdatasync, fsync, openSync } from "node:fs";
import { dirname } from "node:path";
import { UnlostError } from "../../errors/index.js";

/** Flushes a file descriptor's data to stable storage (injectable for tests). */
export type FlushFile = (fd: number) => Promise<void>;

/** `fdatasync` on libuv's thread pool. */
export const fdatasyncAsync: FlushFile = (fd) => new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));

const RESOLVED: Promise<void> = Promise.resolve();

interface Waiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** The flushes of one database's WAL file. */
export class WalSync {
  /**
   * Commits made so far (counted by the database). It starts at 1, not 0: the first sync
   * flushes whatever an earlier process left unflushed in the OS cache (it was killed before
   * its flush, and the next start must not confirm on the strength of it).
   */
  private committed = 1;
  /**
   * The number of the last commit that is acknowledged to the outside (a fetched batch, a
   * webhook update, an enqueue): what {@link WalSync.sync} waits for. Commits nobody
   * acknowledges (completions, settles, leases) are covered by whichever flush comes next, but
   * nobody waits for them: they may be redone after a power cut, never lost to the outside.
   */
  private acknowledged = 1;
  /** Commits known to be on stable storage. */
  private synced = 0;
  private flushing: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  /** A flush was asked for ahead of need while one ran: start another when it ends. */
  private aheadPending = false;
  private fd: number | undefined;
  private closed = false;

  /**
   * @param walPath the database's `-wal` file
   * @param flush how a descriptor is flushed (default {@link fdatasyncAsync})
   */
  constructor(
    private readonly walPath: string,
    private readonly flush: FlushFile = fdatasyncAsync,
  ) {}

  /**
   * Records a commit (called after each successful write transaction). `acknowledgedSoon`: it
   * is about to be acknowledged to the outside; its flush starts at once, ahead of the `sync()`
   * that will wait for it, so the flush overlaps the work done in between.
   */
  noteCommit(acknowledgedSoon = false): void {
    this.committed++;
    if (!acknowledgedSoon) return;
    this.acknowledged = this.committed;
    this.flushAhead();
  }

  /**
   * Resolves once every acknowledged commit (see `noteCommit`) made before this call is on
   * stable storage: at once when there is none left to flush, else with the flush running (if
   * it started after that commit) or the next one, shared with every caller meanwhile. Rejects
   * with `STORE_FAILURE` when the flush failed: nothing may be acknowledged then.
   */
  sync(): Promise<void> {
    return this.syncUpTo(this.acknowledged);
  }

  /** Like {@link sync}, for every commit made so far (acknowledged or not). */
  syncAll(): Promise<void> {
    return this.syncUpTo(this.committed);
  }

  private syncUpTo(target: number): Promise<void> {
    if (target <= this.synced) return RESOLVED;
    if (this.closed) return Promise.reject(new UnlostError("STOPPED", `The store's WAL file ${this.walPath} is closed; cannot flush it.`));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.start();
    });
  }

  /**
   * Starts a flush now, ahead of need, for a commit that is about to be acknowledged: its
   * flush then overlaps the work done between the commit and the acknowledgement, and `sync()`
   * finds it running or done.
   */
  private flushAhead(): void {
    if (this.closed) return;
    if (this.flushing !== undefined) this.aheadPending = true;
    else this.start(true);
  }

  /** Closes the descriptor; waiting callers are released by a last flush first. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.syncAll().catch(() => undefined);
    // A flush of nothing new may still be running on the descriptor.
    await this.flushing;
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(ahead = false): void {
    if (this.flushing !== undefined || (!ahead && this.waiters.length === 0) || this.committed <= this.synced) return;
    this.aheadPending = false;
    // Everything committed before the flush starts is covered by it.
    const upTo = this.committed;
    this.flushing = this.flushOnce()
      .then(() => {
        this.synced = Math.max(this.synced, upTo);
        this.settle((w) => w.target <= upTo, undefined);
      })
      .catch((error: unknown) => {
        const failure = new UnlostError("STORE_FAILURE", `Could not flush the store's WAL file ${this.walPath} to disk (${(error as Error).message}); nothing stored since the last flush is acknowledged. Check the disk.`, { cause: error });
        this.settle((w) => w.target <= upTo, failure);
      })
      .finally(() => {
        this.flushing = undefined;
        this.start(this.aheadPending);
      });
  }

  private async flushOnce(): Promise<void> {
    if (this.fd === undefined) {
      this.fd = openSync(this.walPath, "r");
      // The WAL file's own directory entry, once: a file created since the last boot is not
      // durable until its folder is.
      const dir = openSync(dirname(this.walPath), "r");
      try {
        await new Promise<void>((resolve, reject) => fsync(dir, (error) => (error ? reject(error) : resolve())));
      } finally {
        closeSync(dir);
      }
    }
    await this.flush(this.fd);
  }

  private settle(done: (w: Waiter) => boolean, error: Error | undefined): void {
    const rest: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (!done(waiter)) rest.push(waiter);
      else if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    this.waiters = rest;
  }
}
