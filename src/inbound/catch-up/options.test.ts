import { describe, expect, it } from "vitest";
import { isUnlostError } from "../../errors/index.js";
import { resolveCatchUpOptions, type CatchUpOptions } from "./options.js";
import { OFFLINE_NOTICE_TEXTS, STALE_CALLBACK_TEXTS } from "./texts.js";

function configError(options: unknown): string {
  try {
    resolveCatchUpOptions(options as CatchUpOptions);
  } catch (error) {
    expect(isUnlostError(error, "INVALID_CONFIG")).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected INVALID_CONFIG");
}

describe("resolveCatchUpOptions", () => {
  it("turns everything off by default", () => {
    expect(resolveCatchUpOptions()).toEqual({ notifyOffline: null, dropOlderThanMs: null, staleCallbacks: null });
    expect(resolveCatchUpOptions({ notifyOffline: false, staleCallbacks: false, dropOlderThanMs: undefined })).toEqual({
      notifyOffline: null,
      dropOlderThanMs: null,
      staleCallbacks: null,
    });
  });

  it("applies the documented defaults", () => {
    const resolved = resolveCatchUpOptions({ notifyOffline: true, staleCallbacks: true, dropOlderThanMs: 3_600_000 });
    expect(resolved.notifyOffline).toEqual({ texts: OFFLINE_NOTICE_TEXTS, defaultLanguage: "en", fallback: undefined, minAgeMs: 0 });
    expect(resolved.staleCallbacks).toEqual({ texts: STALE_CALLBACK_TEXTS, defaultLanguage: "en", fallback: undefined, olderThanMs: 60_000 });
    expect(resolved.dropOlderThanMs).toBe(3_600_000);
    expect(resolveCatchUpOptions({ staleCallbacks: {} }).staleCallbacks?.olderThanMs).toBe(60_000);
  });

  it("merges texts over the shipped ones, normalizing keys", () => {
    const resolved = resolveCatchUpOptions({ notifyOffline: { texts: { RU: "Мы снова здесь", de: "Wieder da", fa: undefined } } });
    expect(resolved.notifyOffline?.texts).toMatchObject({ ru: "Мы снова здесь", de: "Wieder da", fa: OFFLINE_NOTICE_TEXTS["fa"] });
  });

  it("lets a single stale-callback text replace every language", () => {
    const resolved = resolveCatchUpOptions({ staleCallbacks: { text: "Press again", texts: { ru: "Ещё раз" } } });
    expect(resolved.staleCallbacks?.texts).toEqual({ ru: "Ещё раз" });
    expect(resolved.staleCallbacks?.fallback).toBe("Press again");
  });

  it("accepts a default language that has a text", () => {
    expect(resolveCatchUpOptions({ notifyOffline: { defaultLanguage: "RU" } }).notifyOffline?.defaultLanguage).toBe("ru");
    expect(resolveCatchUpOptions({ notifyOffline: { defaultLanguage: "de", texts: { de: "Hallo" } } }).notifyOffline?.defaultLanguage).toBe("de");
  });

  it.each([
    [[], /catchUp options must be an object/],
    [{ notifyOfline: true }, /catchUp\.notifyOfline is not an option/],
    [{ notifyOffline: "yes" }, /catchUp\.notifyOffline must be true, false or an object/],
    [{ notifyOffline: { text: "x" } }, /catchUp\.notifyOffline\.text is not an option/],
    [{ notifyOffline: { texts: "hello" } }, /notifyOffline\.texts must be an object/],
    [{ notifyOffline: { texts: { ru: "" } } }, /notifyOffline\.texts\.ru must be a non-empty text/],
    [{ notifyOffline: { texts: { ru: 5 } } }, /notifyOffline\.texts\.ru must be a non-empty text/],
    [{ notifyOffline: { texts: { "not a language": "x" } } }, /notifyOffline\.texts key must be a language code/],
    [{ notifyOffline: { texts: { en: "x".repeat(4097) } } }, /at most 4096 characters/],
    [{ notifyOffline: { defaultLanguage: "de" } }, /defaultLanguage is "de" but there is no text in that language/],
    [{ notifyOffline: { defaultLanguage: 7 } }, /defaultLanguage must be a language code/],
    [{ notifyOffline: { minAgeMs: -1 } }, /minAgeMs must be a number of milliseconds ≥ 0/],
    [{ dropOlderThanMs: 0 }, /dropOlderThanMs must be a number of milliseconds > 0; got 0/],
    [{ dropOlderThanMs: -5 }, /dropOlderThanMs must be a number of milliseconds > 0/],
    [{ dropOlderThanMs: Number.NaN }, /dropOlderThanMs must be a number of milliseconds > 0/],
    [{ dropOlderThanMs: "1h" }, /dropOlderThanMs must be a number of milliseconds > 0/],
    [{ staleCallbacks: 60_000 }, /catchUp\.staleCallbacks must be true, false or an object/],
    [{ staleCallbacks: { olderThanMs: 0 } }, /staleCallbacks\.olderThanMs must be a number of milliseconds > 0/],
    [{ staleCallbacks: { olderThanMs: Number.POSITIVE_INFINITY } }, /staleCallbacks\.olderThanMs/],
    [{ staleCallbacks: { text: "" } }, /staleCallbacks\.text must be a non-empty text of at most 200/],
    [{ staleCallbacks: { text: "x".repeat(201) } }, /staleCallbacks\.text must be a non-empty text of at most 200/],
    [{ staleCallbacks: { texts: { ru: "x".repeat(201) } } }, /staleCallbacks\.texts\.ru must be a non-empty text of at most 200/],
    [{ staleCallbacks: { defaultLanguage: "de" } }, /staleCallbacks\.defaultLanguage is "de" but there is no text/],
    [{ staleCallbacks: { olderThan: 5 } }, /staleCallbacks\.olderThan is not an option/],
  ])("refuses %j", (options, message) => {
    expect(configError(options)).toMatch(message);
  });
});
