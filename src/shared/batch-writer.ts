/**
 * Collects the results of one turn of the event loop and writes them in one go: many
 * completions, one transaction. Writes never overlap, and `flush()` waits for everything
 * added before it. The dispatcher (update completions) and the delivery loop (send outcomes)
 * both record through one of these, which is what makes durability cheap.
 */
export class BatchWriter<T> {
  private readonly pending: T[] = [];
  private scheduled = false;
  private writing: Promise<void> | undefined;
  /** Callers of `written` waiting for the pending items. */
  private readonly waiting: Array<() => void> = [];

  /** `write` records one batch; it must not throw (it handles its own failures). */
  constructor(private readonly write: (batch: T[]) => Promise<void>) {}

  /** Adds an item; it is written with everything else added during this turn. */
  add(item: T): void {
    this.pending.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Writes what is pending now (after any write in progress) and resolves when it is written. */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    const waiting = this.waiting.splice(0);
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined;
      for (const resolve of waiting) resolve();
    });
    await this.writing;
  }

  /**
   * Resolves once everything added so far is written, with the rest of its turn (unlike
   * `flush`, which writes at once: a write per caller when each caller flushes).
   */
  written(): Promise<void> {
    if (this.pending.length === 0) return this.writing === undefined ? Promise.resolve() : this.writing.then(() => undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** How many items wait to be written. */
  get size(): number {
    return this.pending.length;
  }
}
