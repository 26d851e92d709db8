/**
 * @grammyjs/i18n under unlost, with 30% 429s on sends and 5 kill -9.
 *
 * English and German (Fluent), the language from the user's `language_code`, or the one chosen
 * with /lang, which i18n keeps in the session (`useSession`, here `unlostSession`). Alice (en),
 * Bob (de) and Carol (fr, not translated: the default, English) switch languages five times in
 * turn (Alice to German, Bob to English, Carol to German, Alice back to English, Bob back to
 * German); the bot is killed after each switch wrote its session and replied, before its
 * completion, while nothing else runs. Between the runs all three write (greetings, echo
 * replies). Each restart handles the switch again (the reply is not sent twice) and commits the
 * choice: every later reply, also after one more (graceful) restart, is in the chosen language.
 *
 * Control: `PLUGINS_CONTROL=memory-session` fails: after the restart Alice is back to English.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, floodsInjected, killWhenHeld, marks, stopGracefully, storedData, textsTo, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";
import { until } from "../helpers/until.js";

let h: PluginsHarness;
let alice: SimUser;
let bob: SimUser;
let carol: SimUser;

beforeEach(async () => {
  h = await createHarness("i18n", 1206);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
  bob = h.emulator.createUser({ firstName: "Bob", languageCode: "de" });
  carol = h.emulator.createUser({ firstName: "Carol", languageCode: "fr" });
});

afterEach(async () => {
  await h.close();
});

describe("i18n", () => {
  it("texts in the user's language; languages chosen with /lang survive 5 kill -9 right after the switch, with 30% 429s", async () => {
    const users = [alice, bob, carol];
    const sendAll = (what: "hello" | "hi"): void => {
      for (const u of users) {
        if (what === "hello") u.sendCommand(h.sim, "hello");
        else u.sendText(h.sim, "hi");
      }
    };
    // Who switches to what in run k; before run k everyone wrote `waitFor` (greeting or echo).
    const switches = [
      { user: alice, lang: "de", waitFor: "hello" },
      { user: bob, lang: "en", waitFor: "hi" },
      { user: carol, lang: "de", waitFor: "hello" },
      { user: alice, lang: "en", waitFor: "hi" },
      { user: bob, lang: "de", waitFor: "hello" },
    ] as const;
    const holdOf = (k: number): string => `done:/lang ${switches[k]?.lang}@${switches[k]?.user.id}`;
    for (const [k, s] of switches.entries()) {
      sendAll(s.waitFor); // before the first start, then while the bot is down
      const p = await h.start(`run ${k + 1}`, { HOLD_AT: holdOf(k) });
      // Those handled first (and the switch killed before), so that nothing but the switch runs at the kill.
      const label = s.waitFor === "hello" ? "done:/hello" : "done:hi";
      await until(() => marks([p], label).length === users.length, 60_000, `run ${k + 1}: ${label} handled`);
      s.user.sendCommand(h.sim, "lang", s.lang);
      await killWhenHeld(p, holdOf(k));
    }
    sendAll("hi"); // while the bot is down
    const sixth = await h.start("run 6");
    const counts = new Map([[alice.id, 8], [bob.id, 8], [carol.id, 7]]);
    for (const u of users) await untilDelivered(h.sim, u.id, counts.get(u.id) ?? 0);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(sixth)).toEqual({ code: 0, signal: null });
    // A restart later the choices still hold.
    const last = await h.start("last run");
    sendAll("hello");
    for (const u of users) await untilDelivered(h.sim, u.id, (counts.get(u.id) ?? 0) + 1);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    expect(textsTo(h.sim, alice.id)).toEqual(["Hello, Alice!", "Ich spreche jetzt Deutsch.", "Nr. 1: hi", "Hallo, Alice!", "Nr. 2: hi", "I speak English now.", "Hello, Alice!", "#3: hi", "Hello, Alice!"]);
    expect(textsTo(h.sim, bob.id)).toEqual(["Hallo, Bob!", "Nr. 1: hi", "I speak English now.", "Hello, Bob!", "#2: hi", "Hello, Bob!", "Ich spreche jetzt Deutsch.", "Nr. 3: hi", "Hallo, Bob!"]);
    expect(textsTo(h.sim, carol.id)).toEqual(["Hello, Carol!", "#1: hi", "Hello, Carol!", "Ich spreche jetzt Deutsch.", "Nr. 2: hi", "Hallo, Carol!", "Nr. 3: hi", "Hallo, Carol!"]);
    const stored = async (u: SimUser): Promise<string | undefined> => (await storedData<{ __language_code?: string }>(h.dbPath, `session:${u.id}`))?.__language_code;
    expect([await stored(alice), await stored(bob), await stored(carol)]).toEqual(["en", "de", "de"]);
    // Each switch ran again in the run after its kill.
    const all = marks(h.processes);
    for (const [k, s] of switches.entries()) {
      const runs = all.filter((m) => m.label === `done:/lang ${s.lang}` && m.fields["chatId"] === s.user.id).map((m) => m.by);
      expect(runs, holdOf(k)).toEqual([`run ${k + 1}`, `run ${k + 2}`]);
    }
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "i18n", kills: switches.length, restarts: 6, replies: 26, floods }));
  }, 150_000);
});
