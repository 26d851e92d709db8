/**
 * Row shapes of the inbox table and their mapping to the public records.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { DeadLetter, InboxRecord, InboxState, InboxUpdate } from "../inbox-types.js";
import type { RawUpdate } from "../update-meta.js";

/** The columns every inbox read selects. */
export const INBOX_COLUMNS =
  "update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, attempts, recoveries, isolated_deaths, " +
  "lease_owner, lease_until, lease_token, last_error, last_stack, settled_at, claimed_at, via, via_offset";

/** One row of `inbox` as better-sqlite3 returns it. */
export interface InboxRow {
  update_id: number;
  chat_key: string;
  update_type: string;
  message_date: number | null;
  received_at: number;
  raw: string;
  state: InboxState;
  due_at: number;
  attempts: number;
  recoveries: number;
  isolated_deaths: number;
  lease_owner: string | null;
  lease_until: number | null;
  lease_token: number;
  last_error: string | null;
  last_stack: string | null;
  settled_at: number | null;
  claimed_at: number | null;
  via: string | null;
  via_offset: number | null;
}

/** Parses stored JSON; a row that does not parse means the file was tampered with. */
export function parseRaw(raw: string, updateId: number): RawUpdate {
  try {
    return JSON.parse(raw) as RawUpdate;
  } catch (err) {
    throw new UnlostError("STORE_FAILURE", `The stored JSON of update ${updateId} does not parse; the store is damaged.`, {
      cause: err,
    });
  }
}

/** The update part of a row. */
export function toInboxUpdate(row: InboxRow): InboxUpdate {
  return {
    updateId: row.update_id,
    chatKey: row.chat_key,
    updateType: row.update_type,
    messageDate: row.message_date,
    receivedAt: row.received_at,
    raw: row.raw,
    update: parseRaw(row.raw, row.update_id),
  };
}

/** A full record. */
export function toInboxRecord(row: InboxRow): InboxRecord {
  return {
    ...toInboxUpdate(row),
    state: row.state,
    attempts: row.attempts,
    recoveries: row.recoveries,
    isolatedDeaths: row.isolated_deaths,
    dueAt: row.due_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    lastError: row.last_error,
    lastStack: row.last_stack,
    settledAt: row.settled_at,
    claimedAt: row.claimed_at,
    via: row.via === "poll" || row.via === "webhook" ? row.via : null,
    pollOffset: row.via_offset,
  };
}

/** A dead letter. */
export function toDeadLetter(row: InboxRow): DeadLetter {
  return {
    ...toInboxUpdate(row),
    attempts: row.attempts,
    recoveries: row.recoveries,
    isolatedDeaths: row.isolated_deaths,
    error: row.last_error ?? "",
    stack: row.last_stack,
    diedAt: row.settled_at ?? row.due_at,
  };
}
