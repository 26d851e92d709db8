/**
 * Opening a store from options.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import { SqliteStore } from "./sqlite/index.js";
import type { PostgresStoreOptions, Store, StoreOptions } from "./types.js";

/** PostgreSQL when asked for by kind, or implied by a URL without a kind. */
function isPostgres(options: StoreOptions): options is PostgresStoreOptions {
  return options.kind === "postgres" || (options.kind === undefined && "url" in options && options.url !== undefined);
}

/**
 * Opens the store described by `options`, creating and migrating it when needed: SQLite at
 * `./data/unlost.sqlite` by default; PostgreSQL with `kind: "postgres"` or a `url`
 * (`postgres://…`), in the schema `options.schema` (default `unlost`).
 *
 * @example
 * ```ts
 * const store = await openStore({ path: "./data/bot.sqlite" });
 * const shared = await openStore({ url: "postgres://bot:secret@db:5432/bots", schema: "my_bot" });
 * await store.inbox.ingest(updates, { nextOffset: last.update_id + 1 });
 * ```
 * @throws UnlostError `INVALID_CONFIG` for an unknown kind or malformed options,
 * `STORE_VERSION_UNSUPPORTED` for a store written by a newer unlost, `STORE_FAILURE` when it
 * cannot be opened.
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  if (isPostgres(options)) {
    // Loaded on demand: `pg` and the backend are ~1 MB of code a SQLite bot would keep in
    // memory for nothing (and V8 sizes its heap by a multiple of what stays live).
    const { PostgresStore } = await import("./postgres/index.js");
    return PostgresStore.open(options);
  }
  const kind: unknown = options.kind ?? "sqlite";
  if (kind === "sqlite") return SqliteStore.open(options);
  throw new UnlostError("INVALID_CONFIG", `Unknown store kind ${JSON.stringify(kind)}; the supported kinds are "sqlite" and "postgres".`);
}
