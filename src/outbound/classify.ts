/**
 * What a failed send means for its job. grammY throws a `GrammyError` when Telegram answered
 * `ok: false`, and an `HttpError` when no usable answer came (wrapping whatever `fetch` threw:
 * node-fetch's `FetchError`, undici's `TypeError: fetch failed` with a cause, an `AbortError`,
 * grammY's own timeout). This module turns either into a verdict the delivery loop acts on.
 *
 * Unreachable chats (later jobs to them fail fast until the user writes again):
 * 403 blocked by the user, user deactivated, kicked from the group, not a member of the chat,
 * can't initiate a conversation (the user never started the bot), can't send to bots, group
 * deleted or deactivated; 400 chat not found / user not found / PEER_ID_INVALID. "Chat not found"
 * counts because every later job to that id would get the same answer: failing them fast keeps
 * the pace for chats that can receive. For copy and forward methods the same answers may be
 * about the *source* chat, so there they only fail the job.
 *
 * Ambiguity: a send is ambiguous when the request may have reached Telegram although no answer
 * came (a reset, closed socket or timeout after connecting; a gateway's 502/504). Errors of the
 * connect phase (refused, DNS, connect timeout) are not: nothing left the machine.
 *
 * @module
 */
import { GrammyError, HttpError } from "grammy";
import { redactSecrets, UnlostError } from "../errors/index.js";

/** What to do with a job whose send failed. */
export type SendVerdict =
  /**
   * Transient: try again. `retryAfterMs` is set for 429 (wait exactly that), with `scope`
   * saying whose limit it was (`chat` when the call had a chat, else `global`).
   */
  | {
      readonly kind: "retry";
      /** The request may have been delivered although no answer came: a retry may duplicate it. */
      readonly ambiguous: boolean;
      readonly retryAfterMs?: number;
      readonly scope?: "global" | "chat";
      /** Telegram's error code, when it answered. */
      readonly code?: number;
      readonly reason: string;
    }
  /** The group became a supergroup: send to `toChatId` instead. */
  | { readonly kind: "migrate"; readonly toChatId: number; readonly code: 400; readonly reason: string }
  /** The chat cannot be written to until the user writes again (blocked, kicked, gone). */
  | { readonly kind: "unreachable"; readonly code: number; readonly reason: string }
  /** Telegram refused this request for a reason a retry cannot fix. */
  | { readonly kind: "permanent"; readonly code?: number; readonly reason: string }
  /** The bot token was rejected: nothing can be sent. */
  | { readonly kind: "unauthorized"; readonly code: 401; readonly reason: string };

/** What the caller knows about the failed attempt. */
export interface ClassifyContext {
  /**
   * `false` when the caller knows the request never left (e.g. it aborted before calling).
   * Left out, it is inferred from the error.
   */
  readonly requestSent?: boolean;
}

/** Default wait for a 429 without `retry_after` (Telegram always sends one; proxies may not). */
const DEFAULT_RETRY_AFTER_MS = 3000;

/** Codes of the connect phase: the request never left, so a retry cannot duplicate it. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EAI_NODATA", "EAI_NONAME", "EAI_FAIL", "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "EMFILE", "ENFILE",
]);
/** Codes that mean "not sent" only when they happened while connecting. */
const NOT_SENT_WHILE_CONNECTING = new Set(["ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH", "ECONNRESET", "ENETDOWN", "EHOSTDOWN"]);
/** A file to upload could not be read: a retry reads the same missing file. */
const FILE_CODES = new Set(["ENOENT", "EACCES", "EISDIR", "EPERM"]);

/**
 * Classifies an error thrown by a grammY Api call (or by the code around it) into what the
 * delivery loop should do. Every verdict carries a `reason` sentence for logs and job status.
 *
 * @example
 * ```ts
 * try { await api.sendMessage(chatId, text); }
 * catch (error) {
 *   const v = classifySendError(error);
 *   if (v.kind === "retry" && v.retryAfterMs !== undefined) pacer.penalize(v.scope === "chat" ? chatId : "global", v.retryAfterMs);
 * }
 * ```
 */
export function classifySendError(error: unknown, context: ClassifyContext = {}): SendVerdict {
  if (error instanceof GrammyError) return classifyAnswer(error);
  const facts = collectFacts(error instanceof HttpError ? error.error : error);
  if (facts.unlost !== undefined) {
    return facts.unlost.code === "INVALID_ARGUMENT"
      ? { kind: "permanent", reason: `the job cannot be sent as stored: ${facts.unlost.message}` }
      : { kind: "retry", ambiguous: false, reason: `sending failed inside unlost before reaching Telegram (${facts.unlost.message}); retrying` };
  }
  const fileCode = facts.codes.find((c) => FILE_CODES.has(c) && facts.syscalls.some((s) => s !== "connect" && s !== "getaddrinfo"));
  if (fileCode !== undefined) {
    return { kind: "permanent", reason: `a file to upload could not be read (${fileCode}); it was removed or is not readable, so the message cannot be sent` };
  }
  if (!(error instanceof HttpError) && facts.codes.length === 0 && !facts.network) {
    // grammY wraps everything that happens around the request in HttpError: this error was
    // thrown before any request (e.g. while preparing the payload), so nothing was sent.
    return { kind: "retry", ambiguous: false, reason: `sending failed before reaching Telegram (${describe(error)}); retrying` };
  }
  return classifyNetwork(facts, context);
}

/**
 * How a verdict's reason quotes Telegram (`Telegram answered 403 "Forbidden: …"`); parsed back
 * by {@link telegramAnswerIn} where only the reason was kept (a chat marked unreachable).
 */
function telegramSaid(code: number, description: string): string {
  return `Telegram answered ${code} "${description}"`;
}

/**
 * Telegram's code and description as quoted in a reason written by this module, or undefined.
 * A job failed fast on an unreachable chat made no request: the answer that marked the chat
 * is known only from the chat's reason, which quotes it.
 */
export function telegramAnswerIn(reason: string): { readonly code: number; readonly description: string } | undefined {
  const m = /Telegram answered (\d{3}) "(.*?)": /.exec(reason);
  return m === null ? undefined : { code: Number(m[1]), description: m[2] as string };
}

function classifyAnswer(error: GrammyError): SendVerdict {
  const code = error.error_code;
  const description = error.description;
  const said = telegramSaid(code, description);
  if (code === 429) {
    const retryAfterMs = retryAfterOf(error);
    return {
      kind: "retry", ambiguous: false, code, retryAfterMs, scope: hasChat(error.payload) ? "chat" : "global",
      reason: `${said}: too many messages; waiting ${Math.ceil(retryAfterMs / 1000)} s as Telegram asks, then retrying`,
    };
  }
  if (code >= 500) {
    // A gateway that gave up on its upstream (502, 504) cannot say whether the upstream acted.
    const ambiguous = code === 502 || code === 504;
    return { kind: "retry", ambiguous, code, reason: `${said}: a temporary server error${ambiguous ? " (the message may have been delivered)" : ""}; retrying with backoff` };
  }
  if (code === 401) {
    return { kind: "unauthorized", code: 401, reason: `${said}: the bot token was rejected; check the token with @BotFather` };
  }
  const migrateTo = error.parameters.migrate_to_chat_id;
  if (code === 400 && typeof migrateTo === "number") {
    return { kind: "migrate", code: 400, toChatId: migrateTo, reason: `${said}: the group became supergroup ${migrateTo}; sending there instead` };
  }
  const unreachable = unreachableReason(code, description, error.method);
  if (unreachable !== undefined) return { kind: "unreachable", code, reason: `${said}: ${unreachable}` };
  return { kind: "permanent", code, reason: `${said}: ${permanentHint(code)}` };
}

/** Why the target chat cannot receive anything, or undefined when the answer is not about the chat. */
function unreachableReason(code: number, description: string, method: string): string | undefined {
  const d = description.toLowerCase();
  // For copy/forward, "chat not found" and membership errors may be about from_chat_id.
  const twoChats = /^(copy|forward)messages?$/i.test(method);
  if (code === 403) {
    if (d.includes("blocked by the user")) return "the user blocked the bot; it reaches them again after they write to it";
    if (d.includes("user is deactivated")) return "the user deleted their account";
    if (d.includes("can't initiate conversation")) return "the user never started the bot; it reaches them after they press Start";
    if (d.includes("bots can't send messages to bots") || d.includes("can't send messages to bots")) return "the chat is another bot, which bots cannot write to";
    if (d.includes("group chat was deleted") || d.includes("chat was deleted")) return "the group was deleted";
    if (twoChats) return undefined;
    if (d.includes("kicked")) return "the bot was removed from the chat; it reaches it again after being added back";
    if (d.includes("not a member")) return "the bot is not a member of the chat; add it to the chat to send there";
    return undefined;
  }
  if (code === 400) {
    if (d.includes("group chat was deactivated")) return "the group was deactivated";
    if (twoChats) return undefined;
    if (d.includes("chat not found") || d.includes("user not found") || d.includes("peer_id_invalid")) {
      return "no such chat for this bot (wrong id, or the user never wrote to the bot)";
    }
  }
  return undefined;
}

function permanentHint(code: number): string {
  switch (code) {
    case 400: return "the request is invalid and retrying cannot fix it; correct the message or its parameters";
    case 403: return "the bot is not allowed to do this in that chat; check its rights there";
    case 404: return "no such method; check the method name (a programming error)";
    case 409: return "another instance of the bot is using the same token";
    case 413: return "the request is too large; send smaller files";
    default: return "Telegram refused the request; retrying cannot fix it";
  }
}

function retryAfterOf(error: GrammyError): number {
  const seconds = error.parameters.retry_after ?? Number(/retry after (\d+)/i.exec(error.description)?.[1]);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_RETRY_AFTER_MS;
}

function hasChat(payload: unknown): boolean {
  if (typeof payload !== "object" || payload === null) return false;
  const chatId = (payload as { chat_id?: unknown }).chat_id;
  return typeof chatId === "number" || (typeof chatId === "string" && chatId !== "");
}

/** What the cause chain of a network failure says. */
interface Facts {
  /** Error codes found (`ECONNRESET`, `UND_ERR_SOCKET`, ...), outermost first. */
  readonly codes: string[];
  /** System calls named by the errors (`connect`, `read`, `getaddrinfo`, `open`). */
  readonly syscalls: string[];
  /** Names of the errors (`AbortError`, `TimeoutError`, `FetchError`, `SyntaxError`). */
  readonly names: string[];
  readonly messages: string[];
  /** node-fetch's `type` (`system`, `aborted`, `request-timeout`, `invalid-json`, ...). */
  readonly types: string[];
  /** Something in the chain is clearly about the network (fetch failed, FetchError, abort). */
  network: boolean;
  unlost: UnlostError | undefined;
}

/** Walks `cause`, `error` (HttpError) and `errors` (AggregateError) to a bounded depth. */
function collectFacts(root: unknown): Facts {
  const facts: Facts = { codes: [], syscalls: [], names: [], messages: [], types: [], network: false, unlost: undefined };
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 8 || typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    if (value instanceof UnlostError) facts.unlost ??= value;
    const v = value as { code?: unknown; errno?: unknown; syscall?: unknown; name?: unknown; message?: unknown; type?: unknown; cause?: unknown; error?: unknown; errors?: unknown };
    if (typeof v.code === "string") facts.codes.push(v.code);
    if (typeof v.errno === "string" && v.errno !== v.code) facts.codes.push(v.errno);
    if (typeof v.syscall === "string") facts.syscalls.push(v.syscall);
    if (typeof v.name === "string") facts.names.push(v.name);
    if (typeof v.message === "string") facts.messages.push(v.message);
    if (typeof v.type === "string") facts.types.push(v.type);
    if (v.name === "FetchError" || v.name === "AbortError" || v.name === "TimeoutError" || v.message === "fetch failed") facts.network = true;
    visit(v.cause, depth + 1);
    visit(v.error, depth + 1);
    if (Array.isArray(v.errors)) for (const e of v.errors) visit(e, depth + 1);
  };
  visit(root, 0);
  return facts;
}

function classifyNetwork(facts: Facts, context: ClassifyContext): SendVerdict {
  const what = networkWhat(facts);
  const connecting = facts.syscalls.includes("connect") || facts.syscalls.includes("getaddrinfo");
  const notSent =
    context.requestSent === false ||
    facts.codes.some((c) => NOT_SENT_CODES.has(c)) ||
    (connecting && facts.codes.some((c) => NOT_SENT_WHILE_CONNECTING.has(c)));
  if (notSent) return { kind: "retry", ambiguous: false, reason: `${what}; the request never reached Telegram, retrying` };
  return { kind: "retry", ambiguous: true, reason: `${what} after the request may have reached Telegram; it may have been delivered, retrying` };
}

/** A short human description of a network failure. */
function networkWhat(facts: Facts): string {
  const code = facts.codes.find((c) => NOT_SENT_CODES.has(c) || NOT_SENT_WHILE_CONNECTING.has(c)) ?? facts.codes[0];
  const timedOut =
    facts.names.includes("TimeoutError") || facts.types.includes("request-timeout") || facts.types.includes("body-timeout") ||
    facts.messages.some((m) => / timed out /.test(m)) || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
  if (timedOut) return "the request timed out";
  if (facts.names.includes("AbortError") || facts.types.includes("aborted")) return "the request was aborted (per-attempt timeout or shutdown)";
  if (facts.names.includes("SyntaxError") || facts.types.includes("invalid-json")) return "the answer was not Telegram's JSON (a proxy's error page?)";
  switch (code) {
    case "ECONNREFUSED": return "the connection was refused (ECONNREFUSED)";
    case "ENOTFOUND": case "EAI_AGAIN": case "EAI_NODATA": case "EAI_NONAME": case "EAI_FAIL": return `the API host could not be resolved (${code})`;
    case "UND_ERR_CONNECT_TIMEOUT": return "connecting timed out (UND_ERR_CONNECT_TIMEOUT)";
    case "ECONNRESET": return "the connection was reset (ECONNRESET)";
    case "UND_ERR_SOCKET": case "UND_ERR_CLOSED": return `the connection was closed (${code})`;
    // An HTTP client's message quotes the request URL, `/bot<token>/` included: the verdict's
    // reason goes to the job's error, history and audit, and to the sender's error.
    case undefined: return facts.messages.some((m) => /socket hang up/i.test(m)) ? "the connection was closed (socket hang up)" : `the request failed (${redactSecrets(facts.messages[facts.messages.length - 1] ?? "unknown error")})`;
    default: return `the request failed (${code})`;
  }
}

/** An error in words, for a verdict's reason (token removed: see `networkWhat`). */
function describe(error: unknown): string {
  return redactSecrets(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
