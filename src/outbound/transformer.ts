/**
 * The grammY API transformer that routes a bot's sends through the outbox. Inside a handler,
 * `ctx.reply(...)` and `ctx.api.sendMessage(...)` are enqueued durably with a deterministic key
 * (the update, the call's position in the handler, the method) and the handler awaits the real
 * result: if the process crashes and the update is handled again, calls that were delivered
 * already return their stored result instead of being sent twice. Calls that are not sends
 * (getUpdates, getMe, getFile, …) pass straight through.
 */
import type { Transformer } from "grammy";
import type { Outbox } from "./outbox.js";
import type { FailureReason } from "./types.js";
import { isDirect, type UpdateScope } from "./update-scope.js";

/**
 * Builds the transformer. Installed on `bot.api` without a scope (sends made outside handlers
 * are durable, without a key), and on each update's `ctx.api` with that update's scope (its
 * sends get deterministic keys). The per-update one is the outermost, so it handles the
 * context's sends and the bot-wide one only sees what it passes through.
 */
export function outboxTransformer(outbox: Outbox, scope?: UpdateScope): Transformer {
  const transformer: Transformer = async (prev, method, payload, signal) => {
    if (isDirect(payload) || !outbox.handles(method, payload as Record<string, unknown> | undefined)) return prev(method, payload, signal);
    // Outside handlers (e.g. a scheduled job) a send is still durable, just without a key.
    const idempotencyKey = scope === undefined ? undefined : `${scope.updateKey}:${scope.calls++}:${method}`;
    const options = { priority: "high", ...(idempotencyKey === undefined ? {} : { idempotencyKey }) } as const;
    // A handler's send is protected by its update (see `sendFromHandler`); one outside
    // handlers is acknowledged like any `outbox.send`.
    const ids = await (scope === undefined ? outbox.send(method, payload as Record<string, unknown>, options) : outbox.sendFromHandler(method, payload as Record<string, unknown>, options));
    // grammY types its signal with a polyfill's AbortSignal; at run time it is Node's.
    const job = await outbox.waitForFinal(ids[0] as string, (signal ?? undefined) as AbortSignal | undefined);
    if (job.state === "delivered") return { ok: true, result: JSON.parse(job.result ?? "null") as never };
    // Answer as Telegram would, so grammY throws its usual GrammyError to the handler.
    return {
      ok: false,
      error_code: job.history.at(-1)?.code ?? codeWithoutAnswer(job.failureReason),
      description: job.lastError ?? "not delivered",
    } as never;
  };
  // Only the bot-wide one is ever looked up (per-update ones live on `ctx.api`, not `bot.api`).
  if (scope === undefined) ownTransformers.add(transformer);
  return transformer;
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
