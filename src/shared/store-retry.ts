/**
 * Recording an outcome again when the store failed to take it, instead of dropping it. The
 * writes it is used for (a send's outcome, a handler's completion) are fenced by their claim:
 * recorded late, or twice, they change nothing once the claim passed to someone else. Dropped,
 * they cost a lot more: the claim stays until its lease ends (minutes for a send), blocking its
 * chat, and the work is then done again (a message sent twice). So while the store cannot be
 * reached (PostgreSQL down, a network cut), the outcomes wait in memory and are tried again
 * with backoff until it is back.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

/** Backoff of {@link StoreRetry}: 200 ms, doubling, at most 5 s, ±20 %. */
const BASE_MS = 200;
const MAX_MS = 5_000;

/** Retries of one writer (a delivery loop, a dispatcher). */
export class StoreRetry {
  private failures = 0;
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  /**
   * After a failed write: when `error` is a store failure (not a closed store, not a refused
   * argument), calls `again` after the backoff delay and returns that delay; otherwise returns
   * undefined and the caller drops the write as before.
   */
  schedule(error: unknown, again: () => void, random: () => number = Math.random): number | undefined {
    if (!(error instanceof UnlostError) || error.code !== "STORE_FAILURE") return undefined;
    this.failures++;
    const exact = Math.min(MAX_MS, BASE_MS * 2 ** (this.failures - 1));
    const delay = Math.round(exact * (0.8 + 0.4 * random()));
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      again();
    }, delay);
    timer.unref();
    this.pending.set(timer, again);
    return delay;
  }

  /** A write succeeded: the next failure starts the backoff over. */
  succeeded(): void {
    this.failures = 0;
  }

  /** Runs every scheduled retry now (a stop flushing what it still can). */
  flushNow(): void {
    const due = [...this.pending];
    this.pending.clear();
    for (const [timer, again] of due) {
      clearTimeout(timer);
      again();
    }
  }
}
