import { describe, expect, it } from "vitest";
import { bearerCheck } from "./auth.js";
import { adminToken } from "./options.js";

const TOKEN = "0123456789abcdef-admin";

describe("bearerCheck", () => {
  it("lets the right token pass and refuses a missing, wrong, shorter or longer one with 401", () => {
    const check = bearerCheck(TOKEN);
    expect(check(`Bearer ${TOKEN}`)).toBeUndefined();
    expect(check(`bearer ${TOKEN}`)).toBeUndefined();
    for (const header of [undefined, "", TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, "Bearer", `Bearer ${TOKEN} extra`]) {
      const refusal = check(header);
      expect(refusal?.status, String(header)).toBe(401);
      expect(refusal?.headers["WWW-Authenticate"]).toMatch(/^Bearer/);
      expect(JSON.stringify(refusal)).not.toContain(TOKEN);
    }
  });

  it("without a token, refuses everything with 403 saying how to set one", () => {
    const refusal = bearerCheck(undefined)("Bearer anything-at-all-here");
    expect(refusal?.status).toBe(403);
    expect(refusal?.body.message).toMatch(/UNLOST_ADMIN_TOKEN/);
  });
});

describe("adminToken", () => {
  it("takes the option, else UNLOST_ADMIN_TOKEN; an empty variable is none; a short one is refused", () => {
    expect(adminToken({ token: TOKEN }, { UNLOST_ADMIN_TOKEN: "other-token-0123456789" })).toBe(TOKEN);
    expect(adminToken({ token: undefined }, { UNLOST_ADMIN_TOKEN: ` ${TOKEN} ` })).toBe(TOKEN);
    expect(adminToken({ token: undefined }, { UNLOST_ADMIN_TOKEN: "  " })).toBeUndefined();
    expect(adminToken({ token: undefined }, {})).toBeUndefined();
    expect(() => adminToken({ token: undefined }, { UNLOST_ADMIN_TOKEN: "short" })).toThrow(/at least 16 characters/);
  });
});
