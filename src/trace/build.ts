/**
 * Builds the timelines of {@link UpdateTrace} and {@link ChatTrace} from a store. Read-only; a
 * few reads per update (its row, its tries, its jobs by the idempotency keys of its sends:
 * `<bot id>:<update_id>:…`).
 *
 * @module
 */
import type { Job } from "../outbound/types.js";
import type { InboxRecord, Store } from "../store/index.js";
import { formatDuration as describeDuration } from "../cli/format.js";
import type { ChatTrace, TraceEvent, TraceSend, UpdateTrace } from "./types.js";

/** How many of a chat's updates and sends a chat trace shows by default. */
export const CHAT_TRACE_LIMIT = 10;

function sendOf(job: Job): TraceSend {
  return {
    jobId: job.id, method: job.method, chatId: job.chatId, state: job.state, priority: job.priority, attempts: job.attempts,
    createdAt: job.createdAt, deliveredAt: job.deliveredAt, lastError: job.lastError, idempotencyKey: job.idempotencyKey,
  };
}

/** The steps of one job: queued, each attempt with Telegram's answer, delivered / failed / cancelled. */
export function jobEvents(job: Job): TraceEvent[] {
  const what = `${job.method} to ${String(job.chatId)} (job ${job.id}, ${job.priority})`;
  const events: TraceEvent[] = [{ at: job.createdAt, kind: "send-queued", text: `${what} stored in the outbox`, jobId: job.id }];
  job.history.forEach((h, i) => {
    // Telegram's description, when it says more than the error already does, and its retry_after.
    const said = h.answer === undefined || h.answer.description === h.error ? "" : ` — Telegram: ${h.answer.description}`;
    const wait = h.answer?.parameters?.retry_after === undefined ? "" : ` (retry after ${h.answer.parameters.retry_after} s)`;
    const code = h.code === null ? "" : ` (${h.code})`;
    const doubt = h.ambiguous ? " (ambiguous: it may have arrived)" : "";
    const how = h.outcome === "retry" ? `failed${code}, will retry` : h.outcome === "retarget" ? "the chat migrated; sent to the new chat" : `failed for good${code}`;
    const text = h.outcome === "delivered" ? `send attempt ${i + 1}: delivered${doubt}` : `send attempt ${i + 1}: ${how}${h.error === null ? "" : `: ${h.error}`}${said}${wait}${doubt}`;
    events.push({ at: h.at, kind: "send-attempt", text, bad: h.outcome !== "delivered", jobId: job.id });
  });
  if (job.state === "delivered") {
    events.push({ at: job.deliveredAt ?? job.updatedAt, kind: "send-delivered", text: `delivered${job.resultMessageId === null ? "" : ` as message ${job.resultMessageId}`}`, jobId: job.id });
  } else if (job.state === "failed") {
    events.push({ at: job.updatedAt, kind: "send-failed", text: `gave up (${job.failureReason ?? "failed"}): ${job.lastError ?? "no error recorded"} — an outbox dead letter, retry it from the dashboard`, bad: true, jobId: job.id });
  } else if (job.state === "cancelled") {
    events.push({ at: job.updatedAt, kind: "send-cancelled", text: "cancelled (its broadcast was cancelled, or its deadline passed)", bad: true, jobId: job.id });
  }
  return events;
}

/** Orders steps by time; a step without a time stays after the step before it. */
function inOrder(events: readonly TraceEvent[]): TraceEvent[] {
  let last = Number.NEGATIVE_INFINITY;
  const keyed = events.map((e, i) => {
    if (e.at !== null) last = e.at;
    return { e, t: e.at ?? last, i };
  });
  keyed.sort((a, b) => a.t - b.t || a.i - b.i);
  return keyed.map((k) => k.e);
}

/** The sends an update's handlers made: the jobs under its keys (`<bot id>:<update_id>:`), the error handler's included. */
async function sendsOf(store: Store, botId: number | null, updateId: number): Promise<Job[]> {
  if (botId === null) return [];
  const page = await store.inspect.jobs({ keyPrefix: `${botId}:${updateId}:`, limit: 100 });
  return page.items;
}

function updateEvents(r: InboxRecord, tries: Awaited<ReturnType<Store["inspect"]["attempts"]>>, now: number): TraceEvent[] {
  const events: TraceEvent[] = [];
  if (r.messageDate !== null) events.push({ at: r.messageDate, kind: "sent-by-user", text: `the user acted (${r.updateType}, chat ${r.chatKey})` });
  const lag = r.messageDate === null ? "" : ` ${describeDuration(r.receivedAt - r.messageDate)} later`;
  events.push({ at: r.receivedAt, kind: "stored", text: `received from Telegram and stored in the inbox${lag}` });
  for (const t of tries) {
    const took = t.startedAt === null ? undefined : t.endedAt - t.startedAt;
    const on = t.owner === null ? "" : ` on ${t.owner}`;
    const text =
      t.outcome === "lost"
        ? `handler try ${t.attempt}${on}: lost — ${t.error ?? "its process died"}`
        : `handler try ${t.attempt}${on}: failed${took === undefined ? "" : ` after ${describeDuration(took)}`}${t.outcome === "dead" ? " (the last one)" : ", will retry"}: ${t.error ?? ""}`;
    events.push({ at: t.startedAt ?? t.endedAt, kind: "try", text, bad: true, ...(took === undefined ? {} : { durationMs: took }) });
  }
  if (r.state === "done") {
    const took = r.claimedAt === null || r.settledAt === null ? undefined : r.settledAt - r.claimedAt;
    if (r.claimedAt !== null) events.push({ at: r.claimedAt, kind: "try", text: `handler try ${r.attempts}${r.leaseOwner === null ? "" : ` on ${r.leaseOwner}`}: completed${took === undefined ? "" : ` in ${describeDuration(took)}`}`, ...(took === undefined ? {} : { durationMs: took }) });
    events.push({ at: r.settledAt, kind: "completed", text: `completed ${describeDuration((r.settledAt ?? r.receivedAt) - r.receivedAt)} after it arrived` });
  } else if (r.state === "dead") {
    events.push({ at: r.settledAt, kind: "dead-lettered", text: `dead-lettered after ${r.attempts} tr${r.attempts === 1 ? "y" : "ies"}: ${r.lastError ?? ""}`, bad: true });
  } else if (r.state === "inflight") {
    events.push({ at: r.claimedAt, kind: "running", text: `handler try ${r.attempts} running on ${r.leaseOwner ?? "?"} for ${describeDuration(now - (r.claimedAt ?? now))} (lease until ${new Date(r.leaseUntil ?? now).toISOString()})`, bad: r.leaseUntil !== null && r.leaseUntil < now });
  } else {
    events.push({ at: r.dueAt, kind: "waiting", text: r.attempts > 0 ? `waiting for its retry (try ${r.attempts + 1}) after: ${r.lastError ?? ""}` : "waiting to be handled (after its chat's earlier updates)", bad: r.dueAt < now - 60_000 });
  }
  return events;
}

function verdictOf(r: InboxRecord | null, jobs: readonly Job[], now: number): { verdict: string; problem: boolean } {
  if (r === null) {
    if (jobs.length > 0) return verdictOfSends(jobs, "handled (its row is gone: completed on the polling fast path, which keeps no row per update, or pruned)");
    return { verdict: "not in the inbox: never received, still in an open polling batch, completed on the fast path (no row kept) without sending anything, or pruned after the retention", problem: true };
  }
  switch (r.state) {
    case "dead":
      return { verdict: `no reply: the handler failed ${r.attempts} time${r.attempts === 1 ? "" : "s"} and the update is a dead letter (${r.lastError ?? "no error"}); fix the cause, then retry it`, problem: true };
    case "inflight":
      return { verdict: `not yet: the handler has been running for ${describeDuration(now - (r.claimedAt ?? now))}${r.leaseUntil !== null && r.leaseUntil < now ? ", and its lease ran out (its process is likely gone; it will be taken back)" : ""}`, problem: true };
    case "pending":
      return {
        verdict: r.attempts > 0
          ? `not yet: the handler failed (${r.lastError ?? "?"}) and the update waits for its retry ${r.dueAt <= now ? "now" : `in ${describeDuration(r.dueAt - now)}`}`
          : `not yet: waiting ${describeDuration(now - r.receivedAt)} to be handled (its chat's earlier updates go first; see the backlog)`,
        problem: true,
      };
    default:
      return verdictOfSends(jobs, "handled");
  }
}

function verdictOfSends(jobs: readonly Job[], handled: string): { verdict: string; problem: boolean } {
  if (jobs.length === 0) return { verdict: `${handled}, but its handlers sent nothing through unlost (no job under its keys)`, problem: true };
  const failed = jobs.filter((j) => j.state === "failed");
  if (failed.length > 0) return { verdict: `${handled}; ${failed.length} of its ${jobs.length} send${jobs.length === 1 ? "" : "s"} failed for good: ${failed[0]?.lastError ?? "?"}`, problem: true };
  const open = jobs.filter((j) => j.state === "queued" || j.state === "sending");
  if (open.length > 0) return { verdict: `${handled}; ${open.length} send${open.length === 1 ? " is" : "s are"} still in the outbox (${open[0]?.attempts ?? 0} attempts so far${open[0]?.lastError == null ? "" : `, last error: ${open[0].lastError}`})`, problem: true };
  const cancelled = jobs.filter((j) => j.state === "cancelled");
  if (cancelled.length === jobs.length) return { verdict: `${handled}; its sends were cancelled`, problem: true };
  const last = Math.max(...jobs.map((j) => j.deliveredAt ?? 0));
  return { verdict: `replied: ${jobs.length - cancelled.length} send${jobs.length === 1 ? "" : "s"} delivered (last at ${new Date(last).toISOString()})`, problem: false };
}

/** How many open journal updates a trace looks through for an update without a row. */
const JOURNAL_LOOK = 1_000;

/** The timeline of one update. */
export async function traceUpdate(store: Store, updateId: number, now: number): Promise<UpdateTrace> {
  const [record, tries, botId] = await Promise.all([store.inbox.get(updateId), store.inspect.attempts(updateId), store.state.boundBot()]);
  const jobs = await sendsOf(store, botId, updateId);
  // No row: it may be in an open batch of the polling fast path (the journal), not completed yet.
  const open = record === null ? (await store.inbox.journal?.openUpdates({ receivedBefore: now, limit: JOURNAL_LOOK }))?.find((u) => u.updateId === updateId) : undefined;
  const journalEvents: TraceEvent[] = open === undefined ? [] : [
    { at: open.receivedAt, kind: "stored", text: `received in a long-polling batch and stored in the journal of ${open.owner}` },
    { at: null, kind: "waiting", text: `not completed yet: its handler is running, or it waits behind its chat's earlier update (for ${describeDuration(now - open.receivedAt)})`, bad: now - open.receivedAt > 60_000 },
  ];
  const events = [...(record === null ? journalEvents : updateEvents(record, tries, now)), ...jobs.flatMap(jobEvents)];
  const { verdict, problem } = open !== undefined
    ? { verdict: `not yet: in an open polling batch for ${describeDuration(now - open.receivedAt)} (handled by ${open.owner} on the fast path)`, problem: true }
    : verdictOf(record, jobs, now);
  return {
    updateId,
    found: record !== null || open !== undefined,
    chatKey: record?.chatKey ?? open?.chatKey ?? null,
    updateType: record?.updateType ?? open?.updateType ?? null,
    state: record?.state ?? (open === undefined ? null : "journal"),
    payload: record?.raw ?? null,
    verdict,
    problem,
    events: inOrder(events),
    sends: jobs.map(sendOf),
  };
}

/** The timeline of a chat (by chat id, or by user id through the private chat the bot knows). */
export async function traceChat(store: Store, who: { readonly chatId: string } | { readonly userId: number }, now: number, limit = CHAT_TRACE_LIMIT): Promise<ChatTrace> {
  let chatId: string;
  let userId: number | null = null;
  if ("userId" in who) {
    userId = who.userId;
    const known = await store.outbox.chatOfUser(who.userId);
    // A private chat's id is its user's id: the best guess when the bot has not recorded it.
    chatId = String(known ?? who.userId);
  } else {
    chatId = who.chatId;
  }
  const chatRef: number | string = /^-?\d+$/.test(chatId) ? Number(chatId) : chatId;
  const [records, mark, page] = await Promise.all([
    Promise.all((["open", "dead", "done"] as const).map((state) => store.inspect.updates({ chatKey: chatId, state, limit, newestFirst: true }))),
    store.outbox.isUnreachable(chatRef),
    store.inspect.jobs({ chatId: chatRef, limit: Math.max(limit * 3, 30), newestFirst: true }),
  ]);
  const newest = records.flat().sort((a, b) => b.updateId - a.updateId).slice(0, limit);
  const updates = await Promise.all(newest.map((r) => traceUpdate(store, r.updateId, now)));
  const seen = new Set(updates.flatMap((u) => u.sends.map((s) => s.jobId)));
  const otherSends = page.items.filter((j) => !seen.has(j.id)).map(sendOf);
  const problems = updates.filter((u) => u.problem);
  let verdict: string;
  if (mark !== null) verdict = `the chat is marked unreachable since ${new Date(mark.since).toISOString()}: ${mark.reason} (nothing is sent to it until the user writes again)`;
  else if (updates.length === 0 && otherSends.length === 0) verdict = "nothing stored for this chat: no update rows (the polling fast path keeps none once completed) and no sends";
  else if (problems.length > 0) verdict = `${problems.length} of its last ${updates.length} updates got no reply (yet): newest — update ${problems[0]?.updateId}: ${problems[0]?.verdict}`;
  else if (updates.length === 0) verdict = `no update rows; ${otherSends.length} send${otherSends.length === 1 ? "" : "s"} to it`;
  else verdict = updates.length === 1 ? "its last update was answered" : `its last ${updates.length} updates were all answered`;
  return { chatId, userId, unreachable: mark === null ? null : { reason: mark.reason, since: mark.since }, updates, otherSends, verdict };
}
