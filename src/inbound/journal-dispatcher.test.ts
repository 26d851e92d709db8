import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../runtime/logger.js";
import { UncommittedWrites } from "../state/uncommitted-writes.js";
import { openStore, type InboxJournal, type RawUpdate, type Store } from "../store/index.js";
import { Dispatcher, type HandledUpdate, type UpdateHandler } from "./dispatcher.js";
import { IsolationGate } from "./isolation-gate.js";
import { JournalDispatcher, type JournalDispatcherOptions } from "./journal-dispatcher.js";

let store: Store;
const running: Array<{ stop(deadlineMs: number): Promise<unknown> }> = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop(1_000);
  await store.close();
});

const message = (id: number, chat: number): RawUpdate => ({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: chat, type: "private" }, text: `m${id}` } });

function journalOf(s: Store): InboxJournal {
  const journal = s.inbox.journal;
  if (journal === undefined) throw new Error("the SQLite store has a journal");
  return journal;
}

function startJournal(handle: UpdateHandler, overrides: Partial<JournalDispatcherOptions> = {}): JournalDispatcher {
  const d = new JournalDispatcher({
    journal: journalOf(store), owner: "me", handle, logger: silentLogger(), clock: Date.now,
    concurrency: 8, maxAttempts: 3, backoff: { baseMs: 10, maxMs: 50, jitter: 0 }, blockedCheckMs: 10, ...overrides,
  });
  d.start();
  running.push(d);
  return d;
}

function startRows(handle: UpdateHandler, onSettled?: () => void, gate?: IsolationGate): Dispatcher {
  const d = new Dispatcher({
    inbox: store.inbox, owner: "me", handle, logger: silentLogger(), clock: Date.now,
    concurrency: 8, leaseMs: 5_000, maxAttempts: 3, maxRecoveries: 2, backoff: { baseMs: 10, maxMs: 50, jitter: 0 }, idleMs: 10,
    ...(onSettled === undefined ? {} : { onSettled }),
    ...(gate === undefined ? {} : { gate }),
  });
  d.start();
  running.push(d);
  return d;
}

let offset = 1;
/** Polls like the poller does: one journal record per batch, then hands it over. */
async function deliver(d: JournalDispatcher, updates: RawUpdate[], more = false): Promise<void> {
  offset = Math.max(offset, ...updates.map((u) => u.update_id + 1));
  await d.append(updates, { nextOffset: offset }, more);
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A full garbage collection (V8's `gc`, exposed for this process), then a turn so weak references clear. */
async function collectGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

describe("JournalDispatcher", () => {
  afterEach(() => {
    offset = 1;
  });

  it("handles each chat in update_id order, one at a time, chats in parallel, and closes the batches", async () => {
    store = await openStore({ path: ":memory:" });
    const seen = new Map<string, number[]>();
    const inFlight = new Map<string, number>();
    let maxPerChat = 0;
    let maxTotal = 0;
    let total = 0;
    const d = startJournal(async (u: HandledUpdate) => {
      inFlight.set(u.chatKey, (inFlight.get(u.chatKey) ?? 0) + 1);
      maxPerChat = Math.max(maxPerChat, inFlight.get(u.chatKey)!);
      maxTotal = Math.max(maxTotal, ++total);
      await sleep(2);
      seen.set(u.chatKey, [...(seen.get(u.chatKey) ?? []), u.updateId]);
      inFlight.set(u.chatKey, inFlight.get(u.chatKey)! - 1);
      total--;
      return [];
    });
    for (let b = 0; b < 3; b++) {
      const batch = [];
      for (let i = 1; i <= 10; i++) batch.push(message(b * 10 + i, 100 + (i % 3)));
      await deliver(d, batch);
    }
    await until(() => d.stats().handled === 30);
    expect(maxPerChat).toBe(1);
    expect(maxTotal).toBeGreaterThan(1);
    for (const ids of seen.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(d.stats().open).toBe(0);
    const stats = await journalOf(store).stats();
    expect(stats).toMatchObject({ openBatches: 0, open: 0 });
    const inbox = await store.inbox.stats();
    expect(inbox.done).toBe(30);
    expect(inbox.pending).toBe(0);
  });

  it("writes completions with the next append (no transaction of their own), or on their own after the delay", async () => {
    store = await openStore({ path: ":memory:" });
    const journal = journalOf(store);
    let completes = 0;
    const complete = journal.complete.bind(journal);
    journal.complete = async (c) => {
      completes++;
      return complete(c);
    };
    const d = startJournal(async () => [], { flushDelayMs: 10_000 });
    await deliver(d, [message(1, 1), message(2, 2)], true); // a full batch: more follows at once
    await until(() => d.stats().inFlight === 0 && d.open === 0);
    expect(d.stats().handled).toBe(0); // handled, waiting for a write
    await deliver(d, [message(3, 3)]);
    expect(d.stats().handled).toBe(2); // committed with batch 2's append
    expect(completes).toBe(0);
    expect((await journal.stats()).openBatches).toBe(1); // batch 1 closed in that transaction
    await until(() => d.open === 0);
    await d.stop(1_000);
    expect(completes).toBe(1); // stop() writes what is left
    expect(d.stats().handled).toBe(3);
  });

  it("writes completions on its own within flushDelayMs when the next batch does not come", async () => {
    store = await openStore({ path: ":memory:" });
    const d = startJournal(async () => [], { flushDelayMs: 5 });
    await deliver(d, [message(1, 1), message(2, 2)], true);
    await until(() => d.stats().handled === 2, 2_000);
    expect((await journalOf(store).stats()).openBatches).toBe(0);
  });

  it("with polling idle (the last batch was not full), writes completions at once, not after the delay", async () => {
    store = await openStore({ path: ":memory:" });
    const d = startJournal(async () => [], { flushDelayMs: 60_000 });
    await deliver(d, [message(1, 1)]);
    await until(() => d.stats().handled === 1, 1_000);
  });

  it("keeps completions whose write failed and writes them with the next write: nothing lost", async () => {
    store = await openStore({ path: ":memory:" });
    const journal = journalOf(store);
    const complete = journal.complete.bind(journal);
    let failures = 1;
    journal.complete = async (c) => {
      if (failures-- > 0) throw new Error("disk full");
      return complete(c);
    };
    const d = startJournal(async (u) => [{ kind: "kv.increment", key: `done:${u.updateId}` }], { flushDelayMs: 1 });
    await deliver(d, [message(1, 1), message(2, 2)]);
    await until(() => d.stats().handled === 2, 3_000);
    for (const id of [1, 2]) expect(await store.state.getValue(`done:${id}`)).toBe("1");
    expect((await journal.stats()).openBatches).toBe(0);
  });

  it("keeps the completions of an append that failed for the next one", async () => {
    store = await openStore({ path: ":memory:" });
    const journal = journalOf(store);
    const d = startJournal(async () => [], { flushDelayMs: 60_000 });
    await deliver(d, [message(1, 1)], true);
    await until(() => d.open === 0);
    const append = journal.append.bind(journal);
    journal.append = async () => {
      throw new Error("database is locked");
    };
    await expect(d.append([message(2, 2)], { nextOffset: 3 })).rejects.toThrow(/locked/);
    journal.append = append;
    await d.append([message(2, 2)], { nextOffset: 3 });
    expect(d.stats().handled).toBe(1); // the first completion rode along with the retried append
    await until(() => d.open === 0);
  });

  it("commits the handler's effects with its completion, once", async () => {
    store = await openStore({ path: ":memory:" });
    const d = startJournal(async (u) => [{ kind: "kv.increment", key: `done:${u.updateId}` }]);
    await deliver(d, [message(1, 1), message(2, 2), message(3, 1)]);
    await until(() => d.stats().handled === 3);
    for (const id of [1, 2, 3]) expect(await store.state.getValue(`done:${id}`)).toBe("1");
  });

  it("tells `uncommitted` of a completion's effects before the chat's next update starts, and again once they are committed", async () => {
    store = await openStore({ path: ":memory:" });
    const uncommitted = new UncommittedWrites();
    const seen: Array<{ id: number; pending: string | null | undefined; stored: string | null }> = [];
    // The backlog's flush waits for the next append: both updates run before anything is written.
    const d = startJournal(async (u) => {
      seen.push({ id: u.updateId, pending: uncommitted.lookup("session:1"), stored: await store.data.get("session:1") });
      return [{ kind: "data.set", key: `session:${u.chatKey}`, value: String(u.updateId) }, { kind: "kv.increment", key: "n" }];
    }, { flushDelayMs: 60_000, uncommitted });
    await deliver(d, [message(1, 1), message(2, 1)], true);
    await until(() => d.open === 0);
    expect(seen).toEqual([{ id: 1, pending: undefined, stored: null }, { id: 2, pending: "1", stored: null }]);
    expect(uncommitted.lookup("session:1")).toBe("2");
    await deliver(d, [message(3, 2)]);
    await until(() => d.stats().handled === 3);
    expect(await store.data.get("session:1")).toBe("2");
    expect(await store.data.get("session:2")).toBe("3");
    expect(uncommitted.size).toBe(0);
  });

  it("forgets the uncommitted effects it drops when its journal was taken over", async () => {
    store = await openStore({ path: ":memory:" });
    const uncommitted = new UncommittedWrites();
    const d = startJournal(async (u) => [{ kind: "data.set", key: `session:${u.updateId}`, value: "x" }], { flushDelayMs: 60_000, uncommitted });
    await deliver(d, [message(1, 1), message(2, 2)], true);
    await until(() => d.open === 0);
    expect(uncommitted.size).toBe(2);
    expect(await journalOf(store).adopt("me")).toBe(2); // as if this instance were gone
    await d.append([message(3, 3)], { nextOffset: 4 });
    await until(() => d.stats().open === 0);
    expect(uncommitted.lookup("session:1")).toBeUndefined();
    expect(uncommitted.lookup("session:2")).toBeUndefined();
    expect(await store.data.get("session:1")).toBeNull();
  });

  it("moves a failed update to the rows and keeps its chat waiting until the row is handled", async () => {
    store = await openStore({ path: ":memory:" });
    const order: number[] = [];
    let failNext = true;
    const handle: UpdateHandler = async (u) => {
      if (u.updateId === 2 && failNext) {
        failNext = false;
        throw new Error("flaky");
      }
      await sleep(1);
      order.push(u.updateId);
      return [];
    };
    const d = startJournal(handle);
    const rows = startRows(handle, () => void d.checkBlocked());
    await deliver(d, [message(1, 7), message(2, 7), message(3, 7), message(4, 8)]);
    await until(() => order.length === 4 && d.stats().handled === 3);
    expect(order.filter((id) => id !== 4)).toEqual([1, 2, 3]);
    const row = await store.inbox.get(2);
    expect(row).toMatchObject({ state: "done", attempts: 2 });
    expect(row?.lastError).toMatch(/flaky/);
    expect(d.stats()).toMatchObject({ failed: 1, handled: 3, blockedChats: 0 });
    expect(rows.stats().handled).toBe(1);
  });

  it("dead-letters at once when maxAttempts is 1, and the chat goes on", async () => {
    store = await openStore({ path: ":memory:" });
    const order: number[] = [];
    const d = startJournal(async (u) => {
      if (u.updateId === 1) throw new Error("poison");
      order.push(u.updateId);
      return [];
    }, { maxAttempts: 1 });
    await deliver(d, [message(1, 5), message(2, 5)]);
    await until(() => order.length === 1 && d.stats().open === 0);
    expect(order).toEqual([2]);
    const letters = await store.inbox.deadLetters.list();
    expect(letters.items.map((l) => l.updateId)).toEqual([1]);
    expect(letters.items[0]?.error).toMatch(/poison/);
    expect(letters.items[0]?.stack).toMatch(/poison/);
  });

  it("fails a handler that passes handlerTimeoutMs: aborts the run, dead-letters it, its chat goes on, and its late completion commits nothing", async () => {
    store = await openStore({ path: ":memory:" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const order: number[] = [];
    const timedOutAt: Array<{ updateId: number; ms: number; code: string }> = [];
    let lateSettled = false;
    const started = Date.now();
    const d = startJournal(async (u, run) => {
      run.onTimeout = { timedOut: (reason) => timedOutAt.push({ updateId: u.updateId, ms: Date.now() - started, code: reason.code }) };
      if (u.updateId === 1) {
        await gate; // stuck far past its deadline
        lateSettled = true;
        return [{ kind: "kv.increment", key: "late" }];
      }
      order.push(u.updateId);
      return [{ kind: "kv.increment", key: `done:${u.updateId}` }];
    }, { maxAttempts: 1, handlerTimeoutMs: 60 });
    await deliver(d, [message(1, 5), message(2, 5), message(3, 6)]);
    await until(() => order.length === 2 && d.stats().open === 0);
    expect(order).toEqual([3, 2]); // chat 5 went on after update 1's deadline
    expect(timedOutAt).toMatchObject([{ updateId: 1, code: "HANDLER_TIMEOUT" }]);
    expect(timedOutAt[0]!.ms).toBeGreaterThanOrEqual(60);
    const letters = await store.inbox.deadLetters.list();
    expect(letters.items.map((l) => l.updateId)).toEqual([1]);
    expect(letters.items[0]?.error).toMatch(/handler did not finish within 60ms/);
    expect(d.stats()).toMatchObject({ timedOut: 1, failed: 1, deadLettered: 1, handled: 2, inFlight: 0 });
    // The stuck handler ends after all: what it returns is refused.
    release();
    await until(() => lateSettled);
    await sleep(30);
    expect(await store.state.getValue("late")).toBeNull();
    expect(await store.state.getValue("done:2")).toBe("1");
    expect(d.stats()).toMatchObject({ handled: 2, inFlight: 0, open: 0 });
    expect(await journalOf(store).stats()).toMatchObject({ openBatches: 0, open: 0 });
  });

  it("moves a timed-out update to the rows for its retry, like a handler that threw", async () => {
    store = await openStore({ path: ":memory:" });
    const d = startJournal(async (u) => {
      if (u.updateId === 1) await new Promise(() => undefined); // hangs forever
      return [];
    }, { handlerTimeoutMs: 40 });
    await deliver(d, [message(1, 5), message(2, 5)]);
    await until(async () => (await store.inbox.get(1)) !== null);
    const row = await store.inbox.get(1);
    expect(row).toMatchObject({ state: "pending", attempts: 1 });
    expect(row?.lastError).toMatch(/UnlostError: handler did not finish within 40ms/);
    expect(d.stats()).toMatchObject({ timedOut: 1, failed: 1, blockedChats: 1 });
  });

  it("holds back a chat that already has unfinished rows until they are done", async () => {
    store = await openStore({ path: ":memory:" });
    await store.inbox.ingest([message(1, 9)]); // an older update of chat 9, as a row
    const order: number[] = [];
    const handle: UpdateHandler = async (u) => {
      await sleep(u.updateId === 1 ? 30 : 1);
      order.push(u.updateId);
      return [];
    };
    const d = startJournal(handle);
    await deliver(d, [message(2, 9), message(3, 10)]);
    await until(() => order.includes(3));
    await sleep(30);
    expect(order).toEqual([3]); // chat 9 waits for its row
    startRows(handle, () => void d.checkBlocked());
    await until(() => order.length === 3);
    expect(order).toEqual([3, 1, 2]);
  });

  it("leaves unfinished updates in the journal; adopting them makes rows of exactly those, in order", async () => {
    store = await openStore({ path: ":memory:" });
    const gate = new Promise<void>(() => undefined); // never resolves: the process "dies" mid-handler
    const d = startJournal(async (u) => {
      if (u.updateId >= 3) await gate;
      return [];
    }, { concurrency: 2 });
    await deliver(d, [message(1, 1), message(2, 2), message(3, 1), message(4, 2), message(5, 1), message(6, 3)]);
    await until(async () => (await journalOf(store).stats()).open === 4);
    running.splice(0); // gone without a goodbye: nothing else is recorded
    const adopted = await journalOf(store).adopt("me");
    expect(adopted).toBe(4);
    expect(await journalOf(store).owners()).toEqual([]);
    const order: number[] = [];
    const rows = startRows(async (u) => {
      order.push(u.updateId);
      return [];
    });
    await until(() => rows.stats().handled === 4);
    expect(order.filter((id) => id % 2 === 1)).toEqual([3, 5]);
    expect(new Set(order)).toEqual(new Set([3, 4, 5, 6]));
    expect(await store.inbox.get(1)).toBeNull(); // completed in the journal: no row
  });

  it("drops its copy when another instance adopted its journal: nothing more is recorded", async () => {
    store = await openStore({ path: ":memory:" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const d = startJournal(async (u) => {
      await gate;
      return [{ kind: "kv.increment", key: `done:${u.updateId}` }];
    });
    await deliver(d, [message(1, 1), message(2, 2)]);
    await until(() => d.stats().inFlight === 2);
    expect(await journalOf(store).adopt("me")).toBe(2); // as if this instance were gone
    release();
    await until(() => d.stats().inFlight === 0 && d.stats().open === 0);
    await sleep(20);
    expect(await store.state.getValue("done:1")).toBeNull();
    expect(d.stats().handled).toBe(0);
    expect((await store.inbox.stats()).pending).toBe(2); // the rows wait for whoever handles them
  });

  it("stop() lets running handlers finish within the deadline and records them", async () => {
    store = await openStore({ path: ":memory:" });
    const d = startJournal(async () => {
      await sleep(20);
      return [];
    }, { concurrency: 1 });
    await deliver(d, [message(1, 1), message(2, 2), message(3, 3)]);
    await until(() => d.stats().inFlight === 1);
    running.splice(0);
    const { abandoned } = await d.stop(1_000);
    expect(abandoned).toBe(0);
    expect(d.stats().handled).toBeGreaterThanOrEqual(1);
    const open = (await journalOf(store).stats()).open;
    expect(open + d.stats().handled).toBe(3);
  });

  it("starts a batch's handlers on the next turn of the event loop, after whatever the appending caller does next", async () => {
    store = await openStore({ path: ":memory:" });
    const order: string[] = [];
    const d = startJournal(async (u) => {
      order.push(`handler ${u.updateId}`);
      return [];
    });
    const appending = deliver(d, [message(1, 1), message(2, 2)]).then(() => order.push("caller goes on (the next getUpdates)"));
    await appending;
    expect(order).toEqual(["caller goes on (the next getUpdates)"]);
    await until(() => d.stats().handled === 2);
    expect(order).toEqual(["caller goes on (the next getUpdates)", "handler 1", "handler 2"]);
  });

  it("keeps each chat's order when its emptied queue object is reused for other chats", async () => {
    store = await openStore({ path: ":memory:" });
    const seen = new Map<string, number[]>();
    const d = startJournal(async (u) => {
      seen.set(u.chatKey, [...(seen.get(u.chatKey) ?? []), u.updateId]);
      if (u.updateId % 3 === 0) await sleep(1);
      return [];
    }, { concurrency: 4 });
    // Chats come and go batch after batch, so their queues are emptied and reused many times.
    let id = 1;
    for (let batch = 0; batch < 20; batch++) {
      const updates: RawUpdate[] = [];
      for (let i = 0; i < 10; i++) updates.push(message(id++, (batch * 7 + i) % 13));
      await deliver(d, updates, true);
      await until(() => d.stats().open < 5);
    }
    await until(() => d.stats().handled === 200);
    for (const ids of seen.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect([...seen.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it("lets go of a finished update while its chat is still busy (a busy chat's queue is compacted only now and then)", async () => {
    store = await openStore({ path: ":memory:" });
    const finished: Array<WeakRef<object>> = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const d = startJournal(async (u) => {
      if (u.updateId === 31) await held; // the chat stays busy: updates 31..40 wait their turn
      else finished.push(new WeakRef(u.update));
      return [];
    });
    await deliver(d, Array.from({ length: 40 }, (_, i) => message(i + 1, 7)));
    await until(() => finished.length === 30);
    await collectGarbage();
    // Before the fix, all 30 stayed reachable from the chat's queue until it emptied or ran
    // 64 more: with 1,000 busy chats, 64,000 updates with their contexts (bench:echo: 500 MB).
    expect(finished.filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(1);
    release();
    await until(() => d.stats().handled === 40);
  });

  it("keeps a chat's queue while it is idle and forgets idle queues in bulk: the map stays bounded, and a chat that comes back keeps its order", async () => {
    store = await openStore({ path: ":memory:" });
    const seen: number[] = [];
    const d = startJournal(async (u) => { seen.push(u.updateId); return []; });
    // 6,000 one-off chats: each queue is idle after its update.
    for (let b = 0; b < 60; b++) await deliver(d, Array.from({ length: 100 }, (_, i) => message(b * 100 + i + 1, 100_000 + b * 100 + i)));
    await until(() => d.stats().handled === 6000);
    // More than 4,096 idle queues (and more than the busy ones) are forgotten at once.
    expect(d.chatQueues).toBeLessThanOrEqual(4097);
    expect(d.chatQueues).toBeGreaterThan(0);
    // A chat whose queue was kept idle runs its next updates in order, as a new one does.
    await deliver(d, [message(6001, 100_000 + 5999), message(6002, 100_000 + 5999), message(6003, 7)]);
    await until(() => d.stats().handled === 6003);
    expect(seen.slice(-3).filter((id) => id !== 6003)).toEqual([6001, 6002]);
  });

  it("starts no handler while its ownership is not fresh: runs on once confirmed, drops the journal when it was taken over", async () => {
    store = await openStore({ path: ":memory:" });
    let fresh = false;
    let owned = true;
    let confirms = 0;
    const seen: number[] = [];
    const ownership = { fresh: () => fresh, confirm: async () => { confirms++; await sleep(20); if (owned) fresh = true; return owned; } };
    const d = startJournal(async (u) => { seen.push(u.updateId); return []; }, { ownership });
    await deliver(d, [message(1, 10), message(2, 20)]);
    // Stale: nothing starts until the confirmation says the journal is still this process's.
    await sleep(5);
    expect(seen).toEqual([]);
    await until(() => seen.length === 2);
    expect(confirms).toBe(1);
    // A pause later: the store says someone adopted the journal; the queued updates never start here.
    fresh = false;
    owned = false;
    await deliver(d, [message(3, 10), message(4, 30)]);
    await until(() => confirms === 2);
    await sleep(50);
    expect(seen).toEqual([1, 2]);
    expect(d.stats()).toMatchObject({ open: 0, inFlight: 0 });
  });

  describe("with the isolation gate shared with the row dispatcher", () => {
    /** A handler that logs `+id` / `-id` and ends when released. */
    function gated(): { handle: UpdateHandler; log: string[]; running: Set<number>; release(id: number): void; maxBeside: Map<number, number> } {
      const log: string[] = [];
      const running = new Set<number>();
      const waiting = new Map<number, () => void>();
      const maxBeside = new Map<number, number>();
      const handle: UpdateHandler = async (u) => {
        running.add(u.updateId);
        for (const id of running) maxBeside.set(id, Math.max(maxBeside.get(id) ?? 0, running.size - 1));
        log.push(`+${u.updateId}`);
        await new Promise<void>((r) => waiting.set(u.updateId, r));
        running.delete(u.updateId);
        log.push(`-${u.updateId}`);
        return [];
      };
      return { handle, log, running, maxBeside, release: (id) => waiting.get(id)?.() };
    }

    /** Update `id` of `chat` as a row recovered from a process that died while it ran among others. */
    async function recoveredRow(id: number, chat: number): Promise<void> {
      await store.inbox.ingest([message(id, chat)]);
      await store.inbox.claim({ owner: "dead", limit: 1, leaseMs: 60_000 });
      await store.inbox.expireClaims({ owner: "dead" });
    }

    it("a recovered update waits for the journal's running handlers, runs alone, and no journal handler starts meanwhile", async () => {
      store = await openStore({ path: ":memory:" });
      const gate = new IsolationGate();
      const h = gated();
      const d = startJournal(h.handle, { gate });
      await deliver(d, [message(10, 1)]);
      await until(() => h.running.has(10));
      await recoveredRow(5, 2);
      const rows = startRows(h.handle, undefined, gate);
      await until(() => gate.held);
      await deliver(d, [message(11, 3)]);
      await sleep(50);
      // The suspect waits for 10 (already running); 11 waits for the gate.
      expect(h.log).toEqual(["+10"]);
      expect(gate.running).toBe(1);
      h.release(10);
      await until(() => h.running.has(5));
      await sleep(50);
      expect(h.log).toEqual(["+10", "-10", "+5"]);
      h.release(5);
      await until(() => h.running.has(11));
      h.release(11);
      await until(() => d.stats().handled === 2 && rows.stats().handled === 1);
      expect(h.log).toEqual(["+10", "-10", "+5", "-5", "+11", "-11"]);
      expect(h.maxBeside.get(5)).toBe(0);
      expect(gate).toMatchObject({ held: false, running: 0 });
      expect(rows.stats()).toMatchObject({ recovered: 1, isolated: 1 });
    });

    it("a journal handler past its deadline does not keep the suspects waiting", async () => {
      store = await openStore({ path: ":memory:" });
      const gate = new IsolationGate();
      const h = gated();
      const d = startJournal(h.handle, { gate, handlerTimeoutMs: 100 });
      await deliver(d, [message(10, 1)]);
      await until(() => h.running.has(10));
      await recoveredRow(5, 2);
      const started = Date.now();
      const rows = startRows(h.handle, undefined, gate);
      await until(() => h.running.has(5));
      // 10 never returns: the suspect started once 10 was failed at its deadline.
      expect(d.stats().timedOut).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(50);
      h.release(5);
      await until(() => rows.stats().handled === 1);
      expect(gate.held).toBe(false);
    });
  });
});
