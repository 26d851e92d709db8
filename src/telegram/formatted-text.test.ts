import { describe, expect, it } from "vitest";
import { checkCaption, checkMessageText, TextRejection, visibleText } from "./formatted-text.js";
import { isGroupChatId, MAX_TEXT_LENGTH } from "./limits.js";

describe("formatted text", () => {
  it("measures the visible text after entity parsing", () => {
    expect(visibleText("<b>hi</b> &amp; you", "HTML")).toBe("hi & you");
    expect(visibleText("*bold* and \\.", "MarkdownV2")).toBe("bold and .");
    expect(checkMessageText(`<b>${"a".repeat(MAX_TEXT_LENGTH)}</b>`, "HTML")).toHaveLength(MAX_TEXT_LENGTH);
  });
  it("rejects with Telegram's wording and a problem kind", () => {
    const rejection = (fn: () => unknown): TextRejection => {
      try { fn(); } catch (e) { if (e instanceof TextRejection) return e; }
      throw new Error("no rejection");
    };
    expect(rejection(() => checkMessageText("  ", undefined))).toMatchObject({ problem: "empty", description: "message text is empty" });
    expect(rejection(() => checkMessageText("a".repeat(4097), undefined)).problem).toBe("too-long");
    expect(rejection(() => checkCaption("a".repeat(1025), undefined)).description).toBe("message caption is too long");
    expect(rejection(() => visibleText("<x>", "HTML")).description).toMatch(/^can't parse entities: Unsupported start tag "x"/);
    expect(rejection(() => visibleText("a.b", "MarkdownV2")).problem).toBe("parse");
    expect(rejection(() => visibleText("a", "bbcode")).problem).toBe("parse-mode");
  });
});

describe("isGroupChatId", () => {
  it("treats negative ids and @usernames as groups or channels", () => {
    expect(isGroupChatId(-100123)).toBe(true);
    expect(isGroupChatId("@channel")).toBe(true);
    expect(isGroupChatId("-42")).toBe(true);
    expect(isGroupChatId(42)).toBe(false);
    expect(isGroupChatId("42")).toBe(false);
  });
});
