/**
 * Long polling with the offset kept in the store. A fetched batch is written to the durable
 * inbox, together with the next offset, in one transaction *before* the next getUpdates
 * confirms it to Telegram: a kill at any instant loses nothing (at worst the batch is fetched
 * again and deduplicated on `update_id`).
 *
 * Only one process polls: the poller holds the store's `poller` lease and writes only while
 * it holds it (fenced), so two instances on one store never both poll.
 *
 * An update the store cannot take (no valid `update_id`: never from Telegram, but a proxy or a
 * local Bot API server can send one) does not stall polling: it is kept as an unstorable dead
 * letter with its text, in the transaction that stores the rest of its batch and moves the
 * offset past the batch (see {@link nextOffsetOf}). An answer that is not a list of updates at
 * all is logged as an error and polling backs off, the offset unchanged: nothing in it can be
 * stored or confirmed.
 */
import { GrammyError, HttpError, type Api } from "grammy";
import type { Update } from "grammy/types";
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import { unstorableReason, type AcknowledgeGate, type InboxStore, type IngestResult, type LeaseFence, type LeaseStore, type RawUpdate, type StateStore, type UnstorableUpdate } from "../store/index.js";
import { backoffDelay } from "./backoff.js";
import type { HandOff } from "./dispatcher.js";
import type { FetchUpdates } from "./intake/get-updates-client.js";
import { splitJsonArray } from "./intake/json-array.js";
import type { JournalDispatcher } from "./journal-dispatcher.js";

/** How often a standby asks for the poller lease, ms. */
const STANDBY_CHECK_MS = 1_000;

/** Options of {@link Poller}. */
export interface PollerOptions {
  readonly api: Api;
  readonly inbox: InboxStore;
  readonly state: StateStore;
  readonly leases: LeaseStore;
  readonly owner: string;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Updates per getUpdates, 1–100. */
  readonly limit: number;
  /** Long-poll timeout in seconds (Telegram caps it at 50). */
  readonly timeoutSeconds: number;
  /** Update types to receive; undefined keeps Telegram's setting. */
  readonly allowedUpdates: readonly string[] | undefined;
  /** Lifetime of the poller lease, ms; renewed between polls. */
  readonly leaseTtlMs: number;
  /**
   * True when the instance `holder` (the poller lease's holder) is gone, so its lease can be
   * taken over at once instead of after its TTL (a restart after `kill -9`). Default: never.
   */
  readonly holderGone?: (holder: string, now: number) => Promise<boolean>;
  /**
   * The dispatcher to hand fetched updates to: each ingest claims up to its free slots in the
   * same transaction and gives it the claims (no claim transaction, no re-read of the updates).
   * Without it, `onIngested` wakes a dispatcher that claims on its own.
   */
  readonly handOff?: HandOff;
  /**
   * The journal fast path: fetched batches are appended to the journal (one record per batch)
   * and handed to this in-memory dispatcher, instead of one inbox row per update. Fetching
   * pauses while `maxOpen` updates are open (Telegram keeps the rest).
   */
  readonly journal?: { readonly dispatcher: JournalDispatcher; readonly maxOpen: number };
  /**
   * Runs each time this instance starts polling (took the poller lease), before its first
   * getUpdates: the runtime adopts the journals of gone instances here, so that their older
   * updates are rows (and block their chats) before newer ones arrive.
   */
  readonly beforePolling?: () => Promise<void>;
  /**
   * Calls getUpdates instead of `api.getUpdates` (the runtime passes a `GetUpdatesClient`
   * when it can): same errors, plus the answer's JSON text for the journal.
   */
  readonly fetchUpdates?: FetchUpdates;
  /** Called after updates were stored (wakes the dispatcher). */
  readonly onIngested: (inserted: number) => void;
  /**
   * Resolves when what was stored may be acknowledged (the store's flush, see
   * `acknowledgeGate`): a getUpdates with a higher offset confirms the batches below it, so
   * it is not sent before this resolved for them.
   */
  readonly acknowledge: AcknowledgeGate;
  /** Called when polling cannot go on (a rejected token). */
  readonly onFatal: (error: UnlostError) => void;
}

/** The name of the poller lease in the store (only its holder polls). */
export const LEASE_NAME = "poller";

/** A fetched batch split into what the store can take and what it cannot. */
interface SplitBatch {
  readonly valid: RawUpdate[];
  readonly unstorable: UnstorableUpdate[];
}

/** Splits `updates` (parsed from `json` when given) into storable updates and unstorable ones with their text. */
function splitBatch(updates: readonly unknown[], json: string | undefined): SplitBatch {
  const valid: RawUpdate[] = [];
  const unstorable: UnstorableUpdate[] = [];
  let texts: string[] | undefined;
  for (let i = 0; i < updates.length; i++) {
    const update = updates[i];
    const error = unstorableReason(update);
    if (error === undefined) {
      valid.push(update as RawUpdate);
      continue;
    }
    // Its text as received when the answer's text is at hand; re-serialised otherwise.
    if (texts === undefined && json !== undefined) texts = splitJsonArray(json);
    const raw = texts?.length === updates.length ? texts[i]! : (JSON.stringify(update) ?? String(update));
    unstorable.push({ raw, error });
  }
  return { valid, unstorable };
}

/**
 * The offset that confirms a batch fetched with `offset`: past its highest valid `update_id`.
 * With unstorable updates (no id of their own) it is at least `offset + batch length`, which
 * confirms only updates of this batch: Telegram answers with the lowest pending ids at or above
 * `offset`, in order, so the n-th has an id ≥ offset + n − 1. So a batch of nothing but
 * unstorable updates still moves on (when ids are consecutive, as Telegram makes them, past
 * all of them at once).
 */
export function nextOffsetOf(offset: number, batchLength: number, valid: readonly RawUpdate[], unstorable: number): number {
  const highest = valid.reduce((max, u) => Math.max(max, u.update_id + 1), 0);
  return unstorable > 0 ? Math.max(highest, offset + batchLength) : highest;
}

/** The long-polling source of updates. */
export class Poller {
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private fence: LeaseFence | undefined;
  private renewedAt = 0;
  private offset = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  /** The highest offset Telegram may be told: every update below it is on disk. */
  private durableOffset = 0;
  private failures = 0;
  private standbyLogged = false;
  private readonly counters = { fetched: 0, inserted: 0, duplicates: 0, conflicts: 0, unstorable: 0 };

  constructor(private readonly options: PollerOptions) {}

  /** Starts polling (in the background). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // The lease is renewed on its own too: while polling backs off after failures, and while
    // a stop hands the journal over, nobody else may start polling (they would fetch the newer
    // updates of chats whose older ones this process still holds).
    this.keepAlive ??= setInterval(() => void this.renewHeldLease(), Math.max(100, this.options.leaseTtlMs / 3));
    this.keepAlive.unref();
  }

  /**
   * Stops polling: aborts the long poll in flight. The poller lease is kept (see
   * {@link Poller.releaseLease}): another instance that started polling now would fetch newer
   * updates of chats whose older ones this process still holds in its journal.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop;
  }

  /**
   * Gives the poller lease up (after {@link Poller.stop}), once what this process fetched is
   * finished or handed over as inbox rows: a standby may start polling at once.
   */
  async releaseLease(): Promise<void> {
    this.abandonLease();
    if (this.fence === undefined) return;
    await this.options.leases.release(this.fence).catch(() => false);
    this.fence = undefined;
  }

  /**
   * Stops renewing the poller lease without releasing it (after {@link Poller.stop}, when the
   * journal could not be handed over): it runs out, and whoever takes polling over then adopts
   * this process's journal first, once this process is gone or its liveness lease ran out.
   */
  abandonLease(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** Renews the held lease when due (the keep-alive timer); a lease lost meanwhile is dropped. */
  private async renewHeldLease(): Promise<void> {
    const fence = this.fence;
    const now = this.options.clock();
    if (fence === undefined || now - this.renewedAt < this.options.leaseTtlMs / 3) return;
    try {
      const grant = await this.options.leases.renew(fence, this.options.leaseTtlMs, { now });
      if (this.fence !== fence) return;
      if (grant.held) {
        this.fence = { ...fence, epoch: grant.epoch };
        this.renewedAt = now;
      } else {
        this.options.logger.warn({ holder: grant.holder }, "lost the poller lease to another instance; standing by");
        this.fence = undefined;
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, "renewing the poller lease failed; retrying");
    }
  }

  /** True while this instance holds the poller lease (it polls). */
  get polling(): boolean {
    return this.fence !== undefined;
  }

  /** Counters so far. */
  stats(): { fetched: number; inserted: number; duplicates: number; conflicts: number; unstorable: number; polling: boolean } {
    return { ...this.counters, polling: this.fence !== undefined };
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.holdLease())) {
          // A standby asks every second: a poller killed on this machine is seen gone at the
          // next ask (its pid), so failover takes ~1 s (5 s before: bench:postgres measured
          // 3 s after a kill -9, up to 5 s). One lease read per second per standby is cheap.
          await this.pause(Math.min(STANDBY_CHECK_MS, this.options.leaseTtlMs / 2));
          continue;
        }
        const journal = this.options.journal;
        if (journal !== undefined && journal.dispatcher.open >= journal.maxOpen) {
          // Back-pressure: the handlers are behind; the backlog waits at Telegram meanwhile.
          await journal.dispatcher.whenOpenBelow(journal.maxOpen, this.options.leaseTtlMs / 3);
          continue;
        }
        if (await this.pollOnce()) {
          this.failures = 0;
        } else {
          // Only unstorable updates already kept came back (ids with a gap): do not spin.
          this.failures++;
          await this.pause(backoffDelay(this.failures, { baseMs: 1_000, maxMs: 30_000, jitter: 0.2 }));
        }
      } catch (error) {
        if (!this.running) break;
        await this.onError(error);
      }
    }
  }

  /** Acquires or renews the poller lease; false while another instance holds it. */
  private async holdLease(): Promise<boolean> {
    const { leases, owner, leaseTtlMs, clock, logger, state } = this.options;
    const now = clock();
    if (this.fence !== undefined && now - this.renewedAt < leaseTtlMs / 3) return true;
    let grant = this.fence === undefined
      ? await leases.acquire(LEASE_NAME, owner, leaseTtlMs, { now })
      : await leases.renew(this.fence, leaseTtlMs, { now });
    if (!grant.held && grant.holder !== null && grant.holder !== owner && (await this.options.holderGone?.(grant.holder, now)) === true) {
      // The poller died without releasing its lease (kill -9): take it over now, not after its TTL.
      // Fenced writes keep this safe even if it is only paused: its next ingest is refused.
      const info = await leases.get(LEASE_NAME);
      if (info !== null && info.owner === grant.holder) await leases.release({ name: LEASE_NAME, owner: info.owner, epoch: info.epoch });
      logger.warn({ deadInstance: grant.holder }, "the instance that was polling is gone; taking over polling");
      grant = await leases.acquire(LEASE_NAME, owner, leaseTtlMs, { now });
      if (grant.held) this.fence = undefined;
    }
    if (!grant.held) {
      if (this.fence !== undefined) logger.warn({ holder: grant.holder }, "lost the poller lease to another instance; standing by");
      else if (!this.standbyLogged) logger.info({ holder: grant.holder }, "another instance on this store is polling; standing by until its lease expires");
      this.standbyLogged = true;
      this.fence = undefined;
      return false;
    }
    if (this.fence === undefined) {
      await this.options.beforePolling?.();
      this.offset = (await state.offset()) ?? 0;
      logger.info({ offset: this.offset, epoch: grant.epoch }, "polling for updates");
      this.standbyLogged = false;
    }
    this.fence = { name: LEASE_NAME, owner, epoch: grant.epoch };
    this.renewedAt = now;
    return true;
  }

  /** One getUpdates and its storing; false when the batch brought nothing new (see run). */
  private async pollOnce(): Promise<boolean> {
    const { api, inbox, limit, timeoutSeconds, allowedUpdates, clock, onIngested } = this.options;
    if (this.offset > this.durableOffset) {
      // This request confirms every update below `offset`: they must be on disk first (the
      // batch just stored, or an offset read at start that an earlier process stored but may
      // not have flushed). The batch's handlers are already running meanwhile.
      const offset = this.offset;
      await this.options.acknowledge();
      this.durableOffset = offset;
      if (!this.running) return true;
    }
    this.abort = new AbortController();
    const payload = {
      offset: this.offset,
      limit,
      timeout: timeoutSeconds,
      ...(allowedUpdates === undefined ? {} : { allowed_updates: allowedUpdates as never }),
    };
    let updates: Update[];
    let json: string | undefined;
    if (this.options.fetchUpdates !== undefined) {
      ({ updates, json } = await this.options.fetchUpdates(payload, this.abort.signal));
    } else {
      // grammY types its signal with a polyfill's AbortSignal; Node's is what it uses at run time.
      updates = await api.getUpdates(payload, this.abort.signal as unknown as Parameters<Api["getUpdates"]>[1]);
    }
    // grammY's client hands `result` over whatever it is.
    if (!Array.isArray(updates)) throw new UnlostError("BAD_ANSWER", "getUpdates answered ok without a list of updates (result is not an array); nothing was stored and the offset stays.");
    if (updates.length === 0) return true;
    const { valid, unstorable } = splitBatch(updates, json);
    const nextOffset = nextOffsetOf(this.offset, updates.length, valid, unstorable.length);
    const rejected = unstorable.length === 0 ? {} : { unstorable };
    const journal = this.options.journal;
    if (journal !== undefined) {
      // One journal record and the offset, in one transaction, before the next getUpdates
      // confirms the batch; the dispatcher gets the updates without reading them back.
      const appended = await journal.dispatcher.append(valid, {
        nextOffset,
        ...(this.fence === undefined ? {} : { fence: this.fence }),
        // The answer's text is the text of `valid` only when nothing was set aside.
        ...(json === undefined || unstorable.length > 0 ? {} : { json }),
        ...rejected,
        now: clock(),
      }, updates.length >= limit);
      this.offset = nextOffset;
      this.counters.fetched += updates.length;
      this.counters.inserted += appended.updates.length;
      this.counters.duplicates += valid.length - appended.updates.length;
      this.reportUnstorable(unstorable, appended.unstorable ?? 0, nextOffset);
      if (appended.updates.length > 0) onIngested(appended.updates.length);
      return valid.length > 0 || unstorable.length === 0 || (appended.unstorable ?? 0) > 0;
    }
    // Stored before the next getUpdates confirms them, with the offset, in one transaction,
    // which also claims what the dispatcher has room for.
    const handOff = this.options.handOff;
    const reservation = handOff?.reserve();
    let result: IngestResult;
    try {
      result = await inbox.ingest(valid, {
        nextOffset,
        fence: this.fence,
        ...rejected,
        now: clock(),
        ...(reservation === undefined || reservation.limit === 0 ? {} : { claim: reservation }),
      });
    } catch (error) {
      if (reservation !== undefined) handOff?.adopt([], reservation, false);
      throw error;
    }
    if (reservation !== undefined) handOff?.adopt(result.claimed ?? [], reservation);
    this.offset = nextOffset;
    this.counters.fetched += updates.length;
    this.counters.inserted += result.inserted;
    this.counters.duplicates += result.duplicates;
    this.reportUnstorable(unstorable, result.unstorable ?? 0, nextOffset);
    if (result.inserted > 0) onIngested(result.inserted);
    return valid.length > 0 || unstorable.length === 0 || (result.unstorable ?? 0) > 0;
  }

  /** Logs the unstorable updates of a batch just stored (their text is in the dead letters, not the log). */
  private reportUnstorable(unstorable: readonly UnstorableUpdate[], kept: number, nextOffset: number): void {
    if (unstorable.length === 0) return;
    this.counters.unstorable += kept;
    this.options.logger.error(
      { unstorable: unstorable.length, newDeadLetters: kept, errors: [...new Set(unstorable.map((u) => u.error))], offset: nextOffset },
      'getUpdates returned updates that cannot be stored (no valid update_id); they are kept as dead letters ("unlost dead-letters list --type unstorable") and polling goes on past them',
    );
  }

  private async onError(error: unknown): Promise<void> {
    const { logger, onFatal, api } = this.options;
    this.failures++;
    const wait = backoffDelay(this.failures, { baseMs: 1_000, maxMs: 30_000, jitter: 0.2 });
    if (error instanceof UnlostError && error.code === "BAD_ANSWER") {
      logger.error({ err: error, retryInMs: wait }, `${error.message} Is a proxy or a local Bot API server in the way? Retrying`);
      await this.pause(wait);
      return;
    }
    if (error instanceof UnlostError && error.code === "CONFLICT") {
      // Our fence no longer holds: another instance took the lease over; nothing was written.
      logger.warn("another instance took over polling; standing by");
      this.fence = undefined;
      return;
    }
    if (error instanceof GrammyError) {
      if (error.error_code === 401) {
        this.running = false;
        onFatal(new UnlostError("UNAUTHORIZED", "Telegram rejected the bot token (401 Unauthorized). Check the token you gave unlost (BOT_TOKEN): it may be mistyped or revoked in @BotFather.", { cause: error }));
        return;
      }
      if (error.error_code === 409 && /webhook is active/i.test(error.description)) {
        logger.warn("a webhook is set for this bot, so getUpdates is refused; removing it (pending updates are kept) and polling");
        await api.deleteWebhook({ drop_pending_updates: false }).catch((e: unknown) => logger.warn({ err: e }, "deleteWebhook failed"));
        return;
      }
      if (error.error_code === 409) {
        this.counters.conflicts++;
        logger.warn({ retryInMs: wait, description: error.description }, "Telegram says another process is polling this bot (409): run one instance, or let instances share one store so that only one polls; retrying");
        await this.pause(wait);
        return;
      }
      if (error.error_code === 429) {
        const retryAfter = (error.parameters.retry_after ?? 1) * 1000;
        logger.warn({ retryInMs: retryAfter }, "Telegram asks to slow down (429); waiting");
        await this.pause(retryAfter);
        return;
      }
      logger.warn({ code: error.error_code, description: error.description, retryInMs: wait }, "getUpdates failed; retrying");
      await this.pause(wait);
      return;
    }
    if (error instanceof HttpError) {
      logger.warn({ err: error, retryInMs: wait }, "network error while polling; retrying");
      await this.pause(wait);
      return;
    }
    logger.error({ err: error, retryInMs: wait }, "polling failed; retrying");
    await this.pause(wait);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const timer = setTimeout(done, ms);
      const signal = (this.abort = new AbortController()).signal;
      signal.addEventListener("abort", done, { once: true });
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
