/**
 * @grammyjs/hydrate under unlost, with 30% 429s on sends and edits, and 5 kill -9.
 *
 * `/countdown <name>` replies "3…" and edits that message through the hydrated result of
 * `ctx.reply` (`msg.editText`) to "2…", "1…" and "Liftoff!". Three countdowns (a, b, c) in one
 * chat; the bot is killed between successive edits: after a's first and second, b's first and
 * second, c's first. Each restart handles the killed update again: `ctx.reply` returns the
 * message delivered before (hydrated like a fresh one, so `msg.editText` works on it), the edits
 * made return their stored results, and the countdown goes on. Three messages, three edits of
 * each, each once and in order.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { until } from "../helpers/until.js";
import { createHarness, floodsInjected, killWhenHeld, marks, stopGracefully, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

let h: PluginsHarness;
let alice: SimUser;

beforeEach(async () => {
  h = await createHarness("hydrate", 1204);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
});

afterEach(async () => {
  await h.close();
});

describe("hydrate", () => {
  it("msg.editText on ctx.reply's result, across 5 kill -9 between the edits of three countdowns, with 30% 429s", async () => {
    const names = ["a", "b", "c"];
    for (const name of names) alice.sendCommand(h.sim, "countdown", name);
    // Each hold further down the chat: the killed countdown is handled again first, then goes on.
    const holds = ["countdown:2@a", "countdown:1@a", "countdown:2@b", "countdown:1@b", "countdown:2@c"];
    for (const [k, hold] of holds.entries()) await killWhenHeld(await h.start(`run ${k + 1}`, { HOLD_AT: hold }), hold);
    const last = await h.start("last run");
    await until(() => h.sim.record.edits(alice.id).length >= 3 * names.length, 60_000, "nine edits");
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const sent = h.sim.record.to(alice.id);
    expect(sent.map((m) => m.text)).toEqual(["3…", "3…", "3…"]);
    const edits = h.sim.record.edits(alice.id);
    expect(edits.map((e) => [e.messageId, e.method, e.text])).toEqual(sent.flatMap((m) => [
      [m.messageId, "editMessageText", "2…"],
      [m.messageId, "editMessageText", "1…"],
      [m.messageId, "editMessageText", "Liftoff!"],
    ]));
    // Every run after a kill got the same message back from ctx.reply.
    const sentMarks = marks(h.processes, "countdown:sent");
    const runsOf = (name: string): unknown[] => sentMarks.filter((m) => m.fields["name"] === name).map((m) => [m.by, m.fields["messageId"]]);
    expect(runsOf("a")).toEqual(["run 1", "run 2", "run 3"].map((by) => [by, sent[0]?.messageId]));
    expect(runsOf("b")).toEqual(["run 3", "run 4", "run 5"].map((by) => [by, sent[1]?.messageId]));
    expect(runsOf("c")).toEqual(["run 5", "last run"].map((by) => [by, sent[2]?.messageId]));
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "hydrate", kills: holds.length, countdowns: names.length, edits: edits.length, floods }));
  }, 120_000);
});
