/**
 * floodGuard against the emulator: a backlog a user built up while the bot was down (dates
 * spread over ten minutes, all delivered at once on start) passes; a real burst (dates within
 * one second) is cut to the limit, and its dropped updates complete, not dead-letter.
 */
import { Bot, type Context } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../src/emulator/index.js";
import { createRuntime, floodGuard, silentLogger, type Runtime, type UnlostFlavor } from "../../src/index.js";
import { until } from "../helpers/until.js";

let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
let dir: string | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("floodGuard in the runtime", () => {
  it("handles a backlog sent over minutes while down, and cuts a burst sent within a second", async () => {
    const emulator = createEmulator({ limits: false });
    const sim = emulator.createBot();
    server = await startEmulatorServer(emulator);
    dir = mkdtempSync(join(tmpdir(), "unlost-flood-"));
    const path = join(dir, "bot.sqlite");
    type Ctx = Context & UnlostFlavor;
    const handled: { user: number; text: string; whileDown: boolean }[] = [];
    const limited: string[] = [];
    const makeBot = (): Bot<Ctx> => {
      const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server!.url } });
      // 5 per 2 s: message dates are whole seconds, so a burst can straddle a second boundary.
      bot.use(floodGuard<Ctx>({ limit: 5, windowMs: 2_000, onLimitExceeded: (ctx) => { limited.push(ctx.msg?.text ?? "?"); } }));
      bot.on("message:text", (ctx) => { handled.push({ user: ctx.from.id, text: ctx.message.text, whileDown: ctx.unlost.arrivedWhileDown }); });
      return bot;
    };
    const options = {
      logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false, deadlineMs: 5_000 },
      inbox: { idleMs: 20 }, clock: () => emulator.clock.now(),
    };

    // A first run, so the store knows when the bot went down.
    runtime = createRuntime(makeBot(), { ...options, store: { path } });
    await runtime.start();
    await runtime.stop();
    runtime = undefined;

    // While down: alice writes 50 messages over 10 minutes; bob sends 12 at once. Dates are whole
    // seconds and count as "while down" only when their whole second is inside the offline window,
    // hence the second's step either side.
    emulator.clock.advance(1_000);
    const alice = emulator.createUser();
    const bob = emulator.createUser();
    for (let i = 0; i < 50; i++) {
      alice.sendText(sim, `a${i}`);
      emulator.clock.advance(12_000);
    }
    for (let i = 0; i < 12; i++) bob.sendText(sim, `b${i}`);
    emulator.clock.advance(1_000);

    // On start all 62 arrive within a moment: an arrival-counting limiter would cut alice too.
    runtime = createRuntime(makeBot(), { ...options, store: { path } });
    await runtime.start();
    await until(async () => (await runtime!.stats()).inbox.done === 62);
    const stats = await runtime.stats();
    expect(stats.inbox).toMatchObject({ pending: 0, inflight: 0, dead: 0 });

    const aliceTexts = handled.filter((h) => h.user === alice.id).map((h) => h.text);
    expect(aliceTexts).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
    expect(handled.filter((h) => h.user === alice.id).every((h) => h.whileDown)).toBe(true);
    expect(handled.filter((h) => h.user === bob.id).map((h) => h.text)).toEqual(["b0", "b1", "b2", "b3", "b4"]);
    expect(limited).toEqual(["b5", "b6", "b7", "b8", "b9", "b10", "b11"]);
    expect(emulator.internalErrors).toEqual([]);
  });
});
