import { describe, expect, it } from "vitest";
import { redactSecrets } from "./redact.js";
import { UnlostError } from "./unlost-error.js";

describe("redactSecrets", () => {
  it("removes the secret part of a bot token and keeps the bot id", () => {
    const text = "request to https://api.telegram.org/bot123456:AAH-abc_defGHIJKL/getMe failed";
    expect(redactSecrets(text)).toBe("request to https://api.telegram.org/bot123456:<redacted>/getMe failed");
  });
  it("removes extra secrets such as a webhook secret", () => {
    expect(redactSecrets("header was s3cr3t-value", ["s3cr3t-value"])).toBe("header was <redacted>");
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
