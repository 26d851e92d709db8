/**
 * The bot data writes of completions accepted but not committed yet, so that a chat's next
 * update reads what its previous one wrote. The journal dispatcher starts a chat's next update
 * as soon as the previous handler returned, and writes completions a little later, in batches
 * (see `JournalDispatcher`): without this, the next update would read the value from before.
 *
 * One per runtime. Entries are the effects themselves: a key's entry is removed only by the
 * commit (or the drop) of the very effect it holds, so a newer write waiting behind an older
 * one's commit stays visible.
 *
 * @module
 */
import type { UncommittedEffects } from "../inbound/journal-dispatcher.js";
import type { DataDeleteEffect, DataSetEffect, StoreEffect } from "../store/index.js";

/** What {@link UncommittedWrites.lookup} finds: the value, null for a deletion, undefined for nothing. */
export type UncommittedValue = string | null | undefined;

/** {@link UncommittedEffects} of bot data, and the lookup readers use. */
export class UncommittedWrites implements UncommittedEffects {
  private readonly byKey = new Map<string, DataSetEffect | DataDeleteEffect>();

  /** {@inheritDoc UncommittedEffects.added} */
  added(effects: readonly StoreEffect[]): void {
    for (const e of effects) if (e.kind === "data.set" || e.kind === "data.delete") this.byKey.set(e.key, e);
  }

  /** {@inheritDoc UncommittedEffects.removed} */
  removed(effects: readonly StoreEffect[]): void {
    if (this.byKey.size === 0) return;
    for (const e of effects) if ((e.kind === "data.set" || e.kind === "data.delete") && this.byKey.get(e.key) === e) this.byKey.delete(e.key);
  }

  /** The newest uncommitted write of `key`: its value, null when it deletes, undefined when there is none. */
  lookup(key: string): UncommittedValue {
    if (this.byKey.size === 0) return undefined;
    const e = this.byKey.get(key);
    if (e === undefined) return undefined;
    return e.kind === "data.set" ? e.value : null;
  }

  /** How many keys have an uncommitted write (for tests). */
  get size(): number {
    return this.byKey.size;
  }
}
