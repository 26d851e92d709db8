/**
 * What `unlost status` reports, gathered from a store: inbox and outbox counts, liveness,
 * offline windows, dead letters grouped by error, unreachable chats.
 *
 * @module
 */
import { storedSchedules, type ScheduleStatus } from "../scheduler/index.js";
import { storedBreakers, type StoredBreaker } from "../guards/index.js";
import type { TaskCount, Store } from "../store/index.js";
import type { JobState, Priority } from "../outbound/types.js";
import { oneLine } from "./format.js";

/** Dead letters that share an error. */
export interface ErrorGroup {
  /** The error's first line (outbox: prefixed with the failure reason). */
  readonly error: string;
  /** How many dead letters have it. */
  readonly count: number;
}

/** The status of a bot's store at one moment (the `--json` output). */
export interface StatusReport {
  /** The store file. */
  readonly store: string;
  /** When the report was made (ms epoch). */
  readonly now: number;
  /** Whether a runtime beats on this store. */
  readonly bot: {
    /** The last heartbeat (ms epoch), or null when no runtime ever ran. */
    readonly lastHeartbeat: number | null;
    /** Age of that heartbeat, ms. */
    readonly heartbeatAgeMs: number | null;
    /** True when a runtime runs on the store (see {@link isBotRunning}). */
    readonly running: boolean;
  };
  /** The durable inbox. */
  readonly inbox: {
    readonly pending: number;
    readonly inflight: number;
    readonly done: number;
    readonly dead: number;
    readonly chatsWithWork: number;
    /** Age of the oldest unfinished update, ms (0 when none). */
    readonly oldestWaitingAgeMs: number;
  };
  /** The durable outbox. */
  readonly outbox: {
    readonly byState: Readonly<Record<JobState, number>>;
    readonly queuedByPriority: Readonly<Record<Priority, number>>;
    /** Age of the oldest queued job, ms (0 when none). */
    readonly oldestWaitingAgeMs: number;
    readonly deliveredLastMinute: number;
    /** Attempts whose answer was lost: such a message may have been delivered twice. */
    readonly ambiguousAttempts: number;
    /** Replayed sends that differed from the stored send under their key (each sent as a new message). */
    readonly divergedReplays: number;
  };
  /** The most recent offline windows, newest first. */
  readonly offlineWindows: ReadonlyArray<{ readonly from: number; readonly to: number; readonly durationMs: number }>;
  /** Dead letters grouped by error, most frequent first. */
  readonly deadLetters: { readonly inbox: readonly ErrorGroup[]; readonly outbox: readonly ErrorGroup[] };
  /** Chats marked unreachable (blocked the bot, deactivated, kicked). */
  readonly unreachableChats: number;
  /** The schedules recorded in the store: timing, last and next run, last result. */
  readonly schedules: readonly ScheduleStatus[];
  /** The circuit breakers' last recorded states (written by the processes that use them). */
  readonly breakers: readonly StoredBreaker[];
  /** Durable tasks by kind and state (kinds and states with none left out). */
  readonly tasks: readonly TaskCount[];
  /** Updates whose handling has taken longer than `olderThanMs`, oldest first. */
  readonly running: {
    /** The threshold (`--stuck-after`), ms. */
    readonly olderThanMs: number;
    /** At most {@link RUNNING_LIMIT} of them. */
    readonly updates: readonly RunningEntry[];
  };
}

/** An update whose handling has taken long (see {@link StatusReport.running}). */
export interface RunningEntry {
  readonly updateId: number;
  readonly chatKey: string;
  readonly updateType: string;
  /**
   * `row`: claimed, its handler running for `ageMs` (this try). `journal`: in its owner's
   * journal for `ageMs` since it was fetched, not yet completed: running, or waiting behind its
   * chat's earlier update (the journal does not record when a handler starts).
   */
  readonly where: "row" | "journal";
  /** How long, ms (see `where`). */
  readonly ageMs: number;
  /** The try running (1 for a journal update: the journal runs only first tries). */
  readonly attempt: number;
  /** The instance running it. */
  readonly owner: string;
}

/** Default of `--stuck-after`: far above a normal handler, well below the default handler timeout (5 min). */
export const DEFAULT_STUCK_AFTER_MS = 60_000;

/** At most this many running updates are listed. */
export const RUNNING_LIMIT = 50;

/** Dead letters read to group them; beyond this the groups are a sample (stated in the output). */
const GROUPING_LIMIT = 10_000;

/** How a store's liveness is judged: the runtime's heartbeat interval and how it receives updates. */
export interface LivenessOptions {
  /** The runtime's heartbeat interval, ms (default 5 000). */
  readonly heartbeatMs?: number;
  /** "webhook" when the bot receives by webhook (it holds no poller lease). */
  readonly mode?: "polling" | "webhook";
}

/**
 * True when a runtime runs on `store`: its heartbeat is recent (within three intervals) and,
 * when polling, the poller lease is held. The lease matters because a clean stop releases it,
 * while the last heartbeat stays recent for a few seconds after.
 */
export async function isBotRunning(store: Store, now: number, options: LivenessOptions = {}): Promise<boolean> {
  const beat = await store.state.lastBeat();
  if (beat === null || now - beat >= 3 * (options.heartbeatMs ?? 5_000)) return false;
  if (options.mode === "webhook") return true;
  const poller = await store.leases.get("poller");
  return poller !== null && poller.expiresAt > now;
}

/** Gathers the status of `store`. */
export async function statusReport(store: Store, options: LivenessOptions & { now: number; windows?: number; stuckAfterMs?: number }): Promise<StatusReport> {
  const { now } = options;
  const olderThanMs = options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
  const [inbox, outbox, lastBeat, windows, unreachable, running] = await Promise.all([
    store.inbox.stats({ now }),
    store.outbox.stats({ now }),
    store.state.lastBeat(),
    store.state.offlineWindows({ limit: options.windows ?? 5 }),
    store.outbox.listUnreachable(),
    isBotRunning(store, now, options),
  ]);
  const age = lastBeat === null ? null : Math.max(0, now - lastBeat);
  return {
    store: store.location,
    now,
    bot: { lastHeartbeat: lastBeat, heartbeatAgeMs: age, running },
    inbox: { pending: inbox.pending, inflight: inbox.inflight, done: inbox.done, dead: inbox.dead, chatsWithWork: inbox.chatsWithWork, oldestWaitingAgeMs: inbox.oldestOpenAgeMs },
    outbox: {
      byState: outbox.byState,
      queuedByPriority: outbox.queuedByPriority,
      oldestWaitingAgeMs: outbox.oldestQueuedAgeMs,
      deliveredLastMinute: outbox.deliveredLastMinute,
      ambiguousAttempts: outbox.ambiguousAttempts,
      divergedReplays: outbox.divergedReplays,
    },
    offlineWindows: windows.map((w) => ({ from: w.from, to: w.to, durationMs: w.durationMs })),
    deadLetters: { inbox: await inboxGroups(store), outbox: await outboxGroups(store) },
    unreachableChats: unreachable.length,
    running: { olderThanMs, updates: await runningUpdates(store, now, olderThanMs) },
    schedules: await storedSchedules(store),
    breakers: await storedBreakers(store),
    tasks: await store.tasks.counts(),
  };
}

/** Rows claimed and journal updates open for longer than `olderThanMs`, oldest first. */
async function runningUpdates(store: Store, now: number, olderThanMs: number): Promise<RunningEntry[]> {
  const before = now - olderThanMs;
  const [rows, journal] = await Promise.all([
    store.inbox.running({ claimedBefore: before, limit: RUNNING_LIMIT }),
    store.inbox.journal?.openUpdates({ receivedBefore: before, limit: RUNNING_LIMIT }) ?? [],
  ]);
  const entries: RunningEntry[] = [
    ...rows.map((r) => ({ updateId: r.updateId, chatKey: r.chatKey, updateType: r.updateType, where: "row" as const, ageMs: Math.max(0, now - r.claimedAt), attempt: r.attempt, owner: r.owner })),
    ...journal.map((j) => ({ updateId: j.updateId, chatKey: j.chatKey, updateType: j.updateType, where: "journal" as const, ageMs: Math.max(0, now - j.receivedAt), attempt: 1, owner: j.owner })),
  ];
  return entries.sort((a, b) => b.ageMs - a.ageMs || a.updateId - b.updateId).slice(0, RUNNING_LIMIT);
}

async function inboxGroups(store: Store): Promise<ErrorGroup[]> {
  const counts = new Map<string, number>();
  let cursor: string | null = null;
  let seen = 0;
  do {
    const page = await store.inbox.deadLetters.list({ limit: 1000, ...(cursor === null ? {} : { cursor }) });
    for (const d of page.items) counts.set(oneLine(d.error, 160), (counts.get(oneLine(d.error, 160)) ?? 0) + 1);
    seen += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null && seen < GROUPING_LIMIT);
  return sorted(counts);
}

async function outboxGroups(store: Store): Promise<ErrorGroup[]> {
  const counts = new Map<string, number>();
  let cursor: string | null = null;
  let seen = 0;
  do {
    const page = await store.outbox.deadLetters.list({ limit: 1000, ...(cursor === null ? {} : { cursor }) });
    for (const job of page.items) {
      const key = `${job.failureReason ?? "failed"}: ${oneLine(job.lastError ?? "(no error recorded)", 160)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    seen += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null && seen < GROUPING_LIMIT);
  return sorted(counts);
}

function sorted(counts: Map<string, number>): ErrorGroup[] {
  return [...counts].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count || a.error.localeCompare(b.error));
}
