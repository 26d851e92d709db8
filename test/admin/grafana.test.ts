/**
 * The Grafana dashboard in docs/ queries only metrics the admin server serves: a renamed metric
 * fails here, not in an operator's empty panel.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HandlerTimings } from "../../src/admin/handler-timings.js";
import { adminOptionsSchema } from "../../src/admin/options.js";
import { createAdminApp } from "../../src/admin/server.js";
import { Scrubber } from "../../src/errors/index.js";
import { silentLogger } from "../../src/runtime/logger.js";
import { openStore } from "../../src/store/index.js";

interface Panel {
  readonly title: string;
  readonly targets: readonly { readonly expr: string }[];
}

describe("docs/grafana-unlost.json", () => {
  it("is a dashboard whose every query names metrics /metrics serves, filtered by $job", async () => {
    const dashboard = JSON.parse(readFileSync(new URL("../../docs/grafana-unlost.json", import.meta.url), "utf8")) as { panels: Panel[]; templating: { list: { name: string }[] } };
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(["job"]);
    const store = await openStore({ path: ":memory:" });
    const delivery = { sent: 1, delivered: 1, retried: 0, failed: 0, ambiguous: 0, responses429: 0, deferred: 0, inFlight: 0 };
    const app = createAdminApp({
      source: {
        store: () => store, clock: Date.now, scrub: new Scrubber().scrub,
        runtime: { mode: "polling", state: () => "polling", counters: () => ({ received: 0, handled: 0, failed: 0, deadLettered: 0, timedOut: 0, skipped: 0, inFlight: 0 }), delivery: () => delivery, timings: new HandlerTimings() },
      },
      options: adminOptionsSchema.parse({ port: 0 }), token: undefined, logger: silentLogger(),
    });
    const served = new Set((await (await app.app.request("/metrics")).text()).split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => /^[a-zA-Z_:][\w:]*/.exec(l)?.[0]));
    const queried = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(queried.length).toBeGreaterThan(20);
    for (const expr of queried) {
      for (const [metric] of expr.matchAll(/\b(?:unlost|process|nodejs)_[a-z0-9_]+/g)) expect(served.has(metric), `${metric} in ${expr}`).toBe(true);
      expect(expr).toContain('job=~"$job"');
    }
    await store.close();
  });
});
