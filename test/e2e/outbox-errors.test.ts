/**
 * Where each kind of undeliverable message ends, with what reason, against the emulator (over
 * HTTP, Telegram's wording): a user who blocked the bot, a group that kicked it, a group that
 * became a supergroup, a chat that does not exist, a text that is too long.
 */
import { afterEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/index.js";
import { until } from "./helpers/outbox-probes.js";
import { startOutboxWorld, type OutboxWorld } from "./helpers/outbox-runtime.js";

let world: OutboxWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const start = async (): Promise<OutboxWorld> => {
  world = await startOutboxWorld({
    emulator: { limits: false },
    runtime: { outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } } },
    register: (bot) => bot.on("message", () => undefined),
  });
  return world;
};

describe("undeliverable messages end where they should, with a clear reason", () => {
  it("blocked user: failed as unreachable, listed, later jobs fail fast without a request, reachable again once the user is back", async () => {
    const { emulator, sim, rt } = await start();
    const alice = emulator.createUser({ firstName: "Alice" });
    alice.sendText(sim, "hi");
    await until(async () => (await rt.stats()).dispatcher.handled === 1);
    alice.block(sim);
    let calls = 0;
    emulator.onCall((c) => { if (c.method === "sendMessage") calls++; });

    const [first] = await rt.outbox.sendText(alice.id, "are you there?");
    const failed = await rt.outbox.waitForFinal(first as string);
    expect(failed).toMatchObject({ state: "failed", failureReason: "unreachable", attempts: 1 });
    expect(failed.lastError).toBe('Telegram answered 403 "Forbidden: bot was blocked by the user": the user blocked the bot; it reaches them again after they write to it');
    expect(failed.history).toMatchObject([{ outcome: "failed", code: 403, ambiguous: false }]);
    const listed = await rt.store.outbox.listUnreachable();
    expect(listed).toEqual([expect.objectContaining({ chatId: alice.id, reason: expect.stringMatching(/blocked by the user/) })]);

    // Later jobs fail at once, without a request to Telegram, saying why.
    const [second] = await rt.outbox.sendText(alice.id, "still there?");
    const fast = await rt.outbox.waitForFinal(second as string);
    expect(fast).toMatchObject({ state: "failed", failureReason: "unreachable", attempts: 0, history: [] });
    expect(fast.lastError).toMatch(new RegExp(`^chat ${alice.id} is unreachable \\(.*blocked by the user.*\\); jobs to it fail at once until the user writes to the bot again$`));
    expect(calls).toBe(1);
    const dead = await rt.outbox.deadLetters.list({ reason: "unreachable" });
    expect(dead.items.map((j) => j.id)).toEqual([first, second]);

    // The user unblocks the bot and writes: the mark is cleared, sends reach them again.
    alice.unblock(sim);
    alice.sendText(sim, "I'm back");
    await until(async () => (await rt.store.outbox.listUnreachable()).length === 0, { what: "the mark cleared" });
    const [third] = await rt.outbox.sendText(alice.id, "welcome back");
    expect((await rt.outbox.waitForFinal(third as string)).state).toBe("delivered");
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["welcome back"]);
    // The failed ones can be retried from the dead letters once the chat is reachable.
    expect(await rt.outbox.deadLetters.retry({ filter: { chatId: alice.id } })).toBe(2);
    await until(() => sim.record.to(alice.id).length === 3, { what: "the retried dead letters" });
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["welcome back", "are you there?", "still there?"]);
  });

  it("kicked from a group: 403, the group is unreachable and listed", async () => {
    const { emulator, sim, rt } = await start();
    const bob = emulator.createUser({ firstName: "Bob" });
    const group = emulator.createGroup({ title: "Club", members: [bob], bots: [sim] });
    group.kickBot(sim, bob);
    const [id] = await rt.outbox.sendText(group.id, "hello club");
    const job = await rt.outbox.waitForFinal(id as string);
    expect(job).toMatchObject({ state: "failed", failureReason: "unreachable", attempts: 1 });
    expect(job.lastError).toBe('Telegram answered 403 "Forbidden: bot was kicked from the group chat": the bot was removed from the chat; it reaches it again after being added back');
    expect(await rt.store.outbox.listUnreachable()).toEqual([expect.objectContaining({ chatId: group.id })]);
    const audit = await rt.outbox.audit.list({ chatId: group.id });
    expect(audit.items).toMatchObject([{ jobId: id, outcome: "failed", error: job.lastError }]);
  });

  it("migrated group: the job is retargeted to the supergroup and delivered there, later jobs too, in order", async () => {
    const { emulator, sim, rt } = await start();
    const carol = emulator.createUser({ firstName: "Carol" });
    const group = emulator.createGroup({ title: "Team", members: [carol], bots: [sim] });
    const supergroup = group.migrate(carol);
    // Enqueued together, so that all three are queued when the first meets the migration
    // (each `sendText` resolves only after its flush, by which time the first may be sent).
    const ids = (await Promise.all(["one", "two", "three"].map((text) => rt.outbox.sendText(group.id, text)))).flat();
    const jobs = await Promise.all(ids.map((id) => rt.outbox.waitForFinal(id)));
    expect(jobs.map((j) => [j.state, j.chatId])).toEqual(jobs.map(() => ["delivered", supergroup.id]));
    expect(jobs[0]?.history).toMatchObject([{ outcome: "retarget", code: 400 }, { outcome: "delivered" }]);
    expect(jobs[0]?.history[0]?.error).toBe(`the group became supergroup ${supergroup.id}; sending there`);
    // The queued ones followed without a request of their own to the old group.
    expect(jobs.slice(1).map((j) => j.history.map((h) => h.outcome))).toEqual([["delivered"], ["delivered"]]);
    // A job enqueued later for the old id is retargeted too.
    const [later] = await rt.outbox.sendText(group.id, "four");
    const late = await rt.outbox.waitForFinal(later as string);
    expect([late.state, late.chatId]).toEqual(["delivered", supergroup.id]);
    expect(sim.record.to(supergroup.id).filter((m) => m.text !== undefined).map((m) => m.text)).toEqual(["one", "two", "three", "four"]);
    expect(sim.record.to(group.id)).toEqual([]);
  });

  it("chat not found: failed with Telegram's answer and what it means", async () => {
    const { rt } = await start();
    const [id] = await rt.outbox.sendText(-100_424_242_4242, "to nowhere");
    const job = await rt.outbox.waitForFinal(id as string);
    expect(job).toMatchObject({ state: "failed", failureReason: "unreachable", attempts: 1 });
    expect(job.lastError).toBe('Telegram answered 400 "Bad Request: chat not found": no such chat for this bot (wrong id, or the user never wrote to the bot)');
  });

  it("too-long text or caption: rejected at enqueue with INVALID_ARGUMENT, nothing stored", async () => {
    const { emulator, rt } = await start();
    const dave = emulator.createUser({ firstName: "Dave" });
    const before = await rt.outbox.stats();
    let error: unknown;
    try {
      void rt.outbox.sendText(dave.id, "x".repeat(4097));
    } catch (e) {
      error = e;
    }
    expect(isUnlostError(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toMatch(/4096/);
    expect((error as Error).message).toMatch(/split/);
    expect(() => rt.outbox.sendPhoto(dave.id, Buffer.from("img"), { caption: "c".repeat(1025) })).toThrow(/1024/);
    expect(() => rt.outbox.send("sendMessage", { chat_id: dave.id, text: "" })).toThrow(/empty/i);
    const after = await rt.outbox.stats();
    expect(after.byState).toEqual(before.byState);
    // With split: true the same text is cut into messages that each fit.
    const parts = await rt.outbox.sendText(dave.id, `${"a".repeat(3000)}\n\n${"b".repeat(3000)}`, { split: true });
    expect(parts).toHaveLength(2);
  });
});

describe("a handler's send to an unreachable chat", () => {
  it("throws grammY's usual 403 GrammyError, also when the job failed fast without a request", async () => {
    const errors: Array<{ code: number; description: string; reason: string | undefined }> = [];
    world = await startOutboxWorld({
      emulator: { limits: false },
      runtime: { outbox: { idleMs: 20 } },
      register: (bot) => bot.on("message:text", async (ctx) => {
        const target = Number(ctx.message.text);
        await ctx.api.sendMessage(target, "psst").catch((e: { error_code: number; description: string; unlost?: { reason: string } }) =>
          errors.push({ code: e.error_code, description: e.description, reason: e.unlost?.reason }));
      }),
    });
    const { emulator, sim } = world;
    const blocker = emulator.createUser({ firstName: "Blocker" });
    blocker.block(sim);
    const asker = emulator.createUser({ firstName: "Asker" });
    asker.sendText(sim, String(blocker.id));
    await until(() => errors.length === 1);
    asker.sendText(sim, String(blocker.id));
    await until(() => errors.length === 2);
    expect(errors.map((e) => e.code)).toEqual([403, 403]);
    // Telegram's own words both times (the second send made no request); unlost's account beside them.
    expect(errors.map((e) => e.description)).toEqual(["Forbidden: bot was blocked by the user", "Forbidden: bot was blocked by the user"]);
    expect(errors[1]?.reason).toMatch(/is unreachable .*blocked by the user/);
  });
});
