import { describe, expect, it } from "vitest";
import type { Update } from "grammy/types";
import type { OfflineWindow } from "../../store/index.js";
import { callbackUpdate, messageUpdate, NOW } from "./__fixtures__/updates.js";
import { chatIdOf, describeUpdate, languageCodeOf, type DowntimeView } from "./facts.js";

const window: OfflineWindow = { from: NOW - 3_600_000, to: NOW - 60_000, durationMs: 3_540_000 };
const downtime: DowntimeView = { lastWindow: window, wasDown: (at) => at > window.from && at < window.to };

describe("describeUpdate", () => {
  it("derives chat, language, date and age of a message", () => {
    const update = messageUpdate({ chatId: 42, lang: "fa", dateSec: (NOW - 600_000) / 1000 });
    expect(describeUpdate({ update, receivedAt: NOW - 5_000, now: NOW, downtime })).toEqual({
      update,
      chatId: 42,
      languageCode: "fa",
      messageDate: NOW - 600_000,
      receivedAt: NOW - 5_000,
      now: NOW,
      ageMs: 600_000,
      arrivedWhileDown: true,
      earliestActAt: undefined,
    });
  });

  it("asks the monitor whether a dated update arrived while down", () => {
    const update = messageUpdate({ dateSec: (NOW - 10_000) / 1000 });
    expect(describeUpdate({ update, receivedAt: NOW, now: NOW, downtime }).arrivedWhileDown).toBe(false);
    expect(describeUpdate({ update, receivedAt: NOW, now: NOW }).arrivedWhileDown).toBe(false);
  });

  it("uses the edit date for edits", () => {
    const update = { update_id: 3, edited_message: { message_id: 1, date: 100, edit_date: 200, chat: { id: 1, type: "private" } } } as unknown as Update;
    expect(describeUpdate({ update, receivedAt: 300_000, now: 300_000 }).messageDate).toBe(200_000);
  });

  it("ages an undated update from when it was stored", () => {
    const facts = describeUpdate({ update: callbackUpdate({ lang: "uz" }), receivedAt: NOW - 2_000, now: NOW, downtime });
    expect(facts).toMatchObject({ chatId: 100, languageCode: "uz", messageDate: null, ageMs: 2_000, arrivedWhileDown: false });
    expect(facts.earliestActAt).toBeUndefined();
  });

  it("marks an undated update pending at start as pressed while down, from the window's start", () => {
    const facts = describeUpdate({ update: callbackUpdate(), receivedAt: NOW - 2_000, now: NOW, downtime, pendingAtStart: true });
    expect(facts).toMatchObject({ arrivedWhileDown: true, earliestActAt: window.from, ageMs: 2_000 });
  });

  it("bounds the press by the date of the bot message the button is on", () => {
    const shown = (NOW - 1_800_000) / 1000;
    const facts = describeUpdate({ update: callbackUpdate({ messageDateSec: shown }), receivedAt: NOW, now: NOW, downtime, pendingAtStart: true });
    expect(facts.earliestActAt).toBe(shown * 1000);
  });

  it("does not claim downtime without a known window", () => {
    const facts = describeUpdate({ update: callbackUpdate(), receivedAt: NOW, now: NOW, pendingAtStart: true });
    expect(facts).toMatchObject({ arrivedWhileDown: false, earliestActAt: undefined });
  });

  it("clamps a negative age (clock skew) to 0", () => {
    const update = messageUpdate({ dateSec: (NOW + 3_000) / 1000 });
    expect(describeUpdate({ update, receivedAt: NOW, now: NOW }).ageMs).toBe(0);
  });
});

describe("chatIdOf / languageCodeOf", () => {
  it("read the payload's chat, a callback's message chat, and from/user", () => {
    expect(chatIdOf(callbackUpdate({ chatId: 9 }))).toBe(9);
    expect(chatIdOf(callbackUpdate({ inline: true }))).toBeUndefined();
    const reaction = {
      update_id: 4,
      message_reaction: { chat: { id: -7, type: "group" }, user: { id: 5, language_code: "ru" }, message_id: 1, date: 1 },
    } as unknown as Update;
    expect(chatIdOf(reaction)).toBe(-7);
    expect(languageCodeOf(reaction)).toBe("ru");
    expect(languageCodeOf({ update_id: 5, poll: { id: "p" } } as unknown as Update)).toBeUndefined();
  });
});
