import { Bot, GrammyError, InputFile, type Context } from "grammy";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, isUnlostError, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";

type Ctx = Context & UnlostFlavor;
let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await server?.close();
  server = undefined;
});

async function setup(register: (bot: Bot<Ctx>) => void, options: RuntimeOptions = {}, limits = false): Promise<{ emulator: Emulator; sim: SimBot; rt: Runtime }> {
  const emulator = createEmulator(limits ? {} : { limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  register(bot);
  const store = await openStore({ path: ":memory:" });
  runtime = createRuntime(bot, {
    store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 } },
    outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    ...options,
  });
  await runtime.start();
  return { emulator, sim, rt: runtime };
}

describe("the outbox inside a runtime", () => {
  it("runtime.outbox before start() says to start (not that the outbox is switched off); switched off says so", () => {
    const started = createRuntime(new Bot<Ctx>("123:" + "a".repeat(35)), { logger: silentLogger(), store: { path: ":memory:" } });
    expect(() => started.outbox).toThrow(expect.objectContaining({ code: "STOPPED", message: expect.stringMatching(/call runtime\.start\(\) first/) }));
    const off = createRuntime(new Bot<Ctx>("123:" + "a".repeat(35)), { logger: silentLogger(), store: { path: ":memory:" }, outbox: { enabled: false } });
    expect(() => off.outbox).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", message: expect.stringMatching(/outbox\.enabled: false/) }));
  });

  it("routes ctx.reply through the outbox: the handler gets the Message, the job is delivered and audited", async () => {
    const replies: number[] = [];
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      const sent = await ctx.reply(`re: ${ctx.message.text}`);
      replies.push(sent.message_id);
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(() => replies.length === 1);
    expect(sim.record.to(alice.id).map((m) => m.messageId)).toEqual(replies);
    const stats = await rt.outbox.stats();
    expect(stats.byState.delivered).toBe(1);
    const audit = await rt.outbox.audit.list();
    expect(audit.items).toMatchObject([{ chatId: alice.id, method: "sendMessage", outcome: "delivered", messageId: replies[0] }]);
  });

  it("retries a send that met a network fault; the handler still gets its reply, delivered once", async () => {
    let done = 0;
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      await ctx.reply("made it");
      done++;
    }));
    emulator.faults.add({ fault: { kind: "reset" }, methods: ["sendMessage"], times: 2 });
    emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], times: 1 });
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(() => done === 1);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["made it"]);
  });

  it("429s do not use up a send's attempts (Telegram pacing the bot is no failure); 5xx do", async () => {
    const { emulator, sim, rt } = await setup(() => undefined, { outbox: { idleMs: 20, defaults: { attempts: 2, backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } } });
    const carol = emulator.createUser({ startedBots: true });
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, methods: ["sendMessage"], times: 3 });
    const [paced] = await rt.outbox.send("sendMessage", { chat_id: carol.id, text: "after three 429s" });
    const job = await rt.outbox.waitForFinal(paced!);
    expect(job).toMatchObject({ state: "delivered", attempts: 4 });
    expect(job.history.filter((h) => h.code === 429)).toHaveLength(3);
    emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], times: 2 });
    const [broken] = await rt.outbox.send("sendMessage", { chat_id: carol.id, text: "two 502s" });
    const failed = await rt.outbox.waitForFinal(broken!);
    expect(failed).toMatchObject({ state: "failed", attempts: 2, failureReason: "attempts" });
    expect(sim.record.to(carol.id).map((m) => m.text)).toEqual(["after three 429s"]);
  });

  it("a handler re-run after a failure gets its earlier sends back instead of sending them twice", async () => {
    let runs = 0;
    const seen: number[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      runs++;
      const a = await ctx.reply("first");
      const b = await ctx.reply("second");
      seen.push(a.message_id, b.message_id);
      if (runs === 1) throw new Error("crash after replying");
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => runs === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["first", "second"]);
    expect(seen.slice(2)).toEqual(seen.slice(0, 2));
  });

  it("a re-run that sends something else at a position delivers it: A then B, each once, and the handler gets B's message", async () => {
    let runs = 0;
    const got: string[] = [];
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      runs++;
      if (runs === 1) {
        await ctx.reply("temporary failure, retrying");
        throw new Error("the service is down");
      }
      const sent = await ctx.reply("here is your result");
      got.push(sent.text ?? "");
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(["here is your result"]);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["temporary failure, retrying", "here is your result"]);
    expect((await rt.outbox.stats()).divergedReplays).toBe(1);
  });

  it("a re-run that sends fewer or more messages than the first: every distinct send is delivered once", async () => {
    const runs = new Map<string, number>();
    const done: string[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      const text = ctx.message.text;
      const run = (runs.get(text) ?? 0) + 1;
      runs.set(text, run);
      if (text === "fewer") {
        // First attempt: two sends, then a failure; the second says something else, once.
        if (run === 1) {
          await ctx.reply("step 1 of 2");
          await ctx.reply("step 2 of 2");
          throw new Error("fail after two");
        }
        await ctx.reply("all done");
      } else {
        // First attempt: one send; the second repeats it, then sends two more, one of them new.
        await ctx.reply("one");
        await ctx.reply(run === 1 ? "two (draft)" : "two (final)");
        if (run === 1) throw new Error("fail after two");
        await ctx.reply("three");
      }
      done.push(text);
    }));
    const fewer = emulator.createUser();
    const more = emulator.createUser();
    fewer.sendText(sim, "fewer");
    more.sendText(sim, "more");
    await until(() => done.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    // The first attempt's extra send was made: it is delivered (once), not taken back.
    expect(sim.record.to(fewer.id).map((m) => m.text)).toEqual(["step 1 of 2", "step 2 of 2", "all done"]);
    expect(sim.record.to(more.id).map((m) => m.text)).toEqual(["one", "two (draft)", "two (final)", "three"]);
  });

  it("a re-run sending the same file again is one send; a different file at that position is another", async () => {
    let runs = 0;
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      runs++;
      await ctx.replyWithDocument(new InputFile(Buffer.from("report v1"), "report.txt"));
      await ctx.replyWithDocument(new InputFile(Buffer.from(runs === 1 ? "draft" : "final"), "status.txt"));
      if (runs === 1) throw new Error("fail once");
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => runs === 2 && sim.record.to(alice.id).length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.record.to(alice.id).map((m) => m.kind)).toEqual(["document", "document", "document"]);
  });

  it("installs the update's transformer when ctx.api is first used: the handler's own transformer and repeated reads see one durable send per call", async () => {
    let runs = 0;
    const seenByUserTransformer: string[] = [];
    const results: number[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      runs++;
      const api = ctx.api;
      expect(ctx.api).toBe(api); // one Api per context, whatever reads it
      // A handler's own transformer goes outside unlost's: it sees the call and the durable result.
      api.config.use(async (prev, method, payload, signal) => {
        seenByUserTransformer.push(method);
        return prev(method, payload, signal);
      });
      const a = await ctx.reply("one");
      const b = await ctx.api.sendMessage(ctx.chat.id, "two");
      results.push(a.message_id, b.message_id);
      if (runs === 1) throw new Error("fail after sending");
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "go");
    await until(() => runs === 2);
    await new Promise((r) => setTimeout(r, 100));
    // The re-run got the stored results of its sends: nothing was sent twice.
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["one", "two"]);
    expect(results.slice(2)).toEqual(results.slice(0, 2));
    expect(seenByUserTransformer).toEqual(["sendMessage", "sendMessage", "sendMessage", "sendMessage"]);
  });

  it("ctx.unlost.enqueue returns a job id at once and enqueues with the update's completion", async () => {
    const ids: string[] = [];
    const updateIds: number[] = [];
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", (ctx) => {
      // Destructured, as handlers often do: the methods keep their update.
      const { enqueue, commitWithCompletion } = ctx.unlost;
      updateIds.push(ctx.update.update_id);
      ids.push(...enqueue("sendMessage", { chat_id: ctx.chat.id, text: "later" }));
      commitWithCompletion({ kind: "kv.set", key: `seen:${ctx.update.update_id}`, value: "1" });
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(() => sim.record.size === 1);
    expect(ids).toHaveLength(1);
    await until(async () => (await rt.outbox.status(ids[0]!))?.state === "delivered");
    // The effect was committed with the completion.
    await until(async () => (await rt.store.state.getValue(`seen:${updateIds[0]}`)) === "1");
  });

  it("sends from outside handlers, notifies a known user, broadcasts with progress", async () => {
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", () => undefined));
    const alice = emulator.createUser();
    alice.sendText(sim, "/start");
    await until(async () => (await rt.stats()).dispatcher.handled === 1);
    await rt.outbox.sendText(alice.id, "hello from a cron job");
    await rt.outbox.notify(alice.id, { title: "Order shipped", text: "It is on its way", type: "shipping" });
    const users = Array.from({ length: 5 }, () => emulator.createUser());
    const { broadcastId, jobs } = await rt.outbox.broadcast(users.map((u) => u.id), "sendMessage", { text: "news" });
    expect(jobs).toBe(5);
    await until(async () => (await rt.outbox.broadcastProgress(broadcastId))?.remaining === 0);
    expect(await rt.outbox.broadcastProgress(broadcastId)).toMatchObject({ total: 5, delivered: 5, failed: 0 });
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual(["hello from a cron job", "Order shipped\n\nIt is on its way"]);
    await expect(rt.outbox.notify(424242, { text: "who?" })).rejects.toThrow(/never seen them/);
  });

  it("fails fast for a blocked user, marks the chat unreachable, and recovers when the user writes again", async () => {
    const errors: unknown[] = [];
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", async (ctx) => {
      await ctx.reply("ok").catch((e: unknown) => errors.push(e));
    }));
    const alice = emulator.createUser();
    alice.block(sim);
    const [id] = await rt.outbox.sendText(alice.id, "are you there?");
    const job = await rt.outbox.waitForFinal(id!);
    expect(job).toMatchObject({ state: "failed", failureReason: "unreachable" });
    expect(job.lastError).toMatch(/blocked/);
    const [second] = await rt.outbox.sendText(alice.id, "still?");
    expect((await rt.outbox.waitForFinal(second!)).lastError).toMatch(/unreachable/);
    alice.unblock(sim);
    alice.sendText(sim, "I'm back");
    await until(() => sim.record.size === 1);
    expect(errors).toEqual([]);
  });

  it("a chat marked unreachable becomes reachable as soon as its user writes, even a user seen before", async () => {
    const { emulator, sim, rt } = await setup((bot) => bot.on("message:text", () => undefined), { polling: { timeoutSeconds: 1, allowedUpdates: ["message"] } });
    const bob = emulator.createUser();
    bob.sendText(sim, "hello");
    await until(async () => (await rt.stats()).dispatcher.handled === 1);
    bob.block(sim); // no my_chat_member reaches the bot: only messages are allowed
    const [id] = await rt.outbox.sendText(bob.id, "news");
    expect((await rt.outbox.waitForFinal(id!)).failureReason).toBe("unreachable");
    bob.unblock(sim);
    bob.sendText(sim, "I'm back");
    await until(async () => (await rt.outbox.deadLetters.list()).items.length === 1 && (await rt.stats()).dispatcher.handled === 2);
    const [again] = await rt.outbox.sendText(bob.id, "welcome back");
    expect((await rt.outbox.waitForFinal(again!)).state).toBe("delivered");
    expect(sim.record.to(bob.id).map((m) => m.text)).toEqual(["welcome back"]);
  });

  it("purging a failed job deletes its spilled file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlost-purge-"));
    try {
      const store = await openStore({ path: join(dir, "bot.sqlite") });
      const { emulator, sim, rt } = await setup(() => undefined, { store });
      const carol = emulator.createUser();
      carol.block(sim);
      const [id] = await rt.outbox.sendPhoto(carol.id, Buffer.alloc(2048, 1), { caption: "for you" });
      expect((await rt.outbox.waitForFinal(id!)).state).toBe("failed");
      expect(readdirSync(join(dir, "blobs")).filter((f) => !f.startsWith("."))).toHaveLength(1);
      expect(await rt.outbox.deadLetters.purge({ id: id! })).toBe(1);
      expect(readdirSync(join(dir, "blobs")).filter((f) => !f.startsWith("."))).toHaveLength(0);
      await rt.stop();
      runtime = undefined;
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps no payloads in the audit log with store.auditRedaction", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlost-audit-"));
    try {
      const { emulator, rt } = await setup(() => undefined, { store: { path: join(dir, "bot.sqlite"), auditRedaction: true } });
      const dave = emulator.createUser();
      const [id] = await rt.outbox.sendText(dave.id, "private matter");
      expect((await rt.outbox.waitForFinal(id!)).state).toBe("delivered");
      expect((await rt.outbox.audit.list()).items).toMatchObject([{ chatId: dave.id, outcome: "delivered", payload: null }]);
      await rt.stop();
      runtime = undefined;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a permanent error reaches the handler as grammY's usual GrammyError", async () => {
    const errors: unknown[] = [];
    const { emulator, sim } = await setup((bot) => bot.on("message:text", async (ctx) => {
      await ctx.api.sendMessage(-100999, "to nowhere").catch((e: unknown) => errors.push(e));
    }));
    emulator.createUser().sendText(sim, "x");
    await until(() => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(GrammyError);
    expect((errors[0] as GrammyError).description).toMatch(/chat not found/);
  });

  it("rejects bad input synchronously, before anything is stored", async () => {
    const { rt } = await setup(() => undefined);
    let threw: unknown;
    try {
      void rt.outbox.send("sendMessage", { chat_id: 1, text: "" });
    } catch (error) {
      threw = error;
    }
    expect(isUnlostError(threw, "INVALID_ARGUMENT")).toBe(true);
    expect(() => rt.outbox.sendText(1, "x".repeat(5000))).toThrow(/4096/);
    expect(() => rt.outbox.send("sendTelepathy", { chat_id: 1 })).toThrow(/sendTelepathy/);
    expect((await rt.outbox.stats()).byState.queued).toBe(0);
    const parts = await rt.outbox.sendText(1, `${"a".repeat(3000)}\n\n${"b".repeat(3000)}`, { split: true });
    expect(parts).toHaveLength(2);
  });

  it("alerts the admin chats when many messages fail for good in a short window", async () => {
    const { emulator, sim, rt } = await setup(() => undefined, {
      downtime: { adminChatIds: [777_000_001], heartbeatMs: 200 },
      outbox: { idleMs: 20, failureAlertThreshold: 2, failureAlertWindowMs: 2_000, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    });
    const admin = emulator.createUser({ id: 777_000_001 });
    await new Promise((r) => setTimeout(r, 300)); // the watch takes its first reading
    for (let i = 0; i < 3; i++) await rt.outbox.sendText(-100_123_456 - i, "to a chat that does not exist");
    await until(() => sim.record.to(admin.id).length === 1, 10_000);
    expect(sim.record.to(admin.id)[0]!.text).toMatch(/3 outgoing messages failed for good/);
  });

  it("paces to Telegram's limits: a burst to one chat gets no 429", async () => {
    const { emulator, sim, rt } = await setup(() => undefined, {}, true);
    const alice = emulator.createUser();
    const answers429: number[] = [];
    emulator.onCall((call) => { if (call.method === "sendMessage") answers429.push(0); });
    for (let i = 0; i < 5; i++) await rt.outbox.sendText(alice.id, `burst ${i}`);
    // The emulator records a message before its answer reaches the outbox: wait for both.
    await until(async () => sim.record.size === 5 && (await rt.outbox.stats()).byState.delivered === 5, 15_000);
    expect(sim.record.to(alice.id).map((m) => m.text)).toEqual([0, 1, 2, 3, 4].map((i) => `burst ${i}`));
    expect(answers429.length).toBe(5);
  });
});
