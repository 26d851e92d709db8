/**
 * The conditions the alert monitor watches. Each reads what it needs once per round and says
 * whether it holds, with a sentence an admin can act on.
 *
 * @module
 */
import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import type { Store } from "../../store/index.js";
import type { ResolvedAlertOptions } from "./options.js";

/** The verdict of one check in one round. */
export interface CheckResult {
  /** Stable name (the cool-down is kept per name). */
  readonly name: string;
  /** True while the condition holds. */
  readonly firing: boolean;
  /** What is wrong and what to do (when firing), or the current value (when not). */
  readonly text: string;
}

/** What the checks read; injectable so tests decide the values. */
export interface AlertProbes {
  /** Resident memory of the process, bytes. */
  rss(): number;
  /** Free bytes at the store's folder, or undefined when the store is not a local file. */
  diskFree(store: Store): Promise<number | undefined>;
  /** How long one read of the store's counts takes, ms, and the oldest unfinished update's age; rejects when the store fails. */
  storeRead(store: Store, now: number): Promise<{ readonly ms: number; readonly oldestOpenAgeMs: number }>;
  /** Until when the poller lease is held (ms epoch; in the past when nobody holds it), or null when it was never taken. */
  pollerLeaseExpiresAt(store: Store): Promise<number | null>;
}

/** What the poller check remembers between rounds. */
export interface PollerMemory {
  /** The first round that found the poller lease not held (runtime clock). */
  freeSince: number | undefined;
}

/** The name of the poller's lease in the store (see inbound/poller.ts). */
const POLLER_LEASE = "poller";

/** The real probes. */
export const SYSTEM_PROBES: AlertProbes = {
  rss: () => process.memoryUsage.rss(),
  async diskFree(store) {
    // A SQLite store's location is its file; an in-memory one has nothing on disk to watch.
    if (store.kind !== "sqlite" || store.location === ":memory:" || !store.location.startsWith("/")) return undefined;
    const fs = await statfs(dirname(store.location));
    return fs.bavail * fs.bsize;
  },
  async storeRead(store, now) {
    const started = performance.now();
    const stats = await store.inbox.stats({ now });
    return { ms: performance.now() - started, oldestOpenAgeMs: stats.oldestOpenAgeMs };
  },
  async pollerLeaseExpiresAt(store) {
    return (await store.leases.get(POLLER_LEASE))?.expiresAt ?? null;
  },
};

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;
const minutes = (ms: number): string => (ms < 1_000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${Math.round(ms / 1_000)} s` : `${Math.round(ms / 60_000)} min`);

/**
 * Runs every check once (the poller's only for a polling bot). Never rejects: a failing probe
 * is a firing check.
 */
export async function runChecks(store: Store, now: number, options: ResolvedAlertOptions, probes: AlertProbes, polling: PollerMemory | undefined): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const rss = probes.rss();
  results.push(rss > options.rssBytes
    ? { name: "memory", firing: true, text: `the bot's process uses ${mib(rss)} of memory (RSS), above ${mib(options.rssBytes)}: a leak, or too many updates held at once (inbox.concurrency, inbox.maxBuffered)` }
    : { name: "memory", firing: false, text: `memory back to ${mib(rss)} (RSS)` });
  try {
    const free = await probes.diskFree(store);
    if (free !== undefined) {
      results.push(free < options.diskFreeBytes
        ? { name: "disk", firing: true, text: `only ${mib(free)} free at the store's folder (${dirname(store.location)}), below ${mib(options.diskFreeBytes)}: when it is full, updates can no longer be stored. Free space or move the data folder` }
        : { name: "disk", firing: false, text: `${mib(free)} free again at the store's folder` });
    }
  } catch {
    // A folder that cannot be measured is not a reason to alarm: the store check says whether it works.
  }
  try {
    const read = await probes.storeRead(store, now);
    results.push(read.ms > options.storeSlowMs
      ? { name: "store", firing: true, text: `the store is slow: reading its counts took ${Math.round(read.ms)} ms (more than ${options.storeSlowMs} ms); another process may hold its lock, or the disk is overloaded` }
      : { name: "store", firing: false, text: `the store answers in ${Math.round(read.ms)} ms again` });
    results.push(read.oldestOpenAgeMs > options.backlogAgeMs
      ? { name: "backlog", firing: true, text: `the bot is not keeping up: the oldest unfinished update has waited ${minutes(read.oldestOpenAgeMs)} (more than ${minutes(options.backlogAgeMs)})` }
      : { name: "backlog", firing: false, text: "the backlog is handled: no update waits too long any more" });
    if (polling !== undefined) {
      const expiresAt = await probes.pollerLeaseExpiresAt(store);
      // Counted from when it lapsed, but not before it was first seen lapsed: a released lease
      // (expiresAt 0, a graceful hand-over) has not been "down since 1970". Never taken
      // (null): the runtime takes it at once on start.
      const free = expiresAt !== null && expiresAt <= now;
      if (!free) polling.freeSince = undefined;
      else polling.freeSince ??= now;
      const downMs = free ? now - Math.max(expiresAt, polling.freeSince ?? now) : 0;
      results.push(downMs > options.pollerDownMs
        ? { name: "poller", firing: true, text: `nobody polls Telegram for updates: the poller lease lapsed ${minutes(downMs)} ago (more than ${minutes(options.pollerDownMs)}); updates wait at Telegram (kept ~24 h). Check the instances' logs` }
        : { name: "poller", firing: false, text: "an instance polls for updates again" });
    }
  } catch (error) {
    results.push({ name: "store", firing: true, text: `the store fails: ${error instanceof Error ? error.message : String(error)}` });
  }
  return results;
}
