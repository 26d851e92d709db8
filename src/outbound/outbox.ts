/**
 * The outbox API: every outgoing Bot API call is validated at once (bad input throws
 * synchronously, nothing bad is enqueued), then stored durably and delivered by the delivery
 * loop — retried, paced, classified, audited. `send` resolves with the job id(s) as soon as the
 * job is on disk.
 */
import { EventEmitter } from "node:events";
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import { BatchWriter } from "../shared/batch-writer.js";
import type { EnqueueResult, OutboxDeadLetterListOptions, OutboxDeadLetterSelector, OutboxStore, Page } from "../store/index.js";
import type { BlobStore } from "./blobs.js";
import type { DirectSender, HandlerSendOutcome } from "./direct-send.js";
import type { UpdateScope } from "./update-scope.js";
import { newBroadcastId, newJobId } from "./ids.js";
import { sendFingerprint } from "./fingerprint.js";
import { encodePayload } from "./payload.js";
import { PreparedJob } from "./prepared-job.js";
import type { BroadcastProgress, Job, JobBackoff, NewJob, OutboxStats, Priority } from "./types.js";
import { fileLimit, findMethod, validateSend } from "./validate.js";

/**
 * {@link Outbox.handles}, before an outbox exists: a runtime decides which of `bot.api`'s calls
 * before `start()` wait for the outbox.
 */
export function outboxHandles(method: string, payload: Record<string, unknown> | undefined): boolean {
  return outboxHandlesMethod(method) && payload !== undefined && payload["chat_id"] !== undefined && payload["chat_id"] !== null;
}

/** The part of {@link outboxHandles} known from the method alone: calls of it with a chat go through the outbox. */
export function outboxHandlesMethod(method: string): boolean {
  // A chat action is a momentary hint: durable and late is worse than lost.
  return method.toLowerCase() !== "sendchataction" && findMethod(method) !== undefined;
}

/** Options of one send. Every field is optional. */
export interface SendOptions {
  /** Default `normal` (`high` for sends made inside handlers and for `notify`). */
  priority?: Priority;
  /** Attempts before the job fails. Default 5. */
  attempts?: number;
  /** Backoff between attempts. Default 2 000 ms doubling, capped at 5 min, ± 20 %. */
  backoff?: Partial<JobBackoff>;
  /** Per-attempt timeout, ms. Default 30 000 (uploads: 120 000). */
  timeoutMs?: number;
  /** Not sent after this time (epoch ms or Date): a stale notification fails with reason `deadline`. */
  deadline?: number | Date;
  /** Not sent before this time (epoch ms or Date). */
  notBefore?: number | Date;
  /** The same key enqueued twice is one job. */
  idempotencyKey?: string;
  /** Anything to keep with the job (JSON-serialisable). */
  metadata?: Record<string, unknown>;
  /** Never log the metadata nor keep the payload in the audit log. */
  sensitive?: boolean;
  /** sendMessage only: split plain text over 4096 characters into several messages. */
  split?: boolean;
}

/** Resolved defaults of the outbox. */
export interface OutboxDefaults {
  readonly attempts: number;
  readonly backoff: JobBackoff;
  readonly timeoutMs: number;
  readonly uploadTimeoutMs: number;
}

/** The defaults of {@link SendOptions}: 5 attempts, 2 s doubling to 5 min, 30 s per attempt. */
export const DEFAULT_OUTBOX_DEFAULTS: OutboxDefaults = {
  attempts: 5,
  backoff: { baseMs: 2_000, maxMs: 300_000, jitter: 0.2 },
  timeoutMs: 30_000,
  uploadTimeoutMs: 120_000,
};

/** A notification for {@link Outbox.notify}. */
export interface Notification {
  /** Shown in bold above the text. */
  title?: string;
  text: string;
  /** A label kept in the job's metadata (e.g. "order-shipped"). */
  type?: string;
}

/** Dead-letter operations of the outbox. */
export interface OutboxDeadLetters {
  /** A page of failed jobs (filter by chat, error text, reason). */
  list(options?: OutboxDeadLetterListOptions): Promise<Page<Job>>;
  /** Puts failed jobs back in their chats' queues; returns how many. */
  retry(selector: OutboxDeadLetterSelector): Promise<number>;
  /** Deletes failed jobs and their files for good; returns how many. */
  purge(selector: OutboxDeadLetterSelector): Promise<number>;
}

/** @internal A final state as the delivery loop reports it (the result of a delivered job). */
export type FinalState = { readonly state: "delivered"; readonly result: string | null } | { readonly state: "failed" };

/** Why a send of an update adopted from a dead process may repeat one (see `NewJob.mayRepeat`). */
const MAY_REPEAT_AFTER_CRASH = "an earlier run of this update was cut off by a crash and may have sent this already; sent again (a duplicate rather than a loss)";

/** Handler sends waiting to be stored with the rest of their turn's. */
interface PendingEnqueue {
  readonly jobs: NewJob[];
  readonly resolve: (results: EnqueueResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  readonly store: OutboxStore;
  readonly blobs: BlobStore;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly defaults?: Partial<OutboxDefaults>;
  /** Called after jobs were stored (wakes the delivery loop). */
  readonly onEnqueued?: () => void;
  /**
   * Resolves when what was stored may be acknowledged (the store's flush, see
   * `acknowledgeGate`): `send`, `notify` and `broadcast` resolve only after it. Default: at once.
   */
  readonly acknowledge?: () => Promise<void>;
}

/** The durable outbox of a bot. */
export class Outbox {
  private readonly events = new EventEmitter();
  private readonly defaults: OutboxDefaults;

  private direct: DirectSender | undefined;
  private readonly handlerSends = new BatchWriter<PendingEnqueue>((batch) => this.storeHandlerSends(batch));

  constructor(private readonly options: OutboxOptions) {
    this.defaults = { ...DEFAULT_OUTBOX_DEFAULTS, ...options.defaults };
    this.events.setMaxListeners(0);
  }

  /**
   * True when a call goes through the outbox: a send-type method addressed to a chat. Calls
   * without a chat (answering a button press, editing an inline message) must happen within
   * seconds or not at all, so they go straight to Telegram.
   */
  handles(method: string, payload: Record<string, unknown> | undefined): boolean {
    return outboxHandles(method, payload);
  }

  /**
   * Enqueues any send-type Bot API call. Throws synchronously (`INVALID_ARGUMENT`, saying
   * what and how to fix) on bad input; resolves with the job ids once they are stored: one id,
   * or several when `split` cut a long text.
   *
   * @example
   * ```ts
   * const [id] = await outbox.send("sendMessage", { chat_id: 42, text: "hi" }, { priority: "high" });
   * ```
   */
  send(method: string, payload: Record<string, unknown>, options: SendOptions = {}): Promise<string[]> {
    return this.store(this.prepare(method, payload, options, null).jobs, true);
  }

  /**
   * @internal A send made by a handler through `ctx` (the outbox transformer): like `send`,
   * but resolved once committed, without waiting for the flush. Its update is on disk and is
   * handled again if the job is lost with a power cut, so the send is made again then; and
   * the handler's `await` ends with the delivery, not with this.
   */
  async sendFromHandler(method: string, payload: Record<string, unknown>, options: SendOptions, scope?: Pick<UpdateScope, "direct" | "mayRepeat">): Promise<HandlerSendOutcome> {
    const prepared = await this.prepare(method, payload, options, null).jobs;
    const jobs = scope?.mayRepeat === true ? prepared.map((job) => ({ ...job, mayRepeat: MAY_REPEAT_AFTER_CRASH })) : prepared;
    // The first run of a fresh update may send without storing a job first (direct-send.ts).
    if (scope?.direct === true && this.direct !== undefined) return this.direct.send(jobs);
    return { kind: "queued", results: await this.enqueueFromHandler(jobs) };
  }

  /**
   * @internal Stores a handler's jobs. Handlers send concurrently (one per chat in flight):
   * their jobs are stored together, one transaction per turn of the event loop instead of one
   * per reply.
   */
  enqueueFromHandler(jobs: NewJob[]): Promise<EnqueueResult[]> {
    return new Promise((resolve, reject) => this.handlerSends.add({ jobs, resolve, reject }));
  }

  /** @internal Resolves once every direct send delivered so far is recorded. */
  directRecorded(): Promise<void> {
    return this.direct?.flush() ?? Promise.resolve();
  }

  /** @internal Lets handlers' first-run sends go direct (set by the outbound service). */
  useDirectSender(sender: DirectSender): void {
    this.direct = sender;
  }


  /** Sends a text message. */
  sendText(chatId: number | string, text: string, options: SendOptions & { parse_mode?: string; reply_markup?: unknown } = {}): Promise<string[]> {
    const { parse_mode, reply_markup, ...rest } = options;
    return this.send("sendMessage", { chat_id: chatId, text, ...(parse_mode ? { parse_mode } : {}), ...(reply_markup ? { reply_markup } : {}) }, rest);
  }

  /** Sends a photo: a Buffer, a stream, `{ path }`, an InputFile, a file_id or a URL. */
  sendPhoto(chatId: number | string, photo: unknown, options: SendOptions & { caption?: string } = {}): Promise<string[]> {
    const { caption, ...rest } = options;
    return this.send("sendPhoto", { chat_id: chatId, photo, ...(caption === undefined ? {} : { caption }) }, rest);
  }

  /** Sends a document (up to 50 MB). */
  sendDocument(chatId: number | string, document: unknown, options: SendOptions & { caption?: string } = {}): Promise<string[]> {
    const { caption, ...rest } = options;
    return this.send("sendDocument", { chat_id: chatId, document, ...(caption === undefined ? {} : { caption }) }, rest);
  }

  /** Sends a voice note. */
  sendVoice(chatId: number | string, voice: unknown, options: SendOptions & { caption?: string } = {}): Promise<string[]> {
    const { caption, ...rest } = options;
    return this.send("sendVoice", { chat_id: chatId, voice, ...(caption === undefined ? {} : { caption }) }, rest);
  }

  /** Sends a location. */
  sendLocation(chatId: number | string, latitude: number, longitude: number, options: SendOptions = {}): Promise<string[]> {
    return this.send("sendLocation", { chat_id: chatId, latitude, longitude }, options);
  }

  /** Sends an album of 2–10 photos, videos, documents or audios. */
  sendMediaGroup(chatId: number | string, media: readonly unknown[], options: SendOptions = {}): Promise<string[]> {
    return this.send("sendMediaGroup", { chat_id: chatId, media }, options);
  }

  /**
   * Notifies a user the bot has seen (their private chat is looked up), high priority by default.
   * Fails with `INVALID_ARGUMENT` when the user never wrote to the bot.
   */
  async notify(userId: number, notification: Notification, options: SendOptions = {}): Promise<string> {
    const chatId = await this.options.store.chatOfUser(userId);
    if (chatId === null) {
      throw new UnlostError("INVALID_ARGUMENT", `cannot notify user ${userId}: the bot has never seen them in a private chat (a user must write to the bot first)`, { details: { userId } });
    }
    const text = notification.title === undefined ? notification.text : `${notification.title}\n\n${notification.text}`;
    const entities = notification.title === undefined ? undefined : [{ type: "bold", offset: 0, length: notification.title.length }];
    const metadata = { ...options.metadata, notification: notification.type ?? "notification" };
    const [id] = await this.send("sendMessage", { chat_id: chatId, text, ...(entities ? { entities } : {}) }, { priority: "high", ...options, metadata });
    return id as string;
  }

  /**
   * Enqueues one message to many chats as a broadcast: progress, pause, resume and cancel by
   * its id. Invalid input throws before anything is stored; jobs are stored in bulk.
   */
  async broadcast(chatIds: readonly (number | string)[], method: string, payload: Record<string, unknown>, options: SendOptions = {}): Promise<{ broadcastId: string; jobs: number }> {
    // With an idempotency key the broadcast is a single thing: enqueueing it again (after a
    // crash, by a restarted process) finds the same jobs and the same id.
    const broadcastId = options.idempotencyKey === undefined ? newBroadcastId(this.options.clock()) : `b-${options.idempotencyKey}`;
    const badChat = chatIds.find((c) => !(Number.isSafeInteger(c) || (typeof c === "string" && /^(@\w{4,}|-?\d+)$/.test(c))));
    if (badChat !== undefined) {
      throw new UnlostError("INVALID_ARGUMENT", `broadcast chat ids must be integers or "@channelusername"; got ${JSON.stringify(badChat)}`, { details: { method } });
    }
    if (chatIds.length === 0) return { broadcastId, jobs: 0 };
    const { idempotencyKey: _key, ...rest } = options;
    // Validate once with the first chat (the payload is the same for every chat), spill files once.
    const jobs = await this.prepare(method, { ...payload, chat_id: chatIds[0] }, rest, broadcastId).jobs;
    const templates = jobs.map((job) => ({ job, fields: JSON.parse(job.payload) as Record<string, unknown> }));
    const now = this.options.clock();
    let count = 0;
    // Built and stored a slice at a time, so a million chats never sit in memory as jobs.
    for (let i = 0; i < chatIds.length; i += 5_000) {
      const slice: NewJob[] = [];
      for (const chatId of chatIds.slice(i, i + 5_000)) {
        templates.forEach(({ job, fields }, part) => {
          const key = options.idempotencyKey === undefined ? null : `${options.idempotencyKey}:${String(chatId)}${templates.length > 1 ? `#${part}` : ""}`;
          slice.push({ ...job, id: newJobId(now), chatId, payload: JSON.stringify({ ...fields, chat_id: chatId }), idempotencyKey: key });
        });
      }
      await this.options.store.enqueue(slice, { now });
      count += slice.length;
      this.options.onEnqueued?.();
    }
    await this.options.acknowledge?.();
    return { broadcastId, jobs: count };
  }

  /** Progress of a broadcast (sent / failed / remaining). */
  broadcastProgress(broadcastId: string): Promise<BroadcastProgress | null> {
    return this.options.store.broadcastProgress(broadcastId);
  }

  /** Pauses a broadcast (its queued jobs wait). */
  pauseBroadcast(broadcastId: string): Promise<boolean> {
    return this.options.store.pauseBroadcast(broadcastId);
  }

  /** Resumes a paused broadcast. */
  async resumeBroadcast(broadcastId: string): Promise<boolean> {
    const resumed = await this.options.store.resumeBroadcast(broadcastId, { now: this.options.clock() });
    this.options.onEnqueued?.();
    return resumed;
  }

  /** Cancels a broadcast: its queued jobs are cancelled; returns how many. */
  async cancelBroadcast(broadcastId: string): Promise<number> {
    const removed = await this.options.store.cancelBroadcast(broadcastId, { now: this.options.clock() });
    // The jobs of a broadcast share their files, and jobs in flight or failed (retriable) still
    // need them: the files are left to the sweep at the next start, which keeps referenced ones.
    return removed.count;
  }

  /** A job's status: state, attempts, last error, result message id, timestamps, history. */
  status(jobId: string): Promise<Job | null> {
    return this.options.store.get(jobId);
  }

  /** Queue stats: counts by state and priority, oldest waiting age, send rate. */
  stats(): Promise<OutboxStats> {
    return this.options.store.stats({ now: this.options.clock() });
  }

  /**
   * Dead letters (jobs that failed for good): list, retry (one / all / by error: back in their
   * chats' queues, delivered at once), purge (deleted with their files).
   */
  get deadLetters(): OutboxDeadLetters {
    const dead = this.options.store.deadLetters;
    return {
      list: (options) => dead.list(options),
      retry: async (selector) => {
        const n = await dead.retry(selector, { now: this.options.clock() });
        this.options.onEnqueued?.();
        return n;
      },
      purge: async (selector) => {
        const removed = await dead.purge(selector);
        if (removed.blobs.length > 0) {
          // Jobs of a broadcast share their files: keep those other jobs still reference.
          const stillUsed = new Set(await this.options.store.openBlobs());
          await this.options.blobs.remove(removed.blobs.filter((b) => !stillUsed.has(b))).catch(() => undefined);
        }
        return removed.count;
      },
    };
  }

  /** The audit log of what was sent. */
  get audit(): OutboxStore["audit"] {
    return this.options.store.audit;
  }

  /** Resolves once the job is delivered or failed for good (`signal` stops waiting). */
  async waitForFinal(jobId: string, signal?: AbortSignal): Promise<Job> {
    for (;;) {
      const job = await this.options.store.get(jobId);
      if (job === null) throw new UnlostError("INVALID_ARGUMENT", `there is no outbox job ${jobId}`);
      if (job.state === "delivered" || job.state === "failed" || job.state === "cancelled") return job;
      await new Promise<void>((resolve, reject) => {
        const onFinal = (): void => finish();
        // A slow safety net: another process may deliver it (several workers on one store).
        const timer = setTimeout(() => finish(), 1_000);
        const onAbort = (): void => finish(new UnlostError("STOPPED", `stopped waiting for outbox job ${jobId}`, { cause: signal?.reason }));
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          this.events.off(jobId, onFinal);
          signal?.removeEventListener("abort", onAbort);
          if (error === undefined) resolve();
          else reject(error);
        };
        this.events.once(jobId, onFinal);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (signal?.aborted) onAbort();
      });
    }
  }

  /**
   * @internal Resolves once the job is delivered (with its result, from memory when this
   * process delivered it) or ended undelivered (with the stored job, which says why). `fresh`:
   * the job was just created by this process, so it cannot be final yet and the store is not
   * read first (a reply costs no reads; the 1 s safety net still reads).
   */
  async waitForOutcome(jobId: string, signal: AbortSignal | undefined, fresh: boolean): Promise<{ state: "delivered"; result: string | null } | { state: "failed" | "cancelled"; job: Job }> {
    if (fresh) {
      const final = await this.nextFinal(jobId, signal);
      if (final?.state === "delivered") return { state: "delivered", result: final.result };
    }
    const job = await this.waitForFinal(jobId, signal);
    return job.state === "delivered" ? { state: "delivered", result: job.result } : { state: job.state as "failed" | "cancelled", job };
  }

  /** The next final state this process reports for the job, or undefined after 1 s (another process may settle it). */
  private nextFinal(jobId: string, signal: AbortSignal | undefined): Promise<FinalState | undefined> {
    return new Promise<FinalState | undefined>((resolve, reject) => {
      const onFinal = (final: FinalState): void => finish(undefined, final);
      const timer = setTimeout(() => finish(), 1_000);
      const onAbort = (): void => finish(new UnlostError("STOPPED", `stopped waiting for outbox job ${jobId}`, { cause: signal?.reason }));
      const finish = (error?: Error, final?: FinalState): void => {
        clearTimeout(timer);
        this.events.off(jobId, onFinal);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) resolve(final);
        else reject(error);
      };
      this.events.once(jobId, onFinal);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** @internal The delivery loop reports final states here (wakes `waitForFinal`). */
  jobFinished(jobId: string, final?: FinalState): void {
    this.events.emit(jobId, final);
  }

  /**
   * Validates synchronously (throwing `INVALID_ARGUMENT`) and returns the job ids at once, with
   * a promise of the jobs to store (files are spilled to blobs asynchronously).
   */
  prepare(method: string, payload: Record<string, unknown>, options: SendOptions, broadcastId: string | null): { ids: string[]; jobs: Promise<NewJob[]> } {
    const checked = validateSend(method, payload, { split: options.split === true });
    if (checked.chatId === null) {
      throw new UnlostError("INVALID_ARGUMENT", `${checked.method} has no chat to send to; the outbox takes calls addressed to a chat`, { details: { method: checked.method } });
    }
    const now = this.options.clock();
    const attempts = options.attempts ?? this.defaults.attempts;
    if (!Number.isInteger(attempts) || attempts < 1) throw invalidOption("attempts", "a whole number ≥ 1", attempts);
    const priority = options.priority ?? "normal";
    if (!["critical", "high", "normal", "low"].includes(priority)) throw invalidOption("priority", '"critical", "high", "normal" or "low"', priority);
    const deadline = options.deadline === undefined ? null : +options.deadline;
    const notBefore = options.notBefore === undefined ? now : +options.notBefore;
    if (deadline !== null && !Number.isFinite(deadline)) throw invalidOption("deadline", "a Date or epoch milliseconds", options.deadline);
    if (!Number.isFinite(notBefore)) throw invalidOption("notBefore", "a Date or epoch milliseconds", options.notBefore);
    const hasFiles = Object.keys(checked.spec.files).length > 0 || checked.spec.mediaGroup === true;
    const timeoutMs = options.timeoutMs ?? (hasFiles ? this.defaults.uploadTimeoutMs : this.defaults.timeoutMs);
    const backoff = { ...this.defaults.backoff, ...options.backoff };
    const metadata = options.metadata === undefined ? null : JSON.stringify(options.metadata);
    const ids = checked.parts.map(() => newJobId(now));
    const jobs = Promise.all(checked.parts.map(async (part, index) => {
      const { json, blobs, identity } = await encodePayload(part, this.options.blobs, (field) => fileLimit(checked.method, field));
      const key = options.idempotencyKey === undefined ? null : checked.parts.length > 1 ? `${options.idempotencyKey}#${index}` : options.idempotencyKey;
      // A class instance, not an object literal: one per send (see `RunScope` in update-scope.ts on V8's pretenuring).
      return new PreparedJob(
        ids[index] as string, checked.method, checked.chatId as number | string, json, priority, attempts, backoff, timeoutMs, notBefore, deadline, key,
        sendFingerprint(checked.method, identity), metadata, options.sensitive === true, broadcastId, blobs, checked.paidBroadcast,
      );
    }));
    // Observed by the caller; this keeps an early spill failure from being reported as unhandled.
    jobs.catch(() => undefined);
    return { ids, jobs };
  }

  /**
   * Stores the jobs of a turn's handler sends in one transaction. If that fails, each send is
   * stored on its own, so one bad job (refused by the store's checks) fails only its sender.
   */
  private async storeHandlerSends(batch: PendingEnqueue[]): Promise<void> {
    if (batch.length > 1) {
      const all = batch.flatMap((b) => b.jobs);
      let results: EnqueueResult[] | undefined;
      try {
        results = await this.stored(all);
      } catch {
        results = undefined;
      }
      if (results !== undefined) {
        let at = 0;
        for (const b of batch) {
          b.resolve(results.slice(at, at + b.jobs.length));
          at += b.jobs.length;
        }
        return;
      }
    }
    for (const b of batch) await this.stored(b.jobs).then(b.resolve, b.reject);
  }

  private async store(prepared: Promise<NewJob[]>, acknowledged: boolean): Promise<string[]> {
    const results = await this.stored(await prepared);
    // Delivery may start meanwhile: a message sent before its job is flushed is at worst sent
    // again after a power cut, never lost.
    if (acknowledged) await this.options.acknowledge?.();
    return results.map((r) => r.id);
  }

  /** Enqueues, logs diverging replays, drops the files of sends that were stored already, wakes delivery. */
  private async stored(jobs: NewJob[]): Promise<EnqueueResult[]> {
    const results = await this.options.store.enqueue(jobs, { now: this.options.clock() });
    for (const [i, result] of results.entries()) {
      if (result.diverged === true) {
        const job = jobs[i] as NewJob;
        this.options.logger.debug({ jobId: result.id, key: job.idempotencyKey, method: job.method, chatId: job.chatId }, "a replayed send differs from the one stored under its key; it is sent as a new message");
      }
    }
    // A job that existed already (same idempotency key) keeps its own files; drop the new copies.
    const duplicates = jobs.filter((_, i) => results[i]?.created === false).flatMap((j) => j.blobs);
    if (duplicates.length > 0) await this.options.blobs.remove(duplicates).catch(() => undefined);
    this.options.onEnqueued?.();
    return [...results];
  }
}

function invalidOption(name: string, expected: string, got: unknown): UnlostError {
  return new UnlostError("INVALID_ARGUMENT", `send option "${name}" must be ${expected}; got ${JSON.stringify(got)}`, { details: { option: name } });
}
