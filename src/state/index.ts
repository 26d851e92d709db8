/**
 * Bot data kept by unlost: grammY sessions and conversations whose writes are committed with
 * the completion of the update that made them (exactly once), and the same data from outside
 * handlers.
 *
 * @module
 */
export { unlostSession, unlostLazySession, type UnlostSessionOptions } from "./session.js";
export {
  unlostConversationStorage, type UnlostConversationStorage, type UnlostConversationStorageOptions, type ConversationContextAdapter,
} from "./conversations.js";
export { unlostStorage, UnlostStorage, type UnlostStorageOptions, type StoreSource } from "./direct-storage.js";
export { SESSION_PREFIX, CONVERSATIONS_PREFIX } from "./prefix.js";
