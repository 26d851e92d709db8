/**
 * @grammyjs/ratelimiter under unlost, with 30% 429s on sends and 5 kill -9: a backlog written
 * while the bot was down is handled in full, live bursts are limited, across kills.
 *
 * The limiter (3 updates per user per minute; "Slow down, please." once when exceeded) counts
 * updates as they arrive, so the backlog Telegram hands over after a downtime would look like a
 * flood; the plugins bot lets only live updates through it, as docs/runtime.md recommends
 * (`bot.filter((ctx) => !ctx.unlost.arrivedWhileDown, limit(...))`). The bot is killed idle;
 * Alice and Bob each write 6 messages while it is down (after its last heartbeat); it is killed
 * twice early while handling them (after Alice's backlog 2 and 4 replied): all 12 are answered. Then
 * Alice, later Bob, sends a burst of 6 live; each burst is killed after its first update
 * replied: 3 of each are answered; the other 3 are dropped, the first of them with "Slow down,
 * please.".
 *
 * The backlog kills are early on purpose: a restart once knew only the last downtime window
 * (the kill's), so the rest of the backlog (dated in the first outage) was no longer
 * `arrivedWhileDown` and the limiter cut it (Bob got 4 of his 6, then "Slow down, please.").
 * The downtime monitor now keeps every window within Telegram's retention.
 *
 * Control: `PLUGINS_CONTROL=unguarded-limiter` (the limiter sees every update) fails: the
 * backlog is cut to 3 messages a user.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { until } from "../helpers/until.js";
import { createHarness, deliveryAccount, floodsInjected, killWhenHeld, marks, stopGracefully, textsTo, untilDelivered, untilInboxDrained, untilSecondAfter, waitForMark, type PluginsHarness } from "./helpers/plugins-bot.js";

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

/** The first texts of a chat, each repeat of an earlier one left out (a kill may repeat a send on the wire). */
const firstTexts = (chatId: number): Array<string | undefined> => {
  const texts = textsTo(h.sim, chatId);
  return texts.filter((t, i) => texts.indexOf(t) === i);
};

describe("ratelimiter", () => {
  it(`a backlog of ${2 * BACKLOG} written while the bot was down is handled in full, across kills; live bursts of ${BURST} are limited to 3, across kills`, async () => {
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
    // Killed twice early in the backlog, in Alice's chat, after her backlog 2 and 4 replied
    // (before their completion), Bob's chat wherever it is: the restarts still count the rest
    // of the backlog (dated in the first outage, not in the kills' short gaps) as arrived while
    // down, so the limiter does not cut it. (A restart that knew only the last window did: Bob
    // got 4 of his 6, then "Slow down, please.".)
    for (const [k, n] of [2, 4].entries()) {
      const hold = `done:backlog ${n}@${alice.id}`;
      const p = await h.start(`run ${k + 2}`, { ...LIMIT, HOLD_AT: hold });
      await killWhenHeld(p, hold);
    }
    // Killed during each live burst (Alice's, then Bob's), after its first update replied: the
    // update is handled again by a process whose limiter starts afresh (the limiter's memory is
    // per process), so the burst is still limited to 3.
    for (const [k, u] of [alice, bob].entries()) {
      const hold = `done:burst 1@${u.id}`;
      const p = await h.start(`run ${k + 4}`, { ...LIMIT, HOLD_AT: hold });
      if (k === 0) {
        await until(() => firstTexts(alice.id).length >= 1 + BACKLOG && firstTexts(bob.id).length >= BACKLOG, 60_000, "the backlog answered").catch((error: unknown) => {
          throw new Error(`${String(error)}; Alice got ${JSON.stringify(textsTo(h.sim, alice.id))}, Bob ${JSON.stringify(textsTo(h.sim, bob.id))}`, { cause: error });
        });
      } else {
        await waitForMark(p, `done:burst ${BURST}`);
      }
      await untilInboxDrained(h.dbPath);
      for (const n of range(BURST)) u.sendText(h.sim, `burst ${n}`);
      const sentAt = Date.now();
      await p.waitForEvent((e) => e["event"] === "hold" && e["label"] === hold, { timeoutMs: 60_000 });
      // A heartbeat after the burst's second (its messages' date): they were sent while the bot ran.
      await untilSecondAfter(sentAt);
      await new Promise((resolve) => setTimeout(resolve, 400));
      await p.kill9();
    }
    const last = await h.start("run 6", LIMIT);
    await waitForMark(last, `done:burst ${BURST}`);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const burstAnswers = (n0: number): string[] => [...range(3).map((n) => `#${n0 + n}: burst ${n}`), "Slow down, please."];
    // Alice's chat was holding at each kill (nothing on the wire): each reply exactly once.
    expect(textsTo(h.sim, alice.id)).toEqual([
      "#1: before",
      ...range(BACKLOG).map((n) => `#${n + 1}: backlog ${n}`),
      ...burstAnswers(BACKLOG + 1),
    ]);
    // Bob's was killed wherever it was during the backlog: a reply on the wire at a kill may come twice, and then its job says so.
    const bobs = await deliveryAccount(h, bob.id);
    expect(bobs.firstDeliveries).toEqual([...range(BACKLOG).map((n) => `#${n}: backlog ${n}`), ...burstAnswers(BACKLOG)]);
    expect(bobs.duplicates).toBeLessThanOrEqual(bobs.ambiguous);
    // Every burst update was handled (and completed): the limiter dropped them, nothing failed.
    for (const [k, u] of [alice, bob].entries()) {
      const done = marks(h.processes).filter((m) => m.label.startsWith("done:burst") && m.fields["chatId"] === u.id);
      // The first update twice (killed, then handled again by the next run), the others once.
      expect(done.map((m) => [m.label, m.by])).toEqual([
        ["done:burst 1", `run ${k + 4}`],
        ...range(BURST).map((n) => [`done:burst ${n}`, `run ${k + 5}`]),
      ]);
    }
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "ratelimiter", kills: 5, backlog: 2 * BACKLOG, bursts: 2, burst: BURST, burstAnswered: 3, floods, duplicates: bobs.duplicates, ambiguous: bobs.ambiguous }));
  }, 150_000);
});
