/**
 * `GET /healthz` and `GET /readyz`. Liveness says only that the process answers (a restart
 * would not help with anything else). Readiness says whether the bot keeps up: the store
 * answers, updates arrive (polling, standing by for another instance, or webhook), and the
 * oldest unfinished update is younger than `maxBacklogAgeMs`. Each failed check gives its
 * reason, so that an alert or `kubectl describe` says what is wrong.
 *
 * @module
 */
import type { AdminSource, UpdatesState } from "./source.js";
import { probeStore } from "./store-probe.js";

/** One check of {@link Readiness}. */
export interface ReadinessCheck {
  readonly ok: boolean;
  /** Why it failed (absent when ok). Never holds a secret. */
  readonly reason?: string;
}

/** The answer of `GET /readyz`. */
export interface Readiness {
  readonly ready: boolean;
  /** The reasons of the failed checks, in one list (empty when ready). */
  readonly reasons: readonly string[];
  readonly checks: {
    readonly store: ReadinessCheck;
    /** Absent for a store served without a bot (`unlost dashboard`). */
    readonly updates?: ReadinessCheck & { readonly state: UpdatesState };
    readonly backlog: ReadinessCheck & { readonly oldestAgeSeconds: number | null; readonly maxAgeSeconds: number };
  };
}

/** The answer of `GET /healthz`. */
export interface Liveness {
  readonly alive: true;
  /** Seconds since the process started. */
  readonly uptimeSeconds: number;
}

/** Liveness: the process runs its event loop, which answering proves. */
export function liveness(): Liveness {
  return { alive: true, uptimeSeconds: Math.round(process.uptime()) };
}

/** Runs the readiness checks. Never rejects. */
export async function readiness(source: AdminSource, maxBacklogAgeMs: number): Promise<Readiness> {
  const probe = await probeStore(source);
  const store: ReadinessCheck = probe.ok ? { ok: true } : { ok: false, reason: probe.reason };
  const maxAgeSeconds = maxBacklogAgeMs / 1_000;
  let backlog: Readiness["checks"]["backlog"];
  if (!probe.ok) {
    backlog = { ok: false, reason: "unknown: the store did not answer", oldestAgeSeconds: null, maxAgeSeconds };
  } else {
    const age = probe.inbox.oldestOpenAgeMs;
    backlog = age <= maxBacklogAgeMs
      ? { ok: true, oldestAgeSeconds: age / 1_000, maxAgeSeconds }
      : { ok: false, reason: `the oldest unfinished update waits for ${formatAge(age)} (more than ${formatAge(maxBacklogAgeMs)}, admin.maxBacklogAgeMs): the bot is not keeping up`, oldestAgeSeconds: age / 1_000, maxAgeSeconds };
  }
  const updates = source.runtime === undefined ? undefined : updatesCheck(source.runtime.state());
  const failed = [store, updates, backlog].filter((c): c is ReadinessCheck => c !== undefined && !c.ok);
  const reasons = failed.map((c) => c.reason ?? "failed");
  return { ready: failed.length === 0, reasons, checks: { store, ...(updates === undefined ? {} : { updates }), backlog } };
}

function updatesCheck(state: UpdatesState): ReadinessCheck & { state: UpdatesState } {
  switch (state) {
    case "polling":
    case "standby":
    case "webhook":
      return { ok: true, state };
    case "starting":
      return { ok: false, state, reason: "the runtime is starting (opening the store, identifying the bot, recovering)" };
    case "stopped":
      return { ok: false, state, reason: "the runtime is stopped or stopping" };
  }
}

function formatAge(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
