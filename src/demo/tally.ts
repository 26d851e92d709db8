/**
 * The verification: what the users sent against what the emulator recorded the bot delivering.
 * Every reply carries the id of the update it answers (see `replyTag`), so an update is
 * *handled* when at least one reply to it was delivered, *lost* when none was, and every copy
 * beyond the first is a *duplicate*. Nothing here trusts the bot's own account.
 */
import type { DeliveredMessage, DeliveryRecord } from "../emulator/index.js";
import { parseReplyTag } from "./handlers.js";
import type { SentUpdate } from "./population.js";

/** Follows a bot's delivery record as it grows, indexing replies by the update they answer. */
export class ReplyTracker {
  private seen = 0;
  private readonly byUpdate = new Map<number, DeliveredMessage[]>();
  /** Deliveries without a tag (none in this demo's bot; counted in case). */
  untagged = 0;
  /** Tagged deliveries so far, duplicates included. */
  tagged = 0;

  /** Reads what was delivered since the last call. */
  sync(record: DeliveryRecord): void {
    const all = record.messages();
    for (; this.seen < all.length; this.seen++) {
      const m = all[this.seen];
      if (m === undefined) continue;
      const updateId = parseReplyTag(m.text);
      if (updateId === undefined) {
        this.untagged++;
        continue;
      }
      this.tagged++;
      const list = this.byUpdate.get(updateId);
      if (list === undefined) this.byUpdate.set(updateId, [m]);
      else list.push(m);
    }
  }

  /** Distinct updates answered so far. */
  get answered(): number {
    return this.byUpdate.size;
  }

  /** The replies to one update, in delivery order. */
  repliesTo(updateId: number): readonly DeliveredMessage[] {
    return this.byUpdate.get(updateId) ?? [];
  }
}

/** A stretch of time in which the bot was not polling (killed, or starting again), epoch ms. */
export interface DownWindow {
  readonly from: number;
  /** When it was up again; undefined while still down. */
  readonly to: number | undefined;
}

/** The verified outcome of one run. */
export interface VerifiedCounts {
  /** Updates the users created (messages, commands, photos, button presses). */
  readonly sent: number;
  /** Updates with at least one reply delivered. */
  readonly handled: number;
  /** Replies delivered, every copy counted. */
  readonly replies_delivered: number;
  /** Updates with no reply at all. */
  readonly lost: number;
  /** Copies delivered beyond the first, over all updates. */
  readonly duplicated: number;
  /** … of which the first copy's answer was lost by the network (the ambiguous fault). */
  readonly duplicated_answer_lost: number;
  /** … of which a kill fell between the copies (the process died before it knew it had sent). */
  readonly duplicated_at_kill: number;
  /** Updates created while the bot was down. */
  readonly delayed_while_down: number;
  /** … of which answered after the restart. */
  readonly delayed_while_down_handled: number;
  /** Median reply latency (first reply's delivery minus the update's creation), ms; null with no replies. */
  readonly p50_reply_ms: number | null;
  /** 99th percentile of the reply latency, ms. */
  readonly p99_reply_ms: number | null;
  /** The slowest reply, ms. */
  readonly max_reply_ms: number | null;
  /** Up to 10 ids of lost updates, to look into. */
  readonly lost_sample: readonly number[];
}

/** Counts the verified outcome of `sent` from what `tracker` saw delivered. */
export function verify(sent: readonly SentUpdate[], tracker: ReplyTracker, down: readonly DownWindow[], killTimes: readonly number[]): VerifiedCounts {
  let handled = 0;
  let replies = 0;
  let duplicated = 0;
  let answerLost = 0;
  let atKill = 0;
  let whileDown = 0;
  let whileDownHandled = 0;
  const latencies: number[] = [];
  const lost: number[] = [];
  for (const s of sent) {
    const copies = tracker.repliesTo(s.updateId);
    const wasDown = down.some((w) => s.at >= w.from && (w.to === undefined || s.at < w.to));
    if (wasDown) whileDown++;
    replies += copies.length;
    const first = copies[0];
    if (first === undefined) {
      lost.push(s.updateId);
      continue;
    }
    handled++;
    if (wasDown) whileDownHandled++;
    latencies.push(Math.max(0, first.at - s.at));
    for (let j = 1; j < copies.length; j++) {
      const copy = copies[j] as DeliveredMessage;
      duplicated++;
      if (copies.slice(0, j).some((c) => c.ambiguous)) answerLost++;
      else if (killTimes.some((t) => t >= first.at - 50 && t <= copy.at)) atKill++;
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    sent: sent.length, handled, replies_delivered: replies, lost: lost.length, duplicated,
    duplicated_answer_lost: answerLost, duplicated_at_kill: atKill,
    delayed_while_down: whileDown, delayed_while_down_handled: whileDownHandled,
    p50_reply_ms: percentile(latencies, 0.5), p99_reply_ms: percentile(latencies, 0.99),
    max_reply_ms: latencies.at(-1) ?? null, lost_sample: lost.slice(0, 10),
  };
}

/** Nearest-rank percentile of sorted values; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return Math.round(sorted[rank - 1] as number);
}
