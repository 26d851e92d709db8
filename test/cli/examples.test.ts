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

  it("downloader: tasks answer at once, run 3 at once and 1 per user, refuse a 4th waiting link, retry a flaky one", async () => {
    const r = await run("downloader");
    expect(r.missing, r.log.join("\n")).toEqual([]);
    expect(r.exitCode).toBe(0);
    // Every "queued" answer came before any download finished: the handler did not wait for one.
    const firstDone = Math.min(...r.replies.filter((m) => m.text.startsWith("✅")).map((m) => m.at));
    expect(r.replies.filter((m) => m.text.startsWith("⏳ queued")).every((m) => m.at < firstDone)).toBe(true);
    // Farhod's three downloads ran one after another (perUser 1), each delivered once.
    const farhod = r.replies.filter((m) => m.user === "Farhod" && m.text.startsWith("✅")).map((m) => /lecture_(\d)/.exec(m.text)?.[1]);
    expect(farhod).toEqual(["1", "2", "3"]);
    expect(r.replies.filter((m) => m.text.startsWith("✅")).length).toBe(6);
    // The flaky download failed once and was retried (a warning in the bot's log), then delivered.
    expect(r.log.some((line) => line.includes("task failed; it is retried"))).toBe(true);
  }, 40_000);

  it("multi-service: private messages answered while four services run; /status lists them", async () => {
    const r = await run("multi-service");
    expect(r.missing, r.log.join("\n")).toEqual([]);
    expect(r.exitCode).toBe(0);
    // Each digest once, in order (the publisher never ran twice for one time).
    const digests = r.replies.filter((m) => m.text.startsWith("📰 digest")).map((m) => Number(/#(\d+)/.exec(m.text)?.[1]));
    expect(digests).toEqual(digests.map((_, i) => i + 1));
  }, 40_000);
});
