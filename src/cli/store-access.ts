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
import { SqliteStore } from "../store/index.js";

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

/** Runs `fn` with the store open and closes it afterwards. */
export async function withStore<T>(config: CliConfig, command: string, fn: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = openExistingStore(config, command);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
