import { Api } from "grammy";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { DeliveredSend } from "../store/index.js";
import { DirectSender } from "./direct-send.js";
import { Pacer } from "./pacing.js";
import type { NewJob } from "./types.js";

/** A job as the outbox prepares it for a handler's `ctx.reply`. */
function job(id: number, chatId: number, text: string): NewJob {
  return {
    id: `j${id}`, method: "sendMessage", chatId, payload: JSON.stringify({ chat_id: chatId, text }), priority: "high", maxAttempts: 5,
    backoff: { baseMs: 100, maxMs: 1000, jitter: 0 }, timeoutMs: 30_000, notBefore: 0, deadline: null, idempotencyKey: `1:${id}:0:sendMessage`,
    fingerprint: "f", metadata: null, sensitive: false, broadcastId: null, blobs: [], paidBroadcast: false,
  };
}

/** A DirectSender over an Api whose requests answer after `delayMs` (no network), recording what was sent and stored. */
function sender(delayMs = 0) {
  const sent: string[] = [];
  const recorded: DeliveredSend[] = [];
  const api = new Api("1:test-token");
  api.config.use(async (_prev, method, payload) => {
    const p = payload as { chat_id: number; text: string };
    sent.push(`${p.chat_id}:${p.text}`);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return { ok: true, result: { message_id: sent.length, chat: { id: p.chat_id }, date: 0, text: p.text } } as never;
  });
  const huge = { perSecond: 1e9, burst: 1e6 };
  const direct = new DirectSender({
    store: { recordDelivered: async (sends) => { recorded.push(...sends); }, chatHasPending: async () => false },
    api, pacer: new Pacer({ limits: { global: huge, paidBroadcast: huge, perChat: huge, group: { limit: 1e9, windowMs: 1 } } }), clock: Date.now,
    logger: pino({ level: "silent" }), enqueue: async () => { throw new Error("nothing should be queued"); }, count: () => undefined, active: () => true,
  });
  return { direct, sent, recorded };
}

describe("DirectSender", () => {
  it("sends a chat's replies one after the other, chats side by side, each recorded as delivered", async () => {
    const { direct, sent, recorded } = sender(5);
    const outcomes = await Promise.all([direct.send([job(1, 7, "a")]), direct.send([job(2, 8, "x")]), direct.send([job(3, 7, "b")]), direct.send([job(4, 7, "c")])]);
    expect(outcomes.every((o) => o.kind === "delivered")).toBe(true);
    expect(sent.filter((s) => s.startsWith("7:"))).toEqual(["7:a", "7:b", "7:c"]);
    await direct.flush();
    expect(recorded.map((r) => r.job.id).sort()).toEqual(["j1", "j2", "j3", "j4"]);
  });

  it("keeps what it tracks per chat bounded: ended chats' entries are dropped in bulk", async () => {
    const { direct } = sender();
    for (let b = 0; b < 60; b++) await Promise.all(Array.from({ length: 100 }, (_, i) => direct.send([job(b * 100 + i, 100_000 + b * 100 + i, "hi")])));
    await direct.flush();
    await new Promise((r) => setImmediate(r));
    expect(direct.trackedChats).toBeLessThanOrEqual(4097);
    // A chat that comes back after its entry ended or was dropped sends as before.
    const again = await direct.send([job(9999, 100_000, "again")]);
    expect(again.kind).toBe("delivered");
  });
});
