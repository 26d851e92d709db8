/**
 * Direct sends: a handler's reply leaves at once, without a job stored (and claimed, and
 * settled) before it, and is recorded as a delivered job after Telegram answered, before the
 * handler's `await` returns.
 *
 * Why this keeps the promise. A send made during an update's *first run* is protected by its
 * update, which is not complete until the run ends: if the process dies before the send is
 * recorded, the update runs again and the send is made again under the same key (at worst a
 * duplicate, never a loss: unlost prefers a duplicate). Nothing is acknowledged to anyone by a
 * handler's send, so nothing waits for an fsync either. A run that is not the first (a retry,
 * an update recovered from a dead process, a retried dead letter) may find its sends stored
 * under their keys, so it never sends direct: its sends go through the durable queue, which
 * looks them up.
 *
 * What stays as it was: the chat's order (a chat with jobs queued or in flight sends through
 * the queue; a handler's sends to one chat leave one after the other), the pacing (a direct
 * send takes its slot from the same pacer; none free: queued), and every failure: a send that
 * Telegram refuses, or that fails on the network, is queued as a job and the delivery loop
 * takes it from there (retries, backoff, `retry_after`, dead letters, unreachable chats).
 * Only sends without files, to one chat, in one message, go direct.
 *
 * Cost: one indexed read (the chat's queue) before the send, one insert after it, batched per
 * turn of the event loop; against an insert, a claim and a settle, each with the chat's queue
 * head, and three transactions (bench:echo).
 *
 * @module
 */
import type { Api } from "grammy";
import type { Logger } from "../runtime/logger.js";
import { BatchWriter } from "../shared/batch-writer.js";
import type { DeliveredSend, EnqueueResult, OutboxStore } from "../store/index.js";
import { withCallTimeout } from "./call-timeout.js";
import { messageIdOf } from "./delivery.js";
import { classifySendError } from "./classify.js";
import type { PacingKey, SendPacer } from "./pacing.js";
import type { NewJob } from "./types.js";
import { markDirect } from "./update-scope.js";
import { findMethod } from "./validate.js";

/** What became of a handler's send. */
export type HandlerSendOutcome =
  | { readonly kind: "delivered"; readonly result: unknown }
  | { readonly kind: "queued"; readonly results: EnqueueResult[] };

/** Options of {@link DirectSender}. */
export interface DirectSenderOptions {
  readonly store: Pick<OutboxStore, "recordDelivered" | "chatHasPending">;
  /** The Api to send with (its calls run outside the outbox transformer). */
  readonly api: Api;
  /** The delivery loop's pacer: direct sends count against the same limits. */
  readonly pacer: SendPacer;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Stores jobs in the durable queue (the outbox's handler enqueue). */
  readonly enqueue: (jobs: NewJob[]) => Promise<EnqueueResult[]>;
  /** Counts a direct send's outcome in the delivery stats. */
  readonly count: (outcome: { delivered: boolean; ambiguous: boolean; retryAfterMs: number | undefined }) => void;
  /** False once sending stops (shutdown): sends are queued. */
  readonly active: () => boolean;
}

/** Ended chats' entries kept in `DirectSender.tails` before they are dropped in bulk. */
const MAX_ENDED_TAILS = 4096;

/** What a direct send that Telegram accepted resolves with (a class: see `RunScope` in update-scope.ts on V8's pretenuring). */
class Delivered {
  readonly kind = "delivered";
  constructor(readonly result: unknown) {}
}

/** A {@link DeliveredSend} (a class, as {@link Delivered}). */
class DeliveredRecord implements DeliveredSend {
  constructor(readonly job: NewJob, readonly result: string, readonly messageId: number | null, readonly at: number) {}
}

/** Sends handlers' replies direct where that is safe (see the module's comment). */
export class DirectSender {
  /**
   * Per chat, the end of the handler sends in progress there: the next one waits for it. A
   * chat whose sends ended keeps its entry (`undefined`) until such entries are dropped in bulk:
   * deleting and re-adding an entry per send made the map rehash over and over, and V8 promotes
   * the tables (old-generation growth while a backlog drains, bench:echo).
   */
  private readonly tails = new Map<string, Promise<unknown> | undefined>();
  /** Entries of `tails` that are `undefined`. */
  private endedTails = 0;
  private readonly recorder: BatchWriter<DeliveredSend>;

  constructor(private readonly options: DirectSenderOptions) {
    this.recorder = new BatchWriter((batch) => this.record(batch));
  }

  /**
   * Sends `jobs` (one handler call) direct when it can, otherwise stores them in the queue.
   * Resolves with Telegram's result, or with the stored jobs (to be awaited as usual).
   */
  send(jobs: NewJob[]): Promise<HandlerSendOutcome> {
    const chat = String((jobs[0] as NewJob).chatId);
    const previous = this.tails.get(chat);
    const run = previous === undefined ? this.sendNow(jobs) : previous.then(() => this.sendNow(jobs));
    const tail = run.catch(() => undefined);
    if (previous === undefined && this.tails.has(chat)) this.endedTails--;
    this.tails.set(chat, tail);
    void tail.then(() => this.ended(chat, tail));
    return run;
  }

  /** Chats with an entry in `tails` (ended ones included; bounded). */
  get trackedChats(): number {
    return this.tails.size;
  }

  /** The chat's last send so far ended: its entry stays, marked ended (see `tails`). */
  private ended(chat: string, tail: Promise<unknown>): void {
    if (this.tails.get(chat) !== tail) return;
    this.tails.set(chat, undefined);
    if (++this.endedTails <= MAX_ENDED_TAILS || this.endedTails * 2 <= this.tails.size) return;
    for (const [key, value] of this.tails) if (value === undefined) this.tails.delete(key);
    this.endedTails = 0;
  }

  /** Written what was delivered so far (called on stop, before the store closes). */
  flush(): Promise<void> {
    return this.recorder.flush();
  }

  private async sendNow(jobs: NewJob[]): Promise<HandlerSendOutcome> {
    const { store, pacer, clock, enqueue, active } = this.options;
    const job = jobs[0] as NewJob;
    const eligible = jobs.length === 1 && job.blobs.length === 0 && active() && !(await store.chatHasPending(job.chatId));
    if (!eligible) return { kind: "queued", results: await enqueue(jobs) };
    if (findMethod(job.method)?.paced !== false) {
      // The job is its own pacing key; `Array.of`, not a literal (see PENDING in transformer.ts).
      const [slot] = await pacer.reserveMany(Array.of<PacingKey>(job));
      if (slot === undefined || !slot.ok) return { kind: "queued", results: await enqueue(jobs) };
      // A shared pacer may grant a slot a little ahead (never beyond its horizon, ~1 s).
      if (slot.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, slot.delayMs));
      if (pacer.penaltyMs(job) > 0) return { kind: "queued", results: await enqueue(jobs) };
    }
    let result: unknown;
    // Requests in flight are bounded by the handlers running (inbox.concurrency), each waiting
    // for its own reply: capping them lower (tried: the outbox's concurrency) only made
    // batches smaller and the drain slower (bench:echo).
    try {
      result = await this.call(job);
    } catch (error) {
      return { kind: "queued", results: await enqueue([this.afterFailure(job, error)]) };
    }
    this.options.count({ delivered: true, ambiguous: false, retryAfterMs: undefined });
    this.recorder.add(new DeliveredRecord(job, JSON.stringify(result ?? null), messageIdOf(result), clock()));
    // On record before the handler goes on: a process killed after the handler's `await`
    // returned (the next step of a conversation, the next reply) must not send it again when
    // the update runs again. Written with the rest of the turn's replies, one transaction.
    await this.recorder.written();
    return new Delivered(result);
  }

  private async call(job: NewJob): Promise<unknown> {
    const { api } = this.options;
    const payload = JSON.parse(job.payload) as Record<string, unknown>;
    const raw = api.raw as unknown as Record<string, (p: unknown, s?: AbortSignal) => Promise<unknown>>;
    const method = raw[job.method];
    if (method === undefined) throw new Error(`grammY has no Bot API method ${job.method}`);
    return withCallTimeout(job.timeoutMs, (signal) => method.call(api.raw, markDirect(payload), signal));
  }

  /**
   * A direct send failed: the job goes to the queue, due when Telegram allows (`retry_after`)
   * or at once. The delivery loop then does what it does with any failed attempt; a refusal
   * (400, 403) is asked once more there, and fails with Telegram's answer.
   */
  private afterFailure(job: NewJob, error: unknown): NewJob {
    const { pacer, clock, logger } = this.options;
    const verdict = classifySendError(error);
    const retryAfterMs = verdict.kind === "retry" ? verdict.retryAfterMs : undefined;
    const ambiguous = verdict.kind === "retry" && verdict.ambiguous;
    if (retryAfterMs !== undefined) pacer.penalize(verdict.kind === "retry" && verdict.scope === "chat" ? job.chatId : "global", retryAfterMs);
    this.options.count({ delivered: false, ambiguous, retryAfterMs });
    logger.debug({ jobId: job.id, chatId: job.chatId, method: job.method, reason: verdict.reason }, "a direct send failed; it is queued for the delivery loop");
    return {
      ...job,
      ...(retryAfterMs === undefined ? {} : { notBefore: Math.max(job.notBefore, clock() + retryAfterMs) }),
      // No answer came: it may have been delivered, and the queued job may repeat it.
      ...(ambiguous ? { mayRepeat: `sent direct, no answer (${verdict.reason}); it may have been delivered` } : {}),
    };
  }

  private async record(batch: DeliveredSend[]): Promise<void> {
    try {
      await this.options.store.recordDelivered(batch);
    } catch (error) {
      // Delivered, but not on record: a later run of the update would send them again.
      this.options.logger.error({ err: error, count: batch.length }, "recording delivered replies failed; if their updates run again, they are sent again");
    }
  }
}
