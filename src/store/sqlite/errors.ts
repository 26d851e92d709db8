/**
 * The one place where SQLite failures become {@link UnlostError}s with a message a person can
 * act on. Every statement of the backend runs through {@link toStoreError} on failure.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";

/** What to tell the user for the SQLite result codes that have a clear cause. */
const ADVICE: Readonly<Record<string, string>> = {
  SQLITE_BUSY:
    "the database stayed locked by another process longer than the busy timeout; is another unlost process using the same file?",
  SQLITE_LOCKED: "the database table is locked by another connection of this process",
  SQLITE_FULL: "the disk is full; free some space (or prune handled updates)",
  SQLITE_READONLY: "the database file or its folder is read-only; check the permissions",
  SQLITE_CANTOPEN: "the database file cannot be opened; check that the path exists and is writable",
  SQLITE_CORRUPT: "the database file is corrupt; restore it from a backup",
  SQLITE_NOTADB: "the file is not a SQLite database; check the store path",
  SQLITE_IOERR: "the disk reported an I/O error",
  SQLITE_PERM: "permission denied on the database file",
};

function sqliteCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/**
 * Wraps any failure of `operation` as `STORE_FAILURE` (an {@link UnlostError} is passed
 * through untouched). The message names the operation, the SQLite code and what to do.
 */
export function toStoreError(err: unknown, operation: string, location: string): UnlostError {
  if (err instanceof UnlostError) return err;
  const code = sqliteCode(err);
  // Extended codes such as SQLITE_IOERR_WRITE share the advice of their primary code.
  const primary = code === undefined ? undefined : /^SQLITE_[A-Z]+/.exec(code)?.[0];
  const advice = code === undefined ? undefined : (ADVICE[code] ?? (primary === undefined ? undefined : ADVICE[primary]));
  const detail = err instanceof Error ? err.message : String(err);
  const message =
    `SQLite store (${location}): ${operation} failed` +
    (code !== undefined ? ` [${code}]` : "") +
    `: ${advice ?? detail}` +
    (advice !== undefined ? ` (${detail})` : "");
  return new UnlostError("STORE_FAILURE", message, {
    cause: err,
    details: { operation, ...(code !== undefined ? { sqliteCode: code } : {}) },
  });
}
