/**
 * The admin server of a runtime on the emulator: every endpoint over real HTTP, auth, metric
 * values that move with what the bot does, readiness that flips when the store fails or the
 * bot falls behind, and no secret in any answer.
 */
import { afterEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { until } from "../helpers/until.js";
import { ADMIN_TOKEN, breakableStore, get, sample, startWithAdmin, type AdminSetup } from "./helpers.js";

let setup: AdminSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const REQUIRED_METRICS = [
  "unlost_updates_received_total", "unlost_updates_handled_total", "unlost_updates_failed_total", "unlost_inbox_backlog",
  "unlost_inbox_oldest_age_seconds", "unlost_handler_duration_seconds", "unlost_update_lag_seconds", "unlost_outbox_jobs",
  "unlost_sends_total", "unlost_responses_429_total", "unlost_ambiguous_sends_total", "unlost_dead_letters", "unlost_poller_up",
];

describe("the admin server", () => {
  it("answers /healthz and /readyz without auth: alive, and ready while polling", async () => {
    setup = await startWithAdmin(() => undefined);
    expect(setup.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await get(`${setup.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get("content-type")).toMatch(/application\/json/);
    expect(JSON.parse(health.text)).toMatchObject({ alive: true });
    await until(async () => (await get(`${setup!.url}/readyz`)).status === 200, 5_000, "ready");
    const ready = JSON.parse((await get(`${setup.url}/readyz`)).text);
    expect(ready).toMatchObject({ ready: true, reasons: [], checks: { store: { ok: true }, updates: { ok: true, state: "polling" }, backlog: { ok: true, maxAgeSeconds: 300 } } });
  });

  it("serves every required metric and Node's process metrics on /metrics (Prometheus text, no auth by default)", async () => {
    setup = await startWithAdmin(() => undefined);
    const metrics = await get(`${setup.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.headers.get("cache-control")).toBe("no-store");
    for (const name of REQUIRED_METRICS) expect(metrics.text, name).toContain(`# TYPE ${name} `);
    expect(metrics.text).toContain("# TYPE unlost_handler_duration_seconds histogram");
    expect(metrics.text).toContain("process_cpu_user_seconds_total");
    expect(metrics.text).toContain("nodejs_eventloop_lag_seconds");
    expect(sample(metrics.text, "unlost_store_up")).toBe(1);
    expect(sample(metrics.text, "unlost_outbox_jobs", { state: "queued", priority: "high" })).toBe(0);
    expect(sample(metrics.text, "unlost_outbox_jobs", { state: "delivered", priority: "all" })).toBe(0);
    await until(async () => sample((await get(`${setup!.url}/metrics`)).text, "unlost_poller_up") === 1, 5_000, "poller up");
  });

  it("needs the token for everything else: 401 without or with a wrong one, 200 with it, 404 for unknown paths only once authorized", async () => {
    setup = await startWithAdmin(() => undefined);
    const none = await get(`${setup.url}/api/stats`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(none.headers.get("cache-control")).toBe("no-store");
    expect(JSON.parse(none.text)).toMatchObject({ error: "unauthorized" });
    expect((await get(`${setup.url}/api/stats`, "wrong-token-0123456789abcdef")).status).toBe(401);
    expect((await get(`${setup.url}/api/stats`, ADMIN_TOKEN.slice(0, -1))).status).toBe(401);
    expect((await get(`${setup.url}/nothing-here`)).status).toBe(401);
    expect((await get(`${setup.url}/nothing-here`, ADMIN_TOKEN)).status).toBe(404);
    const stats = await get(`${setup.url}/api/stats`, ADMIN_TOKEN);
    expect(stats.status).toBe(200);
    expect(stats.headers.get("cache-control")).toBe("no-store");
    expect(JSON.parse(stats.text)).toMatchObject({ store: { ok: true, inbox: { pending: 0 } }, runtime: { mode: "polling", counters: { handled: 0 } } });
  });

  it("without a token configured, protected endpoints answer 403 saying how to set one; probes and metrics still answer", async () => {
    const saved = process.env["UNLOST_ADMIN_TOKEN"];
    delete process.env["UNLOST_ADMIN_TOKEN"];
    try {
      setup = await startWithAdmin(() => undefined, { admin: { port: 0 } });
    } finally {
      if (saved !== undefined) process.env["UNLOST_ADMIN_TOKEN"] = saved;
    }
    const refused = await get(`${setup.url}/api/stats`, "any-token-at-all-0123456789");
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).message).toMatch(/set UNLOST_ADMIN_TOKEN/);
    expect((await get(`${setup.url}/healthz`)).status).toBe(200);
    expect((await get(`${setup.url}/metrics`)).status).toBe(200);
  });

  it("puts /metrics behind the token with publicMetrics: false", async () => {
    setup = await startWithAdmin(() => undefined, { admin: { port: 0, token: ADMIN_TOKEN, publicMetrics: false } });
    expect((await get(`${setup.url}/metrics`)).status).toBe(401);
    expect((await get(`${setup.url}/metrics`, ADMIN_TOKEN)).status).toBe(200);
    expect((await get(`${setup.url}/readyz`)).status).not.toBe(401);
  });

  it("counts a scenario: 20 updates → received, handled and both histograms grow by 20; a failing try counts as failed", async () => {
    let tries = 0;
    setup = await startWithAdmin((bot) => bot.on("message:text", (ctx) => {
      tries++;
      if (ctx.message.text === "fail once" && tries === 1) throw new Error("first try fails");
    }));
    const { emulator, sim, url } = setup;
    const before = (await get(`${url}/metrics`)).text;
    const users = Array.from({ length: 5 }, () => emulator.createUser());
    for (let i = 0; i < 20; i++) users[i % 5]!.sendText(sim, `m${i}`);
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_updates_handled_total") === 20, 10_000, "20 handled");
    const after = (await get(`${url}/metrics`)).text;
    expect(sample(after, "unlost_updates_received_total")! - sample(before, "unlost_updates_received_total")!).toBe(20);
    expect(sample(after, "unlost_updates_handled_total")! - sample(before, "unlost_updates_handled_total")!).toBe(20);
    expect(sample(after, "unlost_handler_duration_seconds_count")).toBe(20);
    expect(sample(after, "unlost_update_lag_seconds_count")).toBe(20);
    expect(sample(after, "unlost_update_lag_seconds_bucket", { le: "+Inf" })).toBe(20);
    expect(sample(after, "unlost_updates_failed_total")).toBe(0);
    expect(sample(after, "unlost_inbox_backlog")).toBe(0);
    expect(sample(after, "unlost_inbox_oldest_age_seconds")).toBe(0);

    tries = 0;
    users[0]!.sendText(sim, "fail once");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_updates_handled_total") === 21, 10_000, "the retried update handled");
    const failed = (await get(`${url}/metrics`)).text;
    expect(sample(failed, "unlost_updates_failed_total")).toBe(1);
    expect(sample(failed, "unlost_handler_duration_seconds_count")).toBe(22);
  });

  it("counts sends, and a 429 from Telegram in unlost_responses_429_total", async () => {
    setup = await startWithAdmin((bot) => bot.on("message:text", (ctx) => ctx.reply(`re: ${ctx.message.text}`)));
    const { emulator, sim, url } = setup;
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 1 }, methods: ["sendMessage"], times: 1 });
    const alice = emulator.createUser();
    alice.sendText(sim, "hi");
    await until(() => sim.record.to(alice.id).length === 1, 10_000, "the reply after the 429");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_sends_total", { result: "delivered" }) === 1, 5_000, "delivered counted");
    const text = (await get(`${url}/metrics`)).text;
    expect(sample(text, "unlost_responses_429_total")).toBe(1);
    expect(sample(text, "unlost_sends_total", { result: "failed" })).toBe(0);
    expect(sample(text, "unlost_send_requests_total")).toBe(2);
    expect(sample(text, "unlost_outbox_jobs", { state: "delivered", priority: "all" })).toBe(1);
    expect(sample(text, "unlost_dead_letters", { kind: "outbox" })).toBe(0);
  });

  it("turns not ready (503, with the reason) while the store fails, and ready again after; no secret in the answer", async () => {
    const breakable = breakableStore(await openStore({ path: ":memory:" }));
    setup = await startWithAdmin(() => undefined, {}, breakable.store);
    const { url, sim } = setup;
    await until(async () => (await get(`${url}/readyz`)).status === 200, 5_000, "ready");
    // A driver's error may quote anything, secrets included.
    breakable.fail(new Error(`disk I/O error near /bot${sim.token}/ with ${ADMIN_TOKEN}`));
    const down = await get(`${url}/readyz`);
    expect(down.status).toBe(503);
    const body = JSON.parse(down.text);
    expect(body.ready).toBe(false);
    expect(body.checks.store.ok).toBe(false);
    expect(body.reasons.join(" ")).toMatch(/the store failed: disk I\/O error/);
    expect(down.text).not.toContain(sim.token);
    expect(down.text).not.toContain(sim.token.split(":")[1]);
    expect(down.text).not.toContain(ADMIN_TOKEN);
    const metrics = (await get(`${url}/metrics`)).text;
    expect(sample(metrics, "unlost_store_up")).toBe(0);
    expect(sample(metrics, "unlost_inbox_backlog")).toBeUndefined();
    const stats = await get(`${url}/api/stats`, ADMIN_TOKEN);
    expect(stats.text).not.toContain(sim.token.split(":")[1]);
    expect(stats.text).not.toContain(ADMIN_TOKEN);
    breakable.fail(undefined);
    expect((await get(`${url}/readyz`)).status).toBe(200);
  });

  it("turns not ready when the oldest unfinished update waited longer than maxBacklogAgeMs", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    setup = await startWithAdmin((bot) => bot.on("message:text", () => held), { admin: { port: 0, token: ADMIN_TOKEN, maxBacklogAgeMs: 300 } });
    const { emulator, sim, url } = setup;
    await until(async () => (await get(`${url}/readyz`)).status === 200, 5_000, "ready");
    emulator.createUser().sendText(sim, "slow");
    await until(async () => (await get(`${url}/readyz`)).status === 503, 5_000, "not ready");
    const body = JSON.parse((await get(`${url}/readyz`)).text);
    expect(body.checks.backlog.ok).toBe(false);
    expect(body.reasons[0]).toMatch(/not keeping up/);
    expect(sample((await get(`${url}/metrics`)).text, "unlost_inbox_backlog")).toBe(1);
    release();
    await until(async () => (await get(`${url}/readyz`)).status === 200, 5_000, "ready again");
  });

  it("lists dead letters of the inbox (payload, error, stack) and of the outbox behind the token; bad queries get 400", async () => {
    setup = await startWithAdmin((bot) => bot.on("message:text", () => {
      throw new Error(`handler broke (token ${ADMIN_TOKEN})`);
    }), { inbox: { maxAttempts: 1, idleMs: 20, backoff: { baseMs: 10, maxMs: 50, jitter: 0 } } });
    const { emulator, sim, url, runtime } = setup;
    const alice = emulator.createUser();
    alice.sendText(sim, "poison");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_dead_letters", { kind: "inbox" }) === 1, 10_000, "an inbox dead letter");
    expect((await get(`${url}/api/dead-letters`)).status).toBe(401);
    const inbox = await get(`${url}/api/dead-letters?kind=inbox&chat=${alice.id}`, ADMIN_TOKEN);
    expect(inbox.status).toBe(200);
    const page = JSON.parse(inbox.text);
    expect(page).toMatchObject({ kind: "inbox", nextCursor: null, items: [{ chatKey: String(alice.id), updateType: "message", error: expect.stringMatching(/handler broke/) }] });
    expect(page.items[0].update.message.text).toBe("poison");
    expect(inbox.text).not.toContain(ADMIN_TOKEN);
    expect(JSON.parse((await get(`${url}/api/dead-letters?chat=1`, ADMIN_TOKEN)).text).items).toEqual([]);

    // A message to a chat that does not exist fails for good: an outbox dead letter.
    await runtime.outbox.sendText(424242, "to nobody");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_dead_letters", { kind: "outbox" }) === 1, 10_000, "an outbox dead letter");
    const outbox = JSON.parse((await get(`${url}/api/dead-letters?kind=outbox&chat=424242&limit=10`, ADMIN_TOKEN)).text);
    expect(outbox).toMatchObject({ kind: "outbox", items: [{ chatId: 424242, method: "sendMessage", state: "failed" }] });

    for (const query of ["kind=both", "limit=0", "limit=x", "kind=outbox&chat=not-a-chat"]) {
      const bad = await get(`${url}/api/dead-letters?${query}`, ADMIN_TOKEN);
      expect(bad.status, query).toBe(400);
      expect(JSON.parse(bad.text).error).toBe("bad_query");
    }
  });

  it("retries and purges dead letters with POST (token required; exactly one selector)", async () => {
    let failing = true;
    const handled: string[] = [];
    setup = await startWithAdmin((bot) => bot.on("message:text", (ctx) => {
      if (failing) throw new Error("not yet");
      handled.push(ctx.message.text);
    }), { inbox: { maxAttempts: 1, idleMs: 20, backoff: { baseMs: 10, maxMs: 50, jitter: 0 } } });
    const { emulator, sim, url, runtime } = setup;
    const post = async (path: string, body: unknown, token: string | null = ADMIN_TOKEN) => {
      const response = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) });
      return { status: response.status, body: JSON.parse(await response.text()) as Record<string, unknown> };
    };
    emulator.createUser().sendText(sim, "again");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_dead_letters", { kind: "inbox" }) === 1, 10_000, "a dead letter");
    const [letter] = JSON.parse((await get(`${url}/api/dead-letters`, ADMIN_TOKEN)).text).items as Array<{ updateId: number }>;

    expect((await post("/api/dead-letters/retry", { kind: "inbox", id: letter!.updateId }, null)).status).toBe(401);
    for (const bad of [{ kind: "inbox" }, { kind: "inbox", id: letter!.updateId, all: true }, { kind: "inbox", id: "x" }, { kind: "both", all: true }, "not json", { kind: "inbox", all: false }]) {
      const answer = await post("/api/dead-letters/purge", bad);
      expect(answer.status, JSON.stringify(bad)).toBe(400);
    }
    failing = false;
    expect((await post("/api/dead-letters/retry", { kind: "inbox", id: letter!.updateId })).body).toEqual({ kind: "inbox", action: "retry", count: 1 });
    await until(() => handled.includes("again"), 10_000, "the retried update handled");

    await runtime.outbox.sendText(424242, "to nobody");
    await until(async () => sample((await get(`${url}/metrics`)).text, "unlost_dead_letters", { kind: "outbox" }) === 1, 10_000, "an outbox dead letter");
    expect((await post("/api/dead-letters/purge", { kind: "outbox", chat: 424242 })).body).toEqual({ kind: "outbox", action: "purge", count: 1 });
    expect(sample((await get(`${url}/metrics`)).text, "unlost_dead_letters", { kind: "outbox" })).toBe(0);
  });

  it("closes with runtime.stop(): the port no longer answers", async () => {
    setup = await startWithAdmin(() => undefined);
    const { url } = setup;
    expect((await get(`${url}/healthz`)).status).toBe(200);
    await setup.runtime.stop();
    expect(setup.runtime.adminUrl).toBeUndefined();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("in webhook mode (webhookCallback): ready as 'webhook', no poller metric", async () => {
    setup = await startWithAdmin(() => undefined, { mode: "webhook", webhook: { url: "https://bot.example.com/telegram", listen: false, register: false } });
    const ready = JSON.parse((await get(`${setup.url}/readyz`)).text);
    expect(ready).toMatchObject({ ready: true, checks: { updates: { state: "webhook" } } });
    expect((await get(`${setup.url}/metrics`)).text).not.toContain("unlost_poller_up");
  });

  it("never answers a secret: every endpoint, with and without auth, healthy and with a store error quoting the token and the webhook secret", async () => {
    const WEBHOOK_SECRET = "webhook-secret-0123456789";
    const breakable = breakableStore(await openStore({ path: ":memory:" }));
    setup = await startWithAdmin(() => undefined, { mode: "webhook", webhook: { url: "https://bot.example.com/telegram", listen: false, register: false, secretToken: WEBHOOK_SECRET } }, breakable.store);
    const { url, sim } = setup;
    const secrets = [sim.token, sim.token.split(":")[1] as string, WEBHOOK_SECRET, ADMIN_TOKEN];
    const paths = ["/", "/login", "/healthz", "/readyz", "/metrics", "/api/stats", "/api/dead-letters", "/api/dead-letters?kind=outbox", "/nothing-here"];
    const bodies: string[] = [];
    for (const failing of [false, true]) {
      breakable.fail(failing ? new Error(`cannot reach https://api.telegram.org/bot${sim.token}/getMe, secret ${WEBHOOK_SECRET}, admin ${ADMIN_TOKEN}`) : undefined);
      for (const path of paths) {
        for (const token of [undefined, "wrong-token-0123456789abcdef", ADMIN_TOKEN]) {
          const answer = await get(`${url}${path}`, token);
          bodies.push(`${answer.status} ${[...answer.headers].join(" ")} ${answer.text}`);
        }
      }
    }
    expect(bodies.some((b) => b.includes("cannot reach https://api.telegram.org/bot"))).toBe(true);
    for (const body of bodies) for (const secret of secrets) expect(body).not.toContain(secret);
  });

  it("refuses bad admin options with INVALID_CONFIG before anything starts", async () => {
    for (const admin of [{ port: 70_000 }, { port: 0, token: "short" }, { port: 0, host: "" }, { port: 0, extra: true }]) {
      await expect(startWithAdmin(() => undefined, { admin: admin as never })).rejects.toSatisfy((e: unknown) => isUnlostError(e, "INVALID_CONFIG"));
    }
  });

  it("fails start with a clear error when the port is taken", async () => {
    setup = await startWithAdmin(() => undefined);
    const port = Number(new URL(setup.url).port);
    await expect(startWithAdmin(() => undefined, { admin: { port, token: ADMIN_TOKEN } })).rejects.toThrow(/The admin server cannot listen on 127\.0\.0\.1:\d+/);
  });
});
