/**
 * The texts of a JSON array's elements, cut out of the array's text as received. Used only for
 * an update the store cannot take: its dead letter keeps the text exactly as it came, which
 * re-serialising the parsed value would not (`1e400` would become `null`, a duplicate key would
 * vanish).
 *
 * @module
 */

/**
 * Splits `text`, the text of a JSON array that `JSON.parse` accepted, into its elements' texts
 * (trimmed), in order. Undefined when `text` is not an array's text (the caller then falls
 * back to `JSON.stringify` of the parsed value).
 */
export function splitJsonArray(text: string): string[] | undefined {
  const start = text.indexOf("[");
  const end = text.lastIndexOf("]");
  if (start < 0 || end < start || text.slice(0, start).trim() !== "" || text.slice(end + 1).trim() !== "") return undefined;
  const elements: string[] = [];
  let depth = 0;
  let inString = false;
  let from = start + 1;
  for (let i = start + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c && depth === 0) {
      elements.push(text.slice(from, i).trim());
      from = i + 1;
    }
  }
  const last = text.slice(from, end).trim();
  if (last !== "" || elements.length > 0) elements.push(last);
  return elements;
}
