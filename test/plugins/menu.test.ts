/**
 * @grammyjs/menu under unlost, with 30% 429s on sends and edits, and two kill -9.
 *
 * /menu shows "You pressed 0 times." with a button "Press me (0)"; a press counts in the session
 * and edits the message's text (the menu plugin re-renders the button in the same edit). The
 * button's callback data carries a fingerprint of its label, so a press only works on a menu
 * rendered from the same session. Presses: one live; one made while the bot is down (handled
 * after the restart, killed after its edit and before its completion, handled again); one live
 * after that. Each press edits the message once, is answered once, and the counter ends at 3.
 *
 * Control: `PLUGINS_CONTROL=memory-session` fails: after a kill the session is empty, the press
 * no longer matches the menu ("Menu was outdated, try again!").
 */
import type { InlineKeyboardMarkup } from "grammy/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { until } from "../helpers/until.js";
import { createHarness, floodsInjected, killWhenHeld, marks, stopGracefully, storedData, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

let h: PluginsHarness;
let alice: SimUser;

beforeEach(async () => {
  h = await createHarness("menu", 1204);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
});

afterEach(async () => {
  await h.close();
});

/** The first button of a keyboard: its label and callback data. */
function button(markup: InlineKeyboardMarkup | undefined): { text: string; data: string } {
  const b = markup?.inline_keyboard[0]?.[0];
  if (b === undefined || !("callback_data" in b) || b.callback_data === undefined) throw new Error(`no callback button in ${JSON.stringify(markup)}`);
  return { text: b.text, data: b.callback_data };
}

describe("menu", () => {
  it("button presses edit the menu once each, across a restart and a kill -9 mid-press, with 30% 429s", async () => {
    const menuMessage = (): { messageId: number; markup: InlineKeyboardMarkup | undefined } => {
      const m = h.sim.record.to(alice.id)[0];
      if (m === undefined) throw new Error("no menu message");
      const edits = h.sim.record.edits(alice.id).filter((e) => e.messageId === m.messageId);
      return { messageId: m.messageId, markup: edits.at(-1)?.replyMarkup ?? m.replyMarkup };
    };
    const press = (): void => {
      const { messageId, markup } = menuMessage();
      alice.pressButton(h.sim, messageId, button(markup).data);
    };
    const edited = (n: number): Promise<void> =>
      until(() => h.sim.record.edits(alice.id).length >= n, 60_000, `edit ${n} of the menu`);

    const first = await h.start("run 1");
    alice.sendCommand(h.sim, "menu");
    await untilDelivered(h.sim, alice.id, 1);
    expect(button(menuMessage().markup).text).toBe("Press me (0)");
    press();
    await edited(1);
    await untilInboxDrained(h.dbPath);
    await first.kill9();

    press(); // while the bot is down
    // Handled after the restart; killed after its edit, before its completion.
    await killWhenHeld(await h.start("run 2", { HOLD_AT: "menu:edited" }), "menu:edited");
    const last = await h.start("last run");
    await untilInboxDrained(h.dbPath);
    press();
    await edited(3);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const edits = h.sim.record.edits(alice.id);
    expect(edits.map((e) => e.text)).toEqual(["You pressed 1 times.", "You pressed 2 times.", "You pressed 3 times."]);
    expect(edits.map((e) => button(e.replyMarkup).text)).toEqual(["Press me (1)", "Press me (2)", "Press me (3)"]);
    expect(h.sim.record.to(alice.id)).toHaveLength(1);
    // Every press answered once (the menu plugin answers it), none as outdated.
    expect(h.sim.callbackAnswers.map((a) => a.text ?? "")).toEqual(["", "", ""]);
    expect(new Set(h.sim.callbackAnswers.map((a) => a.callbackQueryId)).size).toBe(3);
    expect((await storedData<{ clicks: number }>(h.dbPath, `session:${alice.id}`))?.clicks).toBe(3);
    // The press handled in run 2 ran again in the last run.
    expect(marks(h.processes, "menu:edited").map((m) => [m.by, m.fields["clicks"]])).toEqual([["run 1", 1], ["run 2", 2], ["last run", 2], ["last run", 3]]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "menu", kills: 2, presses: 3, floods }));
  }, 120_000);
});
