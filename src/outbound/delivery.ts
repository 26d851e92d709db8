/**
 * The delivery loop: takes queued jobs from the durable outbox (chat heads, by priority then
 * age), paces them to Telegram's limits, sends each once per attempt, classifies failures, and
 * records every outcome. A crash at any point loses nothing: a claimed job whose process died
 * is taken over when its claim expires, and only a request already on the wire may have been
 * delivered twice (counted as ambiguous).
 */
import { GrammyError, type Api } from "grammy";
import { UnlostError } from "../errors/index.js";
import { BatchWriter } from "../shared/batch-writer.js";
import { StoreRetry } from "../shared/store-retry.js";
import { Waker } from "../shared/waker.js";
import type { Logger } from "../runtime/logger.js";
import type { OutboxStore } from "../store/index.js";
import type { BlobStore } from "./blobs.js";
import { withCallTimeout } from "./call-timeout.js";
import { classifySendError } from "./classify.js";
import type { SendPacer, Slot } from "./pacing.js";
import { decodePayload } from "./payload.js";
import { findMethod } from "./validate.js";
import type { ClaimedJob, Job, JobClaim, JobOutcome, TelegramAnswer } from "./types.js";
import { markDirect } from "./update-scope.js";

/** 429 answers after which a job fails anyway (they do not count toward `maxAttempts`). */
const MAX_RATE_LIMITED = 100;

/** Options of {@link DeliveryLoop}. */
export interface DeliveryOptions {
  readonly store: OutboxStore;
  /** The Api to send with (its calls run outside the outbox transformer). */
  readonly api: Api;
  readonly blobs: BlobStore;
  /** In memory (one process) or shared through the store (every process of the bot). */
  readonly pacer: SendPacer;
  readonly owner: string;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Claim lease, ms; must exceed the longest per-attempt timeout. */
  readonly leaseMs: number;
  /** How long to sleep when idle (enqueues wake it at once), ms. */
  readonly idleMs: number;
  /** Called after a chat was marked unreachable (so the inbound side can clear it when the user writes). */
  readonly onUnreachable?: (chatId: number | string) => void;
  /** Called after a job reached a final state (delivered or failed). */
  readonly onFinal: (job: { id: string; state: "delivered"; result: string | null } | { id: string; state: "failed" }) => void;
}

/** Counters of the delivery loop since start. */
export interface DeliveryStats {
  readonly sent: number;
  readonly delivered: number;
  readonly retried: number;
  readonly failed: number;
  readonly ambiguous: number;
  readonly responses429: number;
  readonly deferred: number;
  readonly inFlight: number;
}

interface Settle {
  claim: JobClaim;
  outcome: JobOutcome;
  job: ClaimedJob;
}

/** Sends queued jobs until stopped. */
export class DeliveryLoop {
  private readonly active = new Map<string, ClaimedJob>();
  private readonly outcomes = new BatchWriter<Settle>((batch) => this.record(batch));
  /** Outcomes the store could not take are recorded again (see StoreRetry), not dropped. */
  private readonly recordRetry = new StoreRetry();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly waker = new Waker();
  private readonly counters = { sent: 0, delivered: 0, retried: 0, failed: 0, ambiguous: 0, responses429: 0, deferred: 0 };

  constructor(private readonly options: DeliveryOptions) {}

  /** Starts sending. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** There may be new work (after an enqueue or a settle). */
  wake(): void {
    this.waker.wake();
  }

  /** Counts a handler's direct send (see direct-send.ts) with the loop's own. */
  countDirect(outcome: { delivered: boolean; ambiguous: boolean; retryAfterMs: number | undefined }): void {
    this.counters.sent++;
    if (outcome.delivered) this.counters.delivered++;
    if (outcome.ambiguous) this.counters.ambiguous++;
    if (outcome.retryAfterMs !== undefined) this.counters.responses429++;
  }

  /** True while sending (started, not stopping). */
  get sending(): boolean {
    return this.loop !== undefined && !this.stopping;
  }

  /** Counters so far. */
  stats(): DeliveryStats {
    return { ...this.counters, inFlight: this.active.size };
  }

  /**
   * Stops claiming; requests in flight finish (or time out) within `deadlineMs` and are
   * recorded. Whatever is still unsettled then is taken over after a restart.
   */
  async stop(deadlineMs: number): Promise<{ abandoned: number }> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = undefined;
    const deadline = Date.now() + deadlineMs;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.recordRetry.flushNow();
    await this.outcomes.flush();
    return { abandoned: this.active.size };
  }

  private async run(): Promise<void> {
    const { store, owner, leaseMs, concurrency, clock, logger, idleMs, pacer } = this.options;
    while (!this.stopping) {
      this.waker.reset();
      const free = concurrency - this.active.size;
      let claimed: ClaimedJob[] = [];
      // Claim only what the global pace allows now, so jobs are not claimed just to wait.
      const allowed = Math.min(free, pacer.globalCapacity());
      if (allowed > 0) {
        try {
          claimed = await store.claim({ owner, limit: allowed, leaseMs, now: clock() });
        } catch (error) {
          logger.error({ err: error }, "claiming outgoing messages failed; retrying");
        }
        // The batch's slots are reserved before claiming more: a shared pacer learns from
        // that answer how much the other processes left.
        await this.begin(claimed);
      }
      if (this.stopping) break;
      if (claimed.length === 0 || this.active.size >= concurrency || allowed < free) {
        if (!this.waker.woken) await this.waker.sleep(allowed < free && allowed === 0 ? Math.max(1, Math.min(idleMs, pacer.nextReadyInMs())) : idleMs);
      }
    }
  }

  private async begin(jobs: readonly ClaimedJob[]): Promise<void> {
    const { clock } = this.options;
    const now = clock();
    const ready: ClaimedJob[] = [];
    for (const job of jobs) {
      this.active.set(job.id, job);
      if (job.recovered) {
        // The previous claim's process died (or stalled), maybe with this request on the wire:
        // that attempt may have been delivered, so the next one could duplicate it. Record it
        // as an ambiguous attempt of its own (the job's history and ambiguous count survive a
        // crash; a counter in memory would not), then send again from a fresh claim.
        this.counters.ambiguous++;
        this.finish(job, { kind: "retry", at: now, error: "the process sending this message stopped before recording the answer (crash or stall); it may have been delivered, sending again", code: null, ambiguous: true });
      } else if (job.deadline !== null && now > job.deadline) {
        this.finish(job, { kind: "failed", reason: "deadline", error: `not delivered before its deadline (${new Date(job.deadline).toISOString()}); a stale message is not sent`, code: null, attempted: false });
      } else {
        ready.push(job);
      }
    }
    const reachable = (await Promise.all(ready.map((job) => this.reachable(job)))).filter((job): job is ClaimedJob => job !== undefined);
    // Only calls that post a message count against Telegram's flood limits.
    const paced = reachable.filter((job) => findMethod(job.method)?.paced !== false);
    for (const job of reachable) if (findMethod(job.method)?.paced === false) void this.send(job);
    if (paced.length === 0) return;
    let slots: readonly Slot[];
    try {
      slots = await this.options.pacer.reserveMany(paced.map((job) => ({ chatId: job.chatId, paidBroadcast: job.paidBroadcast })));
    } catch (error) {
      this.options.logger.error({ err: error }, "reserving send slots failed");
      slots = paced.map(() => ({ ok: false, waitMs: 1_000 }));
    }
    paced.forEach((job, i) => {
      const slot = slots[i] ?? { ok: false, waitMs: 1_000 };
      if (!slot.ok) {
        this.counters.deferred++;
        this.finish(job, { kind: "defer", at: clock() + slot.waitMs });
      } else if (slot.delayMs > 0) {
        setTimeout(() => this.sendInSlot(job), slot.delayMs);
      } else {
        void this.send(job);
      }
    });
  }

  /** The job when its chat is reachable; else it is settled here and undefined returned. */
  private async reachable(job: ClaimedJob): Promise<ClaimedJob | undefined> {
    const { store, clock, logger } = this.options;
    try {
      const unreachable = await store.isUnreachable(job.chatId);
      if (unreachable === null) return job;
      this.finish(job, { kind: "failed", reason: "unreachable", error: `chat ${String(job.chatId)} is unreachable (${unreachable.reason}); jobs to it fail at once until the user writes to the bot again`, code: null, attempted: false });
    } catch (error) {
      logger.error({ err: error, jobId: job.id }, "checking the chat's reachability failed");
      this.finish(job, { kind: "defer", at: clock() + 1_000 });
    }
    return undefined;
  }

  /** A slot granted ahead has come: sends, unless a 429 meanwhile says to wait (then deferred). */
  private sendInSlot(job: ClaimedJob): void {
    const penalty = this.options.pacer.penaltyMs({ chatId: job.chatId, paidBroadcast: job.paidBroadcast });
    if (penalty > 0) {
      this.counters.deferred++;
      this.finish(job, { kind: "defer", at: this.options.clock() + penalty });
      return;
    }
    void this.send(job);
  }

  private async send(job: ClaimedJob): Promise<void> {
    const { api, blobs, clock, pacer, logger } = this.options;
    this.counters.sent++;
    let outcome: JobOutcome;
    try {
      const payload = decodePayload(job.payload, blobs);
      // The job's chat is the target: a retarget (group → supergroup) moves the job, not its
      // stored payload, which still names the old group.
      if ("chat_id" in payload) payload["chat_id"] = job.chatId;
      const raw = api.raw as unknown as Record<string, (p: unknown, s?: AbortSignal) => Promise<unknown>>;
      const call = raw[job.method];
      if (call === undefined) throw new UnlostError("INVALID_ARGUMENT", `grammY has no Bot API method ${job.method}`);
      const result = await withCallTimeout(job.timeoutMs, (signal) => call.call(api.raw, markDirect(payload), signal));
      outcome = { kind: "delivered", result: JSON.stringify(result ?? null), messageId: messageIdOf(result) };
    } catch (error) {
      const verdict = classifySendError(error);
      const now = clock();
      const attempt = job.attempts + 1;
      switch (verdict.kind) {
        case "retry": {
          if (verdict.ambiguous) this.counters.ambiguous++;
          if (verdict.retryAfterMs !== undefined) {
            this.counters.responses429++;
            pacer.penalize(verdict.scope === "chat" ? job.chatId : "global", verdict.retryAfterMs);
          }
          // A 429 is Telegram pacing the bot, not a failure of the send: it does not use up one
          // of `maxAttempts` (under a 30 % 429 storm, 5 attempts gave up on ~1 send in 400, and a
          // handler's keyed send that gave up fails its update on every retry). Up to
          // MAX_RATE_LIMITED of them per job, so that a bot flooded for days still ends.
          const rateLimited = job.history.filter((h) => h.code === 429).length + (verdict.retryAfterMs === undefined ? 0 : 1);
          const failures = attempt - rateLimited;
          const exhausted = verdict.retryAfterMs === undefined ? failures >= job.maxAttempts : rateLimited >= MAX_RATE_LIMITED;
          if (exhausted) {
            outcome = { kind: "failed", reason: "attempts", error: `${verdict.reason} (gave up after ${attempt} attempts${rateLimited > 0 ? `, ${rateLimited} of them answered 429` : ""})`, code: codeOf(error), ambiguous: verdict.ambiguous, ...answerOf(error) };
          } else {
            // A 429 waits exactly what Telegram asks; backing off on top of it slowed a chat
            // under a 429 storm by 2, 4, 8, 16 s where Telegram asked for 1.
            const wait = verdict.retryAfterMs ?? backoffMs(job, Math.max(1, failures));
            outcome = { kind: "retry", at: now + wait, error: verdict.reason, code: codeOf(error), ambiguous: verdict.ambiguous, ...answerOf(error) };
          }
          break;
        }
        case "migrate":
          // A group migrates once; a chain of migrations means something is wrong: stop.
          outcome = job.history.filter((h) => h.outcome === "retarget").length >= 3
            ? { kind: "failed", reason: "permanent", error: `the chat kept answering "migrated" (last to ${verdict.toChatId}); giving up after 3 moves`, code: codeOf(error), ...answerOf(error) }
            : { kind: "retarget", chatId: verdict.toChatId, at: now, error: `the group became supergroup ${verdict.toChatId}; sending there`, ...answerOf(error) };
          break;
        case "unreachable":
          await this.options.store.markUnreachable(job.chatId, verdict.reason, now).catch((e: unknown) => logger.warn({ err: e }, "marking a chat unreachable failed"));
          this.options.onUnreachable?.(job.chatId);
          outcome = { kind: "failed", reason: "unreachable", error: verdict.reason, code: codeOf(error), ...answerOf(error) };
          break;
        case "unauthorized":
          logger.fatal({ jobId: job.id }, "Telegram rejected the bot token (401) while sending; check BOT_TOKEN");
          outcome = { kind: "failed", reason: "unauthorized", error: verdict.reason, code: 401, ...answerOf(error) };
          break;
        case "permanent":
          outcome = { kind: "failed", reason: "permanent", error: verdict.reason, code: codeOf(error), ...answerOf(error) };
          break;
      }
    }
    this.finish(job, outcome);
  }

  private finish(job: ClaimedJob, outcome: JobOutcome): void {
    // One transaction for every outcome of this turn of the event loop.
    this.outcomes.add({ claim: job.claim, outcome, job });
  }

  private async record(batch: Settle[]): Promise<void> {
    const { store, logger, clock, onFinal } = this.options;
    let results: readonly string[];
    try {
      results = await store.settleMany(batch.map((s) => ({ claim: s.claim, outcome: s.outcome })), { now: clock() });
    } catch (error) {
      // Kept (and their jobs in flight) until the store takes them: dropped, a job would block
      // its chat until its claim expired, and then be sent again.
      const retryInMs = this.recordRetry.schedule(error, () => { for (const s of batch) this.outcomes.add(s); });
      if (retryInMs !== undefined) {
        logger.warn({ err: error, count: batch.length, retryInMs }, "recording send outcomes failed; retrying");
        return;
      }
      logger.error({ err: error, count: batch.length }, "recording send outcomes failed; the jobs are taken over when their claims expire");
      for (const s of batch) this.active.delete(s.job.id);
      return;
    }
    this.recordRetry.succeeded();
    batch.forEach((s, i) => {
      this.active.delete(s.job.id);
      if (results[i] === "stale") {
        logger.warn({ jobId: s.job.id }, "a send outcome arrived after the job was taken over; not recorded");
        return;
      }
      const o = s.outcome;
      if (o.kind === "delivered" || o.kind === "failed") {
        if (o.kind === "delivered") this.counters.delivered++;
        else {
          this.counters.failed++;
          logger.warn({ jobId: s.job.id, chatId: s.job.chatId, method: s.job.method, reason: o.reason, error: o.error }, "message not delivered; it is in the outbox dead letters");
        }
        if (o.kind === "delivered" && s.job.blobs.length > 0) void this.removeBlobsOf(s.job).catch(() => undefined);
        onFinal(o.kind === "delivered" ? { id: s.job.id, state: "delivered", result: o.result } : { id: s.job.id, state: "failed" });
      } else if (o.kind === "retry") {
        this.counters.retried++;
      }
    });
    this.wake();
  }

  /**
   * Removes a delivered job's files. The jobs of a broadcast share its files (spilled once):
   * they go only when no job of the broadcast may still send them (none queued, in flight, or
   * failed, since a dead letter may be retried). Files left behind by a crash are swept at start.
   */
  private async removeBlobsOf(job: ClaimedJob): Promise<void> {
    const { store, blobs } = this.options;
    if (job.broadcastId !== null) {
      const progress = await store.broadcastProgress(job.broadcastId);
      if (progress !== null && (progress.remaining > 0 || progress.failed > 0)) return;
    }
    await blobs.remove(job.blobs);
  }
}

function backoffMs(job: Job, attempt: number): number {
  const exact = Math.min(job.backoff.maxMs, job.backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(exact * (1 + job.backoff.jitter * (Math.random() * 2 - 1))));
}

function codeOf(error: unknown): number | null {
  const code = (error as { error_code?: unknown })?.error_code;
  return typeof code === "number" ? code : null;
}

/**
 * Telegram's own words when it refused the call: kept beside unlost's explanation so a
 * handler awaiting the send gets the `GrammyError` Telegram's answer makes (see transformer.ts).
 */
function answerOf(error: unknown): { answer?: TelegramAnswer } {
  if (!(error instanceof GrammyError)) return {};
  const { migrate_to_chat_id, retry_after } = error.parameters;
  const parameters = { ...(migrate_to_chat_id === undefined ? {} : { migrate_to_chat_id }), ...(retry_after === undefined ? {} : { retry_after }) };
  return { answer: Object.keys(parameters).length === 0 ? { description: error.description } : { description: error.description, parameters } };
}

/** The message id in a send's result (the first of an album), or null. */
export function messageIdOf(result: unknown): number | null {
  const first = Array.isArray(result) ? result[0] : result;
  const id = (first as { message_id?: unknown } | null)?.message_id;
  return typeof id === "number" ? id : null;
}
