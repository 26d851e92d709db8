/**
 * "Why did this user get no reply?": the timeline of an update or a chat (see src/trace/), and
 * the search by chat id, user id or update id that leads there.
 *
 * @module
 */
import type { Store } from "../../store/index.js";
import { traceChat, traceUpdate } from "../../trace/build.js";
import type { ChatTrace, TraceSend, UpdateTrace } from "../../trace/types.js";
import { csrfForm, h, page, table, time, traceLink, prettyJson, type Html, type PageContext } from "./html.js";

const sendRows = (sends: readonly TraceSend[], now: number) =>
  sends.map((s) => [h`<a href="/outbox/jobs/${encodeURIComponent(s.jobId)}">${s.jobId}</a>`, s.method, String(s.chatId), h`<span class="${s.state === "failed" ? "bad" : s.state === "delivered" ? "ok" : ""}">${s.state}</span>`, s.attempts, time(s.createdAt, now), time(s.deliveredAt, now), s.lastError ?? ""]);
const SEND_HEAD = ["job", "method", "chat", "state", "attempts", "created", "delivered", "last error"];

/** One update's timeline as HTML (also a section of a chat's); a dead letter gets its Retry and Purge buttons. */
export function updateTimeline(ctx: PageContext, t: UpdateTrace, level: "h1" | "h3" = "h1"): Html {
  const now = ctx.now;
  const title = t.found ? `Update ${t.updateId} · ${t.updateType ?? ""} · chat ${t.chatKey ?? ""} · ${t.state ?? ""}` : `Update ${t.updateId}`;
  const heading = level === "h1" ? h`<h1>${title}</h1>` : h`<h3>${traceLink("update", t.updateId)} <span class="muted">${t.updateType ?? ""} · ${t.state ?? "no record"}</span></h3>`;
  const events = h`<ol class="timeline">${t.events.map((e) => h`<li class="${e.bad === true ? "bad" : ""}">${time(e.at, now, true)}${e.jobId === undefined ? "" : h`<a href="/outbox/jobs/${encodeURIComponent(e.jobId)}">${e.jobId.slice(0, 8)}</a> `}${e.text}</li>`)}</ol>`;
  const payload = t.payload === null || level !== "h1" ? "" : h`<h2>The update</h2><pre>${prettyJson(t.payload)}</pre>`;
  const sends = level === "h1" ? h`<h2>Its sends</h2>${table(SEND_HEAD, sendRows(t.sends, now), { num: [4], empty: "None under its keys." })}` : "";
  const actions = t.state === "dead" ? h`<div class="actions">${csrfForm(ctx, "/inbox/retry", "Retry this update", { id: t.updateId })} ${csrfForm(ctx, "/inbox/purge", "Purge it", { id: t.updateId }, true)}</div>` : "";
  return h`${heading}<p class="verdict ${t.problem ? "bad" : "ok"}">${t.verdict}</p>${level === "h1" ? arrivedBy(t) : ""}${actions}${events}${sends}${payload}`;
}

/** How the update arrived, in one line (nothing when the store does not know). */
function arrivedBy(t: UpdateTrace): Html | string {
  if (t.via === "webhook") return h`<p class="muted">Arrived by webhook.</p>`;
  if (t.via !== "poll") return "";
  const offset = t.pollOffset === null ? "" : h`, in the batch that moved the offset to ${t.pollOffset}`;
  const journal = t.journalBatch === null ? "" : h`, journal batch ${t.journalBatch} (the fast path)`;
  return h`<p class="muted">Arrived by long polling${offset}${journal}.</p>`;
}

function chatTimeline(ctx: PageContext, t: ChatTrace): Html {
  const now = ctx.now;
  const unreachable = t.unreachable === null ? "" : h`<p class="bad">Unreachable since ${time(t.unreachable.since, now)}: ${t.unreachable.reason}</p>`;
  return h`<h1>Chat ${t.chatId}${t.userId === null ? "" : ` (user ${t.userId})`}</h1><p class="verdict ${t.updates.some((u) => u.problem) || t.unreachable !== null ? "bad" : "ok"}">${t.verdict}</p>${unreachable}
<p class="muted"><a href="/outbox?chat=${encodeURIComponent(t.chatId)}">its jobs</a> · <a href="/inbox?chat=${encodeURIComponent(t.chatId)}">its dead letters</a></p>
<h2>Its last updates</h2>${t.updates.length === 0 ? h`<p class="muted">No updates found for this chat (an update handled on the polling fast path is listed here through its sends; one that sent nothing is found by its update id).</p>` : t.updates.map((u) => updateTimeline(ctx, u, "h3"))}
<h2>Other sends to this chat</h2>${table(SEND_HEAD, sendRows(t.otherSends, now), { num: [4], empty: "None." })}`;
}

const FORM = h`<form method="get" action="/trace" class="actions"><label>update id <input name="update" inputmode="numeric" size="12"></label><button type="submit">Trace update</button></form>
<form method="get" action="/trace" class="actions"><label>chat id <input name="chat" size="14"></label><button type="submit">Trace chat</button></form>
<form method="get" action="/trace" class="actions"><label>user id <input name="user" inputmode="numeric" size="12"></label><button type="submit">Trace user</button></form>`;

/** What to trace, from the query; undefined when nothing (or something malformed) was asked. */
export type TraceTarget = { readonly update: number } | { readonly chat: string } | { readonly user: number };

/** Parses `update`, `chat` or `user` from a query; a string error for a malformed one. */
export function traceTarget(query: Readonly<Record<string, string | undefined>>): TraceTarget | string | undefined {
  const update = query["update"]?.trim();
  const chat = query["chat"]?.trim();
  const user = query["user"]?.trim();
  if (update) return /^-?\d{1,16}$/.test(update) ? { update: Number(update) } : `an update id is a whole number, got "${update}"`;
  if (chat) return /^-?\d{1,16}$/.test(chat) || /^@\w{1,64}$/.test(chat) ? { chat } : `a chat id is a number (or a channel's @username), got "${chat}"`;
  if (user) return /^\d{1,16}$/.test(user) ? { user: Number(user) } : `a user id is a whole number, got "${user}"`;
  return undefined;
}

/** Builds the trace of a target. */
export function traceOf(store: Store, target: TraceTarget, now: number): Promise<UpdateTrace | ChatTrace> {
  if ("update" in target) return traceUpdate(store, target.update, now);
  return traceChat(store, "chat" in target ? { chatId: target.chat } : { userId: target.user }, now);
}

/** The trace page: the form, and the timeline asked for. */
export async function tracePage(ctx: PageContext, store: Store, target: TraceTarget | string | undefined): Promise<string> {
  let body: Html;
  if (target === undefined) body = h`<h1>Why did this user get no reply?</h1><p>An update's timeline: received, stored, each handler try, each send with Telegram's answers, completed or dead-lettered. Or a chat's last updates and sends.</p>${FORM}`;
  else if (typeof target === "string") body = h`<h1>Trace</h1><p class="bad">${target}</p>${FORM}`;
  else {
    const trace = await traceOf(store, target, ctx.now);
    body = "updateId" in trace ? updateTimeline(ctx, trace) : chatTimeline(ctx, trace);
  }
  return page(ctx, "Trace", body);
}

/** The search: a number may be a chat, a user or an update; each is looked up and linked. */
export async function searchPage(ctx: PageContext, store: Store, q: string): Promise<string> {
  const text = q.trim();
  const parts: Html[] = [h`<h1>Search: ${text}</h1>`];
  if (!/^-?\d{1,16}$/.test(text) && !/^@\w{1,64}$/.test(text)) {
    parts.push(h`<p class="bad">Search by a chat id, a user id or an update id (a number), or a channel's @username.</p>`);
    return page(ctx, "Search", h`${parts}`);
  }
  const found: Html[] = [];
  if (/^\d+$/.test(text)) {
    const id = Number(text);
    const [record, userChat] = await Promise.all([store.inbox.get(id), store.outbox.chatOfUser(id)]);
    if (record !== null) found.push(h`<li>update ${traceLink("update", id)} (${record.updateType}, chat ${traceLink("chat", record.chatKey)}, ${record.state})</li>`);
    if (userChat !== null) found.push(h`<li>user ${text}: private chat ${traceLink("chat", userChat)} · <a href="/trace?user=${text}">trace the user</a></li>`);
  }
  const ref = /^-?\d+$/.test(text) ? Number(text) : text;
  const [updates, jobs] = await Promise.all([store.inspect.updates({ chatKey: text, state: "open", limit: 1 }).then(async (open) => (open.length > 0 ? open : store.inspect.updates({ chatKey: text, state: "dead", limit: 1 }))), store.inspect.jobs({ chatId: ref, limit: 1 })]);
  if (updates.length > 0 || jobs.items.length > 0) found.push(h`<li>chat ${traceLink("chat", text)}: ${updates.length > 0 ? "updates waiting or dead" : ""}${updates.length > 0 && jobs.items.length > 0 ? " and " : ""}${jobs.items.length > 0 ? h`<a href="/outbox?chat=${encodeURIComponent(text)}">jobs</a>` : ""}</li>`);
  parts.push(found.length === 0 ? h`<p class="muted">Nothing stored under ${text} as an update, a user or a chat with open work or sends. <a href="/trace?chat=${encodeURIComponent(text)}">Trace it as a chat anyway</a>.</p>` : h`<ul>${found}</ul>`);
  return page(ctx, "Search", h`${parts}`);
}
