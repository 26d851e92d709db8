/**
 * Probes for end-to-end tests of the outbox: count what the emulator answered (429s from its
 * real flood limits vs injected faults), tally deliveries per expected text, and check per-chat
 * order of first deliveries.
 */
import type { ApiCall, ApiOutcome, DeliveredMessage, Emulator, SimBot } from "../../../src/emulator/index.js";

/** Answers counted by {@link countAnswers}. */
export interface AnswerCounts {
  /** Every 429 answer (injected floods included). */
  responses429: number;
  /** Calls per method (as they arrived). */
  calls: Map<string, number>;
  /** 429 answers that were not injected by a `flood` fault: the emulator's real limits refused the call. */
  limit429(): number;
  stop(): void;
}

/**
 * Wraps `emulator.handle` (which every transport calls) to count its answers. The injected
 * `flood` faults are subtracted with the fault plan's own counter.
 */
export function countAnswers(emulator: Emulator): AnswerCounts {
  const original = emulator.handle.bind(emulator);
  const floodsBefore = emulator.faults.injected().flood;
  const counts: AnswerCounts = {
    responses429: 0,
    calls: new Map(),
    limit429: () => counts.responses429 - (emulator.faults.injected().flood - floodsBefore),
    stop: () => {
      (emulator as { handle: Emulator["handle"] }).handle = original;
    },
  };
  (emulator as { handle: Emulator["handle"] }).handle = async (call: ApiCall): Promise<ApiOutcome> => {
    const method = call.method.toLowerCase();
    counts.calls.set(method, (counts.calls.get(method) ?? 0) + 1);
    const outcome = await original(call);
    if (outcome.kind === "answer" && outcome.status === 429) counts.responses429++;
    return outcome;
  };
  return counts;
}

/** Deliveries in the record grouped by text (caption for media). */
export function deliveriesByText(sim: SimBot): Map<string, DeliveredMessage[]> {
  const out = new Map<string, DeliveredMessage[]>();
  for (const m of sim.record.messages()) {
    const key = m.text ?? "";
    let list = out.get(key);
    if (list === undefined) out.set(key, (list = []));
    list.push(m);
  }
  return out;
}

/** `items` with repeats of an earlier item removed. */
export function firstOccurrencesOf<T>(items: readonly T[]): T[] {
  const seen = new Set<T>();
  return items.filter((t) => (seen.has(t) ? false : (seen.add(t), true)));
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls an async (or sync) condition until it holds; rejects after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${options.what ?? "a condition"}`);
    await sleep(options.intervalMs ?? 10);
  }
}
