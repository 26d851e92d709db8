import { describe, expect, it } from "vitest";
import { silentLogger } from "../../runtime/logger.js";
import { openStore } from "../../store/index.js";
import type { Store } from "../../store/index.js";
import { AlertMonitor } from "./monitor.js";
import { alertOptionsSchema } from "./options.js";
import type { AlertProbes } from "./checks.js";

const GiB = 1024 ** 3;

async function monitor(probes: Partial<{ rss: number; free: number | undefined; readMs: number; ageMs: number; fail: Error; leaseExpiresAt: number | null }>) {
  const store = await openStore({ path: ":memory:" });
  let now = 1_000_000;
  const sent: Array<[number, string]> = [];
  const p: AlertProbes = {
    rss: () => probes.rss ?? 100 * 1024 * 1024,
    diskFree: () => Promise.resolve(probes.free),
    storeRead: () => (probes.fail === undefined ? Promise.resolve({ ms: probes.readMs ?? 1, oldestOpenAgeMs: probes.ageMs ?? 0 }) : Promise.reject(probes.fail)),
    pollerLeaseExpiresAt: () => Promise.resolve(probes.leaseExpiresAt === undefined ? now + 10_000 : probes.leaseExpiresAt),
  };
  const m = new AlertMonitor({
    options: alertOptionsSchema.parse({ cooldownMs: 60_000 }), store: () => store as Store, clock: () => now, logger: silentLogger(),
    scrub: (t) => t.replaceAll("123:SECRETSECRET", "123:<redacted>"), botName: () => "@ops_bot", adminChatIds: [1, 2],
    polling: true,
    send: (chatId, text) => {
      sent.push([chatId, text]);
      return Promise.resolve();
    },
    probes: p,
  });
  return { m, sent, advance: (ms: number) => (now += ms) };
}

describe("AlertMonitor", () => {
  it("alerts every admin chat once when a condition starts, repeats it after the cool-down only, and says when it is resolved", async () => {
    const probes: { rss: number } = { rss: 2 * GiB };
    const { m, sent, advance } = await monitor(probes);
    await m.check();
    expect(sent).toEqual([
      [1, expect.stringMatching(/^⚠️ @ops_bot: the bot's process uses 2048 MiB of memory \(RSS\), above 1024 MiB/)],
      [2, expect.stringMatching(/^⚠️ @ops_bot: the bot's process uses 2048 MiB/)],
    ]);
    advance(30_000);
    await m.check();
    expect(sent).toHaveLength(2); // within the cool-down
    advance(30_000);
    await m.check();
    expect(sent.slice(2).map(([, t]) => t)).toEqual([expect.stringMatching(/^⚠️ @ops_bot \(still\): /), expect.stringMatching(/^⚠️ @ops_bot \(still\): /)]);
    probes.rss = 200 * 1024 * 1024;
    await m.check();
    expect(sent.slice(4)).toEqual([[1, "✅ @ops_bot: resolved: memory back to 200 MiB (RSS)."], [2, "✅ @ops_bot: resolved: memory back to 200 MiB (RSS)."]]);
    await m.check();
    expect(sent).toHaveLength(6); // nothing more while all is well
  });

  it("watches disk space, a slow store, a failing store (scrubbed) and the backlog's age", async () => {
    const disk = await monitor({ free: 100 * 1024 * 1024 });
    await disk.m.check();
    expect(disk.sent[0]?.[1]).toMatch(/only 100 MiB free at the store's folder/);
    const slow = await monitor({ readMs: 5_000 });
    await slow.m.check();
    expect(slow.sent[0]?.[1]).toMatch(/the store is slow: reading its counts took 5000 ms/);
    const failing = await monitor({ fail: new Error("database is locked at /bot123:SECRETSECRET/") });
    await failing.m.check();
    expect(failing.sent[0]?.[1]).toMatch(/the store fails: database is locked/);
    expect(failing.sent[0]?.[1]).not.toContain("SECRETSECRET");
    const behind = await monitor({ ageMs: 15 * 60_000 });
    await behind.m.check();
    expect(behind.sent[0]?.[1]).toMatch(/not keeping up: the oldest unfinished update has waited 15 min \(more than 10 min\)/);
    // Lapsed long ago, but first seen lapsed now: the time counts from now (a released lease says 0).
    const nobody = await monitor({ leaseExpiresAt: 0 });
    await nobody.m.check();
    expect(nobody.sent).toEqual([]);
    nobody.advance(3 * 60_000);
    await nobody.m.check();
    expect(nobody.sent[0]?.[1]).toMatch(/nobody polls Telegram for updates: the poller lease lapsed 3 min ago \(more than 2 min\)/);
    const fresh = await monitor({ leaseExpiresAt: null });
    await fresh.m.check();
    expect(fresh.sent).toEqual([]);
  });

  it("stays quiet while all is well", async () => {
    const { m, sent } = await monitor({ free: 100 * GiB });
    await m.check();
    expect(sent).toEqual([]);
  });
});
