import { afterEach, describe, expect, it } from "vitest";
import { FaultPlan } from "../../src/emulator/index.js";
import { sleep, startHarness, type Harness } from "./harness.js";

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

/** The code of a failed fetch (ECONNRESET, ECONNREFUSED, …), or the error name. */
async function failureOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "no failure";
  } catch (error) {
    const e = error as { cause?: { code?: string }; name?: string };
    return e.cause?.code ?? e.name ?? "unknown";
  }
}

describe("faults", () => {
  it("adds latency", async () => {
    h = await startHarness();
    h.emulator.faults.add({ fault: { kind: "latency", ms: 300 } });
    const started = Date.now();
    await h.ok("getMe");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("resets the connection of a share of calls, which then have no effect", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    h.emulator.faults.add({ fault: { kind: "reset" }, probability: 1, times: 1 });
    expect(await failureOf(h.call("sendMessage", { chat_id: alice.id, text: "lost" }))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
    expect(h.bot.record.size).toBe(0);
    await h.ok("sendMessage", { chat_id: alice.id, text: "through" });
    expect(h.emulator.faults.injected().reset).toBe(1);
  });

  it("hangs until the client gives up", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    h.emulator.faults.add({ fault: { kind: "hang" }, times: 1 });
    const started = Date.now();
    expect(await failureOf(h.call("sendMessage", { chat_id: alice.id, text: "x" }, { signal: AbortSignal.timeout(300) }))).toMatch(/TimeoutError|AbortError/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(h.bot.record.size).toBe(0);
  });

  it("answers 500, 502 and 503 on demand", async () => {
    h = await startHarness();
    for (const status of [500, 502, 503] as const) {
      h.emulator.faults.add({ fault: { kind: "server-error", status }, times: 1 });
      const answer = await h.call("getMe");
      expect(answer.status).toBe(status);
      expect(answer.body.ok).toBe(false);
      expect(answer.body.error_code).toBe(status);
    }
    expect((await h.call("getMe")).status).toBe(200);
  });

  it("answers 429 storms with retry_after", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    h.emulator.faults.add({ fault: { kind: "flood", retryAfter: 7 }, methods: ["sendMessage"], times: 3 });
    for (let i = 0; i < 3; i++) {
      expect((await h.call("sendMessage", { chat_id: alice.id, text: "x" })).body).toMatchObject({ error_code: 429, parameters: { retry_after: 7 }, description: "Too Many Requests: retry after 7" });
    }
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "x" })).status).toBe(200);
  });

  it("refuses connections during a full outage window, then serves again on the same port", async () => {
    h = await startHarness();
    h.emulator.faults.add({ fault: { kind: "outage" }, durationMs: 400 });
    expect(await failureOf(h.call("getMe"))).toBe("ECONNREFUSED");
    await sleep(600);
    expect((await h.call("getMe")).status).toBe(200);
  });

  it("the ambiguous fault delivers the message but loses the answer, and the record marks it", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    h.emulator.faults.add({ fault: { kind: "ambiguous" }, times: 1 });
    expect(await failureOf(h.call("sendMessage", { chat_id: alice.id, text: "did it arrive?" }))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
    expect(h.bot.record.to(alice.id)).toMatchObject([{ text: "did it arrive?", ambiguous: true }]);
  });

  it("scopes faults to a method or a chat", async () => {
    h = await startHarness();
    const alice = h.emulator.createUser();
    const bob = h.emulator.createUser();
    h.emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["sendMessage"], chatIds: [alice.id] });
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "x" })).status).toBe(502);
    expect((await h.call("sendMessage", { chat_id: bob.id, text: "x" })).status).toBe(200);
    expect((await h.call("sendChatAction", { chat_id: alice.id, action: "typing" })).status).toBe(200);
  });

  it("is reproducible with a seed: the same calls fail", () => {
    const pattern = (seed: number): string => {
      const plan = new FaultPlan(seed);
      plan.add({ fault: { kind: "reset" }, probability: 0.3 });
      return Array.from({ length: 64 }, () => (plan.decide("sendMessage", 1).failure ? "x" : ".")).join("");
    };
    expect(pattern(7)).toBe(pattern(7));
    expect(pattern(7)).not.toBe(pattern(8));
    const failures = pattern(7).split("").filter((c) => c === "x").length;
    expect(failures).toBeGreaterThan(5);
    expect(failures).toBeLessThan(40);
  });

  it("is controlled over HTTP too: add, list, clear", async () => {
    h = await startHarness();
    const control = `${h.server.url}/_emulator/faults`;
    const added = await (await fetch(control, { method: "POST", body: JSON.stringify({ fault: { kind: "server-error", status: 503 }, methods: ["getMe"] }) })).json();
    expect(added).toMatchObject({ ok: true, result: { id: expect.any(Number) } });
    expect((await h.call("getMe")).status).toBe(503);
    const listed = (await (await fetch(control)).json()) as { result: { rules: unknown[]; injected: { "server-error": number } } };
    expect(listed.result.rules).toHaveLength(1);
    expect(listed.result.injected["server-error"]).toBe(1);
    await fetch(control, { method: "DELETE" });
    expect((await h.call("getMe")).status).toBe(200);
    const bad = await fetch(control, { method: "POST", body: JSON.stringify({ fault: { kind: "meteor" } }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/unknown fault kind "meteor"/);
  });

  it("an outage started over HTTP ends by itself", async () => {
    h = await startHarness();
    await fetch(`${h.server.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ fault: { kind: "outage" }, durationMs: 300 }) });
    expect(await failureOf(h.call("getMe"))).toBe("ECONNREFUSED");
    await sleep(500);
    expect((await h.call("getMe")).status).toBe(200);
  });
});
