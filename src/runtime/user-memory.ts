/**
 * The users the bot has seen in private chats (for `outbox.notify`), recorded once per user per
 * run, and the unreachable chats that become reachable again when their user writes.
 *
 * The users first seen in one turn of the event loop are recorded in one transaction
 * (`OutboxStore.rememberUsers`): a dispatcher starts a whole claim's updates in one turn, and a
 * process that has just started sees every active user once, so one write per user would be a
 * committed transaction per update for a while (on PostgreSQL a WAL flush each, and per process:
 * two processes each record every user they meet). Each update's handlers still wait for its
 * user's record to be committed, as before (a `notify` to that user in the handler finds them).
 *
 * @module
 */
import type { Update } from "grammy/types";
import type { Logger } from "./logger.js";
import type { OutboxStore, RememberedUser } from "../store/index.js";
import { BatchWriter } from "../shared/batch-writer.js";

/** Options of {@link UserMemory}. */
export interface UserMemoryOptions {
  /** The store's outbox, once open (undefined before start or with the outbox off). */
  readonly outbox: () => OutboxStore | undefined;
  readonly clock: () => number;
  readonly logger: Logger;
}

/** Remembers users seen in private chats; see the module's comment. */
export class UserMemory {
  /** Users recorded (or being recorded) this run. */
  private readonly seen = new Set<number>();
  /** Chats the outbox marked unreachable: cleared as soon as their user writes again. */
  readonly unreachable = new Set<number>();
  private readonly writer = new BatchWriter<RememberedUser>((batch) => this.write(batch));

  constructor(private readonly options: UserMemoryOptions) {}

  /**
   * Records the user of a private chat's update if this run has not yet, and clears the chat's
   * unreachable mark. Resolves when that is committed; undefined when there is nothing to do
   * (the common case: nothing to await).
   */
  remember(chatId: number | undefined, update: Update): Promise<void> | undefined {
    const from = update.message?.from ?? update.callback_query?.from ?? update.my_chat_member?.from;
    if (chatId === undefined || from === undefined || chatId !== from.id) return undefined;
    if (this.seen.has(from.id) && !this.unreachable.has(chatId)) return undefined;
    return this.rememberSlowly(chatId, from.id, update);
  }

  private async rememberSlowly(chatId: number, userId: number, update: Update): Promise<void> {
    const outbox = this.options.outbox();
    if (outbox === undefined) return;
    if (!this.seen.has(userId)) {
      this.seen.add(userId);
      this.writer.add({ userId, chatId });
      await this.writer.written();
    }
    const blockedNow = update.my_chat_member?.new_chat_member.status === "kicked";
    if (!blockedNow && this.unreachable.delete(chatId) && (await outbox.clearUnreachable(chatId).catch(() => false))) {
      this.options.logger.info({ chatId }, "the user wrote again: their chat is reachable again");
    }
  }

  /** One transaction for the users first seen in one turn; a failure is logged, as before. */
  private async write(batch: RememberedUser[]): Promise<void> {
    const outbox = this.options.outbox();
    if (outbox === undefined) return;
    await outbox.rememberUsers(batch, this.options.clock()).catch((e: unknown) => this.options.logger.warn({ err: e, count: batch.length }, "remembering users failed"));
  }
}
