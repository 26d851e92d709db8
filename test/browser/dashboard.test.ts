/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against a real
 * runtime on the emulator. Log in, see the charts drawn, retry a dead letter and watch its
 * reply delivered (the trace says so), pause and resume a broadcast. Screenshots go to
 * test-results/dashboard-*.png (look at them).
 *
 * Needs Chromium at /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it) or
 * at UNLOST_CHROMIUM. Run alone with `npm run test:browser`.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { ADMIN_TOKEN, startWithAdmin, type AdminSetup } from "../admin/helpers.js";
import { until } from "../helpers/until.js";

const CHROMIUM = process.env["UNLOST_CHROMIUM"] ?? "/usr/bin/chromium";
const SHOTS = join(process.cwd(), "test-results");

let setup: AdminSetup;
let browser: Browser;
let page: Page;
let user: SimUser;
let fixed = false;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium) or point UNLOST_CHROMIUM at it`);
  }
  mkdirSync(SHOTS, { recursive: true });
  setup = await startWithAdmin(
    (bot) => {
      bot.on("message:text", async (ctx) => {
        if (ctx.message.text === "break" && !fixed) throw new Error("the weather service answered 500");
        await ctx.reply(`echo: ${ctx.message.text}`);
      });
    },
    { inbox: { maxAttempts: 2, idleMs: 20, backoff: { baseMs: 10, maxMs: 20, jitter: 0 } }, admin: { port: 0, token: ADMIN_TOKEN, sampleIntervalMs: 250 } },
  );
  user = setup.emulator.createUser({ firstName: "Dana" });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await setup?.close();
});

describe("the dashboard in Chromium", () => {
  it("logs in and shows the overview with its charts drawn", async () => {
    for (let i = 0; i < 5; i++) user.sendText(setup.sim, `hello ${i}`);
    await until(() => setup.sim.record.to(user.id).length >= 5, 10_000, "five replies");
    await page.goto(`${setup.url}/`);
    expect(page.url()).toBe(`${setup.url}/login`);
    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${setup.url}/`), page.click('button[type="submit"]')]);
    // A few samples for the lines (one every 250 ms).
    await until(async () => ((await (await fetch(`${setup.url}/api/samples`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { samples: unknown[] }).samples.length >= 6, 10_000, "samples");
    await page.reload();
    expect(await page.textContent("h1")).toBe("Overview");
    expect(await page.locator(".pill.ok", { hasText: "ready" }).count()).toBe(1);
    expect(await page.textContent("main")).toContain("holds the poller lease");
    expect(await page.locator("figure svg path").count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator("figure figcaption").allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining("Updates"), expect.stringContaining("Sends")]));
    const html = await page.content();
    expect(html).not.toContain(setup.sim.token);
    expect(html).not.toContain(ADMIN_TOKEN);
    await shot("overview");
  });

  it("shows a dead letter with its error, retries it, and the trace shows the reply delivered", async () => {
    user.sendText(setup.sim, "break");
    await until(async () => (await setup.store.inbox.deadLetters.list()).items.length === 1, 10_000, "the dead letter");
    const [letter] = (await setup.store.inbox.deadLetters.list()).items;
    await page.goto(`${setup.url}/inbox`);
    expect(await page.textContent("#dead-form")).toContain("the weather service answered 500");
    await shot("inbox");

    fixed = true;
    await page.check(`input[name="id"][value="${letter!.updateId}"]`);
    await Promise.all([page.waitForURL(/\/inbox\?done=/), page.click('#dead-form button:has-text("Retry selected")')]);
    expect(await page.textContent(".notice")).toBe("Retried 1 inbox dead letter.");
    await until(() => setup.sim.record.to(user.id).some((m) => m.text === "echo: break"), 10_000, "the reply to the retried update");

    await page.goto(`${setup.url}/trace?update=${letter!.updateId}`);
    expect(await page.textContent(".verdict")).toMatch(/^replied: 1 send delivered/);
    const steps = await page.locator("ol.timeline li").allTextContents();
    expect(steps.some((s) => /handler try 2 .*failed .*the last one.*weather service answered 500/.test(s))).toBe(true);
    expect(steps.some((s) => /completed/.test(s))).toBe(true);
    expect(steps.some((s) => /send attempt \d: delivered/.test(s))).toBe(true);
    expect(steps.some((s) => /delivered as message \d+/.test(s))).toBe(true);
    await shot("trace");
  });

  it("pauses and resumes a broadcast from its page", async () => {
    const readers = Array.from({ length: 150 }, (_, i) => setup.emulator.createUser({ firstName: `R${i}` }));
    const { broadcastId } = await setup.runtime.outbox.broadcast(readers.map((r) => r.id), "sendMessage", { text: "the weekly news" });
    await page.goto(`${setup.url}/broadcasts`);
    const row = page.locator("tr", { hasText: broadcastId });
    await Promise.all([page.waitForURL(/done=/), row.locator('button:has-text("Pause")').click()]);
    expect(await page.textContent(".notice")).toBe(`Broadcast ${broadcastId} paused.`);
    expect(await row.locator(".pill").textContent()).toBe("paused");
    const held = (await setup.store.outbox.broadcastProgress(broadcastId))!;
    expect(held.remaining).toBeGreaterThan(0);
    // Paused: nothing more goes out (what was in flight has finished).
    await new Promise((r) => setTimeout(r, 300));
    const before = (await setup.store.outbox.broadcastProgress(broadcastId))!.delivered;
    await new Promise((r) => setTimeout(r, 600));
    expect((await setup.store.outbox.broadcastProgress(broadcastId))!.delivered).toBe(before);
    await page.reload();
    await shot("broadcast-paused");

    await Promise.all([page.waitForURL(/done=/), row.locator('button:has-text("Resume")').click()]);
    expect(await page.textContent(".notice")).toBe(`Broadcast ${broadcastId} resumed.`);
    await until(async () => (await setup.store.outbox.broadcastProgress(broadcastId))?.remaining === 0, 20_000, "the broadcast to finish");
    await page.reload();
    expect(await row.locator(".pill").textContent()).toBe("finished");
    await shot("broadcasts");
    await page.goto(`${setup.url}/outbox`);
    await shot("outbox");
  });
});
