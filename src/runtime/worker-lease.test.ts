import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { WorkerLease } from "./worker-lease.js";

let store: Store;
afterEach(async () => {
  await store.close();
});

describe("WorkerLease", () => {
  it("is fresh while renewed in time; a renewal after the lease ran out leaves it stale until confirmed", async () => {
    store = await openStore({ path: ":memory:" });
    let now = 1_000_000;
    const lease = new WorkerLease(store, "host/1/abcd", 600, 200, () => now);
    expect(lease.fresh()).toBe(false);
    await lease.renew();
    expect(lease.fresh()).toBe(true);
    now += 350; // within the lease, but less than one renewal interval left
    expect(lease.fresh()).toBe(true);
    now += 100;
    expect(lease.fresh()).toBe(false);
    await lease.renew(); // in time: fresh again
    expect(lease.fresh()).toBe(true);
    now += 5_000; // paused: others may have taken over meanwhile
    await lease.renew();
    expect(lease.fresh()).toBe(false);
    lease.confirmed();
    expect(lease.fresh()).toBe(true);
  });

  it("confirms journal ownership by the store: drops to false once another instance adopted the journal", async () => {
    store = await openStore({ path: ":memory:" });
    const journal = store.inbox.journal!;
    let now = 1_000_000;
    const lease = new WorkerLease(store, "host/1/abcd", 600, 200, () => now);
    await lease.renew();
    await journal.append([{ update_id: 1, message: { message_id: 1, date: 1, chat: { id: 5, type: "private" }, text: "x" } }], { owner: "host/1/abcd", nextOffset: 2, now });
    const ownership = lease.journalOwnership(journal);
    now += 5_000;
    expect(ownership.fresh()).toBe(false);
    expect(await ownership.confirm()).toBe(true);
    expect(ownership.fresh()).toBe(true);
    now += 5_000;
    await journal.adopt("host/1/abcd", { now });
    expect(await ownership.confirm()).toBe(false);
    expect(ownership.fresh()).toBe(false);
  });
});
