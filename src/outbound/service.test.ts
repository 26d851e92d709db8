import { existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Api } from "grammy";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../runtime/logger.js";
import { openStore, type Store } from "../store/index.js";
import { startOutbound, type Outbound } from "./service.js";

function start(store: Store): Promise<Outbound> {
  return startOutbound({
    store, api: new Api("1:unused", { apiRoot: "http://127.0.0.1:9" }), owner: "test", clock: Date.now, logger: silentLogger(),
    concurrency: 1, leaseMs: 30_000, idleMs: 60_000, limits: {}, defaults: {},
  });
}

describe("startOutbound: the blob folder", () => {
  it("gives an in-memory store a fresh private temp folder (mkdtemp), the same one again on a restart, removed on request", async () => {
    const store = await openStore({ path: ":memory:" });
    const other = await openStore({ path: ":memory:" });
    const first = await start(store);
    const second = await start(other);
    try {
      const dir = first.blobs.dir;
      expect(dirname(dir)).toBe(tmpdir());
      // Not a name another user could guess and make beforehand.
      expect(dir).not.toBe(join(tmpdir(), `unlost-blobs-${process.pid}`));
      expect(dir).toMatch(/unlost-blobs-\w{6}$/);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(second.blobs.dir).not.toBe(dir);
      await first.stop(0);
      // A runtime started again on the same store finds its queued jobs' files.
      const again = await start(store);
      expect(again.blobs.dir).toBe(dir);
      await again.stop(0);
      await again.removeTemporaryBlobs();
      expect(existsSync(dir)).toBe(false);
    } finally {
      await first.stop(0);
      await second.stop(0);
      await second.removeTemporaryBlobs();
      await store.close();
      await other.close();
    }
  });
});
