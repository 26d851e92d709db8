/**
 * @grammyjs/menu under unlost, with 30% 429s on sends and edits, and 6 kill -9.
 *
 * /menu shows "You pressed 0 times." with a button "Press me (0)"; a press counts in the session
 * and edits the message's text (the menu plugin re-renders the button in the same edit). The
 * button's callback data carries a fingerprint of its label, so a press only works on a menu
 * rendered from the same session. Seven presses: the first live (then the bot is killed, idle);
 * presses 2 to 6 (two made while the bot is down, three live) are each killed mid-press, after
 * their edit and before their completion, and handled again by the next run; the seventh live.
 * Each press edits the message once, is answered once, and the counter ends at 7.
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
  it("button presses edit the menu once each, across 6 kill -9 (5 of them mid-press), with 30% 429s", async () => {
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

    // Presses 2 to 6, each killed after its edit, before its completion; the run after the kill
    // handles it again (its edit returns the stored result), then the next press.
    const PRESSES = 7;
    for (let n = 2; n < PRESSES; n++) {
      if (n <= 3) press(); // while the bot is down (on the menu press n - 1's edit rendered)
      const p = await h.start(`run ${n}`, { HOLD_AT: `menu:edited@${n}` });
      if (n > 3) press(); // live, queued behind the press handled again
      await killWhenHeld(p, `menu:edited@${n}`);
    }
    const last = await h.start("last run");
    press();
    await edited(PRESSES);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const range = Array.from({ length: PRESSES }, (_, i) => i + 1);
    const edits = h.sim.record.edits(alice.id);
    expect(edits.map((e) => e.text)).toEqual(range.map((n) => `You pressed ${n} times.`));
    expect(edits.map((e) => button(e.replyMarkup).text)).toEqual(range.map((n) => `Press me (${n})`));
    expect(h.sim.record.to(alice.id)).toHaveLength(1);
    // Every press answered once (the menu plugin answers it), none as outdated.
    expect(h.sim.callbackAnswers.map((a) => a.text ?? "")).toEqual(range.map(() => ""));
    expect(new Set(h.sim.callbackAnswers.map((a) => a.callbackQueryId)).size).toBe(PRESSES);
    expect((await storedData<{ clicks: number }>(h.dbPath, `session:${alice.id}`))?.clicks).toBe(PRESSES);
    // Each press killed in run n ran again in the next run, before the next press.
    const runName = (n: number): string => (n === PRESSES ? "last run" : `run ${n}`);
    expect(marks(h.processes, "menu:edited").map((m) => [m.by, m.fields["clicks"]])).toEqual([
      ["run 1", 1],
      ...range.slice(1, -1).flatMap((n) => [[`run ${n}`, n], [runName(n + 1), n]]),
      ["last run", PRESSES],
    ]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "menu", kills: PRESSES - 1, presses: PRESSES, floods }));
  }, 120_000);
});
