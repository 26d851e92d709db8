/**
 * The admin server's HTML: the login form and the overview, rendered on the server (no build
 * chain, no script). Every value is escaped; the whole page passes through the scrubber like
 * every other answer.
 *
 * @module
 */
import type { Readiness } from "./health.js";
import type { StoreProbe } from "./store-probe.js";
import type { RuntimeCounters, UpdatesState } from "./source.js";

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` safe inside HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

const STYLE = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}.bad{color:#b00020}.ok{color:#1b7f3b}";

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

/** The login form; `message` explains a failed try. */
export function loginPage(message?: string): string {
  return page("unlost admin: log in", `<h1>unlost admin</h1>${message === undefined ? "" : `<p class="bad">${escapeHtml(message)}</p>`}
<form method="post" action="/login"><label>Admin token (UNLOST_ADMIN_TOKEN) <input type="password" name="token" autocomplete="current-password" required autofocus></label> <button type="submit">Log in</button></form>`);
}

/** What the overview shows. */
export interface OverviewData {
  readonly probe: StoreProbe;
  readonly readiness: Readiness;
  readonly runtime?: { readonly mode: string; readonly state: UpdatesState; readonly counters: RuntimeCounters };
  /** The session's CSRF token, for the logout form. */
  readonly csrf: string;
}

const row = (cells: readonly (string | number)[], tag = "td"): string => `<tr>${cells.map((c) => `<${tag}>${escapeHtml(String(c))}</${tag}>`).join("")}</tr>`;

/** The overview: readiness with its reasons, the runtime's counters, inbox and outbox counts. */
export function overviewPage(d: OverviewData): string {
  const parts: string[] = ["<h1>unlost admin</h1>"];
  parts.push(d.readiness.ready
    ? '<p class="ok">Ready.</p>'
    : `<p class="bad">Not ready:</p><ul>${d.readiness.reasons.map((r) => `<li class="bad">${escapeHtml(r)}</li>`).join("")}</ul>`);
  if (d.runtime !== undefined) {
    const c = d.runtime.counters;
    parts.push(`<h2>This process</h2><p>${escapeHtml(d.runtime.mode)}, ${escapeHtml(d.runtime.state)}</p><table>${row(["received", "handled", "failed", "dead-lettered", "skipped", "in flight"], "th")}${row([c.received, c.handled, c.failed, c.deadLettered, c.skipped, c.inFlight])}</table>`);
  }
  if (d.probe.ok) {
    const i = d.probe.inbox;
    const o = d.probe.outbox;
    parts.push(`<h2>Inbox (updates in)</h2><table>${row(["pending", "in flight", "done", "dead letters", "oldest waiting"], "th")}${row([i.pending, i.inflight, i.done, i.dead, `${Math.round(i.oldestOpenAgeMs / 1_000)} s`])}</table>`);
    parts.push(`<h2>Outbox (messages out)</h2><table>${row(["queued", "sending", "delivered", "failed", "cancelled", "delivered last minute"], "th")}${row([o.byState.queued, o.byState.sending, o.byState.delivered, o.byState.failed, o.byState.cancelled, o.deliveredLastMinute])}</table>`);
  } else {
    parts.push(`<p class="bad">${escapeHtml(d.probe.reason)}</p>`);
  }
  parts.push('<p><a href="/metrics">/metrics</a> · <a href="/api/stats">/api/stats</a> · <a href="/api/dead-letters">inbox dead letters</a> · <a href="/api/dead-letters?kind=outbox">outbox dead letters</a></p>');
  parts.push(`<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${escapeHtml(d.csrf)}"><button type="submit">Log out</button></form>`);
  return page("unlost admin", parts.join("\n"));
}
