/**
 * The targets every chaos run must meet, as test assertions (one place for the SQLite and the
 * PostgreSQL runs). Each failing check names the items that broke it (see ChaosEvidence).
 */
import { expect } from "vitest";
import type { ChaosEvidence, ChaosSummary } from "./chaos.js";

/** Asserts 0 lost, exactly once, in order, duplicates only where counted ambiguous, no crash, drained. */
export function expectChaosTargets(summary: ChaosSummary, evidence: ChaosEvidence, minKills: number): void {
  expect(summary.kills).toBeGreaterThanOrEqual(minKills);
  expect(summary.network_faults / summary.network_calls).toBeGreaterThan(0.15);
  expect(evidence.lostUpdates, "updates never completed").toEqual([]);
  expect(evidence.lostMessages, "sends made and never delivered").toEqual([]);
  expect(evidence.inversions, "updates that first started after a newer update of their chat").toEqual([]);
  expect(evidence.overlaps, "two runs of one chat at once").toEqual([]);
  expect(evidence.replyOrder, "first replies out of message order").toEqual([]);
  expect(evidence.completedTwice, "completions committed twice").toEqual([]);
  expect(evidence.unexplainedDuplicates, "duplicates without an ambiguous attempt of their job").toEqual([]);
  expect(summary.duplicates).toBeLessThanOrEqual(summary.ambiguous_counted);
  expect(evidence.crashes, "processes that exited on their own").toEqual([]);
  expect(summary.unexpected_deliveries).toBe(0);
  expect(summary.emulator_errors).toBe(0);
  expect(summary.drained).toBe(true);
}
