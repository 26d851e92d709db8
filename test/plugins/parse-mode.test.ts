/**
 * @grammyjs/parse-mode under unlost, with 30% 429s on sends and a kill -9.
 *
 * The plugins bot formats with parse-mode v2 (`fmt`: text with `entities`) and has a default
 * `parse_mode` transformer on `bot.api` written like parse-mode v1's `parseMode("HTML")` (which
 * copies the payload: `prev(method, { ...payload, parse_mode }, signal)`). `/fmt <name>` sends
 * the `fmt` text, then "<b>HTML</b> by default" without a parse mode of its own; echo replies
 * follow. The bot is killed 5 times between formatted sends: between /fmt a's two, after them
 * (before the update's completion), between /fmt b's two, and after the first and the second
 * echo reply. Every reply (those handled again after a kill, and those retried after a 429 by
 * the outbox) arrives once, with its entities as given and with the transformer's parse mode.
 *
 * Before unlost's fix, the copy lost the mark by which unlost's own transformer on `bot.api`
 * knows the outbox's deliveries: every send delivered by the queue (after a 429, after a
 * restart) was enqueued again behind itself and the chat stalled after the first message.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, floodsInjected, killWhenHeld, marks, stopGracefully, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

let h: PluginsHarness;
let alice: SimUser;

beforeEach(async () => {
  h = await createHarness("parse-mode", 1205);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
});

afterEach(async () => {
  await h.close();
});

describe("parse-mode", () => {
  it("entities from fmt and a default parse_mode transformer on bot.api, across 5 kill -9 between formatted sends, with 30% 429s", async () => {
    alice.sendCommand(h.sim, "fmt", "a");
    alice.sendCommand(h.sim, "fmt", "b");
    for (const text of ["one", "two", "three"]) alice.sendText(h.sim, text);
    // Each hold further down the chat: the killed update is handled again first, then the next.
    const holds = ["fmt:entities@a", "fmt:html@a", "fmt:entities@b", "done:one", "done:two"];
    for (const [k, hold] of holds.entries()) await killWhenHeld(await h.start(`run ${k + 1}`, { HOLD_AT: hold }), hold);
    const last = await h.start("last run");
    await untilDelivered(h.sim, alice.id, 7);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const delivered = h.sim.record.to(alice.id).map((m) => ({ text: m.text, entities: m.entities, parseMode: m.parseMode }));
    const formatted = (name: string): typeof delivered => [
      // parse-mode v1's transformer adds its parse_mode to every call without one, entities or not.
      { text: `bold and italic (${name})`, entities: [{ type: "bold", offset: 0, length: 4 }, { type: "italic", offset: 9, length: 6 }], parseMode: "HTML" },
      // The visible text: the emulator parsed the HTML.
      { text: `HTML by default (${name})`, entities: undefined, parseMode: "HTML" },
    ];
    expect(delivered).toEqual([
      ...formatted("a"),
      ...formatted("b"),
      { text: "#1: one", entities: undefined, parseMode: "HTML" },
      { text: "#2: two", entities: undefined, parseMode: "HTML" },
      { text: "#3: three", entities: undefined, parseMode: "HTML" },
    ]);
    // Each killed update was handled again in the next run.
    const all = marks(h.processes);
    expect(all.filter((m) => m.label === "fmt:entities" && m.fields["name"] === "a").map((m) => m.by)).toEqual(["run 1", "run 2", "run 3"]);
    expect(all.filter((m) => m.label === "fmt:entities" && m.fields["name"] === "b").map((m) => m.by)).toEqual(["run 3", "run 4"]);
    expect(all.filter((m) => m.label === "done:one").map((m) => m.by)).toEqual(["run 4", "run 5"]);
    expect(all.filter((m) => m.label === "done:two").map((m) => m.by)).toEqual(["run 5", "last run"]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "parse-mode", kills: holds.length, replies: delivered.length, floods }));
  }, 120_000);
});
