/**
 * grammY sessions kept by unlost (`unlostSession`): a session change is committed with the
 * completion of the update that made it, so a retried or replayed update reads the session as
 * it was before its first try, and a counter counts each update exactly once. Run against the
 * emulator with a real grammY bot, on both paths of an update (the polling journal, and inbox
 * rows), with a control showing what a storage that writes at once does instead.
 */
import { Bot, session, type Context, type LazySessionFlavor, type SessionFlavor } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../src/emulator/index.js";
import { createRuntime, silentLogger, unlostLazySession, unlostSession, unlostStorage, type Runtime, type RuntimeOptions, type UnlostFlavor } from "../../src/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { until } from "../helpers/until.js";

interface Counter {
  count: number;
  note?: string;
}
type Ctx = Context & UnlostFlavor & SessionFlavor<Counter>;

let server: EmulatorServer | undefined;
let runtime: Runtime | undefined;
let store: Store | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await store?.close();
  store = undefined;
  await server?.close();
  server = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function setup<C extends Context = Ctx>(
  register: (bot: Bot<C>, store: Store) => void,
  options: RuntimeOptions = {},
): Promise<{ emulator: Emulator; sim: SimBot; rt: Runtime; store: Store }> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot<C>(sim.token, { client: { apiRoot: server.url } });
  store = await openStore({ path: ":memory:" });
  register(bot, store);
  runtime = createRuntime(bot, {
    store, logger: silentLogger(), polling: { timeoutSeconds: 1 }, shutdown: { handleSignals: false },
    outbox: { idleMs: 20 },
    ...options,
    inbox: { idleMs: 20, backoff: { baseMs: 10, maxMs: 50 }, ...options.inbox },
  });
  await runtime.start();
  return { emulator, sim, rt: runtime, store };
}

/** The stored session of `chatId` (committed state, read from the store). */
async function stored(rt: Runtime, chatId: number): Promise<Counter | undefined> {
  return unlostStorage<Counter>(rt).read(String(chatId));
}

/** A handler failure after the session middleware (installed after this) wrote the session. */
function failAfterSessionWrite(when: (ctx: Ctx) => boolean): (ctx: Ctx, next: () => Promise<void>) => Promise<void> {
  return async (ctx, next) => {
    await next();
    if (when(ctx)) throw new Error("failed after the session was written");
  };
}

const paths: Array<[string, boolean]> = [["the polling journal", true], ["inbox rows", false]];

describe.each(paths)("unlostSession on %s", (_path, journal) => {
  const inbox = { journal };

  it("a try that fails after writing the session commits nothing: the retry reads the value from before, the update counts once", async () => {
    const reads: Array<[string, number, number]> = [];
    const { emulator, sim, rt } = await setup((bot) => {
      bot.use(failAfterSessionWrite((ctx) => ctx.message?.text === "fail once" && ctx.unlost.attempt === 1));
      bot.use(unlostSession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", (ctx) => {
        reads.push([ctx.message.text, ctx.unlost.attempt, ctx.session.count]);
        ctx.session.count++;
      });
    }, { inbox });
    const alice = emulator.createUser();
    for (const text of ["one", "fail once", "three"]) alice.sendText(sim, text);
    await until(async () => (await rt.stats()).dispatcher.handled === 3, 10_000, "three updates handled");
    expect(reads).toEqual([["one", 1, 0], ["fail once", 1, 1], ["fail once", 2, 1], ["three", 1, 2]]);
    expect(await stored(rt, alice.id)).toEqual({ count: 3 });
  });

  it("a chat's updates each read the previous one's session, also before its completion is written", async () => {
    const reads: number[] = [];
    const { emulator, sim, rt } = await setup((bot) => {
      bot.use(unlostSession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", (ctx) => {
        reads.push(ctx.session.count);
        ctx.session.count++;
      });
    }, { inbox });
    const alice = emulator.createUser();
    for (let i = 0; i < 25; i++) alice.sendText(sim, `m${i}`);
    await until(async () => (await rt.stats()).dispatcher.handled === 25, 10_000, "25 updates handled");
    expect(reads).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(await stored(rt, alice.id)).toEqual({ count: 25 });
  });

  it("two chats handled at the same time each read and write only their own session, committed with their own update", async () => {
    let started = 0;
    let bothRunning!: () => void;
    const barrier = new Promise<void>((r) => (bothRunning = r));
    const seen: Record<string, number[]> = {};
    const { emulator, sim, rt } = await setup((bot) => {
      // Bob's first update fails once, after both sessions were written: only Bob's write is dropped.
      bot.use(failAfterSessionWrite((ctx) => ctx.message?.text === "bob 10" && ctx.unlost.attempt === 1));
      bot.use(unlostSession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", async (ctx) => {
        const [who, n] = ctx.message.text.split(" ") as [string, string];
        ctx.session.count += Number(n);
        // The first message of each chat waits until both run: their sessions are in use at once.
        if ((n === "1" || n === "10") && ctx.unlost.attempt === 1) {
          if (++started === 2) bothRunning();
          await barrier;
        }
        (seen[who] ??= []).push(ctx.session.count);
        ctx.session.note = who;
      });
    }, { inbox });
    const alice = emulator.createUser();
    const bob = emulator.createUser();
    alice.sendText(sim, "alice 1");
    bob.sendText(sim, "bob 10");
    alice.sendText(sim, "alice 2");
    bob.sendText(sim, "bob 20");
    await until(async () => (await rt.stats()).dispatcher.handled === 4, 10_000, "four updates handled");
    expect(started).toBe(2);
    expect(seen).toEqual({ alice: [1, 3], bob: [10, 10, 30] });
    expect(await stored(rt, alice.id)).toEqual({ count: 3, note: "alice" });
    expect(await stored(rt, bob.id)).toEqual({ count: 30, note: "bob" });
  });

  it("a try that timed out after writing the session commits nothing, even when it finishes later", async () => {
    const reads: Array<[number, number]> = [];
    let lateDone!: () => void;
    const late = new Promise<void>((r) => (lateDone = r));
    const { emulator, sim, rt } = await setup((bot) => {
      // Outermost: the first try has finished (late), its session written, before the retry reads.
      bot.use(async (ctx, next) => {
        await next();
        if (ctx.unlost.attempt === 1) lateDone();
      });
      bot.use(async (ctx, next) => {
        if (ctx.unlost.attempt === 2) await late;
        await next();
      });
      bot.use(unlostSession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", async (ctx) => {
        reads.push([ctx.unlost.attempt, ctx.session.count]);
        ctx.session.count++;
        if (ctx.unlost.attempt === 1) await sleep(500);
      });
    }, { inbox: { ...inbox, handlerTimeoutMs: 300 } });
    const alice = emulator.createUser();
    alice.sendText(sim, "slow");
    await until(async () => (await rt.stats()).dispatcher.handled === 1, 10_000, "the update handled");
    expect((await rt.stats()).dispatcher.timedOut).toBe(1);
    expect(reads).toEqual([[1, 0], [2, 0]]);
    expect(await stored(rt, alice.id)).toEqual({ count: 1 });
  });
});

describe("unlostSession", () => {
  it("is read and written outside handlers with unlostStorage: at once, durably; values come back byte for byte", async () => {
    const { emulator, sim, rt, store } = await setup((bot) => {
      bot.use(unlostSession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", (ctx) => {
        ctx.session.count++;
        // Text that looks like a secret (it is this bot's token): user data, stored as given.
        ctx.session.note = `token ${bot.token} 🦆`;
      });
    });
    const alice = emulator.createUser();
    const sessions = unlostStorage<Counter>(rt);
    await sessions.write(String(alice.id), { count: 41 });
    expect(await store.data.get(`session:${alice.id}`)).toBe('{"count":41}');
    alice.sendText(sim, "hi");
    await until(async () => (await rt.stats()).dispatcher.handled === 1, 10_000, "the update handled");
    expect(await sessions.read(String(alice.id))).toEqual({ count: 42, note: `token ${sim.token} 🦆` });
    expect(await store.data.get(`session:${alice.id}`)).toBe(JSON.stringify({ count: 42, note: `token ${sim.token} 🦆` }));
    const keys: string[] = [];
    for await (const key of sessions.readAllKeys()) keys.push(key);
    expect(keys).toEqual([String(alice.id)]);
    await sessions.delete(String(alice.id));
    expect(await sessions.has(String(alice.id))).toBe(false);
  });

  it("a lazy session (unlostLazySession) is committed the same way", async () => {
    const reads: number[] = [];
    const { emulator, sim, rt } = await setup<Context & UnlostFlavor & LazySessionFlavor<Counter>>((bot) => {
      bot.use(async (ctx, next) => {
        await next();
        if (ctx.message?.text === "fail once" && ctx.unlost.attempt === 1) throw new Error("failed after the session was written");
      });
      bot.use(unlostLazySession({ initial: (): Counter => ({ count: 0 }) }));
      bot.on("message:text", async (ctx) => {
        const s = await ctx.session;
        reads.push(s.count);
        s.count++;
      });
    });
    const alice = emulator.createUser();
    alice.sendText(sim, "one");
    alice.sendText(sim, "fail once");
    await until(async () => (await rt.stats()).dispatcher.handled === 2, 10_000, "two updates handled");
    expect(reads).toEqual([0, 1, 1]);
    expect(await stored(rt, alice.id)).toEqual({ count: 2 });
  });

  it("(control) grammY's session on a storage that writes at once counts the failed try too", async () => {
    const reads: number[] = [];
    const { emulator, sim, rt } = await setup((bot, store) => {
      bot.use(failAfterSessionWrite((ctx) => ctx.message?.text === "fail once" && ctx.unlost.attempt === 1));
      bot.use(session({ initial: (): Counter => ({ count: 0 }), prefix: "session:", storage: unlostStorage<Counter>(store, { prefix: "naive:" }) }));
      bot.on("message:text", (ctx) => {
        reads.push(ctx.session.count);
        ctx.session.count++;
      });
    });
    const alice = emulator.createUser();
    alice.sendText(sim, "fail once");
    await until(async () => (await rt.stats()).dispatcher.handled === 1, 10_000, "the update handled");
    expect(reads).toEqual([0, 1]);
    expect(await unlostStorage<Counter>(rt, { prefix: "naive:" }).read(`session:${alice.id}`)).toEqual({ count: 2 });
  });
});
