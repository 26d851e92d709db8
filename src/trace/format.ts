/**
 * Timelines as text, for `unlost trace` (one string per line).
 *
 * @module
 */
import { formatDuration } from "../cli/format.js";
import type { ChatTrace, TraceSend, UpdateTrace } from "./types.js";

const time = (at: number | null): string => (at === null ? "(time not recorded)    " : new Date(at).toISOString());

/** An update's timeline as lines. */
export function formatUpdateTrace(t: UpdateTrace, indent = ""): string[] {
  const head = t.found ? `update ${t.updateId} (${t.updateType ?? "?"}, chat ${t.chatKey ?? "?"}): ${t.state ?? "?"}` : `update ${t.updateId}: no inbox record`;
  const lines = [`${indent}${head}`, `${indent}  ${t.problem ? "✗" : "✓"} ${t.verdict}`];
  for (const e of t.events) lines.push(`${indent}  ${time(e.at)}  ${e.bad === true ? "! " : "  "}${e.text}`);
  return lines;
}

function sendLine(s: TraceSend): string {
  return `${new Date(s.createdAt).toISOString()}  ${s.method} → ${String(s.chatId)}: ${s.state} after ${s.attempts} attempt${s.attempts === 1 ? "" : "s"} (job ${s.jobId})${s.lastError === null ? "" : ` — ${s.lastError}`}`;
}

/** A chat's timeline as lines. */
export function formatChatTrace(t: ChatTrace, now: number): string[] {
  const lines = [`chat ${t.chatId}${t.userId === null ? "" : ` (user ${t.userId})`}`, `  ${t.verdict}`];
  if (t.unreachable !== null) lines.push(`  unreachable for ${formatDuration(now - t.unreachable.since)}: ${t.unreachable.reason}`);
  for (const u of t.updates) lines.push("", ...formatUpdateTrace(u, "  "));
  if (t.otherSends.length > 0) {
    lines.push("", "  other sends to this chat (not made by the updates above)");
    for (const s of t.otherSends) lines.push(`    ${sendLine(s)}`);
  }
  return lines;
}
