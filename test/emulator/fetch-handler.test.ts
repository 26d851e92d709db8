import { Bot, HttpError, InputFile } from "grammy";
import { describe, expect, it } from "vitest";
import { createEmulator, createFetchHandler } from "../../src/emulator/index.js";

function setup() {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  const bot = new Bot(sim.token, { client: { apiRoot: "http://emulator", fetch: createFetchHandler(emulator) as typeof fetch } });
  return { emulator, sim, bot };
}

describe("the emulator as a fetch handler (no socket)", () => {
  it("serves a grammY bot: updates in, replies and uploads out", async () => {
    const { emulator, sim, bot } = setup();
    const alice = emulator.createUser();
    bot.on("message:text", async (ctx) => {
      await ctx.reply(`echo: ${ctx.message.text}`);
      await ctx.replyWithDocument(new InputFile(new Uint8Array([1, 2, 3]), "x.bin"));
    });
    alice.sendText(sim, "hi");
    await bot.init();
    for (const update of await bot.api.getUpdates()) await bot.handleUpdate(update);
    expect(sim.record.to(alice.id).map((m) => [m.kind, m.text])).toEqual([["text", "echo: hi"], ["document", undefined]]);
    expect(emulator.internalErrors).toEqual([]);
  });

  it("turns network faults into the errors Node's fetch throws", async () => {
    const { emulator, bot } = setup();
    emulator.faults.add({ fault: { kind: "reset" }, times: 1 });
    const reset = await bot.api.getMe().catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(HttpError);
    expect(((reset as HttpError).error as { cause?: { code?: string } }).cause?.code).toBe("ECONNRESET");
    emulator.faults.add({ fault: { kind: "outage" }, durationMs: 10_000 });
    const refused = await bot.api.getMe().catch((e: unknown) => e);
    expect(((refused as HttpError).error as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
    emulator.faults.clear();
    expect((await bot.api.getMe()).is_bot).toBe(true);
  });

  it("a hang lasts until the caller's signal aborts", async () => {
    const { emulator, sim } = setup();
    const handler = createFetchHandler(emulator);
    emulator.faults.add({ fault: { kind: "hang" }, times: 1 });
    const started = Date.now();
    const error = await handler(`http://emulator/bot${sim.token}/getMe`, { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    expect((error as Error).name).toMatch(/TimeoutError|AbortError/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});
