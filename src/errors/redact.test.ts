import { describe, expect, it } from "vitest";
import { redactSecrets, Scrubber } from "./redact.js";
import { UnlostError } from "./unlost-error.js";

describe("redactSecrets", () => {
  it("removes the secret part of a bot token and keeps the bot id", () => {
    const text = "request to https://api.telegram.org/bot123456:AAH-abc_defGHIJKL/getMe failed";
    expect(redactSecrets(text)).toBe("request to https://api.telegram.org/bot123456:<redacted>/getMe failed");
  });
  it("removes extra secrets such as a webhook secret", () => {
    expect(redactSecrets("header was s3cr3t-value", ["s3cr3t-value"])).toBe("header was <redacted>");
  });
  it("leaves idempotency keys readable, but not a real token inside one", () => {
    expect(redactSecrets("job 4242:10:0:sendMessage failed")).toBe("job 4242:10:0:sendMessage failed");
    expect(redactSecrets("task:t-17:3:sendDocument")).toBe("task:t-17:3:sendDocument");
    const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    expect(redactSecrets(`key:${token}:0`)).toBe("key:123456789:<redacted>:0");
    expect(redactSecrets(`token=${token}`)).toBe("token=123456789:<redacted>");
  });

  it("leaves ordinary text alone", () => {
    expect(redactSecrets("at 12:30 the chat 42 got 3 messages")).toBe("at 12:30 the chat 42 got 3 messages");
  });
});

describe("UnlostError", () => {
  it("carries a code, a redacted message and the cause", () => {
    const cause = new Error("socket hang up");
    const err = new UnlostError("UNAUTHORIZED", "token 99:AAAAAAAAAAAA was rejected", { cause });
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).toBe("token 99:<redacted> was rejected");
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(Error);
  });
});

describe("Scrubber", () => {
  const token = "7000001:AAHsecretPartOfTheBotToken_x42";
  it("scrubs the token pattern, the exact token, its secret part alone and other secrets", () => {
    const s = new Scrubber([token, "whsec_theWebhook-secret", undefined, ""]);
    expect(s.scrub(`GET /file/bot${token}/photos/a.jpg`)).toBe("GET /file/bot7000001:<redacted>/photos/a.jpg");
    expect(s.scrub("odd: AAHsecretPartOfTheBotToken_x42 alone")).toBe("odd: <redacted> alone");
    expect(s.scrub("header whsec_theWebhook-secret")).toBe("header <redacted>");
    expect(s.scrub("nothing to see at 12:30")).toBe("nothing to see at 12:30");
  });

  it("learns secrets later, and finds a secret in its JSON-escaped form", () => {
    const s = new Scrubber();
    expect(s.scrub("pass=abc\"def")).toBe("pass=abc\"def");
    s.add('abc"def');
    expect(s.scrub("pass=abc\"def")).toBe("pass=<redacted>");
    expect(s.scrub(JSON.stringify({ pass: 'abc"def' }))).toBe('{"pass":"<redacted>"}');
  });

  it("ignores secrets too short to be told from ordinary text", () => {
    // "abc" is too short; so is the secret part of "12:abcdefg" on its own (the whole token is kept).
    expect(new Scrubber(["abc", "12:abcdefg"]).scrub("abc abcdefg 12:abcdefg")).toBe("abc abcdefg <redacted>");
  });

  it("scrubs an error handed to user code in place, with what it wraps", () => {
    const inner = new Error(`request to https://api.telegram.org/bot${token}/getMe failed`);
    const outer = Object.assign(new Error("Network request for 'getMe' failed!", { cause: new AggregateError([inner]) }), { error: inner });
    const s = new Scrubber([token]);
    expect(s.scrubError(outer)).toBe(outer);
    expect(inner.message).toBe("request to https://api.telegram.org/bot7000001:<redacted>/getMe failed");
    expect(inner.stack).not.toContain("AAHsecretPart");
    expect(s.scrubError("a string")).toBe("a string");
  });
});
