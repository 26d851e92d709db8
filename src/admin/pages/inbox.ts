/**
 * The inbox page: updates waiting (oldest first), handlers running (with their age; stuck ones
 * stand out), and the dead letters with the update's payload, the error and the stack, to
 * retry (one, the selected, by error, all) or purge.
 *
 * @module
 */
import type { Store } from "../../store/index.js";
import { csrfForm, duration, h, hidden, page, table, time, traceLink, type Html, type PageContext } from "./html.js";

/** A handler running longer than this stands out as stuck, ms. */
export const STUCK_AFTER_MS = 60_000;

/** The dead letters' listing filters, from the query. */
export interface InboxQuery {
  readonly error?: string | undefined;
  readonly chat?: string | undefined;
}

/** The inbox page. */
export async function inboxPage(ctx: PageContext, store: Store, query: InboxQuery): Promise<string> {
  const now = ctx.now;
  const [pending, journal, running, dead] = await Promise.all([
    store.inspect.updates({ state: "pending", limit: 100 }),
    store.inbox.journal?.openUpdates({ receivedBefore: now, limit: 100 }) ?? [],
    store.inbox.running({ claimedBefore: now, limit: 100 }),
    store.inbox.deadLetters.list({ limit: 100, ...(query.error ? { errorContains: query.error } : {}), ...(query.chat ? { chatKey: query.chat } : {}) }),
  ]);
  const parts: Html[] = [h`<h1>Inbox <span class="muted">(updates in)</span></h1>`];

  parts.push(h`<h2>Running (${running.length})</h2>`);
  const stuck = (i: number): boolean => {
    const r = running[i];
    return r !== undefined && (now - r.claimedAt > STUCK_AFTER_MS || r.leaseUntil < now);
  };
  parts.push(table(
    ["update", "chat", "type", "try", "running for", "on", "lease"],
    running.map((r) => [traceLink("update", r.updateId), traceLink("chat", r.chatKey), r.updateType, r.attempt, duration(now - r.claimedAt), r.owner, r.leaseUntil < now ? h`<span class="bad">ran out ${duration(now - r.leaseUntil)} ago</span>` : h`until ${time(r.leaseUntil, now)}`]),
    { num: [3], rowClass: (i) => (stuck(i) ? "stuck" : ""), empty: "No handler is running." },
  ));

  if (journal.length > 0) {
    parts.push(h`<h2>In open polling batches (${journal.length}${journal.length === 100 ? "+" : ""})</h2><p class="muted">The fast path: fetched and stored as one record per batch, handled by their instance; running, or waiting behind their chat's earlier update.</p>`);
    parts.push(table(["update", "chat", "type", "received", "open for", "instance"], journal.map((j) => [traceLink("update", j.updateId), traceLink("chat", j.chatKey), j.updateType, time(j.receivedAt, now), duration(now - j.receivedAt), j.owner]), { rowClass: (i) => ((journal[i] !== undefined && now - journal[i].receivedAt > STUCK_AFTER_MS) ? "stuck" : "") }));
  }
  parts.push(h`<h2>Waiting (${pending.length}${pending.length === 100 ? "+" : ""})</h2><p class="muted">Oldest first: new updates, and failed ones waiting for their retry.</p>`);
  parts.push(table(
    ["update", "chat", "type", "received", "waiting", "tries", "due", "last error"],
    pending.map((r) => [traceLink("update", r.updateId), traceLink("chat", r.chatKey), r.updateType, time(r.receivedAt, now), duration(now - r.receivedAt), r.attempts, r.dueAt > now ? h`in ${duration(r.dueAt - now)}` : "now", r.lastError ?? ""]),
    { num: [5], empty: "Nothing is waiting." },
  ));

  parts.push(h`<h2 id="dead">Dead letters (${dead.items.length}${dead.nextCursor === null ? "" : "+"})</h2>
<form method="get" action="/inbox" class="actions"><label>error contains <input name="error" value="${query.error ?? ""}"></label><label>chat <input name="chat" value="${query.chat ?? ""}" size="12"></label><button type="submit">Filter</button></form>
<div class="actions">${query.error ? csrfForm(ctx, "/inbox/retry", `Retry all with "${query.error}"`, { error: query.error }) : ""}
${csrfForm(ctx, "/inbox/retry", "Retry all", { all: "1" })} ${csrfForm(ctx, "/inbox/purge", "Purge all", { all: "1" }, true)}</div>`);
  if (dead.items.length === 0) {
    parts.push(h`<p class="muted">No dead letters${query.error || query.chat ? " match" : ""}.</p>`);
  } else {
    const rows = dead.items.map((d) => [
      d.updateId >= 0 ? h`<input type="checkbox" name="id" value="${d.updateId}" aria-label="select ${d.updateId}">` : "",
      traceLink("update", d.updateId), traceLink("chat", d.chatKey), d.updateType, d.attempts, time(d.diedAt, now),
      h`<span class="bad">${d.error}</span><details><summary>update and stack</summary><pre>${JSON.stringify(d.update, null, 2)}</pre>${d.stack === null ? "" : h`<pre>${d.stack}</pre>`}</details>`,
    ]);
    parts.push(h`<form method="post" action="/inbox/retry" id="dead-form">${hidden(ctx)}${table(["", "update", "chat", "type", "tries", "died", "error"], rows, { num: [4] })}
<div class="actions"><button type="submit">Retry selected</button><button type="submit" class="danger" formaction="/inbox/purge">Purge selected</button></div></form>`);
  }
  return page(ctx, "Inbox", h`${parts}`);
}
