/**
 * `unlost status`: the state of a bot's store, readable with or without the bot running.
 *
 * @module
 */
import { loadConfig } from "../config/index.js";
import { durationOption, parseCommandLine, settingOptions } from "./args.js";
import { formatDuration, formatTime, table } from "./format.js";
import { DEFAULT_STUCK_AFTER_MS, statusReport, type StatusReport } from "./status-report.js";
import { withStore } from "./store-access.js";
import { UnlostError } from "../errors/index.js";

/** Help text of `unlost status`. */
export const STATUS_HELP = `Usage: unlost status [options]

Shows the state of a bot's store: inbox and outbox counts by state, the oldest
waiting update and message, the last heartbeat (is the bot running?), recent
offline windows, dead letters grouped by error, unreachable chats, and updates
whose handling has taken longer than --stuck-after (running handlers, and
updates still open in the journal). Works while the bot runs and while it
does not.

Options:
  --data <dir>          folder of the store (default ./data; or UNLOST_DATA_DIR)
  --config <file>       config file (default ./unlost.config.json when present)
  --stuck-after <time>  list updates running longer than this: 90s, 5m, 1h,
                        500ms (default 60s)
  --json                one JSON object instead of text
  -h, --help        show this help`;

/** Runs `unlost status`. */
export async function runStatusCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine("status", argv, { ...settingOptions("operate"), json: { type: "boolean" }, "stuck-after": { type: "string" }, help: { type: "boolean", short: "h" } });
  if (values["help"] === true) {
    out(STATUS_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UnlostError("INVALID_ARGUMENT", `unexpected argument "${positionals.join(" ")}". Run "unlost status --help" for the options.`);
  const stuckAfterMs = durationOption(values, "stuck-after", DEFAULT_STUCK_AFTER_MS);
  const config = loadConfig({ flags: values, env: process.env, cwd: process.cwd() });
  const liveness = { heartbeatMs: config.runtime.downtime?.heartbeatMs ?? 5_000, mode: config.runtime.mode ?? "polling" };
  const report = await withStore(config, "status", (store) => statusReport(store, { now: Date.now(), stuckAfterMs, ...liveness }));
  if (values["json"] === true) out(JSON.stringify(report));
  else for (const line of formatStatus(report)) out(line);
  return 0;
}

/** The report as text, one string per line. */
export function formatStatus(r: StatusReport): string[] {
  const lines: string[] = [`store: ${r.store}`];
  lines.push(
    r.bot.lastHeartbeat === null
      ? "bot: never ran on this store"
      : `bot: ${r.bot.running ? "running" : "not running"} (last heartbeat ${formatTime(r.bot.lastHeartbeat, r.now)})`,
  );
  const i = r.inbox;
  lines.push("", "inbox (updates in)");
  lines.push(...indent(table([["pending", "in flight", "done", "dead"], [i.pending, i.inflight, i.done, i.dead].map(String)])));
  lines.push(`  chats with work: ${i.chatsWithWork}; oldest waiting: ${i.pending + i.inflight === 0 ? "none" : formatDuration(i.oldestWaitingAgeMs)}`);
  const running = r.running.updates;
  lines.push(`  running longer than ${formatDuration(r.running.olderThanMs)}: ${running.length === 0 ? "none" : running.length}`);
  if (running.length > 0) {
    const rows = running.map((u) => [String(u.updateId), u.chatKey, u.updateType, formatDuration(u.ageMs), String(u.attempt), u.where === "row" ? "running" : "in the journal", u.owner]);
    lines.push(...indent(indent(table([["id", "chat", "type", "age", "try", "where", "instance"], ...rows]))));
    if (running.some((u) => u.where === "journal")) lines.push("    (in the journal: age since it was fetched; running, or waiting behind its chat's earlier update)");
  }
  const o = r.outbox;
  lines.push("", "outbox (messages out)");
  lines.push(...indent(table([["queued", "sending", "delivered", "failed", "cancelled"], [o.byState.queued, o.byState.sending, o.byState.delivered, o.byState.failed, o.byState.cancelled].map(String)])));
  const p = o.queuedByPriority;
  lines.push(`  queued by priority: critical ${p.critical}, high ${p.high}, normal ${p.normal}, low ${p.low}`);
  lines.push(`  oldest waiting: ${o.byState.queued === 0 ? "none" : formatDuration(o.oldestWaitingAgeMs)}; delivered in the last minute: ${o.deliveredLastMinute}; ambiguous attempts (possible duplicates): ${o.ambiguousAttempts}; replays that sent something else: ${o.divergedReplays}`);
  lines.push(`  unreachable chats: ${r.unreachableChats}`);
  lines.push("", "schedules");
  if (r.schedules.length === 0) lines.push("  none");
  else {
    const rows = r.schedules.map((s) => [s.name, s.spec, s.running ? "running (or cut off)" : s.lastResult ?? "never ran", s.lastRunAt === null ? "never" : formatTime(s.lastRunAt, r.now), s.nextRunAt === null ? "none" : new Date(s.nextRunAt).toISOString(), `${s.runs} / ${s.failures}`, s.lastError ?? ""]);
    lines.push(...indent(table([["name", "timing", "last result", "last run", "next run", "runs / failed", "last error"], ...rows])));
  }
  lines.push("", "circuit breakers");
  if (r.breakers.length === 0) lines.push("  none");
  else {
    const rows = r.breakers.map((b) => [b.name, b.state, formatTime(b.recordedAt, r.now), String(b.opened), b.instance, b.lastError ?? ""]);
    lines.push(...indent(table([["name", "state", "since", "opened", "instance", "last error"], ...rows])));
  }
  lines.push("", "tasks");
  if (r.tasks.length === 0) lines.push("  none");
  else {
    const states = ["queued", "running", "done", "failed", "cancelled"] as const;
    const kinds = [...new Set(r.tasks.map((t) => t.kind))];
    const count = (kind: string, state: string): string => String(r.tasks.find((t) => t.kind === kind && t.state === state)?.count ?? 0);
    lines.push(...indent(table([["kind", ...states], ...kinds.map((k) => [k, ...states.map((s) => count(k, s))])])));
    if (r.tasks.some((t) => t.state === "failed")) lines.push("  (failed tasks are dead letters: runtime.tasks.deadLetters)");
  }
  lines.push("", "offline windows (newest first)");
  if (r.offlineWindows.length === 0) lines.push("  none recorded");
  for (const w of r.offlineWindows) lines.push(`  ${new Date(w.from).toISOString()} → ${new Date(w.to).toISOString()}  (${formatDuration(w.durationMs)})`);
  lines.push("", "dead letters by error");
  lines.push(...groups("inbox", r.deadLetters.inbox), ...groups("outbox", r.deadLetters.outbox));
  if (r.deadLetters.inbox.length + r.deadLetters.outbox.length > 0) lines.push('  (details: "unlost dead-letters list", then "unlost dead-letters show <id>")');
  return lines;
}

function groups(side: string, list: StatusReport["deadLetters"]["inbox"]): string[] {
  if (list.length === 0) return [`  ${side}: none`];
  return [`  ${side}:`, ...list.map((g) => `    ${String(g.count).padStart(5)}  ${g.error}`)];
}

function indent(lines: string[]): string[] {
  return lines.map((l) => `  ${l}`);
}
