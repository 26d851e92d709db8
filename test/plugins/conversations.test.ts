/**
 * @grammyjs/conversations v2 under unlost (`unlostConversationStorage`), with 30% 429s on sends
 * and 6 kill -9.
 *
 * /quiz asks for a name, then an age, then one step sends five replies. The bot is killed after
 * the first question, after the second, and after each of the first four of the five replies
 * (each time the update holds right after the reply, its completion not committed). Each
 * restart handles the killed update again: the conversation replays from its stored state, and
 * the replies it had delivered already return their stored messages (the same message ids)
 * instead of being sent again. The user gets each question and each of the five replies
 * exactly once, in order, and the replies carry both answers: the conversation's state survived
 * every kill.
 *
 * Control: `PLUGINS_CONTROL=memory-conversations` (the plugin's in-memory storage) fails: after
 * a kill the answers go to the echo handler.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { createHarness, floodsInjected, killWhenHeld, marks, stopGracefully, storedData, textsTo, untilDelivered, untilInboxDrained, type PluginsHarness } from "./helpers/plugins-bot.js";

let h: PluginsHarness;
let alice: SimUser;

beforeEach(async () => {
  h = await createHarness("conversations", 1202);
  alice = h.emulator.createUser({ firstName: "Alice", languageCode: "en" });
});

afterEach(async () => {
  await h.close();
});

const SUMMARIES = [1, 2, 3, 4, 5].map((k) => `Alice, 30: summary ${k}/5`);

describe("conversations v2 (unlostConversationStorage)", () => {
  it("a two-question conversation whose step sends five replies: each once, in order, across 6 kill -9, with 30% 429s", async () => {
    alice.sendCommand(h.sim, "quiz");
    // Killed after the first question (the /quiz update not completed).
    await killWhenHeld(await h.start("run 1", { HOLD_AT: "quiz:asked-name" }), "quiz:asked-name");
    alice.sendText(h.sim, "Alice"); // while the bot is down
    // /quiz again (its question returned from the record), then the name: killed after the second question.
    await killWhenHeld(await h.start("run 2", { HOLD_AT: "quiz:asked-age" }), "quiz:asked-age");
    alice.sendText(h.sim, "30");
    // The age: the step sends five replies; killed after the first, second, third and fourth.
    for (let k = 1; k <= 4; k++) {
      await killWhenHeld(await h.start(`run ${k + 2}`, { HOLD_AT: `quiz:summary-${k}` }), `quiz:summary-${k}`);
    }
    const last = await h.start("last run");
    await untilDelivered(h.sim, alice.id, 7);
    await untilInboxDrained(h.dbPath);
    expect(await stopGracefully(last)).toEqual({ code: 0, signal: null });

    expect(textsTo(h.sim, alice.id)).toEqual(["What is your name?", "How old are you, Alice?", ...SUMMARIES]);
    // The conversation's own Api has none of bot.api's transformers, but its sends are delivered
    // by the outbox through bot.api: the default parse_mode transformer applies to them too.
    expect(h.sim.record.to(alice.id).map((m) => m.parseMode)).toEqual(Array(7).fill("HTML"));
    // Every replay of a delivered reply got the message it was delivered as.
    const all = marks(h.processes);
    for (let k = 1; k <= 5; k++) {
      const ids = new Set(all.filter((m) => m.label === `quiz:summary-${k}`).map((m) => m.fields["messageId"]));
      expect(ids.size, `summary ${k}`).toBe(1);
    }
    // The step ran in every run from the third on: four replays after four kills.
    expect(all.filter((m) => m.label === "quiz:summary-1").map((m) => m.by)).toEqual(["run 3", "run 4", "run 5", "run 6", "last run"]);
    // The conversation is over: nothing left in its storage.
    const state = await storedData<{ quiz?: unknown[] }>(h.dbPath, `conversations:${alice.id}`);
    expect(state?.quiz ?? []).toEqual([]);
    const floods = floodsInjected(h.emulator);
    expect(floods).toBeGreaterThan(0);
    console.log(JSON.stringify({ plugins: "conversations", kills: 6, replies: 7, floods, builderRuns: all.filter((m) => m.label === "quiz:asked-name").length }));
  }, 180_000);
});
