/**
 * Two runtimes on one PostgreSQL schema (two pools, as two processes) sending under the
 * emulator's real flood limits (30/s per bot, ~1/s per private chat): together they pace by the
 * store's shared slots, so the emulator answers no 429 at all while both send, near 30/s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bot } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { countAnswers } from "../e2e/helpers/outbox-probes.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";

const db = usePgDatabase();

function counted(bot: Bot, count: () => void): Bot {
  bot.api.config.use((prev, method, payload, signal) => {
    if (method === "sendMessage") count();
    return prev(method, payload, signal);
  });
  return bot;
}

// Blobs go to ./data/blobs on PostgreSQL: a temp working folder keeps the repository clean.
const cwd = process.cwd();
const workDir = mkdtempSync(join(tmpdir(), "unlost-pg-pacing-"));
beforeAll(() => process.chdir(workDir));
afterAll(() => {
  process.chdir(cwd);
  rmSync(workDir, { recursive: true, force: true });
});

describe("two runtimes on one PostgreSQL schema under the emulator's real limits", () => {
  it("broadcast to 300 chats from both, 8 messages to one chat from both: 0 × 429, ~30/s together", async () => {
    const emulator = createEmulator({ seed: 5 });
    const sim = emulator.createBot();
    const server = await startEmulatorServer(emulator);
    const answers = countAnswers(emulator);
    const schema = db.freshSchema();
    const stores = [await openStore({ url: db.url(), schema, poolSize: 4 }), await openStore({ url: db.url(), schema, poolSize: 4 })];
    // What each runtime sent: every request of its bot's Api passes here.
    const sent = [0, 0];
    const runtimes: Runtime[] = stores.map((store, i) => createRuntime(counted(new Bot(sim.token, { client: { apiRoot: server.url } }), () => { sent[i] = (sent[i] ?? 0) + 1; }), {
      store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false }, outbox: { idleMs: 20 },
    }));
    try {
      for (const rt of runtimes) await rt.start();
      const users = Array.from({ length: 300 }, (_, i) => emulator.createUser({ firstName: `U${i}` }));
      const alice = emulator.createUser({ firstName: "Alice" });
      const [a, b] = runtimes as [Runtime, Runtime];
      const ids = [
        ...(await a.outbox.sendText(alice.id, "a0")), ...(await b.outbox.sendText(alice.id, "b0")),
        ...(await a.outbox.sendText(alice.id, "a1")), ...(await b.outbox.sendText(alice.id, "b1")),
        ...(await a.outbox.sendText(alice.id, "a2")), ...(await b.outbox.sendText(alice.id, "b2")),
        ...(await a.outbox.sendText(alice.id, "a3")), ...(await b.outbox.sendText(alice.id, "b3")),
      ];
      const [one, two] = await Promise.all([
        a.outbox.broadcast(users.slice(0, 150).map((u) => u.id), "sendMessage", { text: "news from a" }),
        b.outbox.broadcast(users.slice(150).map((u) => u.id), "sendMessage", { text: "news from b" }),
      ]);
      await until(async () => (await a.outbox.broadcastProgress(one.broadcastId))?.remaining === 0 && (await b.outbox.broadcastProgress(two.broadcastId))?.remaining === 0, 60_000, "both broadcasts");
      await until(() => sim.record.to(alice.id).length === 8, 30_000, "alice's 8 messages");
      const finals = await Promise.all(ids.map((id, i) => (i % 2 === 0 ? a : b).outbox.waitForFinal(id)));
      expect(finals.every((j) => j.state === "delivered")).toBe(true);

      expect(answers.responses429).toBe(0);
      expect(answers.calls.get("sendmessage")).toBe(308);
      expect(sim.record.size).toBe(308);
      // Both sent a good share (each claims from the one outbox).
      for (const n of sent) expect(n).toBeGreaterThan(50);
      // Together near the bot's 30/s (the global limit is the bottleneck of a broadcast).
      const times = sim.record.messages().map((m) => m.at).sort((x, y) => x - y);
      const rate = (times.length - 1) / (((times.at(-1) as number) - (times[0] as number)) / 1000);
      expect(rate).toBeGreaterThan(25);
      expect(rate).toBeLessThan(31);
      // Alice's chat kept ~1/s across both senders (a burst of 2, then 1/s).
      const at = sim.record.to(alice.id).map((m) => m.at);
      expect((at[7] as number) - (at[0] as number)).toBeGreaterThanOrEqual(5_500);
      expect(emulator.internalErrors).toEqual([]);
      console.log(JSON.stringify({ test: "pg-shared-pacing", messages: sim.record.size, responses_429: answers.responses429, rate_per_s: Math.round(rate * 100) / 100, sent_by: sent }));
    } finally {
      for (const rt of runtimes) await rt.stop();
      for (const s of stores) await s.close();
      await server.close();
    }
  }, 120_000);
});
