import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../runtime/logger.js";
import { openStore, type ClaimedUpdate, type Store } from "../store/index.js";
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

/**
 * Claims the ready heads (up to `limit`) as `owner`, optionally marks them isolated (`true`:
 * each alone; a number: together, in groups of that size), and lets `owner` die: its claims
 * expire, as when the runtime finds its process gone.
 */
async function crash(owner: string, options: { isolated: boolean | number; limit?: number }): Promise<void> {
  const claimed = await store.inbox.claim({ owner, limit: options.limit ?? 10, leaseMs: 60_000 });
  if (options.isolated === true) for (const c of claimed) await store.inbox.isolate([c.claim]);
  else if (typeof options.isolated === "number") {
    for (let i = 0; i < claimed.length; i += options.isolated) await store.inbox.isolate(claimed.slice(i, i + options.isolated).map((c) => c.claim));
  }
  await store.inbox.expireClaims({ owner });
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

  it("gives up on an update that killed its process every time it ran alone, without running it again", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 1)]);
    // Three processes each ran it alone (isolated claim) and died.
    await crash("crashing-0", { isolated: false });
    for (let i = 1; i <= 3; i++) await crash(`crashing-${i}`, { isolated: true });
    const ran: number[] = [];
    const d = start(async (u) => {
      ran.push(u.updateId);
      return [];
    });
    await until(() => d.stats().handled === 1 && d.stats().deadLettered === 1);
    expect(ran).toEqual([2]);
    const dead = await store.inbox.deadLetters.get(1);
    expect(dead?.error).toMatch(/its process died 3 time\(s\) while it ran alone \(more than inbox.maxRecoveries = 2\)/);
    expect(dead).toMatchObject({ recoveries: 4, isolatedDeaths: 3 });
  });

  it("never gives up on an update for deaths while it ran beside others, however many", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2)]);
    // Twenty kills while they ran among other updates, or together in a group of two: no
    // evidence against either.
    for (let i = 0; i < 20; i++) await crash(`killed-${i}`, { isolated: i % 2 === 0 ? false : 2 });
    const d = start(async () => []);
    await until(() => d.stats().handled === 2);
    expect(await store.inbox.get(1)).toMatchObject({ state: "done", recoveries: 20, isolatedDeaths: 0 });
    expect(d.stats()).toMatchObject({ deadLettered: 0, recovered: 2, isolated: 2 });
  });

  it("runs a recovered update alone: ordinary claims and running handlers wait, then go on", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2), message(3, 3)]);
    await crash("dead", { isolated: false, limit: 1 });
    const log: string[] = [];
    let now = 0;
    let maxAt1 = 0;
    const d = start(async (u) => {
      now++;
      log.push(`+${u.updateId}`);
      if (u.updateId === 1) maxAt1 = Math.max(maxAt1, now);
      await new Promise((r) => setTimeout(r, 30));
      if (u.updateId === 1) maxAt1 = Math.max(maxAt1, now);
      now--;
      log.push(`-${u.updateId}`);
      return [];
    });
    await until(() => d.stats().handled === 3);
    // 1 alone (nothing else started before it ended), then 2 and 3 together.
    expect(log.slice(0, 2)).toEqual(["+1", "-1"]);
    expect(maxAt1).toBe(1);
    expect(d.stats()).toMatchObject({ recovered: 1, isolated: 1, handled: 3 });
  });

  it("a death during an isolated group's run proves nothing against its members and halves their next group (bisection)", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2), message(3, 3), message(4, 4), message(5, 5)]);
    await crash("dead", { isolated: false });
    // This dispatcher's run of the five suspects hangs (as if the process died during it).
    const started: number[] = [];
    const d = start(async (u) => {
      started.push(u.updateId);
      return new Promise(() => undefined);
    }, { owner: "hanging" });
    await until(() => started.length === 5);
    await d.stop(10);
    dispatcher = undefined;
    await store.inbox.expireClaims({ owner: "hanging" });
    // The five ran together in one group (they came from an ordinary run), and died: no
    // evidence against any; next they run in groups of at most ⌈5/2⌉ = 3, each group alone.
    const groups: number[][] = [];
    let current: number[] = [];
    const lost: Array<[number, number | null, number]> = [];
    const release: Array<() => void> = [];
    const d2 = start(async (u) => {
      const c = u as ClaimedUpdate;
      lost.push([c.updateId, c.recoveredIsolation, c.isolatedDeaths]);
      current.push(u.updateId);
      await new Promise<void>((r) => release.push(r));
      return [];
    });
    for (const expected of [[1, 2, 3], [4, 5]]) {
      await until(() => current.length === expected.length);
      await new Promise((r) => setTimeout(r, 30));
      expect(current).toEqual(expected);
      groups.push(current);
      current = [];
      for (const r of release.splice(0)) r();
    }
    await until(() => d2.stats().handled === 5);
    expect(groups).toEqual([[1, 2, 3], [4, 5]]);
    expect(lost).toEqual([1, 2, 3, 4, 5].map((id) => [id, 5, 0]));
    expect(d2.stats()).toMatchObject({ isolated: 5, recovered: 5 });
  });

  it("a lone suspect whose process dies is recovered with the evidence counted", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1)]);
    await crash("dead", { isolated: 1 });
    let started = false;
    const d = start(async () => {
      started = true;
      return new Promise(() => undefined);
    }, { owner: "hanging" });
    await until(() => started);
    await d.stop(10);
    dispatcher = undefined;
    await store.inbox.expireClaims({ owner: "hanging" });
    const [again] = await store.inbox.claim({ owner: "next", limit: 1, leaseMs: 60_000 });
    expect(again).toMatchObject({ updateId: 1, recoveredIsolation: 1, isolatedDeaths: 2, recoveries: 2 });
  });

  it("starts the next isolated group only once the previous group's completions are committed", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2)]);
    // Both died alone before: each runs alone, 1 then 2.
    await crash("dead", { isolated: true });
    // Completions take a while to commit.
    const inbox = new Proxy(store.inbox, {
      get(target, key, receiver) {
        if (key === "settleAndClaim") {
          return async (...args: Parameters<typeof target.settleAndClaim>) => {
            await new Promise((r) => setTimeout(r, 100));
            return target.settleAndClaim(...args);
          };
        }
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const stateOf1: string[] = [];
    const d = start(async (u) => {
      // Until 1's completion is committed its claim is still marked as running alone: a death
      // while 2 runs alone would count against 1 too.
      if (u.updateId === 2) stateOf1.push((await store.inbox.get(1))?.state ?? "none");
      return [];
    }, { inbox });
    await until(() => d.stats().handled === 2);
    expect(stateOf1).toEqual(["done"]);
  });

  it("on stop during an isolation phase, gives back the suspects and ordinary claims that did not start", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 1), message(2, 2), message(3, 3)]);
    await crash("dead", { isolated: 1, limit: 2 });
    const release: Array<() => void> = [];
    const started: number[] = [];
    const d = start(async (u) => {
      started.push(u.updateId);
      await new Promise<void>((r) => release.push(r));
      return [];
    });
    // 1 and 2 are suspects, lost while alone: they run one at a time; 3 waits.
    await until(() => started.length === 1);
    const stopping = d.stop(2_000);
    dispatcher = undefined;
    await new Promise((r) => setTimeout(r, 20));
    for (const r of release.splice(0)) r();
    expect((await stopping).abandoned).toBe(0);
    expect(started).toEqual([1]);
    expect((await store.inbox.get(1))?.state).toBe("done");
    expect(await store.inbox.get(2)).toMatchObject({ state: "pending", isolatedDeaths: 1 });
    expect(await store.inbox.get(3)).toMatchObject({ state: "pending", attempts: 0 });
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
