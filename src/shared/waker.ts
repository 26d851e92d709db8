/**
 * Sleep-until-woken for a work loop: the loop sleeps when it has nothing to do, and new work
 * (an ingest, an enqueue, a completion) wakes it at once. `woken` tells the loop that work
 * arrived while it was busy, so it does not go to sleep over it.
 */
export class Waker {
  private pending: (() => void) | undefined;
  private flag = false;

  /** Wakes the loop now (or keeps it from sleeping on its next turn). */
  wake(): void {
    this.flag = true;
    this.pending?.();
  }

  /** True when `wake` was called since the last {@link reset}. */
  get woken(): boolean {
    return this.flag;
  }

  /** Starts a new turn of the loop. */
  reset(): void {
    this.flag = false;
  }

  /** Resolves after `ms`, or sooner when woken. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.pending === done) this.pending = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pending = done;
    });
  }
}
