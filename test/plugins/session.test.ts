/**
 * grammY's session under unlost (`unlostSession`), with 30% 429s on sends and 5 kill -9.
 *
 * The plugins bot counts each chat's text messages in its session and replies `#<n>: <text>`
 * (in German for Bob: `Nr. <n>: <text>`). Each run is killed while one of Alice's updates holds
 * its written session (the reply delivered, the completion not yet committed); Bob's chat is
 * killed wherever it happens to be. Messages arrive before the first start, while the bot is
 * down and while it runs. At the end every message has its reply, in order, with the right
 * number (Alice's exactly once; one of Bob's that a kill caught on the wire may come twice, as
 * unlost's record of it says), and each chat's stored counter equals its messages: a killed
 * try's session write was never committed, and its retry's was, once.
 *
 * Control: `PLUGINS_CONTROL=memory-session` (grammY's in-memory session) fails: the counters
 * start again from zero after each kill.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, deliveryAccount, floodsInjected, killWhenHeld, marks, stopGracefully, storedData, textsTo, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

const PER_USER = 12;

let h: PluginsHarness;
let alice: SimUser;
let bob: SimUser;

beforeEach(async () => {
  h = await createHarness("session", 1201);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
  bob = h.emulator.createUser({ firstName: "Bob", languageCode: "de" });
});

afterEach(async () => {
  await h.close();
});

describe("session (unlostSession)", () => {
  it("counts every message exactly once across 5 kill -9, with 30% 429s", async () => {
    const send = (from: number, to: number): void => {
      for (let n = from; n <= to; n++) {
        alice.sendText(h.sim, `A${n}`);
        bob.sendText(h.sim, `B${n}`);
      }
    };
    send(1, 4); // before the first start
    // Each run is killed while Alice's update holds its written session; each later hold is
    // further down her chat, so every run gets there (after the killed update is handled again).
    const holds = ["A2", "A4", "A6", "A9", "A11"];
    for (const [k, text] of holds.entries()) {
      const p = await h.start(`run ${k + 1}`, { HOLD_AT: `done:${text}` });
      if (k === 2) send(9, 12); // while the bot runs
      await killWhenHeld(p, `done:${text}`);
      if (k === 0) send(5, 8); // while the bot is down
    }
    const last = await h.start("last run");
    await untilDelivered(h.sim, alice.id, PER_USER);
    await untilDelivered(h.sim, bob.id, PER_USER);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const range = Array.from({ length: PER_USER }, (_, i) => i + 1);
    // Alice's chat was holding at each kill (nothing on the wire): each reply exactly once.
    expect(textsTo(h.sim, alice.id)).toEqual(range.map((n) => `#${n}: A${n}`));
    // Bob's was killed wherever it was: nothing lost, in order, the right numbers; a reply that
    // was on the wire at a kill may come twice, and then its job says so (ambiguous).
    const bobs = await deliveryAccount(h, bob.id);
    expect(bobs.firstDeliveries).toEqual(range.map((n) => `Nr. ${n}: B${n}`));
    expect(bobs.duplicates).toBeLessThanOrEqual(bobs.ambiguous);
    expect((await storedData<{ count: number }>(h.dbPath, `session:${alice.id}`))?.count).toBe(PER_USER);
    expect((await storedData<{ count: number }>(h.dbPath, `session:${bob.id}`))?.count).toBe(PER_USER);
    // Each held update was handled again after its kill, and finished then.
    const done = marks(h.processes);
    for (const [k, text] of holds.entries()) {
      const runs = done.filter((m) => m.label === `done:${text}`);
      expect(runs.map((m) => m.by), text).toEqual([`run ${k + 1}`, k + 1 < holds.length ? `run ${k + 2}` : "last run"]);
    }
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "session", kills: holds.length, messages: 2 * PER_USER, floods, handlerRuns: done.length, duplicates: bobs.duplicates, ambiguous: bobs.ambiguous }));
  }, 180_000);
});
