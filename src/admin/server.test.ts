import { describe, expect, it } from "vitest";
import { Scrubber } from "../errors/index.js";
import { silentLogger } from "../runtime/logger.js";
import { openStore } from "../store/index.js";
import { HandlerTimings } from "./handler-timings.js";
import { adminOptionsSchema } from "./options.js";
import { createAdminApp } from "./server.js";
import type { AdminSource, RuntimeCounters } from "./source.js";

const BOT_TOKEN = "123456:AAHsecretsecretsecret";
const ADMIN = "server-test-token-0123456789";
const COUNTERS: RuntimeCounters = { received: 3, handled: 2, failed: 1, deadLettered: 0, timedOut: 0, skipped: 0, inFlight: 0 };

async function app(state: () => "polling" = () => "polling") {
  const store = await openStore({ path: ":memory:" });
  const timings = new HandlerTimings();
  timings.ended(0, 3, 0);
  timings.ended(0, 40, 0);
  const source: AdminSource = {
    store: () => store, clock: Date.now, scrub: new Scrubber([BOT_TOKEN, ADMIN]).scrub,
    runtime: { mode: "polling", state, counters: () => COUNTERS, delivery: () => undefined, timings },
  };
  return createAdminApp({ source, options: adminOptionsSchema.parse({ port: 0 }), token: ADMIN, logger: silentLogger() });
}

describe("the admin app", () => {
  it("renders the histograms in seconds with cumulative buckets, +Inf, _sum and _count", async () => {
    const text = await (await (await app()).app.request("/metrics")).text();
    expect(text).toContain('unlost_handler_duration_seconds_bucket{le="0.001"} 0');
    expect(text).toContain('unlost_handler_duration_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('unlost_handler_duration_seconds_bucket{le="0.05"} 2');
    expect(text).toContain('unlost_handler_duration_seconds_bucket{le="+Inf"} 2');
    expect(text).toContain("unlost_handler_duration_seconds_sum 0.043");
    expect(text).toContain("unlost_handler_duration_seconds_count 2");
    expect(text).toContain("unlost_updates_handled_total 2");
    // Without a delivery loop (outbox off), no send metrics are made up.
    expect(text).not.toMatch(/^unlost_sends_total/m);
  });

  it("answers 500 without the error's text (it is logged, scrubbed) when a handler throws", async () => {
    const a = await app(() => {
      throw new Error(`boom with ${BOT_TOKEN}`);
    });
    const response = await a.app.request("/api/stats", { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: "internal", message: "the admin request failed; see the bot's log" });
    expect(body).not.toContain("AAHsecret");
  });
});
