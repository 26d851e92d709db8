/**
 * @grammyjs/hydrate under unlost, with 30% 429s on sends and edits, and a kill -9.
 *
 * /countdown replies "3…" and edits that message through the hydrated result of `ctx.reply`
 * (`msg.editText`) to "2…", "1…" and "Liftoff!". The bot is killed after the first edit; the
 * restart handles the update again: `ctx.reply` returns the message delivered before (hydrated
 * like a fresh one, so `msg.editText` works on it), the first edit returns its stored result,
 * and the countdown goes on. One message, three edits, each once and in order.
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
  it("msg.editText on ctx.reply's result, across a kill -9 between the edits, with 30% 429s", async () => {
    alice.sendCommand(h.sim, "countdown");
    await killWhenHeld(await h.start("run 1", { HOLD_AT: "countdown:2" }), "countdown:2");
    const last = await h.start("last run");
    await until(() => h.sim.record.edits(alice.id).length >= 3, 60_000, "three edits");
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const sent = h.sim.record.to(alice.id);
    expect(sent.map((m) => m.text)).toEqual(["3…"]);
    const edits = h.sim.record.edits(alice.id);
    expect(edits.map((e) => [e.messageId, e.method, e.text])).toEqual([
      [sent[0]?.messageId, "editMessageText", "2…"],
      [sent[0]?.messageId, "editMessageText", "1…"],
      [sent[0]?.messageId, "editMessageText", "Liftoff!"],
    ]);
    // The run after the kill got the same message back from ctx.reply.
    expect(marks(h.processes, "countdown:sent").map((m) => [m.by, m.fields["messageId"]])).toEqual([["run 1", sent[0]?.messageId], ["last run", sent[0]?.messageId]]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "hydrate", kills: 1, edits: edits.length, floods }));
  }, 120_000);
});
