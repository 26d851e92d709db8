import { describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import { deriveChatKey, deriveMessageDate, deriveUpdateMeta, deriveUpdateType, requireUpdateId } from "./update-meta.js";

const user = { id: 777, is_bot: false, first_name: "Ann" };

describe("deriveUpdateType", () => {
  it("names the payload field", () => {
    expect(deriveUpdateType({ update_id: 1, message: { message_id: 1 } })).toBe("message");
    expect(deriveUpdateType({ update_id: 1, callback_query: { id: "x" } })).toBe("callback_query");
  });
  it("says unknown when there is no payload object", () => {
    expect(deriveUpdateType({ update_id: 1 })).toBe("unknown");
  });
});

describe("deriveChatKey", () => {
  it("uses the chat id of messages, edits and channel posts (negative ids too)", () => {
    expect(deriveChatKey({ update_id: 1, message: { chat: { id: 42 }, from: user } })).toBe("42");
    expect(deriveChatKey({ update_id: 1, edited_message: { chat: { id: -100123 } } })).toBe("-100123");
    expect(deriveChatKey({ update_id: 1, channel_post: { chat: { id: -1009999999999 } } })).toBe("-1009999999999");
  });
  it("uses the chat of the message a callback button belongs to", () => {
    expect(deriveChatKey({ update_id: 1, callback_query: { id: "q", from: user, message: { chat: { id: -5 } } } })).toBe("-5");
  });
  it("falls back to the user for inline queries and inline-message callbacks", () => {
    expect(deriveChatKey({ update_id: 1, inline_query: { id: "q", from: user, query: "" } })).toBe("777");
    expect(deriveChatKey({ update_id: 1, callback_query: { id: "q", from: user, inline_message_id: "m" } })).toBe("777");
  });
  it("uses user or voter chat of poll answers", () => {
    expect(deriveChatKey({ update_id: 1, poll_answer: { poll_id: "p", user } })).toBe("777");
    expect(deriveChatKey({ update_id: 1, poll_answer: { poll_id: "p", voter_chat: { id: -9 } } })).toBe("-9");
  });
  it("gives an update without chat or user a queue of its own", () => {
    expect(deriveChatKey({ update_id: 55, poll: { id: "p", question: "?" } })).toBe("update:55");
  });
  it("accepts ids parsed as strings or bigints", () => {
    expect(deriveChatKey({ update_id: 1, message: { chat: { id: 12345678901234567890n } } })).toBe("12345678901234567890");
    expect(deriveChatKey({ update_id: 1, message: { chat: { id: "-42" } } })).toBe("-42");
  });
});

describe("deriveMessageDate", () => {
  it("converts Telegram's seconds to ms, preferring edit_date", () => {
    expect(deriveMessageDate({ update_id: 1, message: { date: 1_700_000_000 } })).toBe(1_700_000_000_000);
    expect(deriveMessageDate({ update_id: 1, edited_message: { date: 10, edit_date: 20 } })).toBe(20_000);
  });
  it("is null for payloads without a date of their own", () => {
    expect(deriveMessageDate({ update_id: 1, callback_query: { id: "q", message: { date: 5 } } })).toBeNull();
  });
});

describe("requireUpdateId / deriveUpdateMeta", () => {
  it("refuses updates without a valid update_id", () => {
    for (const bad of [null, {}, { update_id: -1 }, { update_id: 1.5 }, { update_id: "3" }]) {
      expect(() => requireUpdateId(bad)).toThrow(UnlostError);
    }
    expect(requireUpdateId({ update_id: 0 })).toBe(0);
  });
  it("derives all facts at once", () => {
    expect(deriveUpdateMeta({ update_id: 3, message: { chat: { id: 1 }, date: 2 } })).toEqual({
      updateType: "message",
      chatKey: "1",
      messageDate: 2000,
    });
  });
});
