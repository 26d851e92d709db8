/**
 * The filters of {@link InspectStore}'s listings, checked and turned into WHERE terms the same
 * way for every backend (only the parameter marker differs: `?` or `$n`).
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { JobState, Priority } from "../outbound/types.js";
import type { JobListOptions, UpdateListOptions } from "./inspect-types.js";
import type { ChatId } from "./outbox-types.js";
import { requireInt } from "./validate.js";

/** WHERE terms joined with AND, and their parameters in order. */
export interface InspectWhere {
  readonly sql: string;
  readonly params: unknown[];
}

const UPDATE_STATES = new Set(["pending", "inflight", "done", "dead", "open"]);
const JOB_STATES: ReadonlySet<JobState> = new Set(["queued", "sending", "delivered", "failed", "cancelled"]);
const PRIORITIES: ReadonlySet<Priority> = new Set(["critical", "high", "normal", "low"]);

/** A listing's limit: default 50, 1 to 1000. */
export function inspectLimit(limit: number | undefined): number {
  return requireInt("limit", limit ?? 50, 1, 1000);
}

/** The WHERE of an update listing; `mark` gives the next parameter's marker. */
export function inspectUpdatesWhere(options: UpdateListOptions, mark: () => string): InspectWhere {
  const state = options.state ?? "open";
  if (!UPDATE_STATES.has(state)) throw new UnlostError("INVALID_ARGUMENT", `state must be pending, inflight, done, dead or open; got ${JSON.stringify(state)}.`);
  const terms = [state === "open" ? "state IN ('pending', 'inflight')" : `state = '${state}'`];
  const params: unknown[] = [];
  if (options.chatKey !== undefined) {
    if (typeof options.chatKey !== "string" || options.chatKey === "") throw new UnlostError("INVALID_ARGUMENT", "chatKey must be a non-empty string, e.g. \"123\".");
    terms.push(`chat_key = ${mark()}`);
    params.push(options.chatKey);
  }
  return { sql: terms.join(" AND "), params };
}

/** The WHERE of a job listing (without the key prefix and the cursor). */
export function inspectJobsWhere(options: JobListOptions, mark: () => string, chatKeyOf: (chatId: ChatId) => string): InspectWhere {
  const terms = ["1 = 1"];
  const params: unknown[] = [];
  if (options.state !== undefined) {
    if (!JOB_STATES.has(options.state)) throw new UnlostError("INVALID_ARGUMENT", `state must be queued, sending, delivered, failed or cancelled; got ${JSON.stringify(options.state)}.`);
    terms.push(`state = '${options.state}'`);
  }
  if (options.priority !== undefined) {
    if (!PRIORITIES.has(options.priority)) throw new UnlostError("INVALID_ARGUMENT", `priority must be critical, high, normal or low; got ${JSON.stringify(options.priority)}.`);
    terms.push(`priority = '${options.priority}'`);
  }
  if (options.chatId !== undefined) {
    terms.push(`chat_key = ${mark()}`);
    params.push(chatKeyOf(options.chatId));
  }
  if (options.broadcastId !== undefined) {
    terms.push(`broadcast_id = ${mark()}`);
    params.push(options.broadcastId);
  }
  if (options.keyPrefix !== undefined && (typeof options.keyPrefix !== "string" || options.keyPrefix === "")) {
    throw new UnlostError("INVALID_ARGUMENT", "keyPrefix must be a non-empty string, e.g. \"<bot id>:<update_id>:\".");
  }
  return { sql: terms.join(" AND "), params };
}

/**
 * The half-open range `[prefix, prefix + U+FFFF)` of keys starting with `prefix`: a range on
 * the key's index in any collation that orders by code point (SQLite's default, PostgreSQL's "C").
 */
export function likePrefix(prefix: string): [string, string] {
  return [prefix, `${prefix}\uffff`];
}
