import * as crypto from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { UnlostError } from "../../errors/index.js";
import { openStore } from "../../store/index.js";
import { generateSecretToken, secretsMatch, SECRET_TOKEN_PATTERN, validateSecretToken, webhookSecret, WEBHOOK_SECRET_KEY } from "./secret.js";

vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

describe("secretsMatch", () => {
  it("matches only the exact secret, and a missing header never matches", () => {
    expect(secretsMatch("abc_DEF-123", "abc_DEF-123")).toBe(true);
    expect(secretsMatch("abc_DEF-123", "abc_DEF-124")).toBe(false);
    expect(secretsMatch("abc_DEF-123", "abc_DEF-1234")).toBe(false);
    expect(secretsMatch("abc_DEF-123", "")).toBe(false);
    expect(secretsMatch("abc_DEF-123", undefined)).toBe(false);
    expect(secretsMatch("abc_DEF-123", null)).toBe(false);
  });

  it("compares with crypto.timingSafeEqual over equal-length digests, whatever the lengths given", () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    secretsMatch("short", "a much longer header value than the secret");
    secretsMatch("short", undefined);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });
});

describe("validateSecretToken", () => {
  it("accepts Telegram's alphabet up to 256 characters", () => {
    expect(validateSecretToken("a")).toBe("a");
    expect(validateSecretToken(`Ab9_-${"x".repeat(251)}`)).toHaveLength(256);
  });

  it("says what is wrong and what is allowed, without echoing the secret", () => {
    const message = (value: unknown): string => {
      try {
        validateSecretToken(value);
      } catch (error) {
        expect(error).toBeInstanceOf(UnlostError);
        expect((error as UnlostError).code).toBe("INVALID_CONFIG");
        return (error as UnlostError).message;
      }
      throw new Error("expected a rejection");
    };
    expect(message("")).toMatch(/empty.*1 to 256 characters of A-Z, a-z, 0-9, _ and -/);
    expect(message("y".repeat(257))).toContain("257 characters long");
    const bad = message("my secret!password");
    expect(bad).toContain('" ", "!"');
    expect(bad).not.toContain("password");
    expect(message(42)).toContain("must be a string");
  });
});

describe("webhookSecret", () => {
  it("generates a valid secret once and keeps it in the store across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlost-secret-"));
    const path = join(dir, "state.sqlite");
    const first = await openStore({ path });
    const secret = await webhookSecret(first.state);
    expect(secret).toMatch(SECRET_TOKEN_PATTERN);
    expect(secret).toHaveLength(48);
    expect(await webhookSecret(first.state)).toBe(secret);
    await first.close();
    const again = await openStore({ path });
    expect(await webhookSecret(again.state)).toBe(secret);
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses a configured secret as is (validated) and replaces an invalid stored value", async () => {
    const store = await openStore({ path: ":memory:" });
    expect(await webhookSecret(store.state, { configured: "mine_123" })).toBe("mine_123");
    expect(await store.state.getValue(WEBHOOK_SECRET_KEY)).toBeNull();
    await expect(webhookSecret(store.state, { configured: "not valid" })).rejects.toMatchObject({ code: "INVALID_CONFIG" });
    await store.state.setValue(WEBHOOK_SECRET_KEY, "bad value");
    const fresh = await webhookSecret(store.state);
    expect(fresh).toMatch(SECRET_TOKEN_PATTERN);
    await store.close();
  });

  it("generates different secrets", () => {
    expect(generateSecretToken()).not.toBe(generateSecretToken());
  });
});
