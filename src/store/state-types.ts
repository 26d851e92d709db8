/**
 * Runtime state kept in the store: the polling offset, the heartbeat, offline windows and a
 * small key/value map for runtime metadata.
 *
 * @module
 */
import type { EpochMs } from "./inbox-types.js";

/** A stretch of time during which no runtime was running (between a last heartbeat and a start). */
export interface OfflineWindow {
  /** The last heartbeat before the stop (ms epoch). */
  readonly from: EpochMs;
  /** The start that ended it (ms epoch). */
  readonly to: EpochMs;
  /** `to - from`. */
  readonly durationMs: number;
}

/** State operations. Each call is one atomic transaction. */
export interface StateStore {
  /** The stored polling offset (written by `InboxStore.ingest`), or null before the first poll. */
  offset(): Promise<number | null>;
  /** Records that the runtime is alive at `now`. */
  beat(now?: EpochMs): Promise<void>;
  /** The last heartbeat (ms epoch), or null when there never was one. */
  lastBeat(): Promise<EpochMs | null>;
  /**
   * Call once on start: records the window from the last heartbeat to `now` as offline, beats,
   * and returns the window (null on the very first start, when there was no heartbeat).
   */
  recordStart(now?: EpochMs): Promise<OfflineWindow | null>;
  /** The recorded offline windows, newest first. */
  offlineWindows(options?: { readonly limit?: number }): Promise<OfflineWindow[]>;
  /** A runtime metadata value, or null. */
  getValue(key: string): Promise<string | null>;
  /** Sets a runtime metadata value. */
  setValue(key: string, value: string): Promise<void>;
  /** Deletes a runtime metadata value; returns whether it existed. */
  deleteValue(key: string): Promise<boolean>;
  /**
   * Binds the store to a bot, atomically: on a store bound to no bot yet, records `botId` (the
   * `id` of getMe) and returns it; on a bound store, changes nothing and returns the bot it is
   * bound to. The caller compares: a different id means this store holds another bot's
   * offset, inbox and outbox, and must not be used with this token.
   */
  bindBot(botId: number): Promise<number>;
  /** The id of the bot this store is bound to, or null before the first start. */
  boundBot(): Promise<number | null>;
}
