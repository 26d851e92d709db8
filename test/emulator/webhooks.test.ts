import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Update, WebhookInfo } from "grammy/types";
import { afterEach, describe, expect, it } from "vitest";
import { sleep, startHarness, type Harness } from "./harness.js";

/** A webhook receiver whose behaviour each test scripts. */
interface Receiver {
  url: string;
  received: Array<{ update: Update; at: number; secret: string | undefined }>;
  close(): Promise<void>;
}

type Behaviour = (update: Update, attempt: number, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

async function startReceiver(behaviour: Behaviour): Promise<Receiver> {
  const received: Receiver["received"] = [];
  const attempts = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const update = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Update;
      const attempt = (attempts.get(update.update_id) ?? 0) + 1;
      attempts.set(update.update_id, attempt);
      const secret = req.headers["x-telegram-bot-api-secret-token"];
      received.push({ update, at: Date.now(), secret: typeof secret === "string" ? secret : undefined });
      void behaviour(update, attempt, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const ok200: Behaviour = (_u, _a, _req, res) => { res.writeHead(200).end(); };

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

let h: Harness;
let receiver: Receiver | undefined;
afterEach(async () => {
  await h.close();
  await receiver?.close();
  receiver = undefined;
  expect(h.emulator.internalErrors).toEqual([]);
});

describe("setWebhook", () => {
  it("validates secret_token as Telegram does: 1-256 characters of A-Z a-z 0-9 _ -", async () => {
    h = await startHarness();
    const url = "http://127.0.0.1:9/hook";
    expect((await h.call("setWebhook", { url, secret_token: "has space" })).body.description).toBe(
      "Bad Request: secret token contains unallowed characters",
    );
    expect((await h.call("setWebhook", { url, secret_token: "x".repeat(257) })).body.description).toBe("Bad Request: secret token is too long");
    expect(await h.ok("setWebhook", { url, secret_token: `Ab9_-${"x".repeat(251)}` })).toBe(true);
  });

  it("rejects a bad URL, and (when strict) non-https URLs and ports other than 443, 80, 88, 8443", async () => {
    h = await startHarness({ strictWebhookPorts: true, requireHttpsWebhook: true });
    expect((await h.call("setWebhook", { url: "not a url" })).status).toBe(400);
    expect((await h.call("setWebhook", { url: "http://example.com/hook" })).body.description).toBe(
      "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    );
    expect((await h.call("setWebhook", { url: "https://example.com:9999/hook" })).body.description).toBe(
      "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
    );
    expect(await h.ok("setWebhook", { url: "https://example.com:8443/hook" })).toBe(true);
  });

  it("reports url, max_connections (clamped to 1-100), allowed_updates and pending count in getWebhookInfo; deleteWebhook clears it", async () => {
    h = await startHarness();
    await h.ok("setWebhook", { url: "http://127.0.0.1:9/hook", max_connections: 1000, allowed_updates: ["message"] });
    h.emulator.createUser().sendText(h.bot, "pending");
    const info = await h.ok<WebhookInfo>("getWebhookInfo");
    expect(info).toMatchObject({ url: "http://127.0.0.1:9/hook", max_connections: 100, allowed_updates: ["message"], pending_update_count: 1 });
    expect(await h.ok("deleteWebhook")).toBe(true);
    expect(await h.ok<WebhookInfo>("getWebhookInfo")).toMatchObject({ url: "", pending_update_count: 1 });
    // The pending update survived the switch back to polling.
    expect(await h.ok<Update[]>("getUpdates")).toHaveLength(1);
  });

  it("drops pending updates only when drop_pending_updates is passed", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "kept");
    await h.ok("setWebhook", { url: "http://127.0.0.1:9/hook" });
    await h.ok("deleteWebhook");
    expect(h.bot.updates.count()).toBe(1);
    await h.ok("deleteWebhook", { drop_pending_updates: true });
    expect(h.bot.updates.count()).toBe(0);
    alice.sendText(h.bot, "dropped by setWebhook");
    await h.ok("setWebhook", { url: "http://127.0.0.1:9/hook", drop_pending_updates: true });
    expect(h.bot.updates.count()).toBe(0);
  });
});

describe("webhook delivery", () => {
  it("posts each update as JSON with the X-Telegram-Bot-Api-Secret-Token header and forgets it on 2xx", async () => {
    h = await startHarness();
    receiver = await startReceiver(ok200);
    await h.ok("setWebhook", { url: receiver.url, secret_token: "s3cret_T0ken" });
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "hello");
    await until(() => receiver!.received.length === 1 && h.bot.updates.count() === 0);
    expect(receiver.received[0]).toMatchObject({ secret: "s3cret_T0ken", update: { message: { text: "hello" } } });
  });

  it("sends a chat's updates one at a time in order, and different chats in parallel", async () => {
    h = await startHarness();
    const inFlight = new Map<number, number>();
    let maxPerChat = 0;
    let maxTotal = 0;
    let total = 0;
    receiver = await startReceiver(async (update, _a, _req, res) => {
      const chat = update.message!.chat.id;
      inFlight.set(chat, (inFlight.get(chat) ?? 0) + 1);
      total++;
      maxPerChat = Math.max(maxPerChat, inFlight.get(chat)!);
      maxTotal = Math.max(maxTotal, total);
      await sleep(30);
      inFlight.set(chat, inFlight.get(chat)! - 1);
      total--;
      res.writeHead(200).end();
    });
    const users = [h.emulator.createUser(), h.emulator.createUser(), h.emulator.createUser()];
    for (let i = 0; i < 5; i++) for (const u of users) u.sendText(h.bot, `${u.id}:${i}`);
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length === 15);
    expect(maxPerChat).toBe(1);
    expect(maxTotal).toBeGreaterThan(1);
    for (const u of users) {
      const texts = receiver.received.filter((r) => r.update.message!.chat.id === u.id).map((r) => r.update.message!.text);
      expect(texts).toEqual([0, 1, 2, 3, 4].map((i) => `${u.id}:${i}`));
    }
  });

  it("keeps at most max_connections deliveries in flight", async () => {
    h = await startHarness();
    let total = 0;
    let maxTotal = 0;
    receiver = await startReceiver(async (_u, _a, _req, res) => {
      maxTotal = Math.max(maxTotal, ++total);
      await sleep(20);
      total--;
      res.writeHead(200).end();
    });
    for (let i = 0; i < 6; i++) h.emulator.createUser().sendText(h.bot, "hi");
    await h.ok("setWebhook", { url: receiver.url, max_connections: 2 });
    await until(() => receiver!.received.length === 6);
    expect(maxTotal).toBe(2);
  });

  it("retries a non-2xx answer with doubling delays and reports the error in getWebhookInfo", async () => {
    h = await startHarness({ webhook: { firstRetryDelayMs: 40, maxRetryDelayMs: 10_000 } });
    receiver = await startReceiver((_u, attempt, _req, res) => {
      res.writeHead(attempt <= 3 ? 500 : 200).end();
    });
    const alice = h.emulator.createUser();
    alice.sendText(h.bot, "retry me");
    alice.sendText(h.bot, "after me");
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length >= 4);
    const info = await h.ok<WebhookInfo>("getWebhookInfo");
    expect(info.last_error_message).toBe("Wrong response from the webhook: 500 Internal Server Error");
    expect(info.last_error_date).toBeGreaterThan(0);
    await until(() => receiver!.received.length === 5);
    const times = receiver.received.map((r) => r.at);
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!, times[3]! - times[2]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    expect(gaps[2]).toBeGreaterThanOrEqual(155);
    // The chat's next update waited until the failing one was accepted.
    expect(receiver.received.map((r) => r.update.message!.text)).toEqual(["retry me", "retry me", "retry me", "retry me", "after me"]);
  });

  it("re-sends an update whose answer was too slow (timeout), with the same update_id", async () => {
    h = await startHarness({ webhook: { timeoutMs: 150, firstRetryDelayMs: 20 } });
    receiver = await startReceiver(async (_u, attempt, _req, res) => {
      if (attempt === 1) await sleep(400);
      if (!res.destroyed) res.writeHead(200).end();
    });
    h.emulator.createUser().sendText(h.bot, "slow");
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length >= 2 && h.bot.updates.count() === 0);
    expect(receiver.received[0]!.update.update_id).toBe(receiver.received[1]!.update.update_id);
    expect((await h.ok<WebhookInfo>("getWebhookInfo")).last_error_message).toBe("Read timeout expired");
  });

  it("retries when the bot closes the connection without answering", async () => {
    h = await startHarness({ webhook: { firstRetryDelayMs: 20 } });
    receiver = await startReceiver((_u, attempt, req, res) => {
      if (attempt === 1) req.socket.destroy();
      else res.writeHead(200).end();
    });
    h.emulator.createUser().sendText(h.bot, "closed");
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length === 2 && h.bot.updates.count() === 0);
  });

  it("honours the bot's Retry-After header", async () => {
    h = await startHarness({ webhook: { firstRetryDelayMs: 20 } });
    receiver = await startReceiver((_u, attempt, _req, res) => {
      if (attempt === 1) res.writeHead(429, { "retry-after": "1" }).end();
      else res.writeHead(200).end();
    });
    h.emulator.createUser().sendText(h.bot, "later");
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length === 2);
    expect(receiver.received[1]!.at - receiver.received[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it("stops delivering on deleteWebhook; the remaining updates are there for getUpdates", async () => {
    h = await startHarness({ webhook: { firstRetryDelayMs: 5_000 } });
    receiver = await startReceiver((_u, _a, _req, res) => { res.writeHead(503).end(); });
    h.emulator.createUser().sendText(h.bot, "undelivered");
    await h.ok("setWebhook", { url: receiver.url });
    await until(() => receiver!.received.length === 1);
    await h.ok("deleteWebhook");
    const updates = await h.ok<Update[]>("getUpdates");
    expect(updates.map((u) => u.message?.text)).toEqual(["undelivered"]);
  });
});
