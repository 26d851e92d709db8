/**
 * One bot's queue of unconfirmed updates, with Telegram's semantics: confirmation by offset,
 * negative offsets, 24 h retention counted from the message's date, and a single long-poll
 * waiter (a second poller terminates the first).
 */
import type { Update } from "grammy/types";
import { conflict } from "./api-error.js";

/** An update waiting on the emulator's side. */
export interface QueuedUpdate {
  /** The update as the bot will receive it. */
  readonly update: Update;
  /** Key of the FIFO the update belongs to for webhook delivery (a chat, or the update itself). */
  readonly chatKey: string;
  /** Epoch ms after which Telegram would drop it (24 h after the message's date). */
  readonly expiresAt: number;
  /** Set once delivered by webhook or expired; done items are compacted away. */
  done: boolean;
}

interface Waiter {
  wake(): void;
  fail(error: Error): void;
}

/** How long Telegram keeps an unconfirmed update, counted from the message's date. */
export const UPDATE_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The pending updates of one bot. */
export class UpdateQueue {
  private items: QueuedUpdate[] = [];
  private head = 0;
  private waiter: Waiter | undefined;
  /** The earliest expiry among queued items, so the common case skips the retention scan. */
  private nextExpiry = Number.POSITIVE_INFINITY;
  /** Called after an update is added (the webhook deliverer listens). */
  onAdded: (() => void) | undefined;

  constructor(private readonly now: () => number) {}

  /** Adds an update and wakes a waiting long poll. */
  push(item: QueuedUpdate): void {
    this.items.push(item);
    this.nextExpiry = Math.min(this.nextExpiry, item.expiresAt);
    this.waiter?.wake();
    this.onAdded?.();
  }

  /**
   * Applies a getUpdates `offset` the moment the call arrives: a positive offset confirms
   * (deletes) every update with a smaller id; a negative one keeps only the last -offset.
   */
  confirm(offset: number): void {
    if (offset > 0) {
      while (this.head < this.items.length && (this.items[this.head]?.update.update_id ?? 0) < offset) this.head++;
    } else if (offset < 0) {
      this.expire();
      this.head = Math.max(this.head, this.items.length + offset);
    }
    this.compact();
  }

  /** Up to `limit` pending, unexpired updates, oldest first (without confirming them). */
  peek(limit: number): Update[] {
    this.expire();
    const out: Update[] = [];
    for (let i = this.head; i < this.items.length && out.length < limit; i++) {
      const item = this.items[i];
      if (item !== undefined && !item.done) out.push(item.update);
    }
    return out;
  }

  /** Pending, unexpired, undelivered items in order (for the webhook deliverer). */
  pending(): readonly QueuedUpdate[] {
    this.expire();
    return this.items.slice(this.head).filter((i) => !i.done);
  }

  /** Number of pending updates, as `pending_update_count` reports it. */
  count(): number {
    this.expire();
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]?.done === false) n++;
    return n;
  }

  /** Drops every pending update (`drop_pending_updates`). */
  dropAll(): void {
    this.items = [];
    this.head = 0;
    this.nextExpiry = Number.POSITIVE_INFINITY;
  }

  /** Marks an item delivered by webhook. */
  markDone(item: QueuedUpdate): void {
    item.done = true;
    this.compact();
  }

  /**
   * Registers the long poll of a getUpdates call. A poll already waiting is terminated with
   * Telegram's 409. Resolves when an update arrives, after `timeoutMs`, or when `signal` aborts.
   */
  wait(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.waiter?.fail(
      conflict("terminated by other getUpdates request; make sure that only one bot instance is running"),
    );
    return new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (this.waiter === waiter) this.waiter = undefined;
      };
      const waiter: Waiter = {
        wake: () => { finish(); resolve(); },
        fail: (error) => { finish(); reject(error); },
      };
      const onAbort = (): void => waiter.wake();
      const timer = setTimeout(waiter.wake, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiter = waiter;
    });
  }

  /** Ends a waiting long poll as if its timeout had passed. */
  wakeWaiter(): void {
    this.waiter?.wake();
  }

  /** Ends a waiting long poll, if there is one, with the error `makeError` builds. */
  failWaiter(makeError: () => Error): void {
    this.waiter?.fail(makeError());
  }

  private expire(): void {
    const now = this.now();
    if (now < this.nextExpiry) return;
    // Retention is counted from each message's date, and dates are not strictly ordered
    // (an edit carries its edit date), so check every item rather than stopping early.
    let next = Number.POSITIVE_INFINITY;
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item === undefined || item.done) continue;
      if (item.expiresAt <= now) item.done = true;
      else next = Math.min(next, item.expiresAt);
    }
    this.nextExpiry = next;
    this.compact();
  }

  private compact(): void {
    while (this.head < this.items.length && this.items[this.head]?.done === true) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
