import { describe, expect, it } from "vitest";
import { OFFLINE_NOTICE_TEXTS, STALE_CALLBACK_TEXTS, normalizeLanguage, pickText } from "./texts.js";

describe("shipped texts", () => {
  it("cover English, Persian, Russian and Uzbek (Latin script)", () => {
    for (const table of [OFFLINE_NOTICE_TEXTS, STALE_CALLBACK_TEXTS]) {
      expect(Object.keys(table).sort()).toEqual(["en", "fa", "ru", "uz"]);
      expect(table["fa"]).toMatch(/[\u0600-\u06FF]/);
      expect(table["ru"]).toMatch(/[а-яё]/i);
      expect(table["uz"]).toMatch(/^[\p{Script=Latin}\s\p{P}\u02BB]+$/u);
    }
  });

  it("fit Telegram's limits (callback answers ≤ 200 characters)", () => {
    for (const text of Object.values(STALE_CALLBACK_TEXTS)) expect(text.length).toBeLessThanOrEqual(200);
    for (const text of Object.values(OFFLINE_NOTICE_TEXTS)) expect(text.length).toBeLessThanOrEqual(4096);
  });

  it("are frozen", () => {
    expect(Object.isFrozen(OFFLINE_NOTICE_TEXTS)).toBe(true);
    expect(Object.isFrozen(STALE_CALLBACK_TEXTS)).toBe(true);
  });
});

describe("pickText", () => {
  const texts = { en: "EN", ru: "RU", "pt-br": "PT-BR" };

  it("takes the exact tag, then the primary language, then the default", () => {
    expect(pickText(texts, "pt-BR", "en")).toBe("PT-BR");
    expect(pickText(texts, "ru-RU", "en")).toBe("RU");
    expect(pickText(texts, "ru_RU", "en")).toBe("RU");
    expect(pickText(texts, "RU", "en")).toBe("RU");
    expect(pickText(texts, "de", "en")).toBe("EN");
    expect(pickText(texts, undefined, "ru")).toBe("RU");
    expect(pickText(texts, "  ", "en")).toBe("EN");
  });

  it("returns undefined when not even the default has a text", () => {
    expect(pickText(texts, "de", "fr")).toBeUndefined();
  });

  it("ignores inherited keys such as constructor", () => {
    expect(pickText(texts, "constructor", "en")).toBe("EN");
    expect(pickText(texts, "toString", "en")).toBe("EN");
  });

  it("normalizes tags", () => {
    expect(normalizeLanguage(" Uz_Latn ")).toBe("uz-latn");
  });
});
