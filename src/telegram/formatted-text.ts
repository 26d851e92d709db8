/**
 * Telegram counts a message's length after entity parsing, and rejects text its parser cannot
 * read. This is enough of Telegram's HTML, MarkdownV2 and legacy Markdown parsers to measure
 * the visible text and to reject what Telegram rejects most often (unknown or unclosed HTML
 * tags, unescaped reserved MarkdownV2 characters) with Telegram's wording.
 *
 * Shared by the emulator (which answers a {@link TextRejection} with Telegram's 400) and the
 * outbox (which refuses such text at enqueue), so both measure text the same way.
 *
 * @module
 */
import { MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH } from "./limits.js";

export { MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH };

/**
 * Telegram would refuse this text with a 400. `description` is Telegram's wording without the
 * `Bad Request: ` prefix (e.g. `message is too long`, `can't parse entities: ...`).
 */
export class TextRejection extends Error {
  constructor(
    /** Telegram's description, without `Bad Request: `. */
    readonly description: string,
    /** What was wrong, for callers that explain it: parsing, emptiness or length. */
    readonly problem: "parse" | "empty" | "too-long" | "parse-mode",
  ) {
    super(description);
    this.name = "TextRejection";
  }
}

/** True when `value` is a {@link TextRejection}. */
export function isTextRejection(value: unknown): value is TextRejection {
  return value instanceof TextRejection;
}

const HTML_TAGS = new Set([
  "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
  "blockquote", "tg-emoji",
]);
const HTML_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };
const MARKDOWN_V2_RESERVED = new Set("_*[]()~`>#+-=|{}.!".split(""));

/**
 * Returns the text a user would see (entities removed), or throws a {@link TextRejection}
 * with Telegram's `can't parse entities` wording.
 */
export function visibleText(text: string, parseMode: string | undefined): string {
  if (parseMode === undefined || parseMode === "") return text;
  switch (parseMode.toLowerCase()) {
    case "html":
      return parseHtml(text);
    case "markdownv2":
      return parseMarkdownV2(text);
    case "markdown":
      return text.replace(/\\([_*`[])/g, "$1").replace(/[*_`]|\[([^\]]*)\]\([^)]*\)/g, (_m, label?: string) => label ?? "");
    default:
      throw new TextRejection("unsupported parse_mode", "parse-mode");
  }
}

function cantParse(why: string): TextRejection {
  return new TextRejection(`can't parse entities: ${why}`, "parse");
}

function parseHtml(text: string): string {
  let out = "";
  const open: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "<") {
      const end = text.indexOf(">", i);
      if (end < 0) throw cantParse(`Unclosed start tag at byte offset ${byteOffset(text, i)}`);
      const inside = text.slice(i + 1, end).trim();
      const closing = inside.startsWith("/");
      const name = (closing ? inside.slice(1) : inside).split(/\s/)[0]?.toLowerCase() ?? "";
      if (!HTML_TAGS.has(name)) {
        throw cantParse(`Unsupported start tag "${name}" at byte offset ${byteOffset(text, i)}`);
      }
      if (closing) {
        const last = open.pop();
        if (last !== name) {
          throw cantParse(`Unmatched end tag at byte offset ${byteOffset(text, i)}, expected "</${last ?? ""}>", found "</${name}>"`);
        }
      } else {
        open.push(name);
      }
      i = end + 1;
    } else if (ch === "&") {
      const semi = text.indexOf(";", i);
      const entity = semi > i ? text.slice(i + 1, semi) : "";
      const numeric = /^#(x[0-9a-f]+|\d+)$/i.exec(entity);
      if (HTML_ENTITIES[entity] !== undefined) {
        out += HTML_ENTITIES[entity];
        i = semi + 1;
      } else if (numeric?.[1] !== undefined) {
        const code = numeric[1].startsWith("x") || numeric[1].startsWith("X") ? parseInt(numeric[1].slice(1), 16) : parseInt(numeric[1], 10);
        out += String.fromCodePoint(Math.min(code, 0x10ffff));
        i = semi + 1;
      } else {
        out += "&";
        i++;
      }
    } else {
      out += ch;
      i++;
    }
  }
  const unclosed = open.pop();
  if (unclosed !== undefined) throw cantParse(`Can't find end tag corresponding to start tag "${unclosed}"`);
  return out;
}

function parseMarkdownV2(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? "";
    if (ch === "\\") {
      out += text[i + 1] ?? "";
      i += 2;
      continue;
    }
    if (ch === "`" && text.startsWith("```", i)) {
      const end = text.indexOf("```", i + 3);
      if (end < 0) throw cantParse(`Can't find end of PreCode entity at byte offset ${byteOffset(text, i)}`);
      out += text.slice(i + 3, end).replace(/^[^\n]*\n/, "");
      i = end + 3;
      continue;
    }
    if (ch === "`") {
      const end = text.indexOf("`", i + 1);
      if (end < 0) throw cantParse(`Can't find end of Code entity at byte offset ${byteOffset(text, i)}`);
      out += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (ch === "[") {
      const close = text.indexOf("](", i);
      const end = close < 0 ? -1 : text.indexOf(")", close);
      if (end < 0) throw cantParse(`Character '[' is reserved and must be escaped with the preceding '\\'`);
      out += parseMarkdownV2(text.slice(i + 1, close));
      i = end + 1;
      continue;
    }
    if (ch === "*" || ch === "_" || ch === "~" || (ch === "|" && text[i + 1] === "|")) {
      // Formatting markers are not visible; balance is not checked beyond this.
      i += ch === "|" ? 2 : 1;
      continue;
    }
    if (MARKDOWN_V2_RESERVED.has(ch)) {
      throw cantParse(`Character '${ch}' is reserved and must be escaped with the preceding '\\'`);
    }
    out += ch;
    i++;
  }
  return out;
}

function byteOffset(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), "utf8");
}

/** Validates a message text as Telegram does and returns the visible text; throws a {@link TextRejection}. */
export function checkMessageText(text: string | undefined, parseMode: string | undefined): string {
  if (text === undefined) throw new TextRejection("message text is empty", "empty");
  const visible = visibleText(text, parseMode);
  if (visible.trim().length === 0) throw new TextRejection("message text is empty", "empty");
  if (visible.length > MAX_TEXT_LENGTH) throw new TextRejection("message is too long", "too-long");
  return visible;
}

/** Validates an optional caption as Telegram does and returns the visible caption; throws a {@link TextRejection}. */
export function checkCaption(caption: string | undefined, parseMode: string | undefined): string | undefined {
  if (caption === undefined) return undefined;
  const visible = visibleText(caption, parseMode);
  if (visible.length > MAX_CAPTION_LENGTH) throw new TextRejection("message caption is too long", "too-long");
  return visible;
}
