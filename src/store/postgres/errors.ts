/**
 * The one place where PostgreSQL and network failures become {@link UnlostError}s with a
 * message a person can act on. Every statement of the backend runs through
 * {@link toPgStoreError} on failure.
 *
 * @module
 */
import { UnlostError, type Scrub } from "../../errors/index.js";

/** What to tell the user for the SQLSTATE codes (and classes) that have a clear cause. */
const ADVICE: Readonly<Record<string, string>> = {
  "28P01": "the server refused the password; check the user and password of the store URL",
  "28000": "the server refused the connection for this user (pg_hba.conf); check the user and the server's access rules",
  "3D000": "the database does not exist; create it (CREATE DATABASE) or fix the store URL",
  "3F000": "the schema does not exist",
  "42501": "the user lacks a privilege unlost needs (CREATE on the database for a new schema, or on the schema's tables)",
  "53100": "the server's disk is full; free some space (or prune handled updates)",
  "53200": "the server is out of memory",
  "53300": "the server has no connection left (max_connections); lower poolSize or raise the server's limit",
  "57P01": "the server is shutting down",
  "57P02": "the server is restarting after a crash",
  "57P03": "the server is starting up or in recovery and does not accept connections yet",
  "25006": "the server is read-only (a standby?); point the store URL at the primary",
  "40001": "a concurrent transaction conflicted and retries ran out",
  "40P01": "a deadlock with a concurrent transaction persisted after retries",
  "22021": "PostgreSQL text cannot hold the character NUL (U+0000); escape it (JSON text always does)",
};

/** SQLSTATE classes: the first two characters. */
const CLASS_ADVICE: Readonly<Record<string, string>> = {
  "08": "the connection to the server failed or was lost",
  "53": "the server ran out of a resource",
  "57": "the server stopped this operation (shutdown, cancel or timeout)",
};

/** Network errors of node:net, before any SQLSTATE exists. */
const NETWORK_ADVICE: Readonly<Record<string, string>> = {
  ECONNREFUSED: "nothing accepts connections at the URL's host and port; is PostgreSQL running there?",
  ENOTFOUND: "the URL's host name does not resolve",
  ETIMEDOUT: "the connection to the server timed out",
  ECONNRESET: "the server closed the connection",
  EHOSTUNREACH: "the server's host is unreachable",
};

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]);

function codeOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** True when `code` is a five-character SQLSTATE (not a node:net error code). */
function isSqlState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code);
}

/** True for a serialization failure or a deadlock: the transaction can be run again as is. */
export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && RETRYABLE.has(code);
}

/**
 * Wraps any failure of `operation` as an {@link UnlostError} (one is passed through
 * untouched): `INVALID_ARGUMENT` for a value PostgreSQL cannot store, `STORE_FAILURE`
 * otherwise. The message names the operation, the SQLSTATE (or network code) and what to do;
 * `scrub` removes the URL's password and bot tokens from the server's own text.
 */
export function toPgStoreError(err: unknown, operation: string, location: string, scrub: Scrub): UnlostError {
  if (err instanceof UnlostError) return err;
  const code = codeOf(err);
  const sqlState = code !== undefined && isSqlState(code) ? code : undefined;
  const advice =
    code === undefined
      ? undefined
      : sqlState !== undefined
        ? (ADVICE[sqlState] ?? CLASS_ADVICE[sqlState.slice(0, 2)])
        : NETWORK_ADVICE[code];
  const detail = scrub(err instanceof Error ? err.message : String(err));
  const message =
    `PostgreSQL store (${location}): ${operation} failed` +
    (code !== undefined ? ` [${code}]` : "") +
    `: ${advice ?? detail}` +
    (advice !== undefined && detail !== "" ? ` (${detail})` : "");
  const kind = sqlState === "22021" ? "INVALID_ARGUMENT" : "STORE_FAILURE";
  // The cause keeps the driver's error for debugging; its message is scrubbed too, since a
  // logger may print causes.
  if (err instanceof Error) {
    try {
      err.message = scrub(err.message);
      if (err.stack !== undefined) err.stack = scrub(err.stack);
    } catch {
      // a frozen error is handed on as it is
    }
  }
  return new UnlostError(kind, message, {
    cause: err,
    details: { operation, ...(sqlState !== undefined ? { sqlState } : code !== undefined ? { networkCode: code } : {}) },
  });
}
