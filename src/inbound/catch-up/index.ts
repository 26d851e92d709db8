/**
 * Catch-up after downtime: policies the dispatcher applies to each claimed update (tell users
 * the bot was offline, drop updates that are too old, re-ask stale button presses).
 *
 * @module
 */
export { createCatchUpPolicy } from "./policy.js";
export type { CatchUpAction, CatchUpNotice, CatchUpPolicy, CallbackAlert } from "./policy.js";
export { describeUpdate, chatIdOf, languageCodeOf, payloadOf } from "./facts.js";
export type { DescribeUpdateInput, DowntimeView, UpdateFacts } from "./facts.js";
export { resolveCatchUpOptions, DEFAULT_STALE_CALLBACK_MS } from "./options.js";
export type { CatchUpOptions, NotifyOfflineOptions, ResolvedCatchUpOptions, ResolvedTexts, StaleCallbackOptions } from "./options.js";
export { DEFAULT_LANGUAGE, OFFLINE_NOTICE_TEXTS, STALE_CALLBACK_TEXTS, normalizeLanguage, pickText } from "./texts.js";
export type { LocalizedTexts } from "./texts.js";
export { floodGuard } from "./flood-guard.js";
export type { FloodGuard, FloodGuardOptions } from "./flood-guard.js";
