import { describe, expect, it } from "vitest";
import { Scrubber } from "../errors/index.js";
import { openStore } from "../store/index.js";
import { Sampler } from "./samples.js";

const message = (id: number, chat: number) => ({ update_id: id, message: { message_id: id, date: 1, chat: { id: chat, type: "private" as const }, text: "x" } });

describe("the overview's samples", () => {
  it("derives a store's rates from its counts when no bot runs: arrivals, completions, dead letters, backlog", async () => {
    const store = await openStore({ path: ":memory:" });
    let now = 1_000_000;
    const sampler = new Sampler({ store: () => store, clock: () => now, scrub: new Scrubber().scrub }, 1_000, 3);
    await sampler.tick(); // the base
    expect(sampler.samples()).toEqual([]);
    await store.inbox.ingest([message(1, 1), message(2, 2), message(3, 3)], { now });
    const claimed = await store.inbox.claim({ owner: "w", leaseMs: 1_000, limit: 2, now });
    await store.inbox.settle(claimed[0]!.claim, { kind: "done" }, { now });
    await store.inbox.settle(claimed[1]!.claim, { kind: "dead", error: "x" }, { now });
    now += 1_000;
    await sampler.tick();
    expect(sampler.samples()).toEqual([
      { at: now, intervalMs: 1_000, received: 3, handled: 1, failed: 1, sendRequests: null, delivered: 0, sendsFailed: 0, responses429: null, backlog: 1, oldestAgeSeconds: 1, queued: 0 },
    ]);
    // A purge lowers the counts: no negative events.
    await store.inbox.deadLetters.purge({ all: true });
    for (let i = 0; i < 4; i++) {
      now += 1_000;
      await sampler.tick();
    }
    expect(sampler.samples()).toHaveLength(3); // the ring keeps the newest
    expect(sampler.samples().every((s) => s.failed === 0 && s.received === 0)).toBe(true);
    await store.close();
  });
});
