import { afterEach, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

describe("flood limits", () => {
  it("allows ~1 message/s per private chat with a small burst, then answers 429 retry after N", async () => {
    h = await startHarness({ limits: {}, frozenClock: true });
    const alice = h.emulator.createUser();
    for (let i = 0; i < 3; i++) expect((await h.call("sendMessage", { chat_id: alice.id, text: `${i}` })).status).toBe(200);
    const refused = await h.call("sendMessage", { chat_id: alice.id, text: "too fast" });
    expect(refused).toEqual({
      status: 429,
      body: { ok: false, error_code: 429, description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } },
    });
    expect(h.bot.record.size).toBe(3);
    // Another chat is not affected; a second later this chat may send again.
    expect((await h.call("sendMessage", { chat_id: h.emulator.createUser().id, text: "other" })).status).toBe(200);
    h.emulator.clock.advance(1_000);
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "later" })).status).toBe(200);
  });

  it("allows 20 messages per minute to a group", async () => {
    h = await startHarness({ limits: {}, frozenClock: true });
    const group = h.emulator.createSupergroup({ bots: [h.bot] });
    for (let i = 0; i < 20; i++) {
      expect((await h.call("sendMessage", { chat_id: group.id, text: `${i}` })).status).toBe(200);
      h.emulator.clock.advance(100);
    }
    const refused = await h.call("sendMessage", { chat_id: group.id, text: "21st" });
    expect(refused.status).toBe(429);
    expect(refused.body.parameters?.retry_after).toBe(58);
    h.emulator.clock.advance(58_000);
    expect((await h.call("sendMessage", { chat_id: group.id, text: "next minute" })).status).toBe(200);
  });

  it("allows 30 messages per second per bot across chats, and 1000/s for calls with allow_paid_broadcast", async () => {
    h = await startHarness({ limits: {}, frozenClock: true });
    const users = Array.from({ length: 40 }, () => h.emulator.createUser());
    const statuses: number[] = [];
    for (const u of users.slice(0, 31)) statuses.push((await h.call("sendMessage", { chat_id: u.id, text: "news" })).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses[30]).toBe(429);
    const paid = await h.call("sendMessage", { chat_id: users[35]!.id, text: "paid", allow_paid_broadcast: true });
    expect(paid.status).toBe(200);
  });

  it("takes custom limits, and none with limits: false", async () => {
    h = await startHarness({ limits: { perChat: { perSecond: 10, burst: 10 } }, frozenClock: true });
    const alice = h.emulator.createUser();
    for (let i = 0; i < 10; i++) expect((await h.call("sendMessage", { chat_id: alice.id, text: `${i}` })).status).toBe(200);
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "11th" })).status).toBe(429);
    await h.close();
    h = await startHarness({ limits: false });
    const bob = h.emulator.createUser();
    for (let i = 0; i < 100; i++) expect((await h.call("sendMessage", { chat_id: bob.id, text: `${i}` })).status).toBe(200);
  });

  it("does not count refused or invalid calls against the limit", async () => {
    h = await startHarness({ limits: {}, frozenClock: true });
    const alice = h.emulator.createUser();
    for (let i = 0; i < 5; i++) expect((await h.call("sendMessage", { chat_id: alice.id, text: "" })).status).toBe(400);
    for (let i = 0; i < 3; i++) expect((await h.call("sendMessage", { chat_id: alice.id, text: "ok" })).status).toBe(200);
  });
});
