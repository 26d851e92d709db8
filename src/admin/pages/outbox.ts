/**
 * The outbox pages: jobs by state and priority (filtered, in pages), one job with its attempt
 * history and Telegram's answers, the dead letters to retry or purge, the chats marked
 * unreachable.
 *
 * @module
 */
import type { Job, JobState, Priority } from "../../outbound/types.js";
import type { Store } from "../../store/index.js";
import { count, csrfForm, duration, h, hidden, page, table, time, traceLink, prettyJson, type Html, type PageContext } from "./html.js";

const STATES: readonly JobState[] = ["queued", "sending", "delivered", "failed", "cancelled"];
const PRIORITIES: readonly Priority[] = ["critical", "high", "normal", "low"];

/** The jobs' listing filters, from the query (checked by the store). */
export interface OutboxQuery {
  readonly state?: JobState | undefined;
  readonly priority?: Priority | undefined;
  readonly chat?: string | undefined;
  readonly broadcast?: string | undefined;
  readonly cursor?: string | undefined;
  readonly error?: string | undefined;
}

/** A chat id from text: a number, or an @username. */
export function chatRef(text: string): number | string {
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

const jobLink = (id: string): Html => h`<a href="/outbox/jobs/${encodeURIComponent(id)}"><code>${id}</code></a>`;
const stateClass = (s: JobState): string => (s === "failed" ? "bad" : s === "delivered" ? "ok" : s === "cancelled" ? "muted" : "");

function jobRows(jobs: readonly Job[], now: number): Part[][] {
  return jobs.map((j) => [jobLink(j.id), j.method, traceLink("chat", j.chatId), h`<span class="${stateClass(j.state)}">${j.state}</span>`, j.priority, j.attempts, time(j.createdAt, now), j.deliveredAt === null ? (j.state === "queued" && j.dueAt > now ? h`due in ${duration(j.dueAt - now)}` : "") : time(j.deliveredAt, now), j.lastError ?? ""]);
}
type Part = Parameters<typeof table>[1][number][number];

/** The outbox page. */
export async function outboxPage(ctx: PageContext, store: Store, query: OutboxQuery): Promise<string> {
  const now = ctx.now;
  const chat = query.chat ? chatRef(query.chat) : undefined;
  const [stats, jobs, dead, unreachable] = await Promise.all([
    store.outbox.stats({ now }),
    store.inspect.jobs({ limit: 50, newestFirst: true, ...(query.state ? { state: query.state } : {}), ...(query.priority ? { priority: query.priority } : {}), ...(chat === undefined ? {} : { chatId: chat }), ...(query.broadcast ? { broadcastId: query.broadcast } : {}), ...(query.cursor ? { cursor: query.cursor } : {}) }),
    store.outbox.deadLetters.list({ limit: 100, ...(query.error ? { errorContains: query.error } : {}) }),
    store.outbox.listUnreachable(),
  ]);
  const parts: Html[] = [h`<h1>Outbox <span class="muted">(messages out)</span></h1>`];
  parts.push(h`<h2>By state and priority</h2>`);
  parts.push(table(
    ["", ...STATES],
    [
      ["all", ...STATES.map((s) => h`<a href="/outbox?state=${s}">${count(stats.byState[s])}</a>`)],
      ...PRIORITIES.map((p) => [p, h`<a href="/outbox?state=queued&priority=${p}">${count(stats.queuedByPriority[p])}</a>`, "", "", "", ""]),
    ],
    { num: [1, 2, 3, 4, 5] },
  ));
  parts.push(h`<p class="muted">Oldest queued: ${duration(stats.oldestQueuedAgeMs)} · delivered in the last minute: ${count(stats.deliveredLastMinute)} · ambiguous attempts: ${count(stats.ambiguousAttempts)}</p>`);

  parts.push(h`<h2 id="dead">Dead letters (${dead.items.length}${dead.nextCursor === null ? "" : "+"})</h2>
<form method="get" action="/outbox" class="actions"><label>error contains <input name="error" value="${query.error ?? ""}"></label><button type="submit">Filter</button></form>
<div class="actions">${query.error ? csrfForm(ctx, "/outbox/retry", `Retry all with "${query.error}"`, { error: query.error }) : ""}${csrfForm(ctx, "/outbox/retry", "Retry all", { all: "1" })} ${csrfForm(ctx, "/outbox/purge", "Purge all", { all: "1" }, true)}</div>`);
  if (dead.items.length === 0) {
    parts.push(h`<p class="muted">No dead letters.</p>`);
  } else {
    const rows = dead.items.map((j) => [h`<input type="checkbox" name="id" value="${j.id}" aria-label="select ${j.id}">`, jobLink(j.id), j.method, traceLink("chat", j.chatId), j.failureReason ?? "", j.attempts, time(j.updatedAt, now), h`<span class="bad">${j.lastError ?? ""}</span>`]);
    parts.push(h`<form method="post" action="/outbox/retry">${hidden(ctx)}${table(["", "job", "method", "chat", "reason", "attempts", "failed", "error"], rows, { num: [5] })}
<div class="actions"><button type="submit">Retry selected</button><button type="submit" class="danger" formaction="/outbox/purge">Purge selected</button></div></form>`);
  }

  parts.push(h`<h2 id="unreachable">Unreachable chats (${unreachable.length})</h2><p class="muted">Telegram said the bot cannot write to them (blocked, deactivated, kicked); nothing is sent until the user writes again.</p>`);
  parts.push(table(["chat", "since", "reason", ""], unreachable.map((u) => [traceLink("chat", u.chatId), time(u.since, now), u.reason, csrfForm(ctx, "/outbox/unreachable/clear", "Clear mark", { chat: String(u.chatId) })]), { empty: "None." }));
  parts.push(h`<h2>Jobs <span class="muted">(newest first)</span></h2>
<form method="get" action="/outbox" class="actions"><label>state <select name="state"><option value="">any</option>${STATES.map((s) => h`<option ${query.state === s ? "selected" : ""}>${s}</option>`)}</select></label>
<label>priority <select name="priority"><option value="">any</option>${PRIORITIES.map((p) => h`<option ${query.priority === p ? "selected" : ""}>${p}</option>`)}</select></label>
<label>chat <input name="chat" value="${query.chat ?? ""}" size="12"></label>${query.broadcast ? h`<input type="hidden" name="broadcast" value="${query.broadcast}"> <span class="pill">broadcast ${query.broadcast}</span>` : ""}<button type="submit">Filter</button></form>`);
  parts.push(table(["job", "method", "chat", "state", "priority", "attempts", "created", "delivered", "last error"], jobRows(jobs.items, now), { num: [5], empty: "No jobs match." }));
  if (jobs.nextCursor !== null) {
    const next = new URLSearchParams({ ...(query.state ? { state: query.state } : {}), ...(query.priority ? { priority: query.priority } : {}), ...(query.chat ? { chat: query.chat } : {}), ...(query.broadcast ? { broadcast: query.broadcast } : {}), cursor: jobs.nextCursor });
    parts.push(h`<p><a href="/outbox?${next.toString()}">older jobs →</a></p>`);
  }

  return page(ctx, "Outbox", h`${parts}`);
}

/** One job: its fields, payload and attempt history with Telegram's answers. */
export async function jobPage(ctx: PageContext, store: Store, id: string): Promise<string | undefined> {
  const job = await store.outbox.get(id);
  if (job === null) return undefined;
  const now = ctx.now;
  const update = /^\d+:(\d+):/.exec(job.idempotencyKey ?? "")?.[1];
  const facts: [string, Part][] = [
    ["state", h`<span class="${stateClass(job.state)}">${job.state}</span>${job.failureReason === null ? "" : ` (${job.failureReason})`}`],
    ["method", job.method], ["chat", traceLink("chat", job.chatId)], ["priority", job.priority],
    ["attempts", `${job.attempts} of ${job.maxAttempts}${job.ambiguousAttempts > 0 ? ` (${job.ambiguousAttempts} ambiguous)` : ""}`],
    ["created", time(job.createdAt, now)], ["due", time(job.dueAt, now)], ["delivered", time(job.deliveredAt, now)],
    ["message id", job.resultMessageId === null ? "" : String(job.resultMessageId)],
    ["idempotency key", job.idempotencyKey ?? ""], ["made by update", update === undefined ? "—" : traceLink("update", Number(update))],
    ["broadcast", job.broadcastId === null ? "—" : h`<a href="/broadcasts#${job.broadcastId}">${job.broadcastId}</a>`],
    ["last error", job.lastError ?? ""],
  ];
  const actions = job.state === "failed" ? h`<div class="actions">${csrfForm(ctx, "/outbox/retry", "Retry", { id: job.id })} ${csrfForm(ctx, "/outbox/purge", "Purge", { id: job.id }, true)}</div>` : "";
  const history = table(
    ["#", "at", "outcome", "code", "error", "Telegram's answer", "ambiguous"],
    job.history.map((a, i) => [i + 1, time(a.at, now), h`<span class="${a.outcome === "delivered" ? "ok" : "bad"}">${a.outcome}</span>`, a.code === null ? "" : String(a.code), a.error ?? "", a.answer === undefined ? "" : `${a.answer.description}${a.answer.parameters?.retry_after === undefined ? "" : ` (retry after ${a.answer.parameters.retry_after} s)`}`, a.ambiguous ? "yes" : ""]),
    { num: [0, 3], empty: "Not attempted yet." },
  );
  const payload = job.sensitive ? h`<p class="muted">The payload is marked sensitive and not shown.</p>` : h`<pre>${prettyJson(job.payload)}</pre>`;
  return page(ctx, `Job ${job.id}`, h`<h1>Job <code>${job.id}</code></h1>${actions}${table(["", ""], facts.map(([k, v]) => [k, v]))}<h2>Attempts</h2>${history}<h2>Payload</h2>${payload}`);
}
