/**
 * @grammyjs/ratelimiter under unlost, with 30% 429s on sends and a kill -9: a backlog written
 * while the bot was down is handled in full, a live burst is limited.
 *
 * The limiter (3 updates per user per minute; "Slow down, please." once when exceeded) counts
 * updates as they arrive, so the backlog Telegram hands over after a downtime would look like a
 * flood; the plugins bot lets only live updates through it, as docs/runtime.md recommends
 * (`bot.filter((ctx) => !ctx.unlost.arrivedWhileDown, limit(...))`). Alice and Bob each write 6
 * messages while the bot is down (after its last heartbeat): all 12 are answered. Then Alice
 * sends a burst of 6 live: 3 are answered; the other 3 are dropped, the first of them with
 * "Slow down, please.".
 *
 * Control: `PLUGINS_CONTROL=unguarded-limiter` (the limiter sees every update) fails: the
 * backlog is cut to 3 messages a user.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, floodsInjected, marks, stopGracefully, textsTo, untilDelivered, untilInboxDrained, untilSecondAfter, waitForMark, type PluginsHarness } from "./helpers/plugins-bot.js";

const BACKLOG = 6;
const BURST = 6;
const LIMIT = { RATE_LIMIT: "3", RATE_TIME_FRAME_MS: "60000" };

let h: PluginsHarness;
let alice: SimUser;
let bob: SimUser;

beforeEach(async () => {
  h = await createHarness("ratelimiter", 1207);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
  bob = h.emulator.createUser({ firstName: "Bob", languageCode: "en" });
});

afterEach(async () => {
  await h.close();
});

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe("ratelimiter", () => {
  it(`a backlog of ${2 * BACKLOG} written while the bot was down is handled in full; a live burst of ${BURST} is limited to 3`, async () => {
    const first = await h.start("run 1", LIMIT);
    alice.sendText(h.sim, "before");
    await waitForMark(first, "done:before");
    await untilInboxDrained(h.dbPath); // completed: not run again (and counted again) after the restart
    await first.kill9();
    // Dated after the last heartbeat (whole seconds), and a full second before the restart:
    // unlost tells these updates arrived while it was down.
    const killedAt = Date.now();
    await untilSecondAfter(killedAt);
    for (const n of range(BACKLOG)) {
      alice.sendText(h.sim, `backlog ${n}`);
      bob.sendText(h.sim, `backlog ${n}`);
    }
    await untilSecondAfter(Date.now());
    const last = await h.start("run 2", LIMIT);
    await untilDelivered(h.sim, alice.id, 1 + BACKLOG);
    await untilDelivered(h.sim, bob.id, BACKLOG);
    await untilInboxDrained(h.dbPath);

    for (const n of range(BURST)) alice.sendText(h.sim, `burst ${n}`);
    await waitForMark(last, `done:burst ${BURST}`);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    expect(textsTo(h.sim, alice.id)).toEqual([
      "#1: before",
      ...range(BACKLOG).map((n) => `#${n + 1}: backlog ${n}`),
      ...range(3).map((n) => `#${BACKLOG + 1 + n}: burst ${n}`),
      "Slow down, please.",
    ]);
    expect(textsTo(h.sim, bob.id)).toEqual(range(BACKLOG).map((n) => `#${n}: backlog ${n}`));
    // Every burst update was handled (and completed): the limiter dropped them, nothing failed.
    expect(marks([last]).filter((m) => m.label.startsWith("done:burst")).length).toBe(BURST);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "ratelimiter", kills: 1, backlog: 2 * BACKLOG, burst: BURST, burstAnswered: 3, floods }));
  }, 120_000);
});
