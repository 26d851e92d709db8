/**
 * The receiver against the emulator over real sockets: registration, delivery into a SQLite
 * inbox, Telegram's re-send of a slow answer, graceful close and the switch back to polling.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Api } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type Emulator, type EmulatorServer, type SimBot } from "../../emulator/index.js";
import { silentLogger } from "../../runtime/logger.js";
import { openStore, type InboxStore, type RawUpdate, type Store } from "../../store/index.js";
import { createWebhookReceiver, SECRET_TOKEN_HEADER, type WebhookReceiver } from "./receiver.js";
import { registerWebhook, unregisterWebhook } from "./register.js";
import { webhookSecret } from "./secret.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** The store's inbox, slowed down for the first `slowCalls` ingests, with every call recorded. */
function slowInbox(inbox: InboxStore, delayMs: number, slowCalls: number): { inbox: Pick<InboxStore, "ingest">; seen: number[]; busy: () => number } {
  const seen: number[] = [];
  let calls = 0;
  let busy = 0;
  return {
    seen,
    busy: () => busy,
    inbox: {
      async ingest(updates: readonly RawUpdate[], options) {
        busy++;
        try {
          for (const u of updates) seen.push(u.update_id);
          if (calls++ < slowCalls) await sleep(delayMs);
          return await inbox.ingest(updates, options);
        } finally {
          busy--;
        }
      },
    },
  };
}

let dir: string;
let emulator: Emulator;
let server: EmulatorServer;
let sim: SimBot;
let api: Api;
let store: Store;
let receiver: WebhookReceiver | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "unlost-webhook-"));
  // A 200 ms answer deadline, so a slow acknowledgement is re-sent quickly.
  emulator = createEmulator({ limits: false, webhook: { timeoutMs: 200, firstRetryDelayMs: 20, maxRetryDelayMs: 200 } });
  sim = emulator.createBot({ username: "webhook_bot" });
  server = await startEmulatorServer(emulator);
  api = new Api(sim.token, { apiRoot: server.url });
  store = await openStore({ path: join(dir, "inbox.sqlite") });
});

afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  expect(emulator.internalErrors).toEqual([]);
});

describe("webhook receiver with the emulator", () => {
  it("stores every update exactly once, a slow answer's re-send included, and switching back to polling loses nothing", async () => {
    const secretToken = await webhookSecret(store.state);
    const slow = slowInbox(store.inbox, 600, 1);
    receiver = createWebhookReceiver({ inbox: slow.inbox, secretToken, logger: silentLogger() });
    const { url } = await receiver.listen({ port: 0 });

    // Sent before the webhook exists: must not be dropped by setWebhook.
    const users = Array.from({ length: 5 }, () => emulator.createUser());
    users[0]!.sendText(sim, "before-register");
    const info = await registerWebhook(api, { url, secretToken, maxConnections: 10 });
    expect(info.url).toBe(url);
    expect(sim.webhook?.secretToken).toBe(secretToken);

    const sent = ["before-register"];
    for (let i = 0; i < 4; i++) {
      for (const [u, user] of users.entries()) {
        const text = `u${u}-m${i}`;
        user.sendText(sim, text);
        sent.push(text);
      }
    }
    await until(() => sim.updates.count() === 0 && slow.busy() === 0);

    const ids = [...new Set(slow.seen)];
    expect(ids).toHaveLength(sent.length);
    const stored = await Promise.all(ids.map((id) => store.inbox.get(id)));
    const texts = stored.map((r) => (r?.update["message"] as { text?: string } | undefined)?.text);
    expect(texts.sort()).toEqual([...sent].sort());
    expect((await store.inbox.stats()).pending).toBe(sent.length);

    // The first delivery answered after the emulator's 200 ms deadline, so it came again.
    const stats = receiver.stats();
    expect(slow.seen.length).toBeGreaterThan(ids.length);
    expect(stats.inserted).toBe(sent.length);
    expect(stats.duplicates).toBeGreaterThanOrEqual(1);
    expect(stats.received).toBe(stats.inserted + stats.duplicates);
    expect(stats.failed).toBe(0);

    // Switch back to polling: the receiver goes away first, so these stay pending at Telegram...
    await receiver.close();
    users[1]!.sendText(sim, "while-closed");
    await sleep(100);
    await unregisterWebhook(api);
    expect((await api.getWebhookInfo()).url).toBe("");
    // ...and so do those sent after the webhook is gone.
    users[2]!.sendText(sim, "after-unregister");
    const pending = await api.getUpdates({ timeout: 0 });
    expect(pending.map((u) => u.message?.text)).toEqual(["while-closed", "after-unregister"]);
    expect(receiver.stats().inserted).toBe(sent.length);
  });

  it("close() lets a request in progress finish its ingest and answer before resolving", async () => {
    const secretToken = await webhookSecret(store.state);
    const slow = slowInbox(store.inbox, 300, 1);
    receiver = createWebhookReceiver({ inbox: slow.inbox, secretToken, logger: silentLogger() });
    const { url } = await receiver.listen({ port: 0 });
    const body = JSON.stringify({ update_id: 77, message: { message_id: 1, date: 1, chat: { id: 1, type: "private" }, text: "x" } });
    const answer = fetch(url, { method: "POST", headers: { [SECRET_TOKEN_HEADER]: secretToken, "content-type": "application/json" }, body });
    await until(() => slow.busy() === 1);
    const started = Date.now();
    await receiver.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect((await answer).status).toBe(200);
    expect(await store.inbox.get(77)).not.toBeNull();
    // Closed: nothing listens any more.
    await expect(fetch(url, { method: "POST", body })).rejects.toThrow();
  });

  it("maps Telegram's refusals to UnlostErrors", async () => {
    const stranger = new Api("999999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", { apiRoot: server.url });
    await expect(registerWebhook(stranger, { url: "http://127.0.0.1:9/hook", secretToken: "abc" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect(registerWebhook(api, { url: "not a url", secretToken: "abc" })).rejects.toMatchObject({ code: "INVALID_CONFIG" });
    await expect(registerWebhook(api, { url: "http://127.0.0.1:9/hook", secretToken: "bad secret" })).rejects.toMatchObject({ code: "INVALID_CONFIG" });
  });
});
