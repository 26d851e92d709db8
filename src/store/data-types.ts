/**
 * Bot data: the values grammY's storage adapters keep (sessions, conversations) as text under
 * namespaced keys, apart from unlost's own runtime key/values. A handler's writes reach it as
 * settle effects (`data.set`, `data.delete`), in the transaction that completes its update; code
 * running outside a handler (a script, a scheduled job) writes it directly.
 *
 * Values are stored and returned byte for byte: they are the bot's data, never scrubbed or cut.
 *
 * @module
 */
import type { EpochMs } from "./inbox-types.js";

/** One stored value. */
export interface DataEntry {
  /** Its key (with its namespace prefix, e.g. `session:42`). */
  readonly key: string;
  /** The value as it was written (JSON text, for unlost's adapters). */
  readonly value: string;
  /** When it was last written (ms epoch). */
  readonly updatedAt: EpochMs;
}

/** Options of {@link BotDataStore.list}. */
export interface DataListOptions {
  /** Only keys that start with this (non-empty: a namespace such as `session:`). */
  readonly prefix: string;
  /** Only keys after this one (the last key of the previous page). */
  readonly after?: string;
  /** At most this many entries (1..1000, default 100). */
  readonly limit?: number;
}

/** Bot data operations. Each call is one atomic transaction. */
export interface BotDataStore {
  /** The value under `key`, or null. */
  get(key: string): Promise<string | null>;
  /** Stores `value` under `key` (replacing what was there), now. */
  set(key: string, value: string, options?: { readonly now?: EpochMs }): Promise<void>;
  /** Deletes the value under `key`; returns whether there was one. */
  delete(key: string): Promise<boolean>;
  /** A page of entries whose keys start with `prefix`, in key order (compared as UTF-8 bytes). */
  list(options: DataListOptions): Promise<DataEntry[]>;
}
