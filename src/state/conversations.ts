/**
 * A storage for the conversations plugin (`@grammyjs/conversations` v2) in unlost's store: a
 * conversation's state is saved with the completion of each update it handled, so a step whose
 * try failed or died is replayed from the state before it, and its effects on the state apply
 * exactly once. The plugin hands its storage the context (`type: "context"`), which is how the
 * storage finds the update's try: no per-update setup is needed.
 *
 * unlost does not depend on the plugin: the types here are the shape its `storage` option
 * accepts.
 *
 * @module
 */
import type { Context } from "grammy";
import { AttemptAdapter } from "./attempt-adapter.js";
import { attemptDataOf } from "./attempt-data.js";
import { CONVERSATIONS_PREFIX, requirePrefix } from "./prefix.js";

/** Options of {@link unlostConversationStorage}. */
export interface UnlostConversationStorageOptions<C extends Context> {
  /** Namespace of the keys. Default `"conversations:"`. */
  readonly prefix?: string;
  /** The key of a context's conversations, after the prefix. Default: the chat id (none: nothing is stored). */
  readonly getStorageKey?: (ctx: C) => string | undefined;
  /**
   * The version of your conversation code, as the plugin's `storage.version`: state saved by
   * another version is discarded (the plugin cannot replay it). Default 0.
   */
  readonly version?: string | number;
}

/** Reads and writes the state of a context's conversations (the plugin's context adapter). */
export interface ConversationContextAdapter<C extends Context, V> {
  /** The state as this update's try sees it (a fresh copy), or undefined. */
  read(ctx: C): Promise<V | undefined>;
  /** Stages the state; committed with the update's completion. */
  write(ctx: C, state: V): void;
  /** Stages its deletion; committed with the update's completion. */
  delete(ctx: C): void;
}

/** The value for the conversations plugin's `storage` option (a context storage). */
export interface UnlostConversationStorage<C extends Context, V> {
  /** The plugin's storage kind: it passes the context to the adapter. */
  readonly type: "context";
  /** {@inheritDoc UnlostConversationStorageOptions.version} */
  readonly version: string | number;
  /** The adapter. */
  readonly adapter: ConversationContextAdapter<C, V>;
}

const chatKey = (ctx: Context): string | undefined => ctx.chatId?.toString();

/**
 * Storage for `conversations({ storage })` of `@grammyjs/conversations` v2, in unlost's store.
 * A conversation's state is saved with the completion of the update that advanced it (in the
 * same transaction), so:
 *
 * - a step whose try throws, times out or dies with its process saves nothing (the plugin
 *   saves its state even when the handler throws): the retry replays the step from the state
 *   before it, and what the step did to the state counts once;
 * - a conversation waiting for the user's next message survives restarts and crashes.
 *
 * Only for a bot run by unlost (elsewhere it throws `INVALID_CONFIG`). Keys are
 * `prefix` (default `"conversations:"`) and the chat id.
 *
 * @example
 * ```ts
 * bot.use(conversations({ storage: unlostConversationStorage() }));
 * bot.use(createConversation(async (conversation, ctx) => {
 *   await ctx.reply("Your name?");
 *   const { message } = await conversation.waitFor("message:text");
 *   await ctx.reply(`Hello, ${message.text}!`);
 * }, "greet"));
 * bot.command("start", (ctx) => ctx.conversation.enter("greet"));
 * ```
 * @throws UnlostError `INVALID_ARGUMENT` for an empty `prefix`.
 */
export function unlostConversationStorage<C extends Context = Context, V = unknown>(
  options: UnlostConversationStorageOptions<C> = {},
): UnlostConversationStorage<C, V> {
  const prefix = requirePrefix("unlostConversationStorage's prefix", options.prefix ?? CONVERSATIONS_PREFIX);
  const keyOf = options.getStorageKey ?? chatKey;
  const adapterOf = (ctx: C): AttemptAdapter<V> => new AttemptAdapter<V>(attemptDataOf(ctx, "unlostConversationStorage"));
  return {
    type: "context",
    version: options.version ?? 0,
    adapter: {
      read(ctx) {
        const key = keyOf(ctx);
        return key === undefined ? Promise.resolve(undefined) : adapterOf(ctx).read(prefix + key);
      },
      write(ctx, state) {
        const key = keyOf(ctx);
        if (key !== undefined) adapterOf(ctx).write(prefix + key, state);
      },
      delete(ctx) {
        const key = keyOf(ctx);
        if (key !== undefined) adapterOf(ctx).delete(prefix + key);
      },
    },
  };
}
