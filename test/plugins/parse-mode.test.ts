/**
 * @grammyjs/parse-mode under unlost, with 30% 429s on sends and a kill -9.
 *
 * The plugins bot formats with parse-mode v2 (`fmt`: text with `entities`) and has a default
 * `parse_mode` transformer on `bot.api` written like parse-mode v1's `parseMode("HTML")` (which
 * copies the payload: `prev(method, { ...payload, parse_mode }, signal)`). /fmt sends the
 * `fmt` text, then "<b>HTML</b> by default" without a parse mode of its own; the bot is killed
 * between the two. Every reply (the echo replies too, and those retried after a 429 by the
 * outbox) arrives once, with its entities as given and with the transformer's parse mode.
 *
 * Before unlost's fix, the copy lost the mark by which unlost's own transformer on `bot.api`
 * knows the outbox's deliveries: every send delivered by the queue (after a 429, after a
 * restart) was enqueued again behind itself and the chat stalled after the first message.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, floodsInjected, killWhenHeld, stopGracefully, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

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
  it("entities from fmt and a default parse_mode transformer on bot.api, across a kill -9, with 30% 429s", async () => {
    alice.sendCommand(h.sim, "fmt");
    await killWhenHeld(await h.start("run 1", { HOLD_AT: "fmt:entities" }), "fmt:entities");
    const last = await h.start("last run");
    for (const text of ["one", "two", "three"]) alice.sendText(h.sim, text);
    await untilDelivered(h.sim, alice.id, 5);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    const delivered = h.sim.record.to(alice.id).map((m) => ({ text: m.text, entities: m.entities, parseMode: m.parseMode }));
    expect(delivered).toEqual([
      // parse-mode v1's transformer adds its parse_mode to every call without one, entities or not.
      { text: "bold and italic", entities: [{ type: "bold", offset: 0, length: 4 }, { type: "italic", offset: 9, length: 6 }], parseMode: "HTML" },
      // The visible text: the emulator parsed the HTML.
      { text: "HTML by default", entities: undefined, parseMode: "HTML" },
      { text: "#1: one", entities: undefined, parseMode: "HTML" },
      { text: "#2: two", entities: undefined, parseMode: "HTML" },
      { text: "#3: three", entities: undefined, parseMode: "HTML" },
    ]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "parse-mode", kills: 1, replies: delivered.length, floods }));
  }, 120_000);
});
