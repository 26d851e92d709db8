import { describe, expect, it } from "vitest";
import type { Update } from "grammy/types";
import { callbackUpdate, facts, messageUpdate, NOW } from "./__fixtures__/updates.js";
import { createCatchUpPolicy } from "./policy.js";
import { OFFLINE_NOTICE_TEXTS, STALE_CALLBACK_TEXTS } from "./texts.js";

describe("createCatchUpPolicy: defaults", () => {
  it("handles everything, however old, with no notice", () => {
    const policy = createCatchUpPolicy();
    expect(policy.decide(facts(messageUpdate(), { ageMs: 30 * 24 * 3600_000 }))).toEqual({ kind: "handle" });
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 3_600_000 }))).toEqual({ kind: "handle" });
  });
});

describe("notifyOffline", () => {
  it("tells a chat once, before its first update that arrived while down", () => {
    const policy = createCatchUpPolicy({ notifyOffline: true });
    expect(policy.decide(facts(messageUpdate({ lang: "en" })))).toEqual({
      kind: "handle",
      notice: { chatId: 100, text: OFFLINE_NOTICE_TEXTS["en"] },
    });
    expect(policy.decide(facts(messageUpdate({ lang: "en", updateId: 2 })))).toEqual({ kind: "handle" });
    // Another chat gets its own notice.
    expect(policy.decide(facts(messageUpdate({ chatId: 200 })))).toMatchObject({ notice: { chatId: 200 } });
  });

  it("is per policy instance (one per process run)", () => {
    expect(createCatchUpPolicy({ notifyOffline: true }).decide(facts(messageUpdate()))).toHaveProperty("notice");
    expect(createCatchUpPolicy({ notifyOffline: true }).decide(facts(messageUpdate()))).toHaveProperty("notice");
  });

  it.each([
    ["en", "en"],
    ["en-GB", "en"],
    ["fa", "fa"],
    ["fa-IR", "fa"],
    ["ru", "ru"],
    ["ru-RU", "ru"],
    ["uz", "uz"],
    ["uz-Latn-UZ", "uz"],
    ["de", "en"],
    [undefined, "en"],
  ])("speaks the sender's language %s → %s", (lang, expected) => {
    const action = createCatchUpPolicy({ notifyOffline: true }).decide(facts(messageUpdate({ lang })));
    expect(action).toEqual({ kind: "handle", notice: { chatId: 100, text: OFFLINE_NOTICE_TEXTS[expected] } });
  });

  it("falls back to the configured default language and uses overriding texts", () => {
    const policy = createCatchUpPolicy({ notifyOffline: { defaultLanguage: "ru", texts: { uz: "Qaytdik!", de: "Wieder da" } } });
    expect(policy.decide(facts(messageUpdate({ chatId: 1, lang: "fr" })))).toMatchObject({ notice: { text: OFFLINE_NOTICE_TEXTS["ru"] } });
    expect(policy.decide(facts(messageUpdate({ chatId: 2, lang: "uz" })))).toMatchObject({ notice: { text: "Qaytdik!" } });
    expect(policy.decide(facts(messageUpdate({ chatId: 3, lang: "de-AT" })))).toMatchObject({ notice: { text: "Wieder da" } });
  });

  it("says nothing for updates that did not arrive while down, and keeps the notice for later", () => {
    const policy = createCatchUpPolicy({ notifyOffline: true });
    expect(policy.decide(facts(messageUpdate(), { arrivedWhileDown: false }))).toEqual({ kind: "handle" });
    expect(policy.decide(facts(messageUpdate()))).toHaveProperty("notice");
  });

  it("works in groups and for callback queries on a message", () => {
    const policy = createCatchUpPolicy({ notifyOffline: true });
    expect(policy.decide(facts(messageUpdate({ chatId: -100123, chatType: "supergroup" })))).toMatchObject({ notice: { chatId: -100123 } });
    expect(policy.decide(facts(messageUpdate({ chatId: -5, chatType: "group" })))).toMatchObject({ notice: { chatId: -5 } });
    expect(policy.decide(facts(callbackUpdate({ chatId: 300, lang: "ru" })))).toEqual({
      kind: "handle",
      notice: { chatId: 300, text: OFFLINE_NOTICE_TEXTS["ru"] },
    });
  });

  it("never writes to channels, inline messages or non-message updates", () => {
    const policy = createCatchUpPolicy({ notifyOffline: true });
    expect(policy.decide(facts(messageUpdate({ chatId: -100999, chatType: "channel" })))).toEqual({ kind: "handle" });
    expect(policy.decide(facts(callbackUpdate({ inline: true })))).toEqual({ kind: "handle" });
    const member = {
      update_id: 9,
      my_chat_member: { chat: { id: 400, type: "private" }, from: { id: 400 }, date: 1, old_chat_member: {}, new_chat_member: {} },
    } as unknown as Update;
    expect(policy.decide(facts(member, { chatId: 400 }))).toEqual({ kind: "handle" });
    const channelPost = { update_id: 10, channel_post: { message_id: 1, date: 1, chat: { id: -1001, type: "channel" } } } as unknown as Update;
    expect(policy.decide(facts(channelPost, { chatId: -1001 }))).toEqual({ kind: "handle" });
  });

  it("needs a chat id", () => {
    const policy = createCatchUpPolicy({ notifyOffline: true });
    expect(policy.decide(facts(messageUpdate(), { chatId: undefined }))).toEqual({ kind: "handle" });
  });

  it("skips updates younger than minAgeMs (a restart of a few seconds)", () => {
    const policy = createCatchUpPolicy({ notifyOffline: { minAgeMs: 30_000 } });
    expect(policy.decide(facts(messageUpdate(), { ageMs: 5_000 }))).toEqual({ kind: "handle" });
    expect(policy.decide(facts(messageUpdate(), { ageMs: 30_000 }))).toHaveProperty("notice");
  });
});

describe("dropOlderThanMs", () => {
  const policy = createCatchUpPolicy({ dropOlderThanMs: 3_600_000 });

  it("skips updates older than the limit and handles the rest", () => {
    expect(policy.decide(facts(messageUpdate(), { ageMs: 3_600_001 }))).toEqual({ kind: "skip", reason: "too-old" });
    expect(policy.decide(facts(messageUpdate(), { ageMs: 3_600_000 }))).toEqual({ kind: "handle" });
    expect(policy.decide(facts(messageUpdate(), { ageMs: 0 }))).toEqual({ kind: "handle" });
  });

  it("judges by the known age, not the worst case", () => {
    const action = policy.decide(facts(callbackUpdate(), { ageMs: 1_000, earliestActAt: NOW - 5 * 3_600_000 }));
    expect(action).toEqual({ kind: "handle" });
  });

  it("applies whether or not the update arrived while down", () => {
    expect(policy.decide(facts(messageUpdate(), { ageMs: 7_200_000, arrivedWhileDown: false }))).toEqual({ kind: "skip", reason: "too-old" });
  });
});

describe("staleCallbacks", () => {
  it("answers a callback older than a minute with an alert instead of running it", () => {
    const policy = createCatchUpPolicy({ staleCallbacks: true });
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 60_001 }))).toEqual({
      kind: "skip",
      reason: "stale-callback",
      answerCallback: { callbackQueryId: "cbq-1", text: STALE_CALLBACK_TEXTS["en"], showAlert: true },
    });
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 60_000 }))).toEqual({ kind: "handle" });
  });

  it("never touches messages, however old", () => {
    const policy = createCatchUpPolicy({ staleCallbacks: { olderThanMs: 1 } });
    expect(policy.decide(facts(messageUpdate(), { ageMs: 3_600_000 }))).toEqual({ kind: "handle" });
  });

  it.each([
    ["fa", "fa"],
    ["ru-RU", "ru"],
    ["uz", "uz"],
    ["en", "en"],
    ["ja", "en"],
    [undefined, "en"],
  ])("answers in the sender's language %s → %s", (lang, expected) => {
    const action = createCatchUpPolicy({ staleCallbacks: {} }).decide(facts(callbackUpdate({ lang }), { ageMs: 120_000 }));
    expect(action).toMatchObject({ answerCallback: { text: STALE_CALLBACK_TEXTS[expected] } });
  });

  it("uses the configured threshold and texts", () => {
    const policy = createCatchUpPolicy({ staleCallbacks: { olderThanMs: 10_000, text: "Again, please", texts: { ru: "Ещё раз" } } });
    expect(policy.decide(facts(callbackUpdate({ lang: "fa" }), { ageMs: 10_001 }))).toMatchObject({ answerCallback: { text: "Again, please" } });
    expect(policy.decide(facts(callbackUpdate({ lang: "ru" }), { ageMs: 10_001 }))).toMatchObject({ answerCallback: { text: "Ещё раз" } });
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 9_999 }))).toEqual({ kind: "handle" });
  });

  it("assumes the worst for a button pressed while down at an unknown time", () => {
    const policy = createCatchUpPolicy({ staleCallbacks: true });
    // Stored a second ago, but the window began 10 minutes ago: it may be 10 minutes old.
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 1_000, earliestActAt: NOW - 600_000 }))).toMatchObject({
      kind: "skip",
      reason: "stale-callback",
    });
    // A short restart: even the worst case is fresh.
    expect(policy.decide(facts(callbackUpdate(), { ageMs: 1_000, earliestActAt: NOW - 20_000 }))).toEqual({ kind: "handle" });
  });
});

describe("combinations", () => {
  const policy = () => createCatchUpPolicy({ notifyOffline: true, dropOlderThanMs: 3_600_000, staleCallbacks: true });

  it("prefers answering a stale callback over dropping it silently", () => {
    expect(policy().decide(facts(callbackUpdate(), { ageMs: 7_200_000 }))).toMatchObject({ kind: "skip", reason: "stale-callback" });
  });

  it("neither notifies for a dropped update nor uses up the chat's notice", () => {
    const p = policy();
    expect(p.decide(facts(messageUpdate(), { ageMs: 7_200_000 }))).toEqual({ kind: "skip", reason: "too-old" });
    expect(p.decide(facts(callbackUpdate(), { ageMs: 120_000 }))).toMatchObject({ kind: "skip", reason: "stale-callback" });
    expect(p.decide(facts(messageUpdate({ lang: "fa" }), { ageMs: 600_000 }))).toEqual({
      kind: "handle",
      notice: { chatId: 100, text: OFFLINE_NOTICE_TEXTS["fa"] },
    });
    expect(p.decide(facts(callbackUpdate(), { ageMs: 5_000 }))).toEqual({ kind: "handle" });
  });
});
