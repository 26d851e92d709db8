/**
 * `unlost trace` as a user runs it, on SQLite (--data) and on PostgreSQL (--store), and
 * `unlost dashboard --store postgres://…`: "why did this user get no reply?" from the store a
 * bot left behind, with the bot not running.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/index.js";
import { baseEnv, cli, startCli } from "../cli/fixtures/cli-process.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { newJob } from "../contract/outbox-contract.js";
import { get } from "./helpers.js";

const BOT_ID = 777;
const text5 = (run: { code: number | null; stdout: string; stderr: string }): string => {
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
};
const ADMIN = "trace-dashboard-token-0123456789";
const db = usePgDatabase();
let cwd: string;

/**
 * What a bot left: update 5 (chat 7) failed once, then was handled and replied (a job under its
 * key, delivered on the second attempt after a 429); update 6 (chat 7) is a dead letter; user 8's
 * private chat is marked unreachable.
 */
async function leaveScenario(store: Store): Promise<void> {
  const t = Date.now() - 60_000;
  await store.state.bindBot(BOT_ID);
  const msg = (id: number, chat: number, text: string) => ({ update_id: id, message: { message_id: id, date: Math.floor(t / 1000), chat: { id: chat, type: "private" as const }, from: { id: chat }, text } });
  await store.inbox.ingest([msg(5, 7, "weather?"), msg(6, 7, "crash me")], { now: t });
  let [first] = await store.inbox.claim({ owner: "bot-1", leaseMs: 30_000, limit: 1, now: t + 10 });
  await store.inbox.settle(first!.claim, { kind: "retry", at: t + 100, error: "Error: weather service timed out" }, { now: t + 40 });
  [first] = await store.inbox.claim({ owner: "bot-1", leaseMs: 30_000, limit: 1, now: t + 100 });
  await store.outbox.enqueue([newJob("reply-5", 7, { idempotencyKey: `${BOT_ID}:5:0:sendMessage`, notBefore: t + 120 })], { now: t + 120 });
  await store.inbox.settle(first!.claim, { kind: "done" }, { now: t + 130 });
  let [job] = await store.outbox.claim({ owner: "loop", leaseMs: 10_000, limit: 1, now: t + 150 });
  await store.outbox.settle(job!.claim, { kind: "retry", at: t + 1_200, error: "Too Many Requests: retry after 1", code: 429, ambiguous: false, answer: { description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } } }, { now: t + 200 });
  [job] = await store.outbox.claim({ owner: "loop", leaseMs: 10_000, limit: 1, now: t + 1_200 });
  await store.outbox.settle(job!.claim, { kind: "delivered", result: '{"message_id":99}', messageId: 99 }, { now: t + 1_250 });
  for (let i = 0; i < 2; i++) {
    const [again] = await store.inbox.claim({ owner: "bot-1", leaseMs: 30_000, limit: 1, now: t + 2_000 + i * 100 });
    await store.inbox.settle(again!.claim, i === 0 ? { kind: "retry", at: t + 2_100, error: "TypeError: x is undefined" } : { kind: "dead", error: "TypeError: x is undefined", stack: "TypeError: x is undefined\n    at bot.ts:9" }, { now: t + 2_050 + i * 100 });
  }
  // Update 20 (chat 21): polled, handled on the journal's fast path, replied; its batch closed.
  const { batch } = await store.inbox.journal!.append([msg(20, 21, "hello")], { owner: "bot-1", nextOffset: 21, now: t + 3_000 });
  await store.outbox.enqueue([newJob("reply-20", 21, { idempotencyKey: `${BOT_ID}:20:0:sendMessage`, notBefore: t + 3_010 })], { now: t + 3_010 });
  await store.inbox.journal!.complete({ owner: "bot-1", done: [{ batch, updateId: 20 }], closed: [batch], now: t + 3_020 });
  [job] = await store.outbox.claim({ owner: "loop", leaseMs: 10_000, limit: 1, now: t + 3_030 });
  await store.outbox.settle(job!.claim, { kind: "delivered", result: '{"message_id":120}', messageId: 120 }, { now: t + 3_040 });
  await store.outbox.rememberUser(8, 8, t);
  await store.outbox.markUnreachable(8, "Forbidden: bot was blocked by the user", t);
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), "unlost-trace-"));
  const sqlite = await openStore({ path: join(cwd, "data", "unlost.sqlite") });
  await leaveScenario(sqlite);
  await sqlite.close();
  const pg = await openStore({ url: db.url() });
  await leaveScenario(pg);
  await pg.close();
});

afterAll(() => {
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

describe("unlost trace", () => {
  for (const backend of ["sqlite", "postgres"] as const) {
    const where = (): string[] => (backend === "sqlite" ? ["--data", join(cwd, "data")] : ["--store", db.url()]);

    it(`tells an update's story on ${backend}: the failed try, the completing one, the send with Telegram's 429 and its delivery`, async () => {
      const run = await cli(["trace", "5", ...where()], { cwd, env: baseEnv() });
      expect(run.code, run.stderr).toBe(0);
      const text = run.stdout;
      expect(text).toMatch(/^update 5 \(message, chat 7\): done$/m);
      expect(text).toMatch(/✓ replied: 1 send delivered/);
      expect(text).toMatch(/handler try 1 on bot-1: failed after 30 ms, will retry: Error: weather service timed out/);
      expect(text).toMatch(/handler try 2 on bot-1: completed in 30 ms/);
      expect(text).toMatch(/send attempt 1: failed \(429\), will retry: Too Many Requests: retry after 1 \(retry after 1 s\)$/m);
      expect(text).toMatch(/send attempt 2: delivered/);
      expect(text).toMatch(/delivered as message 99/);
      // In time order.
      const order = ["received from Telegram", "try 1", "try 2", "stored in the outbox", "send attempt 1", "send attempt 2", "completed"].map((s) => text.indexOf(s));
      expect(order.every((at) => at > 0)).toBe(true);
    });

    it(`says why there was no reply on ${backend}: a dead letter, as JSON too; a chat's and a user's timeline`, async () => {
      const dead = await cli(["trace", "6", "--json", ...where()], { cwd, env: baseEnv() });
      expect(dead.code, dead.stderr).toBe(0);
      const trace = JSON.parse(dead.stdout);
      expect(trace).toMatchObject({ updateId: 6, found: true, state: "dead", problem: true, sends: [] });
      expect(trace.verdict).toMatch(/^no reply: the handler failed 2 times and the update is a dead letter \(TypeError: x is undefined\)/);
      expect(trace.events.filter((e: { kind: string }) => e.kind === "try")).toHaveLength(2);

      const chat = await cli(["trace", "--chat", "7", ...where()], { cwd, env: baseEnv() });
      expect(chat.code, chat.stderr).toBe(0);
      expect(chat.stdout).toMatch(/^chat 7$/m);
      expect(chat.stdout).toMatch(/1 of its last 2 updates got no reply \(yet\): newest — update 6/);
      expect(chat.stdout.indexOf("update 6")).toBeLessThan(chat.stdout.indexOf("update 5 "));

      const user = await cli(["trace", "--user", "8", "--json", ...where()], { cwd, env: baseEnv() });
      expect(user.code, user.stderr).toBe(0);
      expect(JSON.parse(user.stdout)).toMatchObject({ chatId: "8", userId: 8, unreachable: { reason: "Forbidden: bot was blocked by the user" } });

      // A webhook delivery says so.
      expect(text5(await cli(["trace", "5", ...where()], { cwd, env: baseEnv() }))).toMatch(/received from Telegram by webhook and stored in the inbox/);

      const missing = await cli(["trace", "424242", ...where()], { cwd, env: baseEnv() });
      expect(missing.stdout).toMatch(/update 424242: no inbox record/);
    });
  }

  for (const backend of ["sqlite", "postgres"] as const) {
    it(`tells the story of an update completed on the polling fast path on ${backend}, after its batch closed`, async () => {
      const where = backend === "sqlite" ? ["--data", join(cwd, "data")] : ["--store", db.url()];
      const run = await cli(["trace", "20", ...where], { cwd, env: baseEnv() });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^update 20 \(message, chat 21\): done$/m);
      expect(run.stdout).toMatch(/✓ replied: 1 send delivered/);
      expect(run.stdout).toMatch(/received from Telegram in poll batch \d+ \(it moved the offset to 21\) and stored in the journal of bot-1 \(the polling fast path\)/);
      expect(run.stdout).toMatch(/handler try 1 on bot-1: completed \(the fast path records no start or duration\)/);
      expect(run.stdout).toMatch(/completed on the fast path 20 ms after it arrived/);
      expect(run.stdout).toMatch(/delivered as message 120/);
      const json = JSON.parse((await cli(["trace", "20", "--json", ...where], { cwd, env: baseEnv() })).stdout);
      expect(json).toMatchObject({ via: "poll", pollOffset: 21, state: "done", chatKey: "21" });
      expect(JSON.parse(json.payload)).toMatchObject({ update_id: 20, message: { text: "hello" } });
      // The chat's trace finds it through its send.
      const chat = await cli(["trace", "--chat", "21", ...where], { cwd, env: baseEnv() });
      expect(chat.stdout).toMatch(/update 20 \(message, chat 21\): done/);
      expect(chat.stdout).toMatch(/its last update was answered/);
    });
  }

  it("refuses malformed input with exit 2 and what to do", async () => {
    for (const args of [["trace"], ["trace", "abc"], ["trace", "5", "--chat", "7"], ["trace", "--chat", "seven"], ["trace", "--user", "-3"]]) {
      const run = await cli([...args, "--data", join(cwd, "data")], { cwd, env: baseEnv() });
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr).toMatch(/update id|--chat|--user/);
    }
    const help = await cli(["trace", "--help"], { cwd, env: baseEnv() });
    expect(help.stdout).toMatch(/Why did this user get no reply/);
  });
});

describe("unlost dashboard --store postgres://", () => {
  it("serves the PostgreSQL store's pages, API and metrics without the bot", async () => {
    const dash = startCli(["dashboard", "--port", "0", "--store", db.url()], { cwd, env: baseEnv({ UNLOST_ADMIN_TOKEN: ADMIN }) });
    try {
      await dash.waitFor(/at http:\/\/127\.0\.0\.1:\d+/);
      const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(dash.output())?.[1] as string;
      expect(dash.output()).toMatch(/serving postgres:/);
      const inbox = await get(`${url}/inbox`, ADMIN);
      expect(inbox.status).toBe(200);
      expect(inbox.text).toContain("TypeError: x is undefined");
      const trace = JSON.parse((await get(`${url}/api/trace?update=5`, ADMIN)).text);
      expect(trace.verdict).toMatch(/^replied/);
      expect((await get(`${url}/metrics`)).text).toMatch(/^unlost_dead_letters\{kind="inbox"\} 1$/m);
    } finally {
      dash.child.kill("SIGTERM");
      expect(await dash.exited).toBe(0);
    }
  });
});
