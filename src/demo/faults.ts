/**
 * The trouble the demo injects through the emulator: a stretch of a bad network, and a 429
 * storm. The shares are high enough that every bot meets them within a few seconds, low
 * enough that some calls still get through (a network that is down entirely is an outage).
 */
import type { Emulator } from "../emulator/index.js";

/** Connection resets, 502s, hanging sends and sends whose answer is lost, for `durationMs`. */
export function injectNetworkFaults(emulator: Emulator, durationMs: number): string {
  emulator.faults.add({ fault: { kind: "reset" }, probability: 0.12, durationMs });
  emulator.faults.add({ fault: { kind: "server-error", status: 502 }, probability: 0.08, durationMs });
  // Hangs on sends only: a hung long poll would only delay updates, it cannot lose them.
  emulator.faults.add({ fault: { kind: "hang" }, methods: ["sendMessage"], probability: 0.04, durationMs });
  // Delivered, but the answer never arrives: the one case where a retry can duplicate.
  emulator.faults.add({ fault: { kind: "ambiguous" }, methods: ["sendMessage"], probability: 0.03, durationMs });
  // Shares of a short window can miss every call on a slow machine: the first sends from the
  // window on meet a reset and a 502 for certain, so every run shows the retries.
  emulator.faults.add({ fault: { kind: "reset" }, methods: ["sendMessage"], times: 1 });
  emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], times: 1 });
  return `network faults for ${(durationMs / 1000).toFixed(1)} s: connection resets, 502s, hanging and answer-lost sends`;
}

/** Every send answered 429 `retry after retryAfter s`, for `durationMs`. */
export function injectFloodStorm(emulator: Emulator, durationMs: number, retryAfter: number): string {
  emulator.faults.add({ fault: { kind: "flood", retryAfter }, methods: ["sendMessage", "answerCallbackQuery"], durationMs });
  // And the storm meets the bot for certain: the first sends after it begins, even when the
  // window fell where nothing was sent.
  emulator.faults.add({ fault: { kind: "flood", retryAfter }, methods: ["sendMessage"], times: 2 });
  return `429 storm for ${(durationMs / 1000).toFixed(1)} s: every send answered "Too Many Requests: retry after ${retryAfter}"`;
}

/** 429 answers the emulator gave so far. */
export function floodsInjected(emulator: Emulator): number {
  return emulator.faults.injected().flood;
}

/** Network faults and 429s injected so far (latency is not a fault here). */
export function faultsInjected(emulator: Emulator): number {
  const c = emulator.faults.injected();
  return c.reset + c.hang + c["server-error"] + c.flood + c.ambiguous + c.outage;
}
