import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../../errors/index.js";
import { createLogger, silentLogger } from "../../runtime/logger.js";
import { openStore, type Store } from "../../store/index.js";
import { createWebhookReceiver, SECRET_TOKEN_HEADER, type WebhookReceiver } from "./receiver.js";

const SECRET = "test_Secret-token_0123456789";
const URL_PATH = "http://receiver.test/telegram/webhook";

function update(id: number, text = "hi"): Record<string, unknown> {
  return { update_id: id, message: { message_id: id, date: 1_700_000_000, chat: { id: 7, type: "private" }, text } };
}

function post(body: string, headers: Record<string, string> = { [SECRET_TOKEN_HEADER]: SECRET }): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body };
}

/** A logger whose JSON lines are kept for inspection. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const logger = createLogger({ level: "debug", destination });
  const lines = (): Array<Record<string, unknown>> =>
    chunks.join("").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines };
}

let store: Store;
let receiver: WebhookReceiver;
beforeEach(async () => {
  store = await openStore({ path: ":memory:" });
  receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger: silentLogger() });
});
afterEach(async () => {
  await receiver.close();
  await store.close();
});

describe("webhook receiver", () => {
  it("stores an update with the right secret and answers 200; onIngested is told", async () => {
    const woken: number[] = [];
    receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger: silentLogger(), onIngested: (n) => woken.push(n), clock: () => 1234 });
    const res = await receiver.app.request(URL_PATH, post(JSON.stringify(update(10, "hello"))));
    expect(res.status).toBe(200);
    const stored = await store.inbox.get(10);
    expect(stored).toMatchObject({ updateId: 10, state: "pending", receivedAt: 1234, chatKey: "7" });
    expect(stored?.update).toEqual(update(10, "hello"));
    expect(woken).toEqual([1]);
    expect(receiver.stats()).toEqual({ received: 1, inserted: 1, duplicates: 0, rejected: 0, unstorable: 0, failed: 0 });
  });

  it("refuses a wrong or missing secret with 401, stores nothing, and logs without the secret", async () => {
    const { logger, lines } = capturingLogger();
    receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger });
    const wrong = await receiver.app.request(URL_PATH, post(JSON.stringify(update(1)), { [SECRET_TOKEN_HEADER]: `${SECRET}x` }));
    const missing = await receiver.app.request(URL_PATH, post(JSON.stringify(update(2)), {}));
    expect([wrong.status, missing.status]).toEqual([401, 401]);
    expect(await store.inbox.get(1)).toBeNull();
    expect(await store.inbox.get(2)).toBeNull();
    expect(receiver.stats()).toMatchObject({ received: 0, inserted: 0, rejected: 2 });
    const warnings = lines().filter((l) => l["level"] === 40);
    // The first warning is written, the next one within a minute only counted.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ reason: "wrong secret token", component: "webhook" });
    expect(JSON.stringify(lines())).not.toContain(SECRET);
  });

  it("refuses a body over the limit with 413, whether announced by Content-Length or streamed", async () => {
    receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger: silentLogger(), maxBodyBytes: 1000 });
    const big = JSON.stringify(update(3, "x".repeat(2000)));
    const announced = await receiver.app.request(URL_PATH, post(big, { [SECRET_TOKEN_HEADER]: SECRET, "content-length": String(big.length) }));
    expect(announced.status).toBe(413);

    // A chunked body that never ends: the receiver stops reading soon after the limit.
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(256).fill(0x20));
      },
    });
    const streamed = await receiver.app.request(
      new Request(URL_PATH, { method: "POST", headers: { [SECRET_TOKEN_HEADER]: SECRET }, body: endless, duplex: "half" } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect(pulled).toBeLessThan(10);
    expect(await store.inbox.get(3)).toBeNull();

    // Just under the limit passes.
    const small = await receiver.app.request(URL_PATH, post(JSON.stringify(update(4))));
    expect(small.status).toBe(200);
    expect(receiver.stats()).toMatchObject({ rejected: 2, inserted: 1 });
  });

  it("answers 400 with a clear message for a body that is not JSON", async () => {
    for (const body of ["{not json", ""]) {
      const res = await receiver.app.request(URL_PATH, post(body));
      expect(res.status, body).toBe(400);
      expect(await res.text(), body).toContain("not valid JSON");
    }
    expect((await store.inbox.stats()).dead).toBe(0);
    expect(receiver.stats()).toMatchObject({ received: 0, rejected: 2, unstorable: 0 });
  });

  it("keeps JSON without a valid update_id as a dead letter with its text and answers 200 (no endless re-sends), once per body", async () => {
    const cases: Array<[string, string]> = [
      ["[1,2]", "it is an array"],
      [JSON.stringify({ message: { text: "no id" } }), "it has none"],
      [JSON.stringify({ update_id: "5" }), 'got "5"'],
      [JSON.stringify({ update_id: 1.5 }), "got 1.5"],
      [JSON.stringify({ update_id: -1 }), "got -1"],
    ];
    for (const [body] of cases) expect((await receiver.app.request(URL_PATH, post(body))).status, body).toBe(200);
    expect((await receiver.app.request(URL_PATH, post(cases[1]![0]))).status).toBe(200); // re-sent
    const dead = (await store.inbox.deadLetters.list()).items.reverse();
    expect(dead.map((d) => d.update["unstorable"])).toEqual(cases.map(([body]) => body));
    dead.forEach((d, i) => {
      expect(d.error).toMatch(/^update has no valid update_id: /);
      expect(d.error).toContain(cases[i]![1]);
    });
    expect((await store.inbox.stats()).pending).toBe(0);
    expect(receiver.stats()).toMatchObject({ received: 0, rejected: 0, unstorable: cases.length });
  });

  it("answers 200 to a re-sent update_id and stores it once", async () => {
    const woken: number[] = [];
    receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger: silentLogger(), onIngested: (n) => woken.push(n) });
    for (let i = 0; i < 3; i++) {
      expect((await receiver.app.request(URL_PATH, post(JSON.stringify(update(20))))).status).toBe(200);
    }
    expect((await store.inbox.stats()).pending).toBe(1);
    expect(woken).toEqual([1]);
    expect(receiver.stats()).toEqual({ received: 3, inserted: 1, duplicates: 2, rejected: 0, unstorable: 0, failed: 0 });
  });

  it("answers 500 when the store fails (Telegram re-sends), logging the error with secrets redacted", async () => {
    const { logger, lines } = capturingLogger();
    const failing = { ingest: () => Promise.reject(new Error(`disk I/O error near ${SECRET} and bot 123:AAHsecretSECRETsecret`)) };
    receiver = createWebhookReceiver({ inbox: failing, secretToken: SECRET, logger });
    const res = await receiver.app.request(URL_PATH, post(JSON.stringify(update(30))));
    expect(res.status).toBe(500);
    expect(receiver.stats()).toMatchObject({ received: 1, inserted: 0, failed: 1 });
    const errorLine = lines().find((l) => l["level"] === 50);
    expect(errorLine).toMatchObject({ updateId: 30, err: { message: expect.stringContaining("disk I/O error") } });
    const text = JSON.stringify(lines());
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("AAHsecretSECRETsecret");
  });

  it("answers 500 for a closed store", async () => {
    await store.close();
    const res = await receiver.app.request(URL_PATH, post(JSON.stringify(update(31))));
    expect(res.status).toBe(500);
    expect(receiver.stats().failed).toBe(1);
  });

  it("answers 404 elsewhere and 405 to other methods on the path", async () => {
    expect((await receiver.app.request("http://receiver.test/other", post(JSON.stringify(update(40))))).status).toBe(404);
    const get = await receiver.app.request(URL_PATH, { method: "GET", headers: { [SECRET_TOKEN_HEADER]: SECRET } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await receiver.app.request(URL_PATH, { method: "PUT", body: "{}" })).status).toBe(405);
  });

  it("answers 503 once closing (Telegram re-sends later) and still 200 when onIngested throws", async () => {
    receiver = createWebhookReceiver({
      inbox: store.inbox,
      secretToken: SECRET,
      logger: silentLogger(),
      onIngested: () => {
        throw new Error("dispatcher gone");
      },
    });
    expect((await receiver.app.request(URL_PATH, post(JSON.stringify(update(60))))).status).toBe(200);
    expect(await store.inbox.get(60)).not.toBeNull();
    await receiver.close();
    const late = await receiver.app.request(URL_PATH, post(JSON.stringify(update(61))));
    expect(late.status).toBe(503);
    expect(late.headers.get("connection")).toBe("close");
    expect(await store.inbox.get(61)).toBeNull();
  });

  it("serves a custom path", async () => {
    receiver = createWebhookReceiver({ inbox: store.inbox, secretToken: SECRET, logger: silentLogger(), path: "/hook/abc" });
    expect((await receiver.app.request("http://x/hook/abc", post(JSON.stringify(update(50))))).status).toBe(200);
    expect((await receiver.app.request(URL_PATH, post(JSON.stringify(update(51))))).status).toBe(404);
  });

  it("refuses bad options with INVALID_CONFIG", () => {
    const base = { inbox: store.inbox, logger: silentLogger() };
    for (const bad of [
      { ...base, secretToken: "has space" },
      { ...base, secretToken: SECRET, path: "no-slash" },
      { ...base, secretToken: SECRET, maxBodyBytes: 0 },
    ]) {
      let caught: unknown;
      try {
        createWebhookReceiver(bad);
      } catch (error) {
        caught = error;
      }
      expect(isUnlostError(caught, "INVALID_CONFIG")).toBe(true);
    }
  });
});
