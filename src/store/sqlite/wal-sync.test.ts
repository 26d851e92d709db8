import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isUnlostError } from "../../errors/index.js";
import { fdatasyncAsync, WalSync } from "./wal-sync.js";

const dir = mkdtempSync(join(tmpdir(), "unlost-walsync-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A flush the test releases by hand, counting calls. */
function manualFlush(): { flush: (fd: number) => Promise<void>; calls: () => number; release: () => void } {
  let calls = 0;
  let releases: Array<() => void> = [];
  return {
    flush: async (fd) => {
      calls++;
      await new Promise<void>((resolve) => releases.push(resolve));
      await fdatasyncAsync(fd);
    },
    calls: () => calls,
    release: () => {
      const pending = releases;
      releases = [];
      for (const r of pending) r();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

function walFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, "frames");
  return path;
}

describe("WalSync", () => {
  it("flushes once at first (an earlier process may have left commits unflushed), then only for new acknowledged commits", async () => {
    let calls = 0;
    const sync = new WalSync(walFile("a-wal"), async (fd) => { calls++; await fdatasyncAsync(fd); });
    await sync.sync();
    expect(calls).toBe(1);
    await sync.sync();
    expect(calls).toBe(1);
    // A completion or a lease: nobody is told it is safe, so nobody waits for its flush.
    sync.noteCommit();
    await sync.sync();
    expect(calls).toBe(1);
    // An ingest or an enqueue: flushed (it starts at once, ahead of the sync).
    sync.noteCommit(true);
    await sync.sync();
    expect(calls).toBe(2);
    sync.noteCommit();
    await sync.syncAll();
    expect(calls).toBe(3);
    await sync.close();
  });

  it("groups commits: callers that arrive during a flush share the next one, which covers all of them", async () => {
    const manual = manualFlush();
    const sync = new WalSync(walFile("b-wal"), manual.flush);
    const resolved: string[] = [];
    sync.noteCommit(true);
    const first = sync.sync().then(() => resolved.push("first"));
    await tick();
    // Committed while the first flush runs: not covered by it.
    for (let i = 0; i < 50; i++) {
      sync.noteCommit(true);
      void sync.sync().then(() => resolved.push(`later-${i}`));
    }
    await tick();
    expect(manual.calls()).toBe(1);
    manual.release();
    await first;
    await tick();
    expect(resolved).toEqual(["first"]);
    // One more flush for all fifty.
    expect(manual.calls()).toBe(2);
    manual.release();
    await tick();
    expect(resolved).toHaveLength(51);
    expect(manual.calls()).toBe(2);
    await sync.close();
  });

  it("rejects the waiters of a failed flush with STORE_FAILURE, and tries again for the next caller", async () => {
    let fail = true;
    const sync = new WalSync(walFile("c-wal"), async (fd) => {
      if (fail) throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
      await fdatasyncAsync(fd);
    });
    const error = await sync.sync().then(() => undefined, (e: unknown) => e);
    expect(isUnlostError(error, "STORE_FAILURE")).toBe(true);
    expect((error as Error).message).toMatch(/Could not flush .*c-wal.*EIO.*nothing stored since the last flush is acknowledged/);
    fail = false;
    await sync.sync();
    await sync.close();
  });

  it("close waits for a flush in progress before releasing the descriptor", async () => {
    const manual = manualFlush();
    const sync = new WalSync(walFile("d-wal"), manual.flush);
    const pending = sync.sync();
    await tick();
    let closed = false;
    const closing = sync.close().then(() => { closed = true; });
    await tick();
    expect(closed).toBe(false);
    manual.release();
    await pending;
    await closing;
    expect(closed).toBe(true);
    await expect(sync.sync()).resolves.toBeUndefined();
    sync.noteCommit(true);
    await expect(sync.sync()).rejects.toThrow(/closed/);
  });

  it("an acknowledged commit starts its flush with nobody waiting yet; a sync right after shares it", async () => {
    const manual = manualFlush();
    const sync = new WalSync(walFile("e-wal"), manual.flush);
    sync.noteCommit(true);
    await tick();
    expect(manual.calls()).toBe(1);
    let synced = false;
    const waiting = sync.sync().then(() => { synced = true; });
    await tick();
    expect(manual.calls()).toBe(1);
    manual.release();
    await waiting;
    expect(synced).toBe(true);
    // Ahead of need again while a flush runs: one more flush follows it, covering the new commit.
    sync.noteCommit(true);
    await tick();
    sync.noteCommit(true);
    manual.release();
    await tick();
    expect(manual.calls()).toBe(3);
    manual.release();
    await tick();
    await sync.sync();
    expect(manual.calls()).toBe(3);
    await sync.close();
  });
});
