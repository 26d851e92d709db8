/**
 * Opening the store of a bot from the command line, beside a bot that may be running: SQLite
 * in WAL mode lets this process read and write while the bot's process does (each store
 * operation is one short transaction, waiting for the other's write lock when needed).
 *
 * @module
 */
import { existsSync } from "node:fs";
import type { CliConfig } from "../config/index.js";
import { UnlostError } from "../errors/index.js";
import { openStore, SqliteStore, type Store } from "../store/index.js";
import { inspectPgStore } from "../store/postgres/index.js";

/**
 * Opens the existing store of `config` (never creates one: a mistyped `--data` must not leave
 * an empty store behind and report "all clear").
 *
 * @throws UnlostError `INVALID_ARGUMENT` when there is no store there.
 */
export function openExistingStore(config: CliConfig, command: string): SqliteStore {
  if (!existsSync(config.storePath)) {
    throw new UnlostError(
      "INVALID_ARGUMENT",
      `there is no unlost store at ${config.storePath}. Run "unlost ${command}" in the folder you run the bot from, or point it at the store's folder with --data <dir> (or UNLOST_DATA_DIR).`,
    );
  }
  return SqliteStore.open({ path: config.storePath });
}

/**
 * Opens the PostgreSQL store of `config.storeUrl`, refusing one no bot ever used (a mistyped
 * URL or schema must not report "all clear" on an empty store).
 *
 * @throws UnlostError `INVALID_ARGUMENT` when no bot ever ran on it.
 */
async function openExistingServerStore(url: string, schema: string | null, command: string): Promise<Store> {
  const refuse = (location: string): UnlostError =>
    new UnlostError("INVALID_ARGUMENT", `no bot has run on the PostgreSQL store at ${location} yet. Check --store (or UNLOST_STORE) and --schema (or UNLOST_STORE_SCHEMA) for "unlost ${command}": the same URL and schema the bot runs with.`);
  // Looked at first without opening it: opening creates the schema, and a mistyped schema must
  // not leave an empty one behind.
  const seen = await inspectPgStore({ url, ...(schema === null ? {} : { schema }) });
  if (!seen.schemaExists || seen.schemaVersion === 0) throw refuse(seen.location);
  const store = await openStore({ url, ...(schema === null ? {} : { schema }) });
  if ((await store.state.boundBot()) === null) {
    await store.close();
    throw refuse(store.location);
  }
  return store;
}

/**
 * Opens the existing store of `config`: SQLite in the data folder, or PostgreSQL with `--store`
 * (`UNLOST_STORE`). The caller closes it.
 *
 * @throws UnlostError `INVALID_ARGUMENT` when there is no store there (see above).
 */
export async function openOperatorStore(config: CliConfig, command: string): Promise<Store> {
  return config.storeUrl === null ? openExistingStore(config, command) : await openExistingServerStore(config.storeUrl, config.storeSchema, command);
}

/** Runs `fn` with the store open (SQLite in the data folder, or PostgreSQL with `--store`) and closes it afterwards. */
export async function withStore<T>(config: CliConfig, command: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openOperatorStore(config, command);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
