/**
 * The demo's script: when the bot is killed and restarted, when the network turns bad, when
 * Telegram floods the bot with 429s. Everything happens in the first 70 % of the load so that
 * the last 30 % shows the bot catching up while users keep writing.
 */
import { UnlostError } from "../errors/index.js";

/** One step of the script, at `at` ms after the users started writing. */
export type TimelineStep =
  /** SIGKILL the bot (the `index`-th kill, from 1). */
  | { readonly at: number; readonly kind: "kill"; readonly index: number }
  /** Start the bot again. */
  | { readonly at: number; readonly kind: "restart"; readonly index: number }
  /** Connection resets, 5xx, hanging sends and a few lost answers, for `durationMs`. */
  | { readonly at: number; readonly kind: "network-faults"; readonly durationMs: number }
  /** Every send answered 429 `retry after retryAfter s`, for `durationMs`. */
  | { readonly at: number; readonly kind: "flood"; readonly durationMs: number; readonly retryAfter: number };

/** Share of the run in which the trouble happens. */
const TROUBLE_SHARE = 0.7;
/** The shortest slot (one kill, its downtime and one stretch of faults) that still shows something. */
const MIN_SLOT_MS = 2_000;

/** The shortest `--duration` (seconds) that fits `kills` kills. */
export function minimumDurationSeconds(kills: number): number {
  return Math.ceil((Math.max(kills, 2) * MIN_SLOT_MS) / TROUBLE_SHARE / 1000);
}

/**
 * The script of a run of `durationMs` with `kills` kills, in time order. The run is cut into
 * slots (at least two, for the two stretches of faults); kill `i` comes a quarter into slot
 * `i` (users have been talking to a working bot), the bot stays down for 35 % of the slot (at
 * most 8 s), and the faults of slot 0 (network) and slot 1 (429 storm) begin just as the bot
 * comes back, while it catches up on its backlog.
 */
export function planTimeline(durationMs: number, kills: number): TimelineStep[] {
  const slots = Math.max(kills, 2);
  const slotMs = (durationMs * TROUBLE_SHARE) / slots;
  if (slotMs < MIN_SLOT_MS) {
    throw new UnlostError("INVALID_ARGUMENT", `--duration ${Math.round(durationMs / 1000)} is too short for ${kills} kills: give at least ${minimumDurationSeconds(kills)} seconds`);
  }
  const steps: TimelineStep[] = [];
  const downMs = Math.min(8_000, slotMs * 0.35);
  for (let i = 0; i < kills; i++) {
    const at = Math.round(i * slotMs + slotMs * 0.25);
    steps.push({ at, kind: "kill", index: i + 1 });
    steps.push({ at: Math.round(at + downMs), kind: "restart", index: i + 1 });
  }
  const troubleAt = (slot: number): number => Math.round(slot * slotMs + slotMs * 0.25 + downMs);
  steps.push({ at: troubleAt(0), kind: "network-faults", durationMs: Math.round(Math.min(6_000, slotMs * 0.35)) });
  const floodMs = Math.round(Math.min(5_000, slotMs * 0.35));
  steps.push({ at: troubleAt(1), kind: "flood", durationMs: floodMs, retryAfter: Math.max(1, Math.min(3, Math.round(floodMs / 2000))) });
  // A restart goes before faults planned at the same moment: the bot meets them as it comes back.
  const order = { kill: 0, restart: 1, "network-faults": 2, flood: 3 } as const;
  return steps.sort((a, b) => a.at - b.at || order[a.kind] - order[b.kind]);
}
