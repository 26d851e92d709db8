/**
 * The PostgreSQL store's reachability (what the runtime's one-line-per-outage log listens to),
 * against a real server behind a TCP proxy the test cuts and restores: an outage starts with
 * the first operation that cannot reach the server, is reported once however many fail, and
 * ends with the first that succeeds; a statement the server refuses is no outage, nor is a pool
 * whose every connection is busy (a slow server).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReachabilityChange } from "../../src/store/index.js";
import { PostgresStore } from "../../src/store/postgres/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

const db = usePgDatabase();
let proxy: TcpProxy;
beforeAll(async () => {
  const target = new URL(db.url());
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
});
afterAll(async () => {
  await proxy.close();
});

describe("PostgresStore.reachability", () => {
  it("one change when the server goes away, one when it is back; refused statements are not outages", async () => {
    const store = await PostgresStore.open({ url: proxy.through(db.url()), schema: db.freshSchema(), connectTimeoutMs: 2_000 });
    const changes: ReachabilityChange[] = [];
    store.reachability.subscribe((c) => changes.push(c));
    try {
      await store.state.setValue("a", "1");
      // The server refuses this one (text with NUL): a failure, not an outage.
      await expect(store.data.set("k", "bad\u0000value")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(store.reachability.reachable).toBe(true);

      proxy.cut();
      for (let i = 0; i < 4; i++) await expect(store.state.getValue("a")).rejects.toMatchObject({ code: "STORE_FAILURE" });
      await expect(store.inbox.stats()).rejects.toMatchObject({ code: "STORE_FAILURE" });
      expect(store.reachability.reachable).toBe(false);
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatchObject({ reachable: false, error: { code: "STORE_FAILURE" } });

      proxy.restore();
      expect(await store.state.getValue("a")).toBe("1");
      expect(store.reachability.reachable).toBe(true);
      expect(changes).toHaveLength(2);
      expect(changes[1]).toMatchObject({ reachable: true, failedOperations: 5 });
    } finally {
      proxy.restore();
      await store.close();
    }
  });

  it("every connection of the pool busy past the connect timeout is a slow server, said so, not an outage", async () => {
    const store = await PostgresStore.open({ url: db.url(), schema: db.freshSchema(), poolSize: 1, connectTimeoutMs: 300 });
    try {
      // The only connection sleeps in a transaction for a second.
      const sleeping = store.database.read("sleep", (tx) => tx.run("SELECT pg_sleep(1)"));
      await new Promise((r) => setTimeout(r, 50));
      await expect(store.state.getValue("a")).rejects.toMatchObject({
        code: "STORE_FAILURE",
        message: expect.stringMatching(/read value failed: all 1 connections of this process stayed busy for 300 ms .*store\.poolSize/),
        details: { poolExhausted: true },
      });
      expect(store.reachability.reachable).toBe(true);
      await sleeping;
      expect(await store.state.getValue("a")).toBeNull();
    } finally {
      await store.close();
    }
  });
});
