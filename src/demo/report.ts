/**
 * What the demo prints: the progress line while users write, and at the end the summary table
 * (one column per bot), a verdict in words, and the JSON line of `--json`.
 */
import type { LiveStatus, ScenarioResult } from "./scenario.js";

/** What the run was, for the table's heading and the JSON line. */
export interface RunFacts {
  /** The `--seed`. */
  readonly seed: number;
  /** Simulated users. */
  readonly users: number;
  /** Groups the bot is in. */
  readonly groups: number;
  /** Seconds of load. */
  readonly durationSeconds: number;
  /** Kills planned. */
  readonly kills: number;
}

const SIDE_NAMES = { unlost: "unlost", grammy: "grammY bot.start()" } as const;

/** Seconds with one decimal, right-aligned in 6 characters: `[ 12.3s]`. */
function stamp(ms: number): string {
  return `[${(Math.max(0, ms) / 1000).toFixed(1).padStart(5)}s]`;
}

/** One event of the script, as a line. */
export function formatEvent(side: string, elapsedMs: number, text: string, compare: boolean): string {
  return `${stamp(elapsedMs)} ${compare ? `${SIDE_NAMES[side as keyof typeof SIDE_NAMES] ?? side}: ` : ""}${text}`;
}

/** The progress line: one compact block per bot. */
export function formatStatus(elapsedMs: number, statuses: readonly LiveStatus[]): string {
  const parts = statuses.map((s) => {
    const state = { up: "▲ up", starting: "△ starting", down: "▼ DOWN", done: "■ done" }[s.state];
    const name = statuses.length > 1 ? `${s.side === "unlost" ? "unlost" : "grammY"} ` : "";
    return `${name}${state} · sent ${s.sent} · handled ${s.handled} · replies ${s.replies} · backlog ${s.backlog} (${s.atTelegram} at Telegram) · faults ${s.faults} · kills ${s.kills}`;
  });
  return `${stamp(elapsedMs)} ${parts.join("  │  ")}`;
}

const ms = (v: number | null): string => (v === null ? "–" : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);

/** The summary table, one column per result. */
export function formatSummary(facts: RunFacts, results: readonly ScenarioResult[]): string[] {
  const rows: Array<[string, (r: ScenarioResult) => string]> = [
    ["messages sent (updates)", (r) => `${r.sent}`],
    ["handled (got a reply)", (r) => `${r.handled}`],
    ["replies delivered", (r) => `${r.replies_delivered}`],
    ["LOST (no reply at all)", (r) => `${r.lost}`],
    ["duplicated replies", (r) => `${r.duplicated}`],
    ["  answer lost in transit", (r) => `${r.duplicated_answer_lost}`],
    ["  sent just before a kill", (r) => `${r.duplicated_at_kill}`],
    ["delayed while down", (r) => `${r.delayed_while_down}`],
    ["  of which answered later", (r) => `${r.delayed_while_down_handled}`],
    ["reply latency p50", (r) => ms(r.p50_reply_ms)],
    ["reply latency p99", (r) => ms(r.p99_reply_ms)],
    ["faults injected", (r) => `${r.faults_injected}`],
    ["  of which 429s", (r) => `${r.responses_429}`],
    ["kills (SIGKILL)", (r) => `${r.kills}`],
    ["crashes, restarted", (r) => `${r.crashes}`],
  ];
  const labelWidth = Math.max(...rows.map(([l]) => l.length)) + 2;
  const width = Math.max(10, ...results.map((r) => SIDE_NAMES[r.side].length + 2));
  const header = `${"".padEnd(labelWidth)}${results.map((r) => SIDE_NAMES[r.side].padStart(width)).join("")}`;
  const lines = [
    "",
    `Summary, verified against the emulator's record of every delivered message`,
    `(seed ${facts.seed} · ${facts.users} users, ${facts.groups} group${facts.groups === 1 ? "" : "s"} · ${facts.durationSeconds} s of load · ${facts.kills} × kill -9 · resets, 502s, hangs, lost answers and a 429 storm):`,
    "",
    `  ${header}`,
    ...rows.map(([label, cell]) => `  ${label.padEnd(labelWidth)}${results.map((r) => cell(r).padStart(width)).join("")}`),
    "",
  ];
  return lines.concat(results.map(verdict));
}

/** One sentence per bot on what happened. */
function verdict(r: ScenarioResult): string {
  const name = SIDE_NAMES[r.side];
  if (r.lost > 0) {
    const more = r.side === "unlost" ? ` (not drained within the time limit; ids ${r.lost_sample.join(", ")}; bot log: ${r.log_path})` : "";
    return `✗ ${name}: ${r.lost} of ${r.sent} messages never got a reply${more}.`;
  }
  const dup = r.duplicated === 0
    ? "no reply was delivered twice"
    : `${r.duplicated} ${r.duplicated === 1 ? "reply was" : "replies were"} delivered twice (${causes(r)}) — the one honest exception, counted (docs/guarantees.md)`;
  return `✓ ${name}: nothing lost — all ${r.sent} messages answered (${r.delayed_while_down} of them sent while the bot was down); ${dup}.`;
}

/** Why replies were delivered twice, in words, leaving out causes that did not occur. */
function causes(r: ScenarioResult): string {
  const other = r.duplicated - r.duplicated_answer_lost - r.duplicated_at_kill;
  return [
    [r.duplicated_answer_lost, "answer lost by the network"],
    [r.duplicated_at_kill, "on the wire at a kill"],
    [other, "unexplained"],
  ].filter(([n]) => Number(n) > 0).map(([n, what]) => `${n} ${what}`).join(", ");
}

/** The `--json` line: the unlost run's verified summary, with the comparison when there is one. */
export function summaryJson(facts: RunFacts, unlost: ScenarioResult, grammy: ScenarioResult | undefined): string {
  const pick = (r: ScenarioResult) => ({
    sent: r.sent, handled: r.handled, replies_delivered: r.replies_delivered, lost: r.lost, duplicated: r.duplicated,
    duplicated_answer_lost: r.duplicated_answer_lost, duplicated_at_kill: r.duplicated_at_kill,
    delayed_while_down: r.delayed_while_down, kills: r.kills, crashes: r.crashes, faults_injected: r.faults_injected,
    responses_429: r.responses_429, p50_reply_ms: r.p50_reply_ms, p99_reply_ms: r.p99_reply_ms, drained: r.drained, drain_ms: r.drain_ms,
  });
  return JSON.stringify({
    demo: true, ...pick(unlost), seed: facts.seed, users: facts.users, groups: facts.groups, duration_s: facts.durationSeconds,
    ...(grammy === undefined ? {} : { compare: { bot: "grammy-bot.start", ...pick(grammy) } }),
  });
}
