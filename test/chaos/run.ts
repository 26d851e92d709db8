/**
 * `npm run chaos`: the full chaos run (see chaos.ts). Progress goes to stderr; the last line of
 * stdout is the bench line, one JSON object. Exit code 0 when the targets were met (0 lost,
 * 0 order violations, duplicates ≤ ambiguous counted), 1 otherwise (with the evidence printed).
 *
 *   npm run chaos -- [--seed N] [--kills N] [--deploys N] [--duration SECONDS] [--rate MSG_PER_S]
 *                    [--max-recoveries N] [--poller-lease-ms N] [--heartbeat-ms N] [--keep-data]
 *                    [--evidence FILE]
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runChaos } from "./chaos.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "20251111" },
    kills: { type: "string", default: "220" },
    deploys: { type: "string", default: "24" },
    duration: { type: "string", default: "360" },
    rate: { type: "string" },
    "max-recoveries": { type: "string" },
    "poller-lease-ms": { type: "string" },
    "heartbeat-ms": { type: "string" },
    "keep-data": { type: "boolean", default: false },
    evidence: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("npm run chaos -- [--seed N] [--kills N] [--deploys N] [--duration SECONDS] [--rate MSG_PER_S] [--max-recoveries N] [--poller-lease-ms N] [--heartbeat-ms N] [--keep-data] [--evidence FILE]");
  process.exit(0);
}
const int = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number ≥ 0, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
};

const started = Date.now();
const result = await runChaos({
  seed: int("seed", values.seed) ?? 20251111,
  kills: int("kills", values.kills) ?? 220,
  deploys: int("deploys", values.deploys) ?? 24,
  durationMs: (int("duration", values.duration) ?? 360) * 1_000,
  ...(values.rate === undefined ? {} : { messagesPerSecond: int("rate", values.rate) as number }),
  ...(values["max-recoveries"] === undefined ? {} : { maxRecoveries: int("max-recoveries", values["max-recoveries"]) as number }),
  ...(values["poller-lease-ms"] === undefined ? {} : { pollerLeaseMs: int("poller-lease-ms", values["poller-lease-ms"]) as number }),
  ...(values["heartbeat-ms"] === undefined ? {} : { heartbeatMs: int("heartbeat-ms", values["heartbeat-ms"]) as number }),
  keepData: values["keep-data"],
  progress: (line) => console.error(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`),
});
const { evidence } = result;
const broken = {
  lostUpdates: evidence.lostUpdates,
  lostMessages: evidence.lostMessages,
  unexplainedDuplicates: evidence.unexplainedDuplicates,
  inversions: evidence.inversions,
  overlaps: evidence.overlaps,
  replyOrder: evidence.replyOrder,
  completedTwice: evidence.completedTwice,
  crashes: evidence.crashes,
};
if (values.evidence !== undefined) writeFileSync(values.evidence, JSON.stringify({ summary: result.summary, ...evidence }, null, 2));
if (!result.ok || Object.values(broken).some((list) => list.length > 0)) {
  // At most 20 items of each kind: enough to see what broke and where.
  const trimmed = Object.fromEntries(Object.entries(broken).map(([k, list]) => [k, list.slice(0, 20)]));
  console.error(`evidence: ${JSON.stringify(trimmed, null, 2)}`);
}
if (result.dataDir !== undefined) console.error(`store kept in ${result.dataDir}`);
console.log(JSON.stringify(result.summary));
process.exitCode = result.ok ? 0 : 1;
