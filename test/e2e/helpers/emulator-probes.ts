/**
 * Probes on an in-process emulator for end-to-end tests: wait for a condition, watch the Bot
 * API calls bots make, and tally what each sent message got back.
 */
import type { ApiCall, DeliveryRecord, Emulator } from "../../../src/emulator/index.js";

/** Polls `condition` until it returns true (or a truthy value, which is returned). */
export async function waitFor<T>(
  condition: () => T | false | undefined,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? "a condition"}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Calls `listener` with every Bot API call the emulator receives, before it is handled (so a
 * getUpdates' `offset` is seen at the moment it confirms). Returns a function that stops watching.
 */
export function watchCalls(emulator: Emulator, listener: (call: ApiCall) => void): () => void {
  return emulator.onCall(listener);
}

/** The `offset` parameter of a getUpdates call, as a number (0 when absent). */
export function offsetOf(call: ApiCall): number {
  const raw = call.params["offset"];
  const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : 0;
  return Number.isFinite(n) ? n : 0;
}

/** A message a simulated user sent, and the reply the bot should give to it. */
export interface SentMessage {
  readonly chatId: number;
  readonly messageId: number;
  readonly text: string;
  /** The reply text the bot is expected to deliver for it. */
  readonly expectedReply: string;
}

/** What became of a set of sent messages, counted from the emulator's delivery record. */
export interface ReplyTally {
  /** Messages sent. */
  readonly sent: number;
  /** Messages that got at least one reply. */
  readonly answered: number;
  /** Messages that got no reply at all (lost updates). */
  readonly lost: number;
  /** Messages that got their reply more than once. */
  readonly duplicated: number;
  /** Extra deliveries: sum over messages of (replies - 1) where > 1 (duplicate replies). */
  readonly duplicates: number;
  /** Replies per message, in the order the messages were sent. */
  readonly repliesPerMessage: readonly number[];
}

/**
 * Counts, for each sent message, the deliveries in its chat with the expected reply text
 * (replies are unique per message, so the count is how often that message was handled).
 */
export function tallyReplies(record: DeliveryRecord, sent: readonly SentMessage[]): ReplyTally {
  const repliesPerMessage = sent.map((m) => record.to(m.chatId).filter((d) => d.text === m.expectedReply).length);
  return {
    sent: sent.length,
    answered: repliesPerMessage.filter((n) => n > 0).length,
    lost: repliesPerMessage.filter((n) => n === 0).length,
    duplicated: repliesPerMessage.filter((n) => n > 1).length,
    duplicates: repliesPerMessage.reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    repliesPerMessage,
  };
}
