/**
 * `unlost dashboard` as a user runs it: the store's metrics and readiness over HTTP without
 * the bot running, the protected API behind the token, a clean exit on SIGTERM.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { baseEnv, cli, startCli } from "../cli/fixtures/cli-process.js";
import { until } from "../helpers/until.js";
import { get, sample } from "./helpers.js";

const ADMIN = "dashboard-token-0123456789abcdef";
let cwd: string;

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), "unlost-dashboard-"));
  // A store a bot left behind: two updates waiting, nobody handling them.
  const store = await openStore({ path: join(cwd, "data", "unlost.sqlite") });
  const at = Date.now() - 10 * 60_000;
  await store.inbox.ingest([
    { update_id: 1, message: { message_id: 1, date: Math.floor(at / 1000), chat: { id: 7, type: "private", first_name: "A" }, text: "one" } },
    { update_id: 2, message: { message_id: 2, date: Math.floor(at / 1000), chat: { id: 8, type: "private", first_name: "B" }, text: "two" } },
  ], { now: at });
  await store.close();
});

afterAll(() => {
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

describe("unlost dashboard", () => {
  it("serves the store's metrics and readiness without the bot; /api/stats behind the token; exits 0 on SIGTERM", async () => {
    const dash = startCli(["dashboard", "--port", "0"], { cwd, env: baseEnv({ UNLOST_ADMIN_TOKEN: ADMIN }) });
    const bodies: string[] = [];
    try {
      await dash.waitFor(/at http:\/\/127\.0\.0\.1:\d+/);
      const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(dash.output())?.[1] as string;
      const metrics = await get(`${url}/metrics`);
      bodies.push(metrics.text);
      expect(sample(metrics.text, "unlost_store_up")).toBe(1);
      expect(sample(metrics.text, "unlost_inbox_backlog")).toBe(2);
      expect(sample(metrics.text, "unlost_inbox_oldest_age_seconds")).toBeGreaterThan(590);
      expect(metrics.text).not.toContain("unlost_updates_handled_total");
      expect(metrics.text).not.toContain("unlost_poller_up");
      // Ten minutes old: more than the default 5 min.
      const ready = await get(`${url}/readyz`);
      bodies.push(ready.text);
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text)).toMatchObject({ ready: false, checks: { store: { ok: true }, backlog: { ok: false } } });
      expect(JSON.parse(ready.text).checks.updates).toBeUndefined();
      expect((await get(`${url}/api/stats`)).status).toBe(401);
      const stats = await get(`${url}/api/stats`, ADMIN);
      bodies.push(stats.text);
      expect(JSON.parse(stats.text)).toMatchObject({ store: { ok: true, inbox: { pending: 2 } } });
      expect(JSON.parse(stats.text).runtime).toBeUndefined();
      await until(async () => (await get(`${url}/healthz`)).status === 200, 2_000, "alive");
    } finally {
      dash.child.kill("SIGTERM");
    }
    expect(await dash.exited).toBe(0);
    for (const text of [...bodies, dash.output()]) expect(text).not.toContain(ADMIN);
  });

  it("refuses a folder without a store (exit 2), and shows its help", async () => {
    const missing = await cli(["dashboard", "--data", "nowhere", "--port", "0"], { cwd, env: baseEnv() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/there is no unlost store at .*nowhere/);
    const help = await cli(["dashboard", "--help"], { cwd, env: baseEnv() });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: unlost dashboard/);
  });
});
