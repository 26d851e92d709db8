/**
 * Opening a store from options.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import { SqliteStore } from "./sqlite/index.js";
import type { Store, StoreOptions } from "./types.js";

/**
 * Opens the store described by `options` (SQLite at `./data/unlost.sqlite` by default),
 * creating and migrating it when needed.
 *
 * @example
 * ```ts
 * const store = await openStore({ path: "./data/bot.sqlite" });
 * await store.inbox.ingest(updates, { nextOffset: last.update_id + 1 });
 * ```
 * @throws UnlostError `INVALID_CONFIG` for an unknown kind, `STORE_VERSION_UNSUPPORTED` for a
 * store written by a newer unlost, `STORE_FAILURE` when it cannot be opened.
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const kind: unknown = options.kind ?? "sqlite";
  if (kind === "sqlite") return SqliteStore.open(options);
  throw new UnlostError("INVALID_CONFIG", `Unknown store kind ${JSON.stringify(kind)}; the supported kind is "sqlite".`);
}
