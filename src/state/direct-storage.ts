/**
 * The bot data from outside handlers (a script, a scheduled job, an admin command's helper):
 * a grammY `StorageAdapter` whose writes go to the store at once, durably.
 *
 * @module
 */
import type { StorageAdapter } from "grammy";
import type { Store } from "../store/index.js";
import { fromJson, toJson } from "./json.js";
import { requirePrefix, SESSION_PREFIX } from "./prefix.js";

/** A store, or what has one once started (the runtime: `runtime.store`). */
export type StoreSource = Store | { readonly store: Store };

/** Options of {@link unlostStorage}. */
export interface UnlostStorageOptions {
  /**
   * The namespace, as the handlers' adapter was given it: `"session:"` (the default, for
   * {@link unlostSession}), `"conversations:"` for {@link unlostConversationStorage}.
   */
  readonly prefix?: string;
}

/** Entries read per store call by the `readAll*` methods. */
const PAGE = 200;

/**
 * {@link StorageAdapter} of the bot data outside handlers: keys without the prefix, JSON values,
 * every write committed at once. Every method is defined (grammY's optional ones too).
 */
export class UnlostStorage<T> implements StorageAdapter<T> {
  private readonly prefix: string;

  constructor(private readonly source: StoreSource, options: UnlostStorageOptions = {}) {
    this.prefix = requirePrefix("unlostStorage's prefix", options.prefix ?? SESSION_PREFIX);
  }

  /** The stored value of `key` (a fresh copy), or undefined. */
  async read(key: string): Promise<T | undefined> {
    const text = await this.store().data.get(this.prefix + key);
    return text === null ? undefined : (fromJson(this.prefix + key, text) as T);
  }

  /** Stores `value` under `key` now (durable when it resolves). */
  async write(key: string, value: T): Promise<void> {
    await this.store().data.set(this.prefix + key, toJson(this.prefix + key, value));
  }

  /** Deletes `key` now. */
  async delete(key: string): Promise<void> {
    await this.store().data.delete(this.prefix + key);
  }

  /** Whether `key` has a value. */
  async has(key: string): Promise<boolean> {
    return (await this.store().data.get(this.prefix + key)) !== null;
  }

  /** Every key of the namespace (without the prefix), in key order. */
  async *readAllKeys(): AsyncIterable<string> {
    for await (const [key] of this.readAllEntries()) yield key;
  }

  /** Every value of the namespace, in key order. */
  async *readAllValues(): AsyncIterable<T> {
    for await (const [, value] of this.readAllEntries()) yield value;
  }

  /** Every key (without the prefix) and value of the namespace, in key order, page by page. */
  async *readAllEntries(): AsyncIterable<[key: string, value: T]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.store().data.list({ prefix: this.prefix, limit: PAGE, ...(after === undefined ? {} : { after }) });
      for (const entry of page) yield [entry.key.slice(this.prefix.length), fromJson(entry.key, entry.value) as T];
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.key;
    }
  }

  private store(): Store {
    return "store" in this.source ? this.source.store : this.source;
  }
}

/**
 * The bot data of one namespace as a grammY `StorageAdapter`, for code that runs outside
 * handlers: a script, a scheduled job, a migration. Its writes are committed at once and
 * durably; they are not tied to any update (inside a handler, `ctx.session` and the
 * conversations storage commit with the update instead). A write here and a handler's write of
 * the same key are ordered by their commits: the later one wins.
 *
 * Pass the runtime (its store is used once it started) or a store opened with `openStore`.
 *
 * @example
 * ```ts
 * const sessions = unlostStorage<{ count: number }>(runtime);
 * for await (const [chatId, session] of sessions.readAllEntries()) console.log(chatId, session.count);
 * await sessions.write("42", { count: 0 });
 * ```
 * @throws UnlostError `INVALID_ARGUMENT` for an empty `prefix`.
 */
export function unlostStorage<T>(source: StoreSource, options: UnlostStorageOptions = {}): UnlostStorage<T> {
  return new UnlostStorage<T>(source, options);
}
