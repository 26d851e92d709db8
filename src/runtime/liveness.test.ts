import { hostname } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { instanceGone, localPidSpace, newInstanceId, parseInstanceId, pidScope, processGone, workerLeaseName, type PidSpace } from "./liveness.js";

/** A pid no process has: Linux caps pids at 2^22. */
const DEAD_PID = 2147483646;
const OTHER_SCOPE = "0123456789abcdef";

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

/** An id of this host with `pid`, in the pid space `scope` (as newInstanceId makes them). */
const idOf = (pid: number, scope: string | undefined): string => `${hostname()}/${pid}/cafebabe${scope === undefined ? "" : `/${scope}`}`;

async function withWorkerLease(owner: string, now: number): Promise<Store> {
  store = await openStore({ path: ":memory:" });
  expect(await store.leases.acquire(workerLeaseName(owner), owner, 60_000, { now })).toMatchObject({ held: true });
  return store;
}

describe("instance liveness", () => {
  it("an instance of this host with a pid that does not exist here, but from another pid namespace / boot, is not gone while its lease is valid", async () => {
    const now = Date.now();
    const other = idOf(DEAD_PID, OTHER_SCOPE);
    const s = await withWorkerLease(other, now);
    expect(await instanceGone(s, other, now)).toBe(false);
    // Its lease running out is what makes it gone.
    expect(await instanceGone(s, other, now + 60_000)).toBe(true);
  });

  it("the same host name with the same pid space but another pid namespace is judged by the lease (injected pid space)", async () => {
    const now = Date.now();
    const mine: PidSpace = { host: "box", pid: 10, scope: pidScope("boot-1", "pid:[4026531836]") };
    const theirs: PidSpace = { host: "box", pid: 11, scope: pidScope("boot-1", "pid:[4026532001]") };
    const sameMachineOtherBoot: PidSpace = { host: "box", pid: 11, scope: pidScope("boot-2", "pid:[4026531836]") };
    for (const space of [theirs, sameMachineOtherBoot]) {
      const id = newInstanceId({ ...space, pid: DEAD_PID });
      expect(processGone(id, mine)).toBe(false);
      const s = await withWorkerLease(id, now);
      expect(await instanceGone(s, id, now, mine)).toBe(false);
      await s.close();
      store = undefined;
    }
  });

  it.runIf(localPidSpace().scope !== undefined)("an instance of this pid namespace and boot whose pid is gone is gone at once, even with a valid lease (kill -9 restarts)", async () => {
    const now = Date.now();
    const dead = idOf(DEAD_PID, localPidSpace().scope);
    expect(processGone(dead)).toBe(true);
    const s = await withWorkerLease(dead, now);
    expect(await instanceGone(s, dead, now)).toBe(true);
    // A live pid of this pid space (the parent), or this process, is not gone while its lease holds.
    for (const live of [idOf(process.ppid, localPidSpace().scope), newInstanceId()]) {
      expect(processGone(live)).toBe(false);
      await s.leases.acquire(workerLeaseName(live), live, 60_000, { now });
      expect(await instanceGone(s, live, now)).toBe(false);
    }
  });

  it("ids of an older unlost (no pid space) and ids the user chose are judged by their lease alone", async () => {
    const now = Date.now();
    for (const id of [idOf(DEAD_PID, undefined), "my-worker", `${hostname()}/${DEAD_PID}`]) {
      expect(processGone(id)).toBe(false);
      const s = await withWorkerLease(id, now);
      expect(await instanceGone(s, id, now)).toBe(false);
      expect(await instanceGone(s, id, now + 60_000)).toBe(true);
      await s.close();
      store = undefined;
    }
    // Without a lease at all (never renewed one) an instance is gone.
    store = await openStore({ path: ":memory:" });
    expect(await instanceGone(store, idOf(DEAD_PID, undefined), now)).toBe(true);
  });

  it("where the pid namespace or boot id cannot be read (no /proc), no pid shortcut is taken", () => {
    const space: PidSpace = { host: "mac", pid: 10, scope: pidScope(undefined, "pid:[1]") };
    expect(space.scope).toBeUndefined();
    expect(pidScope("boot", "")).toBeUndefined();
    const id = newInstanceId({ ...space, pid: DEAD_PID });
    expect(id).toMatch(/^mac\/2147483646\/[0-9a-f]{8}$/);
    expect(processGone(id, space)).toBe(false);
  });

  it("ids are parseable, new and old, with a host name that contains a slash", () => {
    const scope = pidScope("b", "pid:[1]")!;
    expect(scope).toMatch(/^[0-9a-f]{16}$/);
    expect(parseInstanceId(newInstanceId({ host: "h", pid: 42, scope }))).toEqual({ host: "h", pid: 42, scope });
    expect(parseInstanceId("h/42/deadbeef")).toEqual({ host: "h", pid: 42, scope: undefined });
    expect(parseInstanceId(`a/b/42/deadbeef/${scope}`)).toEqual({ host: "a/b", pid: 42, scope });
    expect(parseInstanceId("anything")).toBeUndefined();
    expect(parseInstanceId("h/0/x")).toBeUndefined();
    expect(parseInstanceId("h/-3/x")).toBeUndefined();
    expect(newInstanceId()).toMatch(new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/${process.pid}/[0-9a-f]{8}(/[0-9a-f]{16})?$`));
  });
});
