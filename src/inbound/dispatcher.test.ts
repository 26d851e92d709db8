import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../runtime/logger.js";
import { openStore, type Store } from "../store/index.js";
import { Dispatcher, type HandledUpdate, type UpdateHandler } from "./dispatcher.js";

let store: Store;
let dispatcher: Dispatcher | undefined;
afterEach(async () => {
  await dispatcher?.stop(1_000);
  dispatcher = undefined;
  await store.close();
});

const message = (id: number, chat: number) => ({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: "private" }, text: `m${id}` } });

function start(handle: UpdateHandler, overrides: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}): Dispatcher {
  dispatcher = new Dispatcher({
    inbox: store.inbox, owner: "test", handle, logger: silentLogger(), clock: Date.now,
    concurrency: 8, leaseMs: 5_000, maxAttempts: 3, maxRecoveries: 2, backoff: { baseMs: 10, maxMs: 50, jitter: 0 }, idleMs: 20, ...overrides,
  });
  dispatcher.start();
  return dispatcher;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("Dispatcher", () => {
  it("handles each chat in update_id order, one at a time, and chats in parallel", async () => {
    store = await openStore({ path: ":memory:" });
    const updates = [];
    for (let i = 1; i <= 30; i++) updates.push(message(i, 100 + (i % 3)));
    await store.inbox.ingest(updates);
    const seen = new Map<string, number[]>();
    const inFlight = new Map<string, number>();
    let maxPerChat = 0;
    let maxTotal = 0;
    let total = 0;
    const d = start(async (u: HandledUpdate) => {
      inFlight.set(u.chatKey, (inFlight.get(u.chatKey) ?? 0) + 1);
      maxPerChat = Math.max(maxPerChat, inFlight.get(u.chatKey)!);
      maxTotal = Math.max(maxTotal, ++total);
      await new Promise((r) => setTimeout(r, 2));
      seen.set(u.chatKey, [...(seen.get(u.chatKey) ?? []), u.updateId]);
      inFlight.set(u.chatKey, inFlight.get(u.chatKey)! - 1);
      total--;
      return [];
    });
    await until(() => d.stats().handled === 30);
    expect(maxPerChat).toBe(1);
    expect(maxTotal).toBeGreaterThan(1);
    for (const ids of seen.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect((await store.inbox.stats()).done).toBe(30);
  });

  it("takes hand-offs from an ingest within its free slots and keeps one in flight per chat", async () => {
    store = await openStore({ path: ":memory:" });
    const release: Array<() => void> = [];
    const started: number[] = [];
    const d = start(
      (u) =>
        new Promise((resolve) => {
          started.push(u.updateId);
          release.push(() => resolve([]));
        }),
      { concurrency: 3, idleMs: 10_000 },
    );
    await until(() => (d as unknown as { loop?: unknown }).loop !== undefined);
    const first = d.reserve();
    expect(first.limit).toBe(3);
    // Slots reserved for the hand-off are not free for anything else meanwhile.
    expect(d.reserve().limit).toBe(0);
    d.adopt([], { ...first, limit: 0 });
    const result = await store.inbox.ingest([message(1, 1), message(2, 1), message(3, 2), message(4, 3), message(5, 4)], { claim: first });
    expect(result.claimed?.map((c) => c.updateId)).toEqual([1, 3, 4]);
    d.adopt(result.claimed ?? [], first);
    expect(started).toEqual([1, 3, 4]);
    expect(d.stats().inFlight).toBe(3);
    expect(d.reserve().limit).toBe(0);
    // Completions claim the next heads in their own transaction: 2 (chat 1) and 5 (chat 4).
    for (const r of release.splice(0)) r();
    await until(() => started.length === 5);
    expect(started.slice(3).sort()).toEqual([2, 5]);
    for (const r of release.splice(0)) r();
    await until(() => d.stats().handled === 5);
    expect((await store.inbox.stats()).done).toBe(5);
  });

  it("retries a failing handler with backoff, then dead-letters it while the chat's next updates go on", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 7), message(2, 7), message(3, 7)]);
    const tries: number[] = [];
    const d = start(async (u) => {
      tries.push(u.updateId);
      if (u.updateId === 1) throw new Error("poison");
      return [];
    });
    await until(() => d.stats().handled === 2);
    expect(tries).toEqual([1, 1, 1, 2, 3]);
    const dead = await store.inbox.deadLetters.list();
    expect(dead.items.map((x) => [x.updateId, x.attempts, x.error])).toEqual([[1, 3, "Error: poison"]]);
    expect(dead.items[0]!.stack).toMatch(/poison/);
    expect(d.stats()).toMatchObject({ failed: 3, deadLettered: 1, handled: 2 });
  });

  it("commits handler effects with the completion, exactly once", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2)]);
    const d = start(async () => [{ kind: "kv.increment", key: "completions" }]);
    await until(() => d.stats().handled === 2);
    expect(await store.state.getValue("completions")).toBe("2");
  });

  it("recovers an update whose claim expired (its worker died) and counts it", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    await store.inbox.claim({ owner: "dead-worker", limit: 1, leaseMs: 60_000 });
    await store.inbox.expireClaims({ owner: "dead-worker" });
    const attempts: Array<[number, boolean]> = [];
    const d = start(async (u) => {
      attempts.push([u.attempt, u.recovered]);
      return [];
    });
    await until(() => d.stats().handled === 1);
    expect(attempts).toEqual([[2, true]]);
    expect(d.stats().recovered).toBe(1);
  });

  it("gives up on an update that keeps killing its worker, without running it again", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 1)]);
    for (let i = 0; i < 3; i++) {
      await store.inbox.claim({ owner: `crashing-${i}`, limit: 1, leaseMs: 60_000 });
      await store.inbox.expireClaims({ owner: `crashing-${i}` });
    }
    const ran: number[] = [];
    const d = start(async (u) => {
      ran.push(u.updateId);
      return [];
    });
    await until(() => d.stats().handled === 1 && d.stats().deadLettered === 1);
    expect(ran).toEqual([2]);
    expect((await store.inbox.deadLetters.get(1))?.error).toMatch(/the process handling it died 3 time\(s\) \(more than inbox.maxRecoveries = 2\)/);
  });

  it("does not count take-overs from dead processes as failed tries", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    for (let i = 0; i < 2; i++) {
      await store.inbox.claim({ owner: `killed-${i}`, limit: 1, leaseMs: 60_000 });
      await store.inbox.expireClaims({ owner: `killed-${i}` });
    }
    let runs = 0;
    const d = start(async () => {
      runs++;
      if (runs < 3) throw new Error("flaky");
      return [];
    });
    await until(() => d.stats().handled === 1);
    // Two crashes plus two failed tries: still under 3 failed tries, so it was not given up.
    expect(runs).toBe(3);
    expect(d.stats().deadLettered).toBe(0);
  });

  it("fails a handler that passes handlerTimeoutMs: aborts the run, retries then dead-letters it, the chat goes on, late completions commit nothing", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 1)]);
    const release: Array<() => void> = [];
    const timedOut: Array<{ attempt: number; code: string }> = [];
    const handled: number[] = [];
    let late = 0;
    const d = start(async (u, run) => {
      run.onTimeout = { timedOut: (reason) => timedOut.push({ attempt: u.attempt, code: reason.code }) };
      if (u.updateId === 1) {
        // Every try hangs; both are still running when the next one starts.
        await new Promise<void>((r) => release.push(r));
        late++;
        return [{ kind: "kv.increment", key: "late" }];
      }
      handled.push(u.updateId);
      return [{ kind: "kv.increment", key: "done" }];
    }, { maxAttempts: 2, handlerTimeoutMs: 50 });
    await until(() => d.stats().handled === 1);
    expect(handled).toEqual([2]);
    expect(timedOut).toEqual([{ attempt: 1, code: "HANDLER_TIMEOUT" }, { attempt: 2, code: "HANDLER_TIMEOUT" }]);
    const dead = await store.inbox.get(1);
    expect(dead).toMatchObject({ state: "dead", attempts: 2 });
    expect(dead?.lastError).toMatch(/handler did not finish within 50ms/);
    expect(d.stats()).toMatchObject({ timedOut: 2, failed: 2, deadLettered: 1, handled: 1 });
    // The stuck tries end after all: neither their completion nor their effects are recorded,
    // and they disturb nothing (no stale settle, no second completion).
    for (const r of release) r();
    await until(() => late === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.state.getValue("late")).toBeNull();
    expect(await store.state.getValue("done")).toBe("1");
    expect((await store.inbox.get(1))?.state).toBe("dead");
    expect(d.stats()).toMatchObject({ handled: 1, stale: 0, inFlight: 0 });
  });

  it("renews the lease of a handler running longer than the lease, up to its deadline", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    let done = false;
    const d = start(async () => {
      await new Promise((r) => setTimeout(r, 400));
      done = true;
      return [];
    }, { leaseMs: 150, handlerTimeoutMs: 2_000 });
    await until(() => d.stats().handled === 1);
    expect(done).toBe(true);
    expect(d.stats()).toMatchObject({ timedOut: 0, stale: 0, failed: 0 });
  });

  it("on stop, waits for running handlers within the deadline and settles them", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    let started = false;
    const d = start(async () => {
      started = true;
      await new Promise((r) => setTimeout(r, 100));
      return [];
    });
    await until(() => started);
    const result = await d.stop(2_000);
    dispatcher = undefined;
    expect(result.abandoned).toBe(0);
    expect((await store.inbox.get(1))?.state).toBe("done");
  });

  it("on stop, leaves a handler that overruns the deadline claimed (recovered after restart)", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    let started = false;
    const d = start(async () => {
      started = true;
      await new Promise((r) => setTimeout(r, 500));
      return [];
    });
    await until(() => started);
    const result = await d.stop(50);
    dispatcher = undefined;
    expect(result.abandoned).toBe(1);
    expect((await store.inbox.get(1))?.state).toBe("inflight");
  });
});
