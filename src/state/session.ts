/**
 * grammY's `session` and `lazySession` with their data in unlost's store, written with the
 * completion of the update that changed it: exactly once, never for a try that failed or died.
 *
 * grammY's storage adapters get a key but no context, and unlost keeps no AsyncLocalStorage
 * (see `outbound/update-scope.ts`), so the adapter cannot find the update it writes for.
 * Instead, these middlewares make grammY's session middleware for each update with an adapter
 * bound to that update's try (a few small objects per update; the session's own read costs
 * more). Concurrent updates of different chats each have their own.
 *
 * @module
 */
import { lazySession, session, type Context, type LazySessionFlavor, type MiddlewareFn, type SessionFlavor, type SessionOptions } from "grammy";
import { AttemptAdapter } from "./attempt-adapter.js";
import { attemptDataOf } from "./attempt-data.js";
import { requirePrefix, SESSION_PREFIX } from "./prefix.js";

/**
 * Options of {@link unlostSession}: grammY's session options without `storage` (the data is in
 * unlost's store). `prefix` namespaces the keys and defaults to `"session:"`.
 */
export type UnlostSessionOptions<S, C extends Context = Context> = Omit<SessionOptions<S, C>, "storage" | "type">;

function checked<S, C extends Context>(options: UnlostSessionOptions<S, C>, name: string): UnlostSessionOptions<S, C> {
  return { ...options, prefix: requirePrefix(`${name}'s prefix`, options.prefix ?? SESSION_PREFIX) };
}

/**
 * grammY's `session()`, kept in unlost's store and committed with each update's completion.
 * `ctx.session` works as with grammY; what differs is when a change is saved:
 *
 * - with the completion of the update, in the same transaction: a try that throws, times out
 *   or dies with its process (`kill -9`) saves nothing, and its retry reads the session as it
 *   was before the first try. So a counter incremented by a handler is incremented exactly
 *   once per update, however many tries it took;
 * - a chat's next update reads the previous one's session even before that completion is
 *   written (unlost runs a chat's updates one at a time, in order).
 *
 * Only for a bot run by unlost (`createRuntime`, `unlost run`): elsewhere it throws
 * `INVALID_CONFIG`. Values must be JSON-serialisable. Keys are the session key (default: the
 * chat id) after `prefix` (default `"session:"`); read and write them outside handlers with
 * {@link unlostStorage}.
 *
 * @example
 * ```ts
 * type MyContext = Context & SessionFlavor<{ count: number }>;
 * const bot = new Bot<MyContext>(token);
 * bot.use(unlostSession({ initial: () => ({ count: 0 }) }));
 * bot.on("message", (ctx) => ctx.reply(`message #${++ctx.session.count}`));
 * await createRuntime(bot).start();
 * ```
 * @throws UnlostError `INVALID_ARGUMENT` for an empty `prefix`; when handling, `INVALID_CONFIG`
 * outside an unlost runtime and `INVALID_ARGUMENT` for a value without a JSON form.
 */
export function unlostSession<S, C extends Context = Context>(options: UnlostSessionOptions<S, C> = {}): MiddlewareFn<C & SessionFlavor<S>> {
  const base = checked(options, "unlostSession");
  return (ctx, next) => session<S, C>({ ...base, storage: new AttemptAdapter<S>(attemptDataOf(ctx, "unlostSession")) })(ctx, next);
}

/**
 * grammY's `lazySession()` (the session is read when `ctx.session` is first awaited), kept and
 * committed like {@link unlostSession}.
 *
 * @throws UnlostError as {@link unlostSession}.
 */
export function unlostLazySession<S, C extends Context = Context>(options: UnlostSessionOptions<S, C> = {}): MiddlewareFn<C & LazySessionFlavor<S>> {
  const base = checked(options, "unlostLazySession");
  return (ctx, next) => lazySession<S, C>({ ...base, storage: new AttemptAdapter<S>(attemptDataOf(ctx, "unlostLazySession")) })(ctx, next);
}
