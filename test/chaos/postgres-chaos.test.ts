/**
 * The chaos run on PostgreSQL: three `unlost` processes of one bot on one schema (a fresh one),
 * against the emulator with 20 % network faults on getUpdates and sendMessage, ≥ 30 random
 * kill -9 of any of them (the poller included: which process polls moves around), each killed
 * process restarted at once, as a supervisor would. See chaos.ts for the load and the counting.
 *
 * Targets: 0 updates lost, every update completed exactly once (its `completed:<id>` counter,
 * committed with the completion, is 1), per-chat order kept across the processes (no update
 * first started after a newer one of its chat, no chat in two handlers at once), duplicates of
 * sends only where the outbox counted an ambiguous attempt. The failover after each kill of the
 * poller (SIGKILL to the next process polling) is printed with the summary.
 */
import { describe, expect, it } from "vitest";
import { usePgDatabase } from "../helpers/postgres.js";
import { runChaos } from "./chaos.js";
import { expectChaosTargets } from "./targets.js";

const db = usePgDatabase();
const KILLS = 32;

describe("the chaos run on PostgreSQL (short)", () => {
  it(`3 processes on one schema, ${KILLS} random kill -9, 20 % network faults: 0 lost, exactly once, in order, duplicates ≤ ambiguous counted`, async () => {
    const seed = Number(process.env["CHAOS_SEED"] ?? 20261206);
    const { summary, evidence } = await runChaos({
      seed, kills: KILLS, deploys: 0, durationMs: 35_000, drainTimeoutMs: 40_000,
      processes: 3, store: { url: db.url(), schema: db.freshSchema() },
      users: 20, messagesPerSecond: 15,
    });
    console.log(JSON.stringify(summary));

    expectChaosTargets(summary, evidence, 30);
    expect(summary.kills_of_poller, "kills of the process polling").toBeGreaterThan(0);
  }, 150_000);
});
