import { describe, expect, it } from "vitest";
import { downtimeAlertText, formatDuration, formatInstant } from "./format.js";

const HOUR = 3_600_000;
const to = Date.UTC(2024, 4, 2, 13, 0, 0);

describe("formatDuration", () => {
  it.each([
    [0, "0 s"],
    [-5, "0 s"],
    [45_400, "45 s"],
    [60_000, "1 min"],
    [5 * 60_000 + 59_000, "5 min"],
    [HOUR, "1 h 0 min"],
    [25 * HOUR + 3 * 60_000, "25 h 3 min"],
    [72 * HOUR, "72 h 0 min"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("formatInstant", () => {
  it("is ISO 8601 UTC to the second", () => {
    expect(formatInstant(Date.UTC(2024, 0, 2, 3, 4, 5, 678))).toBe("2024-01-02T03:04:05Z");
  });
});

describe("downtimeAlertText", () => {
  it("names the window and the moment before which updates may be lost", () => {
    const text = downtimeAlertText({ from: to - 25 * HOUR, to, durationMs: 25 * HOUR });
    expect(text).toBe(
      "⚠️ The bot was offline from 2024-05-01T12:00:00Z to 2024-05-02T13:00:00Z (25 h 0 min).\n" +
        "Telegram keeps unconfirmed updates for about 24 hours, so updates sent before 2024-05-01T13:00:00Z may have been lost. " +
        "Updates sent after that are being handled now.",
    );
  });

  it("says nothing was lost when the outage was within Telegram's retention", () => {
    const text = downtimeAlertText({ from: to - 2 * HOUR, to, durationMs: 2 * HOUR }, { botName: "@shop_bot" });
    expect(text).toMatch(/^⚠️ @shop_bot was offline from 2024-05-02T11:00:00Z to 2024-05-02T13:00:00Z \(2 h 0 min\)\./);
    expect(text).toMatch(/none should have been lost/);
  });
});
