/**
 * Builds the timelines of {@link UpdateTrace} and {@link ChatTrace} from a store. Read-only; a
 * few reads per update (its row, its journal record, its tries, its jobs by the idempotency
 * keys of its sends: `<bot id>:<update_id>:…`).
 *
 * An update handled on the polling fast path has no row: its story comes from the journal,
 * which keeps a closed batch (its updates' JSON, its completion records) for the retention.
 *
 * @module
 */
import type { Job } from "../outbound/types.js";
import type { InboxRecord, JournalUpdateRecord, Store, UpdateVia } from "../store/index.js";
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

/** How an update arrived, as the "received" step says it (nothing when unknown: stored before unlost recorded it). */
export function arrival(via: UpdateVia | null, pollOffset: number | null, journal: JournalUpdateRecord | null): string {
  if (journal !== null) {
    const offset = journal.nextOffset === null ? "" : ` (it moved the offset to ${journal.nextOffset})`;
    return ` in poll batch ${journal.batch}${offset}`;
  }
  if (via === "webhook") return " by webhook";
  if (via === "poll") return pollOffset === null ? " in a poll batch" : ` in the poll batch that moved the offset to ${pollOffset}`;
  return "";
}

/** The steps of an update the journal holds and no row does: open, or completed on the fast path. */
function journalEvents(j: JournalUpdateRecord, now: number): TraceEvent[] {
  const events: TraceEvent[] = [];
  if (j.messageDate !== null) events.push({ at: j.messageDate, kind: "sent-by-user", text: `the user acted (${j.updateType}, chat ${j.chatKey})` });
  const lag = j.messageDate === null ? "" : ` ${describeDuration(j.receivedAt - j.messageDate)} later`;
  events.push({ at: j.receivedAt, kind: "stored", text: `received from Telegram${arrival(null, null, j)} and stored in the journal of ${j.owner} (the polling fast path)${lag}` });
  switch (j.state) {
    case "open":
      events.push({ at: null, kind: "waiting", text: `not completed yet: its handler is running, or it waits behind its chat's earlier update (for ${describeDuration(now - j.receivedAt)})`, bad: now - j.receivedAt > 60_000 });
      break;
    case "done": {
      // The fast path records no start of a try: its one try completed, recorded by a flush.
      events.push({ at: null, kind: "try", text: `handler try 1 on ${j.owner}: completed (the fast path records no start or duration)` });
      const after = j.completedAt === null ? "" : ` ${describeDuration(j.completedAt - j.receivedAt)} after it arrived`;
      events.push({ at: j.completedAt, kind: "completed", text: `completed on the fast path${after} (as recorded by ${j.owner}'s completion flush)` });
      break;
    }
    default:
      events.push({ at: j.completedAt ?? j.closedAt, kind: "taken-over", text: `${j.state === "moved" ? "its try failed and it was handed to the inbox rows" : `taken over from the journal as an inbox row (${j.owner} was gone)`}, but that row is gone (purged, or pruned after the retention)`, bad: true });
  }
  return events;
}

function updateEvents(r: InboxRecord, tries: Awaited<ReturnType<Store["inspect"]["attempts"]>>, now: number, journal: JournalUpdateRecord | null): TraceEvent[] {
  const events: TraceEvent[] = [];
  if (r.messageDate !== null) events.push({ at: r.messageDate, kind: "sent-by-user", text: `the user acted (${r.updateType}, chat ${r.chatKey})` });
  const lag = r.messageDate === null ? "" : ` ${describeDuration(r.receivedAt - r.messageDate)} later`;
  if (journal === null) {
    events.push({ at: r.receivedAt, kind: "stored", text: `received from Telegram${arrival(r.via, r.pollOffset, null)} and stored in the inbox${lag}` });
  } else {
    // A row that came from the journal: its failed try moved it, or an adoption took it over.
    events.push({ at: r.receivedAt, kind: "stored", text: `received from Telegram${arrival(r.via, r.pollOffset, journal)} and stored in the journal of ${journal.owner} (the polling fast path)${lag}` });
    if (journal.state === "adopted") events.push({ at: journal.closedAt, kind: "taken-over", text: `taken over from the journal as an inbox row: ${journal.owner} was gone before completing it` });
  }
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

function verdictOf(r: InboxRecord | null, journal: JournalUpdateRecord | null, jobs: readonly Job[], now: number): { verdict: string; problem: boolean } {
  if (r === null && journal !== null) {
    if (journal.state === "open") return { verdict: `not yet: in an open polling batch for ${describeDuration(now - journal.receivedAt)} (handled by ${journal.owner} on the fast path)`, problem: true };
    if (journal.state === "done") return verdictOfSends(jobs, "handled on the polling fast path");
    return { verdict: "its inbox row is gone (purged, or pruned after the retention): what became of it is not known", problem: true };
  }
  if (r === null) {
    if (jobs.length > 0) return verdictOfSends(jobs, "handled (its records are gone: pruned after the retention)");
    return { verdict: "not in the store: never received (or not yet), or pruned after the retention", problem: true };
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

/** The timeline of one update. */
export async function traceUpdate(store: Store, updateId: number, now: number): Promise<UpdateTrace> {
  const [record, journal, tries, botId] = await Promise.all([
    store.inbox.get(updateId),
    // The polling fast path's record: its batch (open, or closed and kept for the retention).
    store.inbox.journal?.find(updateId) ?? Promise.resolve(null),
    store.inspect.attempts(updateId),
    store.state.boundBot(),
  ]);
  const jobs = await sendsOf(store, botId, updateId);
  const events = [...(record !== null ? updateEvents(record, tries, now, journal) : journal !== null ? journalEvents(journal, now) : []), ...jobs.flatMap(jobEvents)];
  const { verdict, problem } = verdictOf(record, journal, jobs, now);
  const via: UpdateVia | null = journal !== null ? "poll" : (record?.via ?? null);
  return {
    updateId,
    found: record !== null || journal !== null,
    chatKey: record?.chatKey ?? journal?.chatKey ?? null,
    updateType: record?.updateType ?? journal?.updateType ?? null,
    state: record?.state ?? (journal === null ? null : journal.state === "open" ? "journal" : journal.state === "done" ? "done" : "gone"),
    via,
    pollOffset: journal?.nextOffset ?? record?.pollOffset ?? null,
    journalBatch: journal?.batch ?? null,
    payload: record?.raw ?? journal?.raw ?? null,
    verdict,
    problem,
    events: inOrder(events),
    sends: jobs.map(sendOf),
  };
}

/** The update a send's idempotency key names (`<bot id>:<update_id>:…`), or null. */
function updateOfKey(key: string | null, botId: number): number | null {
  const prefix = `${botId}:`;
  if (key === null || !key.startsWith(prefix)) return null;
  const id = key.slice(prefix.length).split(":", 1)[0] ?? "";
  return /^\d{1,16}$/.test(id) ? Number(id) : null;
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
  const [records, mark, page, botId] = await Promise.all([
    Promise.all((["open", "dead", "done"] as const).map((state) => store.inspect.updates({ chatKey: chatId, state, limit, newestFirst: true }))),
    store.outbox.isUnreachable(chatRef),
    store.inspect.jobs({ chatId: chatRef, limit: Math.max(limit * 3, 30), newestFirst: true }),
    store.state.boundBot(),
  ]);
  // Updates handled on the polling fast path have no row to list by chat; those that sent
  // something to this chat are named by their sends' keys.
  const rowIds = new Set(records.flat().map((r) => r.updateId));
  const sendIds = new Set(botId === null ? [] : page.items.map((j) => updateOfKey(j.idempotencyKey, botId)).filter((id): id is number => id !== null && !rowIds.has(id)));
  const newest = [...rowIds, ...sendIds].sort((a, b) => b - a).slice(0, limit);
  const updates = (await Promise.all(newest.map((id) => traceUpdate(store, id, now)))).filter((u) => rowIds.has(u.updateId) || u.chatKey === chatId);
  const seen = new Set(updates.flatMap((u) => u.sends.map((s) => s.jobId)));
  const otherSends = page.items.filter((j) => !seen.has(j.id)).map(sendOf);
  const problems = updates.filter((u) => u.problem);
  let verdict: string;
  if (mark !== null) verdict = `the chat is marked unreachable since ${new Date(mark.since).toISOString()}: ${mark.reason} (nothing is sent to it until the user writes again)`;
  else if (updates.length === 0 && otherSends.length === 0) verdict = "nothing stored for this chat: no update rows and no sends (an update handled on the polling fast path that sent nothing is found by its update id only)";
  else if (problems.length > 0) verdict = `${problems.length} of its last ${updates.length} updates got no reply (yet): newest — update ${problems[0]?.updateId}: ${problems[0]?.verdict}`;
  else if (updates.length === 0) verdict = `no update rows; ${otherSends.length} send${otherSends.length === 1 ? "" : "s"} to it`;
  else verdict = updates.length === 1 ? "its last update was answered" : `its last ${updates.length} updates were all answered`;
  return { chatId, userId, unreachable: mark === null ? null : { reason: mark.reason, since: mark.since }, updates, otherSends, verdict };
}
