/**
 * The bot data as one try of handling an update sees and writes it. Its writes are staged here
 * and handed to `ctx.unlost.commitWithCompletion` as `data.set` / `data.delete` effects, so they
 * are committed with the update's completion, exactly once, and never for a try that failed,
 * timed out or died with its process: the next try reads the value from before the first.
 *
 * A `StorageAdapter` gets no context and unlost keeps no AsyncLocalStorage, so the adapters
 * find the try through the context they are made for (see {@link attemptDataOf}): one
 * {@link AttemptData} per try, made when first used, reached from `ctx.unlost`.
 *
 * @module
 */
import type { Context } from "grammy";
import { UnlostError } from "../errors/index.js";
import { requireDataKey, requireDataValue, type BotDataStore, type StoreEffect } from "../store/index.js";
import type { UncommittedWrites } from "./uncommitted-writes.js";

/** Where a try reads what it has not written itself. */
export interface DataSource {
  /** The value of `key` as the try starts from it, or null. */
  read(key: string): Promise<string | null>;
}

/**
 * The runtime's {@link DataSource}: writes of completions not committed yet (the chat's
 * previous update), then the store.
 */
export function dataSource(uncommitted: UncommittedWrites, data: () => BotDataStore): DataSource {
  return {
    read(key) {
      const pending = uncommitted.lookup(key);
      return pending === undefined ? data().get(key) : Promise.resolve(pending);
    },
  };
}

/** The key under which `ctx.unlost` gives its try's {@link AttemptData}. */
export const ATTEMPT_DATA: unique symbol = Symbol("unlost.attempt-data");

/** One try's view of the bot data: its staged writes over what it started from. */
export class AttemptData {
  /** This try's writes: the JSON text, or null for a deletion. */
  readonly #staged = new Map<string, string | null>();
  /** What this try last read of each key (to skip writing a value back unchanged). */
  readonly #seen = new Map<string, string | null>();

  /**
   * @param source where values not written by this try come from
   * @param commit commits an effect with this try's completion (`commitWithCompletion`)
   */
  constructor(private readonly source: DataSource, private readonly commit: (effect: StoreEffect) => void) {}

  /** The value of `key` as this try sees it: its own write, else where it started from. */
  async read(key: string): Promise<string | null> {
    requireDataKey(key);
    if (this.#staged.has(key)) return this.#staged.get(key) ?? null;
    const value = await this.source.read(key);
    // Written while the read was on its way: the write is newer.
    if (this.#staged.has(key)) return this.#staged.get(key) ?? null;
    this.#seen.set(key, value);
    return value;
  }

  /**
   * Stages `text` under `key`, committed with the completion. Writing back what was read (grammY's
   * session writes on every update that read it) commits nothing.
   *
   * @throws UnlostError `INVALID_ARGUMENT` for a key or value the store cannot keep (the try fails).
   */
  write(key: string, text: string): void {
    requireDataValue(requireDataKey(key), text);
    this.stage(key, text);
  }

  /** Stages the deletion of `key`, committed with the completion. */
  delete(key: string): void {
    this.stage(requireDataKey(key), null);
  }

  private stage(key: string, value: string | null): void {
    const known = this.#staged.has(key) ? this.#staged.get(key) : this.#seen.get(key);
    this.#staged.set(key, value);
    if (known === value) return;
    this.commit(value === null ? { kind: "data.delete", key } : { kind: "data.set", key, value });
  }
}

/**
 * The {@link AttemptData} of the try `ctx` belongs to.
 *
 * @throws UnlostError `INVALID_CONFIG` when `ctx` is not an update unlost runs (the bot was
 * started with `bot.start()`, or the update was handed to `bot.handleUpdate` by other code):
 * there is no completion to commit the writes with.
 */
export function attemptDataOf(ctx: Context, plugin: string): AttemptData {
  const info = (ctx as { readonly unlost?: { readonly [ATTEMPT_DATA]?: AttemptData } }).unlost;
  const data = info?.[ATTEMPT_DATA];
  if (data === undefined) {
    throw new UnlostError(
      "INVALID_CONFIG",
      `${plugin} keeps its data in unlost's store, committed with each update's completion, so it works only in a bot run by unlost (createRuntime(bot).start() or unlost run); this update has no ctx.unlost. Outside handlers, use unlostStorage(runtime) to read and write the same data.`,
    );
  }
  return data;
}
