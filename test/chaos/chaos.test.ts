/**
 * The chaos run, short: ≥ 20 random kill -9 and a few deploys across two processes on one
 * store, under inbound and outbound load with 20 % network faults (see chaos.ts; the full run
 * is `npm run chaos`). The targets: nothing lost (updates or messages), nothing out of order
 * per chat, no chat in two handlers at once, duplicates only where the outbox counted an
 * ambiguous attempt — in total and message by message.
 */
import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos.js";
import { expectChaosTargets } from "./targets.js";

const KILLS = 22;
const DEPLOYS = 3;

describe("the chaos run (short)", () => {
  it(`${KILLS} random kill -9 and ${DEPLOYS} deploys across two processes on one store, 20 % network faults: 0 lost, 0 out of order, duplicates ≤ ambiguous counted`, async () => {
    const seed = Number(process.env["CHAOS_SEED"] ?? 20251112);
    const { summary, evidence } = await runChaos({ seed, kills: KILLS, deploys: DEPLOYS, durationMs: 25_000, drainTimeoutMs: 45_000 });
    console.log(JSON.stringify(summary));

    // Each item names the update or send and the processes involved, so a failure says what broke.
    expectChaosTargets(summary, evidence, 20);
  }, 180_000);
});
