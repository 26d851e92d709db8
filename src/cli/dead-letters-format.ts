/**
 * Dead letters as text: one row per dead letter in lists, every detail in `show`.
 *
 * @module
 */
import type { Job } from "../outbound/types.js";
import type { DeadLetter } from "../store/index.js";
import { formatDuration, oneLine, table } from "./format.js";

/** Inbox dead letters as a table. */
export function formatInboxList(items: readonly DeadLetter[], more: boolean, now: number): string[] {
  if (items.length === 0) return ["no inbox dead letters match"];
  const rows = items.map((d) => [String(d.updateId), d.chatKey, d.updateType, String(d.attempts), `${formatDuration(now - d.diedAt)} ago`, oneLine(d.error, 80)]);
  return [...table([["id", "chat", "type", "tries", "died", "error"], ...rows]), ...(more ? ["(more match: raise --limit or narrow the filters)"] : [])];
}

/** One inbox dead letter with its error, stack and update. */
export function formatInboxShow(d: DeadLetter): string[] {
  if (d.updateId < 0) return formatUnstorableShow(d);
  return [
    `inbox dead letter ${d.updateId} (update_id)`,
    `chat:        ${d.chatKey}`,
    `type:        ${d.updateType}`,
    `received:    ${new Date(d.receivedAt).toISOString()}`,
    `died:        ${new Date(d.diedAt).toISOString()} after ${d.attempts} tries${d.recoveries > 0 ? `, ${d.recoveries} take-overs from dead processes` : ""}`,
    `error:       ${d.error}`,
    "stack:",
    ...(d.stack ?? "(none recorded)").split("\n").map((l) => `  ${l}`),
    "update:",
    ...JSON.stringify(d.update, null, 2).split("\n").map((l) => `  ${l}`),
    "",
    `retry it: unlost dead-letters retry ${d.updateId}    delete it: unlost dead-letters purge ${d.updateId}`,
  ];
}

/** An unstorable update (negative id): its error and its text as received. */
function formatUnstorableShow(d: DeadLetter): string[] {
  const raw = d.update["unstorable"];
  return [
    `inbox dead letter ${d.updateId} (an unstorable update: received without a valid update_id)`,
    `received:    ${new Date(d.receivedAt).toISOString()}`,
    `error:       ${d.error}`,
    "as received:",
    ...(typeof raw === "string" ? raw : JSON.stringify(d.update)).split("\n").map((l) => `  ${l}`),
    "",
    `It cannot be retried (there is no update to give a handler). Delete it: unlost dead-letters purge ${d.updateId}`,
  ];
}

/** Outbox dead letters (failed jobs) as a table. */
export function formatOutboxList(items: readonly Job[], more: boolean, now: number): string[] {
  if (items.length === 0) return ["no outbox dead letters match"];
  const rows = items.map((j) => [j.id, String(j.chatId), j.method, j.failureReason ?? "?", String(j.attempts), `${formatDuration(now - j.updatedAt)} ago`, oneLine(j.lastError ?? "", 70)]);
  return [...table([["id", "chat", "method", "reason", "tries", "failed", "error"], ...rows]), ...(more ? ["(more match: raise --limit or narrow the filters)"] : [])];
}

/** One failed job with its error and attempt history. */
export function formatOutboxShow(j: Job): string[] {
  const payload = j.payload.length > 2000 ? `${j.payload.slice(0, 2000)}…` : j.payload;
  return [
    `outbox dead letter ${j.id}`,
    `chat:        ${String(j.chatId)}`,
    `method:      ${j.method} (priority ${j.priority})`,
    `created:     ${new Date(j.createdAt).toISOString()}`,
    `failed:      ${new Date(j.updatedAt).toISOString()}, reason ${j.failureReason ?? "?"}, after ${j.attempts} attempts${j.ambiguousAttempts > 0 ? ` (${j.ambiguousAttempts} ambiguous: may have been delivered)` : ""}`,
    `error:       ${j.lastError ?? "(none recorded)"}`,
    "history:",
    ...(j.history.length === 0
      ? ["  (no attempt was made)"]
      : j.history.map((h) => `  ${new Date(h.at).toISOString()}  ${h.outcome}${h.code === null ? "" : ` ${h.code}`}${h.ambiguous ? " (ambiguous)" : ""}${h.error === null ? "" : `  ${oneLine(h.error, 120)}`}`)),
    `payload:     ${payload}`,
    "",
    `retry it: unlost dead-letters retry ${j.id} --outbox    delete it: unlost dead-letters purge ${j.id} --outbox`,
  ];
}
