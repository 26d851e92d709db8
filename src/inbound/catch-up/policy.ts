/**
 * Catch-up policies: what to do with each claimed update before the user's handlers run, when
 * the backlog of an outage is drained. Pure and synchronous: the dispatcher performs the sends.
 *
 * @module
 */
import type { Update } from "grammy/types";
import type { UpdateFacts } from "./facts.js";
import { payloadOf } from "./facts.js";
import { resolveCatchUpOptions, type CatchUpOptions, type ResolvedTexts } from "./options.js";
import { pickText } from "./texts.js";

/** A message the dispatcher sends before running the handlers (best effort: a failure is logged, not retried). */
export interface CatchUpNotice {
  /** Where to send it. */
  readonly chatId: number;
  /** What to send (plain text, no parse mode). */
  readonly text: string;
}

/** An alert answering a callback query that is not run (best effort: Telegram refuses answers to old queries). */
export interface CallbackAlert {
  /** The `callback_query.id` to answer. */
  readonly callbackQueryId: string;
  /** The alert text (at most 200 characters). */
  readonly text: string;
  /** Always true: a toast would be missed, the user must see why nothing happened. */
  readonly showAlert: true;
}

/** What the dispatcher does with one update. */
export type CatchUpAction =
  /** Run the handlers; send `notice` first, if any. */
  | { readonly kind: "handle"; readonly notice?: CatchUpNotice }
  /** Do not run the handlers: settle the update as done, and answer `answerCallback`, if any. */
  | { readonly kind: "skip"; readonly reason: "too-old" | "stale-callback"; readonly answerCallback?: CallbackAlert };

/** Decides, per claimed update, what the dispatcher does. */
export interface CatchUpPolicy {
  /** The action for one update. Call once per delivery attempt; it remembers chats already notified. */
  decide(facts: UpdateFacts): CatchUpAction;
}

const HANDLE: CatchUpAction = Object.freeze({ kind: "handle" });

// Updates a user sent in a chat the bot can write to. Channel posts, member changes, reactions,
// business messages (need a business_connection_id) and inline queries get no notice.
const NOTICE_TYPES = ["message", "edited_message", "callback_query"] as const;
const NOTICE_CHAT_TYPES: ReadonlySet<string> = new Set(["private", "group", "supergroup"]);

function chatTypeOf(update: Update): string | undefined {
  const payload = payloadOf(update);
  const chat = (payload?.["chat"] ?? (payload?.["message"] as Record<string, unknown> | undefined)?.["chat"]) as
    | { type?: unknown }
    | undefined;
  return typeof chat?.type === "string" ? chat.type : undefined;
}

function canNotify(update: Update): boolean {
  if (!NOTICE_TYPES.some((type) => update[type] !== undefined)) return false;
  const chatType = chatTypeOf(update);
  return chatType !== undefined && NOTICE_CHAT_TYPES.has(chatType);
}

/**
 * The oldest the update may be. For a callback query pressed while down the press time is only
 * known to lie after `earliestActAt`, so a stale-button check must assume the worst.
 */
function worstCaseAge(facts: UpdateFacts): number {
  if (facts.messageDate !== null || facts.earliestActAt === undefined) return facts.ageMs;
  return Math.max(facts.ageMs, facts.now - facts.earliestActAt);
}

function textFor(choice: ResolvedTexts, languageCode: string | undefined): string | undefined {
  return pickText(choice.texts, languageCode, choice.defaultLanguage) ?? choice.fallback;
}

/**
 * Creates the catch-up policy. With no options every policy is off and every update is handled.
 *
 * Order of the checks: a stale callback query (answered with an alert) first, then the age
 * limit, then the offline notice. The age limit uses the update's known age (`ageMs`): an
 * update is dropped only when it is certainly too old. The stale-button check uses the
 * worst-case age (see `UpdateFacts.earliestActAt`): a button is re-asked when it may be stale.
 *
 * The notice is sent at most once per chat per policy instance (one per process run), on the
 * first handled update of that chat that arrived while down; a skipped update does not use
 * it up. In a group, the first sender's language is used.
 *
 * @example
 * ```ts
 * const policy = createCatchUpPolicy({ notifyOffline: true, dropOlderThanMs: 6 * 3600_000, staleCallbacks: true });
 * const action = policy.decide(describeUpdate({ update, receivedAt, now: Date.now(), downtime: monitor }));
 * ```
 * @throws UnlostError `INVALID_CONFIG` when an option is malformed.
 */
export function createCatchUpPolicy(options: CatchUpOptions = {}): CatchUpPolicy {
  const config = resolveCatchUpOptions(options);
  // Chats told already. Only chats with a backlog end up here, so it stays small.
  const notified = new Set<number>();
  return {
    decide(facts: UpdateFacts): CatchUpAction {
      const callback = facts.update.callback_query;
      const stale = config.staleCallbacks;
      if (stale !== null && callback !== undefined && worstCaseAge(facts) > stale.olderThanMs) {
        const text = textFor(stale, facts.languageCode);
        return text === undefined
          ? { kind: "skip", reason: "stale-callback" }
          : { kind: "skip", reason: "stale-callback", answerCallback: { callbackQueryId: callback.id, text, showAlert: true } };
      }
      if (config.dropOlderThanMs !== null && facts.ageMs > config.dropOlderThanMs) return { kind: "skip", reason: "too-old" };
      const notice = config.notifyOffline;
      const chatId = facts.chatId;
      if (
        notice === null ||
        !facts.arrivedWhileDown ||
        chatId === undefined ||
        notified.has(chatId) ||
        worstCaseAge(facts) < notice.minAgeMs ||
        !canNotify(facts.update)
      ) {
        return HANDLE;
      }
      const text = textFor(notice, facts.languageCode);
      if (text === undefined) return HANDLE;
      notified.add(chatId);
      return { kind: "handle", notice: { chatId, text } };
    },
  };
}
