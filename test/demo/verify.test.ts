/**
 * The demo's arithmetic: how replies are matched to updates, how duplicates are explained,
 * percentiles, and the script of kills and faults.
 */
import { describe, expect, it } from "vitest";
import { DeliveryRecord } from "../../src/emulator/index.js";
import { parseReplyTag, replyTag } from "../../src/demo/handlers.js";
import { ReplyTracker, percentile, verify } from "../../src/demo/tally.js";
import { minimumDurationSeconds, planTimeline } from "../../src/demo/timeline.js";
import type { SentUpdate } from "../../src/demo/population.js";

function deliver(record: DeliveryRecord, updateId: number | undefined, at: number, ambiguous = false): void {
  const text = updateId === undefined ? "the bot was offline" : `pong${replyTag(updateId)}`;
  record.add({ chatId: 1, messageId: record.size + 1, method: "sendMessage", kind: "text", text, replyToMessageId: undefined, at, ambiguous });
}

describe("demo verification", () => {
  it("tags round-trip and untagged texts are not replies", () => {
    expect(parseReplyTag(`“hi · #3”: got it.${replyTag(123456)}`)).toBe(123456);
    expect(parseReplyTag("hello #12")).toBeUndefined();
    expect(parseReplyTag(undefined)).toBeUndefined();
  });

  it("counts handled, lost, duplicates (explained by a lost answer or a kill), delayed-while-down and latency", () => {
    const sent: SentUpdate[] = [
      { updateId: 1, at: 1000, chatId: 1, kind: "text" },
      { updateId: 2, at: 2000, chatId: 1, kind: "text" }, // while down
      { updateId: 3, at: 3000, chatId: 1, kind: "photo" }, // lost
      { updateId: 4, at: 4000, chatId: 1, kind: "button" },
    ];
    const record = new DeliveryRecord();
    deliver(record, 1, 1100, true); // its answer was lost …
    deliver(record, 1, 1300); // … so it was sent again
    deliver(record, undefined, 2500);
    deliver(record, 2, 2600);
    deliver(record, 4, 4200); // on the wire when the bot was killed at 4210
    deliver(record, 4, 5000);
    const tracker = new ReplyTracker();
    tracker.sync(record);
    const counts = verify(sent, tracker, [{ from: 1500, to: 2400 }], [4210]);
    expect(counts).toMatchObject({
      sent: 4, handled: 3, lost: 1, lost_sample: [3], replies_delivered: 5, duplicated: 2,
      duplicated_answer_lost: 1, duplicated_at_kill: 1, delayed_while_down: 1, delayed_while_down_handled: 1,
    });
    expect(tracker.untagged).toBe(1);
    expect([counts.p50_reply_ms, counts.p99_reply_ms]).toEqual([200, 600]);
  });

  it("percentiles by nearest rank", () => {
    expect(percentile([], 0.5)).toBeNull();
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(values, 0.5), percentile(values, 0.99), percentile([7], 0.99)]).toEqual([50, 99, 7]);
  });

  it("plans the kills, the restarts and the faults within the first 70 % of the run", () => {
    const steps = planTimeline(45_000, 2);
    expect(steps.map((s) => s.kind)).toEqual(["kill", "restart", "network-faults", "kill", "restart", "flood"]);
    expect(Math.max(...steps.map((s) => s.at))).toBeLessThan(45_000 * 0.7);
    expect(planTimeline(20_000, 0).map((s) => s.kind)).toEqual(["network-faults", "flood"]);
    expect(planTimeline(60_000, 5).filter((s) => s.kind === "kill")).toHaveLength(5);
    expect(minimumDurationSeconds(2)).toBe(6);
    expect(() => planTimeline(5_000, 5)).toThrow(/too short for 5 kills/);
  });
});
