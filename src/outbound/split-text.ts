/**
 * Splitting long plain text into messages Telegram accepts. Only plain text can be split
 * safely: cutting HTML or MarkdownV2 could cut an entity in two and break both halves.
 *
 * @module
 */
import { MAX_TEXT_LENGTH } from "../telegram/limits.js";

/** Boundaries to cut at, best first. */
const BOUNDARIES = [/\n[ \t]*\n/g, /\n/g, /[ \t]+/g] as const;

/**
 * Splits `text` into parts of at most `maxLength` characters (UTF-16 code units, as Telegram
 * counts), cutting at the last paragraph break that keeps the part at least half full, else
 * the last line break, else the last space, else anywhere (never inside a surrogate pair).
 * The whitespace at a cut is dropped; parts that would be only whitespace are left out.
 *
 * @example
 * ```ts
 * splitText("a".repeat(3000) + "\n\n" + "b".repeat(3000)) // ["aaa…", "bbb…"]
 * ```
 */
export function splitText(text: string, maxLength: number = MAX_TEXT_LENGTH): string[] {
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new RangeError(`maxLength must be an integer >= 2 (got ${maxLength})`);
  const parts: string[] = [];
  let rest = text;
  while (rest.length > maxLength) {
    const { end, resume } = cutPoint(rest, maxLength);
    const part = rest.slice(0, end);
    if (part.trim().length > 0) parts.push(part);
    rest = rest.slice(resume);
  }
  if (rest.trim().length > 0) parts.push(rest);
  return parts;
}

/** Where to end this part and where the next one starts (the separator in between is dropped). */
function cutPoint(text: string, maxLength: number): { end: number; resume: number } {
  // The separator may end exactly at maxLength: look one char further for it.
  const window = text.slice(0, maxLength + 1);
  let fallback: { end: number; resume: number } | undefined;
  for (const boundary of BOUNDARIES) {
    const found = lastMatch(window, boundary, maxLength);
    if (found === undefined) continue;
    if (found.end >= maxLength / 2) return found;
    fallback ??= found;
  }
  if (fallback !== undefined) return fallback;
  // No boundary at all: a hard cut, but not between the halves of a surrogate pair.
  const code = text.charCodeAt(maxLength - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? maxLength - 1 : maxLength;
  return { end, resume: end };
}

function lastMatch(window: string, boundary: RegExp, maxLength: number): { end: number; resume: number } | undefined {
  let last: { end: number; resume: number } | undefined;
  boundary.lastIndex = 0;
  for (let m = boundary.exec(window); m !== null; m = boundary.exec(window)) {
    if (m.index > 0 && m.index <= maxLength) last = { end: m.index, resume: m.index + m[0].length };
  }
  return last;
}
