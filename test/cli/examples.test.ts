/**
 * Each example bot, run as `npm run example:<name>` runs it: under `unlost run` as a real
 * process against an in-process emulator with simulated users. Every expected reply arrives
 * and the bot stops cleanly.
 */
import { describe, expect, it } from "vitest";
import { runExample } from "../../examples/harness.js";

async function run(name: string): Promise<Awaited<ReturnType<typeof runExample>> & { log: string[] }> {
  const log: string[] = [];
  const result = await runExample(name, { log: (line) => log.push(line), timeoutMs: 20_000 });
  return { ...result, log };
}

describe("examples", () => {
  it("echo: every user gets their echo", async () => {
    const r = await run("echo");
    expect(r.missing, r.log.join("\n")).toEqual([]);
    expect(r.exitCode).toBe(0);
  }, 40_000);

  it("notifier: subscriptions, an admin-only broadcast to every subscriber, reminders through outbox.notify", async () => {
    const r = await run("notifier");
    expect(r.missing, r.log.join("\n")).toEqual([]);
    expect(r.exitCode).toBe(0);
    // The broadcast reached each subscriber once.
    expect(r.replies.filter((m) => m.text === "📣 the new release is out").map((m) => m.user).sort()).toEqual(["Alice", "Bobur", "Dilnoza"]);
  }, 40_000);

  it("downloader: slow handlers (1–3 s each) do not hold up other chats", async () => {
    const r = await run("downloader");
    expect(r.missing, r.log.join("\n")).toEqual([]);
    expect(r.exitCode).toBe(0);
    const took = r.replies.map((m) => Number(/fetched in (\d+) ms/.exec(m.text)?.[1] ?? 0));
    const sum = took.reduce((a, b) => a + b, 0);
    expect(sum).toBeGreaterThanOrEqual(4_000);
    // In parallel: all four answered well before the downloads would take one after another.
    expect(r.elapsedMs).toBeLessThan(sum - 1_000);
  }, 40_000);
});
