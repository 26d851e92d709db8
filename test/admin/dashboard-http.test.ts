/**
 * The dashboard's pages, actions and JSON API over HTTP, on a store served without a bot (as
 * `unlost dashboard` does): every endpoint needs the token (pages send a browser to the login
 * form), every action needs the session's CSRF token with a cookie, nothing answers a secret,
 * and users' text is escaped wherever it is shown.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAdminApp, type AdminApp } from "../../src/admin/server.js";
import { adminOptionsSchema } from "../../src/admin/options.js";
import { Scrubber } from "../../src/errors/index.js";
import { silentLogger } from "../../src/runtime/logger.js";
import { openStore, type Store } from "../../src/store/index.js";
import { newJob } from "../contract/outbox-contract.js";

const BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const WEBHOOK_SECRET = "webhook-secret-xyz-0123456789";
const ADMIN = "dashboard-http-token-0123456789";
const XSS = '<script>alert("x")</script>';
const BOT_ID = 4242;

let store: Store;
let admin: AdminApp;
let deadIds: number[];

/** A request to the app; `auth`: bearer, a session cookie (with or without CSRF), or nothing. */
async function call(path: string, init: { method?: string; bearer?: boolean; cookie?: string; form?: Record<string, string | string[]>; json?: unknown } = {}): Promise<{ status: number; text: string; location: string | null }> {
  const headers: Record<string, string> = {};
  if (init.bearer === true) headers["authorization"] = `Bearer ${ADMIN}`;
  if (init.cookie !== undefined) headers["cookie"] = init.cookie;
  let body: string | undefined;
  if (init.form !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(init.form)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    body = params.toString();
  } else if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const response = await admin.app.request(path, { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, ...(body === undefined ? {} : { body }) });
  return { status: response.status, text: await response.text(), location: response.headers.get("location") };
}

/** Logs in through the form: the session cookie and its CSRF token. */
async function login(): Promise<{ cookie: string; csrf: string }> {
  const response = await admin.app.request("/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${ADMIN}` });
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const page = await call("/inbox", { cookie });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] as string;
  expect(csrf).toMatch(/^[\w-]{40,}$/);
  return { cookie, csrf };
}

function expectNoSecret(text: string): void {
  for (const secret of [BOT_TOKEN, BOT_TOKEN.split(":")[1] as string, WEBHOOK_SECRET, ADMIN]) expect(text).not.toContain(secret);
}

beforeEach(async () => {
  store = await openStore({ path: ":memory:" });
  await store.state.bindBot(BOT_ID);
  const now = Date.now();
  // Two dead letters: one whose text is markup, one whose text quotes the secrets (payloads are stored as sent).
  await store.inbox.ingest([
    { update_id: 10, message: { message_id: 1, date: Math.floor(now / 1000), chat: { id: 77, type: "private" }, from: { id: 77 }, text: XSS } },
    { update_id: 11, message: { message_id: 2, date: Math.floor(now / 1000), chat: { id: 78, type: "private" }, from: { id: 78 }, text: `token ${BOT_TOKEN} secret ${WEBHOOK_SECRET}` } },
    { update_id: 12, message: { message_id: 3, date: Math.floor(now / 1000), chat: { id: 79, type: "private" }, from: { id: 79 }, text: "waiting" } },
  ], { now: now - 5_000 });
  for (const chat of [77, 78]) {
    const [got] = await store.inbox.claim({ owner: "w", leaseMs: 10_000, limit: 1, now: now - 4_000 });
    void chat;
    await store.inbox.settle(got!.claim, { kind: "dead", error: `handler threw <img src=x onerror=alert(1)> with ${WEBHOOK_SECRET}`, stack: "Error\n    at handler (bot.ts:3:9)" }, { now: now - 3_000 });
  }
  deadIds = [10, 11];
  await store.outbox.enqueue([
    newJob("job-ok", 77, { idempotencyKey: `${BOT_ID}:10:0:sendMessage`, notBefore: now }),
    newJob("job-bad", 78, { notBefore: now, payload: JSON.stringify({ chat_id: 78, text: XSS }) }),
    ...[1, 2, 3].map((i) => newJob(`bc-${i}`, 100 + i, { broadcastId: "news", priority: "low", notBefore: now })),
  ], { now });
  const claimed = await store.outbox.claim({ owner: "loop", leaseMs: 10_000, limit: 2, now }); // the two normal ones, before the low broadcast
  for (const job of claimed.filter((j) => j.id === "job-ok" || j.id === "job-bad")) {
    await store.outbox.settle(job.claim, job.id === "job-ok" ? { kind: "delivered", result: '{"message_id":5}', messageId: 5 } : { kind: "failed", reason: "permanent", error: `Bad Request: chat not found <b>x</b>`, code: 400 }, { now });
  }
  await store.outbox.markUnreachable(55, "Forbidden: bot was blocked by the user", now);
  admin = createAdminApp({
    source: { store: () => store, clock: Date.now, scrub: new Scrubber([BOT_TOKEN, WEBHOOK_SECRET, ADMIN]).scrub },
    options: adminOptionsSchema.parse({ port: 0 }), token: ADMIN, logger: silentLogger(),
  });
});

afterEach(async () => {
  await store.close();
});

const PAGES = ["/", "/inbox", "/inbox?error=img", "/outbox", "/outbox?state=failed&priority=normal&chat=78", "/outbox?broadcast=news", "/outbox/jobs/job-bad", "/broadcasts", "/trace", "/trace?update=10", "/trace?chat=77", "/trace?user=78", "/search?q=77", "/search?q=10"];
const API = ["/api/samples", "/api/jobs", "/api/jobs?state=failed", "/api/jobs/job-bad", "/api/broadcasts", "/api/updates?state=dead", "/api/trace?update=10", "/api/trace?chat=78"];

describe("the dashboard over HTTP", () => {
  it("sends a browser without a session to the login form, and refuses the API without the token", async () => {
    for (const path of PAGES) {
      const r = await call(path);
      expect([r.status, r.location], path).toEqual([303, "/login"]);
    }
    for (const path of API) expect((await call(path)).status, path).toBe(401);
    for (const path of API) expect((await call(path, { cookie: "unlost_admin=forged-session-id" })).status, path).toBe(401);
  });

  it("answers every page and API call with the token, with no secret in any answer and users' text escaped", async () => {
    for (const path of [...PAGES, ...API]) {
      const r = await call(path, { bearer: true });
      expect(r.status, path).toBe(200);
      expectNoSecret(r.text);
      // JSON is not markup (its content type says so, and nosniff holds browsers to it); pages escape.
      if (!path.startsWith("/api/")) {
        expect(r.text, path).not.toContain("<script>");
        expect(r.text, path).not.toContain("<img src=x");
      }
    }
    const inbox = (await call("/inbox", { bearer: true })).text;
    expect(inbox).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(inbox).toContain("&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;"); // the update's JSON, escaped
    expect(inbox).toContain("at handler (bot.ts:3:9)");
    expect((await call("/outbox/jobs/job-bad", { bearer: true })).text).toContain("&lt;script&gt;");
    const trace = JSON.parse((await call("/api/trace?update=10", { bearer: true })).text);
    expect(trace).toMatchObject({ updateId: 10, state: "dead", problem: true, sends: [{ jobId: "job-ok", state: "delivered" }] });
    expect(trace.verdict).toMatch(/dead letter/);
    expect(JSON.parse((await call("/api/broadcasts", { bearer: true })).text).items).toEqual([expect.objectContaining({ broadcastId: "news", total: 3, remaining: 3 })]);
    expect((await call("/outbox/jobs/no-such-job", { bearer: true })).status).toBe(404);
    expect((await call("/api/jobs/no-such-job", { bearer: true })).status).toBe(404);
  });

  it("tells how an update arrived, and the story of one completed on the polling fast path", async () => {
    const now = Date.now();
    const journal = store.inbox.journal!;
    const update = { update_id: 40, message: { message_id: 40, date: Math.floor((now - 3_000) / 1000), chat: { id: 90, type: "private" }, from: { id: 90 }, text: "fast" } };
    const { batch } = await journal.append([update], { owner: "bot-1", nextOffset: 41, now: now - 2_000 });
    await journal.complete({ owner: "bot-1", done: [{ batch, updateId: 40 }], closed: [batch], now: now - 1_900 });
    const api = JSON.parse((await call("/api/trace?update=40", { bearer: true })).text);
    expect(api).toMatchObject({ updateId: 40, found: true, state: "done", via: "poll", pollOffset: 41, journalBatch: batch, chatKey: "90", payload: JSON.stringify(update) });
    expect(api.events.map((e: { kind: string }) => e.kind)).toEqual(["sent-by-user", "stored", "try", "completed"]);
    const page = (await call("/trace?update=40", { bearer: true })).text;
    expect(page).toContain(`Arrived by long polling, in the batch that moved the offset to 41, journal batch ${batch} (the fast path).`);
    expect(page).toContain(`received from Telegram in poll batch ${batch} (it moved the offset to 41) and stored in the journal of bot-1`);
    expect(page).toContain("completed on the fast path 100 ms after it arrived");
    expect(page).toContain("&quot;fast&quot;"); // its payload, from the batch
    // Update 10 was stored without a polling offset: a webhook delivery.
    expect(JSON.parse((await call("/api/trace?update=10", { bearer: true })).text)).toMatchObject({ via: "webhook", pollOffset: null, journalBatch: null });
    expect((await call("/trace?update=10", { bearer: true })).text).toContain("Arrived by webhook.");
  });

  it("shows who holds the poller lease on the overview, and when nobody does", async () => {
    expect((await call("/", { bearer: true })).text).toContain("Poller: no instance has polled this store yet");
    const now = Date.now();
    await store.leases.acquire("poller", "host-b/9", 1_000, { now: now - 60_000 });
    expect((await call("/", { bearer: true })).text).toMatch(/class="bad">Poller: nobody holds the poller lease: it lapsed 59 s ago \(last holder host-b\/9\)/);
    await store.leases.acquire("poller", "host-a/123/<b>", 30_000, { now });
    expect((await call("/", { bearer: true })).text).toMatch(/Poller: <b>host-a\/123\/&lt;b&gt;<\/b> holds the poller lease \(renewed, valid for \d+ s\)/);
  });

  it("answers 400 with what was wrong for malformed queries", async () => {
    for (const path of ["/api/trace", "/api/trace?update=abc", "/api/jobs?state=lost", "/api/jobs?limit=0", "/api/updates?state=nope"]) {
      const r = await call(path, { bearer: true });
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.text).error).toBe("bad_query");
    }
    expect((await call("/trace?update=abc", { bearer: true })).text).toContain("an update id is a whole number");
  });

  it("refuses every action made with the session cookie but without its CSRF token, and with another token", async () => {
    const { cookie } = await login();
    const actions = ["/inbox/retry", "/inbox/purge", "/outbox/retry", "/outbox/purge", "/outbox/unreachable/clear", "/broadcasts/news/pause", "/broadcasts/news/resume", "/broadcasts/news/cancel"];
    for (const path of actions) {
      for (const form of [{ all: "1", chat: "55" }, { all: "1", chat: "55", _csrf: "x".repeat(43) }] as Record<string, string>[]) {
        const r = await call(path, { cookie, form });
        expect(r.status, path).toBe(403);
        expect(JSON.parse(r.text).error).toBe("csrf");
      }
      expect((await call(path, { form: { all: "1" } })).status, path).toBe(401);
    }
    expect((await store.inbox.deadLetters.list()).items).toHaveLength(2);
    expect(await store.outbox.broadcastProgress("news")).toMatchObject({ paused: false, remaining: 3 });
  });

  it("retries the selected inbox dead letters from the form and goes back with the result; purges by error", async () => {
    const { cookie, csrf } = await login();
    // A dead update's trace offers its retry, with the session's CSRF token.
    const trace = (await call("/trace?update=10", { cookie })).text;
    expect(trace).toMatch(new RegExp(`<form class="inline" method="post" action="/inbox/retry"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="/trace\\?update=10"><input type="hidden" name="id" value="10"><button`));
    const r = await call("/inbox/retry", { cookie, form: { _csrf: csrf, back: "/inbox", id: deadIds.map(String) } });
    expect(r.status).toBe(303);
    expect(r.location).toBe("/inbox?done=Retried+2+inbox+dead+letters.");
    expect((await store.inbox.get(10))?.state).toBe("pending");
    const page = await call(r.location ?? "", { cookie });
    expect(page.text).toContain('<p class="notice" role="status">Retried 2 inbox dead letters.</p>');

    // Dead again, then purged by a part of their error.
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      const got = await store.inbox.claim({ owner: "w", leaseMs: 10_000, limit: 5, now: now + i });
      for (const g of got) await store.inbox.settle(g.claim, g.updateId === 12 ? { kind: "done" } : { kind: "dead", error: "timeout talking to the API" }, { now: now + i });
    }
    const purge = await call("/inbox/purge", { cookie, form: { _csrf: csrf, back: "/inbox", error: "timeout" } });
    expect(purge.location).toBe("/inbox?done=Purged+2+inbox+dead+letters.");
    expect((await store.inbox.deadLetters.list()).items).toEqual([]);
    expect(await store.inspect.attempts(10)).toEqual([]);
  });

  it("retries and purges outbox dead letters, clears an unreachable chat, by form and by JSON with the bearer token", async () => {
    const { cookie, csrf } = await login();
    expect((await call("/outbox/retry", { cookie, form: { _csrf: csrf, back: "/outbox", id: "job-bad" } })).location).toBe("/outbox?done=Retried+1+outbox+dead+letter.");
    expect((await store.outbox.get("job-bad"))?.state).toBe("queued");
    const json = await call("/outbox/purge", { bearer: true, json: { ids: ["job-ok"] } });
    expect(JSON.parse(json.text)).toEqual({ kind: "outbox", action: "purge", count: 0 }); // delivered, not a dead letter
    const bad = await call("/outbox/retry", { bearer: true, json: { kind: "outbox" } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).message).toMatch(/exactly one of/);
    expect((await call("/outbox/unreachable/clear", { cookie, form: { _csrf: csrf, back: "/outbox", chat: "55" } })).location).toBe("/outbox?done=Chat+55+is+no+longer+marked+unreachable.");
    expect(await store.outbox.isUnreachable(55)).toBeNull();
  });

  it("pauses, resumes and cancels a broadcast; never redirects to another site", async () => {
    const { cookie, csrf } = await login();
    const act = (action: string, back = "/broadcasts") => call(`/broadcasts/news/${action}`, { cookie, form: { _csrf: csrf, back } });
    expect((await act("pause")).location).toBe("/broadcasts?done=Broadcast+news+paused.");
    expect(await store.outbox.broadcastProgress("news")).toMatchObject({ paused: true });
    expect((await call("/broadcasts", { cookie })).text).toContain('<span class="pill bad">paused</span>');
    expect((await act("resume", "//evil.example/steal")).location).toBe("/?done=Broadcast+news+resumed.");
    expect(await store.outbox.broadcastProgress("news")).toMatchObject({ paused: false });
    expect((await act("cancel", "https://evil.example/")).location).toBe("/?done=Broadcast+news%3A+cancelled+3+queued+messages.");
    expect(await store.outbox.broadcastProgress("news")).toMatchObject({ cancelled: 3, remaining: 0 });
    const unknown = await call("/broadcasts/nope/pause", { bearer: true, json: {} });
    expect(unknown.status).toBe(404);
  });
});
