/**
 * Direct sends (src/outbound/direct-send.ts): a handler's reply on its update's first run
 * leaves without a job stored first, and is recorded as delivered after; everything else
 * (later runs, busy chats, failures) goes through the durable queue.
 */
import { Bot, type Context } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { openStore, type Store } from "../../src/store/index.js";
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

interface Setup {
  emulator: Emulator;
  sim: SimBot;
  rt: Runtime;
  store: Store;
  /** Ids of the jobs the delivery loop claimed. */
  claimed: string[];
}

/** A runtime on a fresh in-memory store whose outbox claims are counted. */
async function setup(register: (bot: Bot<Ctx>) => void, options: RuntimeOptions = {}): Promise<Setup> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<Ctx>(sim.token, { client: { apiRoot: server.url } });
  register(bot);
  const store = await openStore({ path: ":memory:" });
  const claimed: string[] = [];
  const claim = store.outbox.claim.bind(store.outbox);
  store.outbox.claim = async (o) => {
    const jobs = await claim(o);
    claimed.push(...jobs.map((j) => j.id));
    return jobs;
  };
  runtime = createRuntime(bot, {
    store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50, jitter: 0 } },
    outbox: { idleMs: 20, defaults: { backoff: { baseMs: 20, maxMs: 100, jitter: 0 } } },
    ...options,
  });
  await runtime.start();
  return { emulator, sim, rt: runtime, store, claimed };
}

const handled = async (rt: Runtime, n: number): Promise<boolean> => (await rt.stats()).dispatcher.handled >= n;

describe("direct sends", () => {
  it("a first run's reply leaves without a claim and is recorded delivered under its key, with its audit entry", async () => {
    const results: number[] = [];
    const updates: number[] = [];
    const { emulator, sim, rt, store, claimed } = await setup((bot) => bot.on("message:text", async (ctx) => {
      updates.push(ctx.update.update_id);
      results.push((await ctx.reply(`re: ${ctx.message.text}`)).message_id);
    }));
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(() => handled(rt, 1));
    expect(sim.record.to(alice.id).map((m) => m.messageId)).toEqual(results);
    const job = await store.outbox.getByKey(`${sim.id}:${updates[0] as number}:0:sendMessage`);
    expect(job).toMatchObject({ state: "delivered", attempts: 1, ambiguousAttempts: 0, resultMessageId: results[0] });
    expect(claimed).toEqual([]);
    expect((await rt.outbox.stats()).byState).toMatchObject({ delivered: 1, queued: 0, sending: 0 });
    expect((await rt.outbox.audit.list()).items).toMatchObject([{ chatId: alice.id, method: "sendMessage", outcome: "delivered", messageId: results[0] }]);
  });

  it("a retried update finds its first run's direct sends by key: each message once, the same results handed back", async () => {
    const seen: number[][] = [];
    let tries = 0;
    const { emulator, sim, rt, claimed } = await setup((bot) => bot.on("message:text", async (ctx) => {
      tries++;
      const a = await ctx.reply("one");
      const b = await ctx.reply("two");
      seen.push([a.message_id, b.message_id]);
      if (tries === 1) throw new Error("fails after replying, the first time");
    }));
    const bob = emulator.createUser();
    bob.sendText(sim, "go");
    await until(() => handled(rt, 1));
    expect(tries).toBe(2);
    expect(sim.record.to(bob.id).map((m) => m.text)).toEqual(["one", "two"]);
    expect(seen[1]).toEqual(seen[0]);
    expect(claimed).toEqual([]);
  });

  it("a chat with a job waiting in the queue gets its reply through the queue, behind that job", async () => {
    let replied = 0;
    const { emulator, sim, rt, claimed } = await setup((bot) => bot.on("message:text", async (ctx) => {
      await ctx.reply("the reply");
      replied++;
    }));
    const carol = emulator.createUser({ startedBots: true });
    const [scheduled] = await rt.outbox.send("sendMessage", { chat_id: carol.id, text: "scheduled first" }, { notBefore: Date.now() + 400 });
    carol.sendText(sim, "hello");
    await until(() => replied === 1);
    expect(sim.record.to(carol.id).map((m) => m.text)).toEqual(["scheduled first", "the reply"]);
    expect(claimed).toContain(scheduled);
    expect(claimed).toHaveLength(2);
  });

  it("a direct send that fails (5xx, then 429) is queued and delivered by the delivery loop, once; the handler gets its result", async () => {
    const results: number[] = [];
    const { emulator, sim, claimed } = await setup((bot) => bot.on("message:text", async (ctx) => {
      results.push((await ctx.reply(`re: ${ctx.message.text}`)).message_id);
    }));
    const dave = emulator.createUser();
    emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], times: 1 });
    dave.sendText(sim, "a");
    await until(() => results.length === 1);
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, methods: ["sendMessage"], times: 1 });
    const floodedAt = Date.now();
    dave.sendText(sim, "b");
    await until(() => results.length === 2, 5_000);
    // retry_after is obeyed: not sent again before a second has passed.
    expect(Date.now() - floodedAt).toBeGreaterThanOrEqual(1_000);
    expect(sim.record.to(dave.id).map((m) => m.text)).toEqual(["re: a", "re: b"]);
    expect(sim.record.to(dave.id).map((m) => m.messageId)).toEqual(results);
    // Two jobs, each claimed by the loop (a job waiting out retry_after may be claimed and deferred more than once).
    expect(new Set(claimed).size).toBe(2);
  });

  it("a direct send whose answer was lost is queued with an ambiguous attempt on record (a duplicate it causes is accounted for)", async () => {
    const updates: number[] = [];
    const { emulator, sim, rt, store } = await setup((bot) => bot.on("message:text", async (ctx) => {
      updates.push(ctx.update.update_id);
      await ctx.reply("maybe twice");
    }));
    const erin = emulator.createUser();
    emulator.faults.add({ fault: { kind: "ambiguous" }, methods: ["sendMessage"], times: 1 });
    erin.sendText(sim, "x");
    await until(() => handled(rt, 1));
    const job = await store.outbox.getByKey(`${sim.id}:${updates[0] as number}:0:sendMessage`);
    expect(job).toMatchObject({ state: "delivered", ambiguousAttempts: 1 });
    expect(job?.history[0]).toMatchObject({ ambiguous: true });
    expect(sim.record.to(erin.id).length).toBe(2);
    expect((await rt.outbox.stats()).ambiguousAttempts).toBe(1);
  });

  it("a send the handler did not await is stored (or delivered and recorded) before the update's completion is committed", async () => {
    const { emulator, sim, store } = await setup((bot) => bot.on("message:text", (ctx) => {
      void ctx.reply(`re: ${ctx.message.text}`); // not awaited: the handler returns at once
    }));
    // Slow answers, the first one a 502: the direct send is still on its way (then queued) when the handler returns.
    emulator.faults.add({ fault: { kind: "latency", ms: 150 }, methods: ["sendMessage"] });
    emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], times: 1 });
    const journal = store.inbox.journal!;
    const complete = journal.complete.bind(journal);
    const unstoredAtCompletion: number[] = [];
    let completions = 0;
    journal.complete = async (completion) => {
      for (const { updateId } of completion.done) {
        if ((await store.outbox.getByKey(`${sim.id}:${updateId}:0:sendMessage`)) === null) unstoredAtCompletion.push(updateId);
      }
      completions++;
      return complete(completion);
    };
    const grace = emulator.createUser();
    grace.sendText(sim, "one");
    grace.sendText(sim, "two");
    await until(() => sim.record.to(grace.id).length === 2, 10_000);
    await until(() => completions >= 1);
    expect(completions).toBeGreaterThanOrEqual(1);
    expect(unstoredAtCompletion).toEqual([]);
    expect(sim.record.to(grace.id).map((m) => m.text)).toEqual(["re: one", "re: two"]);
  });

  it("without the journal (inbox rows), and for sends outside handlers, nothing goes direct", async () => {
    let replied = 0;
    const { emulator, sim, rt, claimed } = await setup((bot) => bot.on("message:text", async (ctx) => {
      await ctx.reply("via the queue");
      replied++;
    }), { inbox: { journal: false, idleMs: 20 } });
    const frank = emulator.createUser({ startedBots: true });
    frank.sendText(sim, "x");
    await until(() => replied === 1);
    await rt.outbox.send("sendMessage", { chat_id: frank.id, text: "outside" });
    await until(() => sim.record.to(frank.id).length === 2);
    expect(claimed).toHaveLength(2);
  });
});
