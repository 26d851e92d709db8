/**
 * `unlost migrate-store`: moves a bot from its SQLite store (a data folder) to PostgreSQL.
 * The copy itself is `migrateStore` (src/store/migrate-store.ts): one transaction on the
 * target, refused while the bot runs on the source or when the target holds anything.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { STORE_FILE_NAME } from "../config/index.js";
import { UnlostError } from "../errors/index.js";
import { SqliteStore } from "../store/index.js";
import { migrateStore, type MigrateStoreResult } from "../store/migrate-store.js";
import { PostgresStore } from "../store/postgres/index.js";
import { parseCommandLine } from "./args.js";

/** Help text of `unlost migrate-store`. */
export const MIGRATE_STORE_HELP = `Usage: unlost migrate-store --from <data dir> --to <postgres url> [options]

Copies a bot's SQLite store to an empty PostgreSQL schema: pending and in-flight
updates (unfinished journal batches included), outbox jobs with their keys and
attempts, the dead letters of both, the polling offset, offline windows,
key/values and the bot's data (sessions). In one transaction: it lands whole or
not at all. Stop every process of the bot first; start it on PostgreSQL after.

Refuses (and changes nothing) while the bot runs on the source (a lease is
held), or when the target schema holds anything. Running it again after a copy
of the same, unchanged source does nothing.

Options:
  --from <dir>       the bot's data folder (or its unlost.sqlite file)
  --to <url>         the PostgreSQL URL (postgres://user:password@host:5432/db)
  --schema <name>    the target schema (default unlost)
  --json             one JSON object instead of text
  -h, --help         show this help

Then: unlost run <bot> --store <url> [--schema <name>]. Files of queued sends
(the outbox's blobs) stay in <data dir>/blobs: run the bot from the folder that
holds that data folder, or copy it to ./data/blobs where the bot runs.

Exit codes: 0 copied (or already copied), 1 refused because the bot runs or a
store failed, 2 bad usage or a target that is not empty.`;

/** The SQLite file of `from`: the folder's unlost.sqlite, or the file itself. */
function sourceFile(from: string): string {
  const path = resolve(from);
  if (!existsSync(path)) throw new UnlostError("INVALID_ARGUMENT", `--from ${from}: no such folder or file. Give the bot's data folder (the one holding ${STORE_FILE_NAME}).`);
  const file = statSync(path).isDirectory() ? join(path, STORE_FILE_NAME) : path;
  if (!existsSync(file)) throw new UnlostError("INVALID_ARGUMENT", `--from ${from}: there is no ${STORE_FILE_NAME} in that folder. Give the bot's data folder (its --data).`);
  return file;
}

/** Runs `unlost migrate-store`. */
export async function runMigrateStoreCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine("migrate-store", argv, {
    from: { type: "string" }, to: { type: "string" }, schema: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" },
  });
  if (values["help"] === true) {
    out(MIGRATE_STORE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UnlostError("INVALID_ARGUMENT", `unexpected argument "${positionals.join(" ")}". Run "unlost migrate-store --help" for the options.`);
  const from = values["from"];
  const to = values["to"];
  if (typeof from !== "string" || typeof to !== "string") throw new UnlostError("INVALID_ARGUMENT", 'both --from <data dir> and --to <postgres url> are needed. Run "unlost migrate-store --help" for the options.');
  if (!/^postgres(ql)?:\/\//.test(to)) throw new UnlostError("INVALID_ARGUMENT", "--to must be a PostgreSQL URL (postgres://user:password@host:5432/database).");
  const schema = typeof values["schema"] === "string" ? values["schema"] : undefined;
  const file = sourceFile(from);

  const source = SqliteStore.open({ path: file });
  try {
    const target = await PostgresStore.open({ url: to, poolSize: 2, ...(schema === undefined ? {} : { schema }) });
    try {
      const result = await migrateStore(source, target);
      if (values["json"] === true) out(JSON.stringify({ from: source.location, to: target.location, ...result }));
      else for (const line of describe(result, source.location, target.location)) out(line);
      return 0;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

function describe(r: MigrateStoreResult, from: string, to: string): string[] {
  if (r.alreadyMigrated) return [`${to} already holds the copy of ${from} (unchanged since): nothing to do.`];
  const rows = Object.values(r.tables).reduce((n, c) => n + c, 0);
  return [
    `copied ${from} to ${to}: ${rows} rows in one transaction`,
    `  updates: ${r.updates.open} waiting (${r.adoptedFromJournal} of them from unfinished journal batches), ${r.updates.dead} dead letters`,
    `  outbox:  ${r.jobs.open} jobs to send, ${r.jobs.failed} dead letters`,
    `  offset:  ${r.offset ?? "none (the bot never polled)"}`,
    `  tables:  ${Object.entries(r.tables).map(([t, n]) => `${t} ${n}`).join(", ")}`,
    "next: start the bot with --store (and --schema) pointing there; keep the SQLite folder until it runs well.",
  ];
}
