/**
 * Small text formatting helpers for human-readable command output.
 *
 * @module
 */

/** A duration as "850 ms", "12 s", "4 min", "3 h 5 min", "2 d 4 h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/** A time as an ISO string with its age: "2024-05-01T10:00:00.000Z (3 min ago)". */
export function formatTime(at: number, now: number): string {
  return `${new Date(at).toISOString()} (${formatDuration(Math.max(0, now - at))} ago)`;
}

/** Rows as aligned columns (first row is the header). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd());
}

/** The first line of a message, shortened to `max` characters. */
export function oneLine(text: string, max = 100): string {
  const first = text.split("\n")[0] ?? "";
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}
