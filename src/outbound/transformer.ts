/**
 * The grammY API transformer that routes a bot's sends through the outbox. Inside a handler,
 * `ctx.reply(...)` and `ctx.api.sendMessage(...)` are enqueued durably with a deterministic key
 * (the update, the call's position in the handler, the method) and the handler awaits the real
 * result: if the process crashes and the update is handled again, calls that were delivered
 * already return their stored result instead of being sent twice. Calls that are not sends
 * (getUpdates, getMe, getFile, …) pass straight through.
 */
import type { Transformer } from "grammy";
import { isUnlostError } from "../errors/index.js";
import { telegramAnswerIn } from "./classify.js";
import { outboxHandles, type Outbox } from "./outbox.js";
import { UnlostGrammyError } from "./send-error.js";
import type { EnqueueResult } from "../store/index.js";
import type { FailureReason, Job, Priority, TelegramAnswer } from "./types.js";
import { isDirect, type UpdateScope } from "./update-scope.js";

/**
 * The outbox, or how to get it once it exists: `bot.api`'s transformer is installed when the
 * runtime is created, and a send made before `start()` waits for the outbox to be opened.
 */
export type OutboxSource = Outbox | (() => Promise<Outbox>);

/**
 * Builds the transformer. Installed on `bot.api` without a scope (sends made outside handlers
 * are durable, without a key), and on each update's `ctx.api` with that update's scope (its
 * sends get deterministic keys). The per-update one is the outermost, so it handles the
 * context's sends and the bot-wide one only sees what it passes through.
 *
 * A send that is not delivered rejects with an {@link UnlostGrammyError}: grammY's
 * `GrammyError` with Telegram's code, description and parameters. It is thrown here rather
 * than answered as `{ ok: false }` (which grammY would turn into a plain `GrammyError`) so
 * that unlost's own account travels with it.
 */
export function outboxTransformer(source: OutboxSource, scope?: UpdateScope): Transformer {
  const transformer: Transformer = async (prev, method, payload, signal) => {
    const p = payload as Record<string, unknown> | undefined;
    if (isDirect(payload) || !outboxHandles(method, p)) {
      if (scope?.rerun === true && method === "answerCallbackQuery") return answeredBefore(prev(method, payload, signal)) as never;
      return prev(method, payload, signal);
    }
    // grammY types its signal with a polyfill's AbortSignal; at run time it is Node's.
    return sendThroughOutbox(source, keyOf(scope, method), method, p as Record<string, unknown>, (signal ?? undefined) as AbortSignal | undefined) as never;
  };
  // Only the bot-wide one is ever looked up (per-update ones live on `ctx.api`, not `bot.api`).
  if (scope === undefined) ownTransformers.add(transformer);
  return transformer;
}

/** Telegram's refusal of an answer to a button press that was answered already, or is too old. */
const QUERY_ANSWERED_OR_OLD = /query is too old and response timeout expired or query ID is invalid/i;

/**
 * A button press answered again by a later run of its update (a retry, or the run after a
 * kill): the earlier run may have answered it, and Telegram refuses a second answer with 400
 * "query is too old … or query ID is invalid". Failing the run for it would fail every later
 * run the same way (the menu plugin answers each press), until the update is a dead letter and
 * its session writes are lost. Answered before, or too late to answer: either way there is
 * nothing left to do, so the call resolves as answered.
 */
async function answeredBefore<R extends { ok: boolean; error_code?: number; description?: string }>(call: Promise<R>): Promise<R | { ok: true; result: true }> {
  const answer = await call;
  if (!answer.ok && answer.error_code === 400 && QUERY_ANSWERED_OR_OLD.test(answer.description ?? "")) return { ok: true, result: true };
  return answer;
}

/** Telegram's answer to a send that was delivered. */
export interface DeliveredAnswer {
  readonly ok: true;
  readonly result: unknown;
}

/**
 * How a send is keyed: `{ idempotencyKey }` for a send of an update's handling (its position in
 * the update's scope, see {@link keyOf}), or `undefined` for one outside handlers (durable,
 * without a key).
 */
export type SendKey = { readonly idempotencyKey: string; readonly scope: UpdateScope } | undefined;

/**
 * The key of the next send of `scope` (none without a scope): the update, the send's position
 * among the update's sends, the method. Taken when the call is made, before anything is
 * awaited, so concurrent sends get their positions in the order they were made.
 */
export function keyOf(scope: UpdateScope | undefined, method: string): SendKey {
  return scope === undefined ? undefined : new ScopedKey(`${scope.updateKey}:${scope.calls++}:${method}`, scope);
}

/**
 * A {@link SendKey}, and the options of a keyed send: class instances rather than object
 * literals, made for every reply (see `RunScope` in update-scope.ts on V8's pretenuring).
 */
class ScopedKey {
  constructor(readonly idempotencyKey: string, readonly scope: UpdateScope) {}
}
class KeyedSendOptions {
  constructor(readonly priority: Priority, readonly idempotencyKey: string) {}
}

/**
 * One send through the outbox, as {@link outboxTransformer} makes it (and, for an `Api` a
 * plugin built from the bot's options, `ApiCloneRouter`): keyed and protected by its update
 * when `key` is given, else durable without a key; resolves with Telegram's answer once
 * delivered.
 *
 * @param key from {@link keyOf}
 * @param method a method the outbox handles (see `outboxHandles`)
 * @param signal stops waiting for the delivery (the job stays queued)
 * @throws UnlostGrammyError when the send is refused (`invalid`) or ends undelivered
 */
export async function sendThroughOutbox(source: OutboxSource, key: SendKey, method: string, fields: Record<string, unknown>, signal?: AbortSignal): Promise<DeliveredAnswer> {
  const outbox = typeof source === "function" ? await source() : source;
  // Outside handlers (e.g. a scheduled job) a send is still durable, just without a key, and
  // waits behind users' replies (`normal`): background work never delays an answer to a user.
  const options = key === undefined ? ({ priority: "normal" } as const) : new KeyedSendOptions(key.scope.priority ?? "high", key.idempotencyKey);
  let id: string;
  let fresh: boolean;
  try {
    if (key === undefined) {
      // Acknowledged like any `outbox.send`: resolved once stored and flushed.
      id = (await outbox.send(method, fields, options))[0] as string;
      fresh = false;
    } else {
      // A handler's send is protected by its update (see `sendFromHandler`); on the update's
      // first run it may leave direct (see direct-send.ts).
      const sending = outbox.sendFromHandler(method, fields, options, key.scope);
      // PENDING: `Array.of`, not `[]`. V8 allocates an array or object literal whose objects
      // mostly outlive a scavenge straight in the old generation (it pretenures the literal's
      // site; measured: 98.9 % of these arrays were old at birth), and a dead old array keeps
      // the run's send alive until the next full GC. Builtins and class instances are never
      // pretenured (see inbound/update-api.ts).
      const scope = key.scope;
      if (scope.pending === undefined) scope.pending = Array.of<Promise<unknown>>(sending);
      else scope.pending.push(sending);
      const sent = await sending;
      if (sent.kind === "delivered") {
        key.scope.sentDirect = true;
        return { ok: true, result: sent.result };
      }
      const stored = sent.results[0] as EnqueueResult;
      id = stored.id;
      // A job this send created cannot be final yet: its result is awaited without a read.
      fresh = stored.created;
    }
  } catch (error) {
    // Refused before it was enqueued: grammY users catch Telegram's 400 for the same mistake.
    if (!isUnlostError(error, "INVALID_ARGUMENT")) throw error;
    const telegram = error.details["telegram"];
    const field = error.details["field"];
    const code = field === "method" ? 404 : 400;
    const description = code === 404 ? "Not Found" : `Bad Request: ${typeof telegram === "string" ? telegram : `${typeof field === "string" ? field : "request"} is invalid`}`;
    throw new UnlostGrammyError(method, fields, code, { description }, { reason: error.message, failureReason: "invalid", jobId: null, answeredByTelegram: false, validationError: error });
  }
  const outcome = await outbox.waitForOutcome(id, signal, fresh);
  if (outcome.state === "delivered") return { ok: true, result: JSON.parse(outcome.result ?? "null") as unknown };
  throw notDelivered(method, fields, outcome.job);
}

/**
 * The error for a job that ended undelivered: Telegram's last answer when there was one (kept
 * in the job's history), else the answer that marked its chat unreachable, else what Telegram
 * would have said.
 */
function notDelivered(method: string, payload: Record<string, unknown>, job: Job): UnlostGrammyError {
  const reason = job.lastError ?? "not delivered";
  const last = job.history.at(-1);
  const failure = { reason, failureReason: job.failureReason ?? "permanent", jobId: job.id } as const;
  if (last?.outcome === "failed" && last.answer !== undefined && last.code !== null) {
    return new UnlostGrammyError(method, payload, last.code, last.answer, { ...failure, answeredByTelegram: true });
  }
  // A chat marked unreachable fails its later jobs without a request: the answer that marked
  // it is quoted in the reason.
  const quoted = job.failureReason === "unreachable" ? telegramAnswerIn(reason) : undefined;
  if (quoted !== undefined) return new UnlostGrammyError(method, payload, quoted.code, { description: quoted.description }, { ...failure, answeredByTelegram: false });
  const answer: TelegramAnswer = { description: reason };
  return new UnlostGrammyError(method, payload, (last?.outcome === "failed" ? last.code : null) ?? codeWithoutAnswer(job.failureReason), answer, { ...failure, answeredByTelegram: false });
}

/**
 * unlost's own bot-wide transformers: they pass getUpdates through untouched, so polling may
 * bypass them (see `GetUpdatesClient`).
 */
const ownTransformers = new WeakSet<Transformer>();

/** True when `transformer` is one of unlost's own bot-wide transformers. */
export function isUnlostTransformer(transformer: unknown): boolean {
  return typeof transformer === "function" && ownTransformers.has(transformer as Transformer);
}

/**
 * The code to answer with when the job failed without an answer from Telegram: a chat marked
 * unreachable fails fast without a request, and the handler must see the 403 it would have
 * got (bots commonly catch 403 to forget blocked users), not a 5xx that invites a retry.
 */
function codeWithoutAnswer(reason: FailureReason | null): number {
  switch (reason) {
    case "unreachable": return 403;
    case "unauthorized": return 401;
    case "permanent": return 400;
    default: return 500;
  }
}
