/**
 * @grammyjs/i18n under unlost, with 30% 429s on sends and a kill -9.
 *
 * English and German (Fluent), the language from the user's `language_code`, or the one chosen
 * with /lang, which i18n keeps in the session (`useSession`, here `unlostSession`). Alice (en)
 * switches to German; the bot is killed after that update wrote its session and replied, before
 * its completion. The restart handles it again (the reply is not sent twice) and commits the
 * choice: from then on, and after one more restart, Alice gets German. Bob (de) gets German throughout, Carol (fr, not
 * translated) the default, English.
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
  it("texts in the user's language; a language chosen with /lang survives a kill -9, with 30% 429s", async () => {
    const users = [alice, bob, carol];
    for (const u of users) u.sendCommand(h.sim, "hello");
    const first = await h.start("run 1", { HOLD_AT: "done:/lang de" });
    // The greetings handled first, so that nothing but the /lang update is running at the kill.
    await until(() => marks([first], "done:/hello").length === users.length, 60_000, "the greetings handled");
    alice.sendCommand(h.sim, "lang", "de");
    await killWhenHeld(first, "done:/lang de");
    for (const u of users) u.sendText(h.sim, "hi"); // while the bot is down
    const second = await h.start("run 2");
    for (const u of users) await untilDelivered(h.sim, u.id, u === alice ? 3 : 2);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(second)).toEqual({ code: 0, signal: null });
    // A restart later the choice still holds.
    const last = await h.start("last run");
    for (const u of users) u.sendCommand(h.sim, "hello");
    await untilDelivered(h.sim, alice.id, 4);
    await untilDelivered(h.sim, bob.id, 3);
    await untilDelivered(h.sim, carol.id, 3);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    expect(textsTo(h.sim, alice.id)).toEqual(["Hello, Alice!", "Ich spreche jetzt Deutsch.", "Nr. 1: hi", "Hallo, Alice!"]);
    expect(textsTo(h.sim, bob.id)).toEqual(["Hallo, Bob!", "Nr. 1: hi", "Hallo, Bob!"]);
    expect(textsTo(h.sim, carol.id)).toEqual(["Hello, Carol!", "#1: hi", "Hello, Carol!"]);
    expect((await storedData<{ __language_code?: string }>(h.dbPath, `session:${alice.id}`))?.__language_code).toBe("de");
    // The /lang update ran again after the kill.
    expect(marks(h.processes, "done:/lang de").map((m) => m.by)).toEqual(["run 1", "run 2"]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "i18n", kills: 1, restarts: 2, replies: 10, floods }));
  }, 120_000);
});
