/**
 * The dashboard's HTML toolkit: escaping, the page frame (navigation, style), tables, forms
 * that carry the session's CSRF token, times. Pages are rendered on the server with no script
 * (the pages' policy forbids any); every value passes {@link escapeHtml} through {@link h} or
 * the helpers here, and the whole page passes through the scrubber like every other answer.
 *
 * @module
 */

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` safe inside HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

/** HTML that is already safe (made by {@link h} or the helpers): never wrap user text in it directly. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A value a template may hold: text (escaped), a number, safe HTML, a list of those, or nothing. */
export type Part = string | number | Html | null | undefined | false | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return "";
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join("");
  return escapeHtml(String(part as string | number));
}

/** A template tag: every interpolated value is escaped unless it is {@link Html}. */
export function h(strings: TemplateStringsArray, ...values: readonly Part[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

/** What every page of a session knows: its CSRF token and where it is (for the navigation and the forms' way back). */
export interface PageContext {
  /** The session's CSRF token ("" for a bearer request, which needs none). */
  readonly csrf: string;
  /** The request's path and query, where an action returns to. */
  readonly here: string;
  /** A message from the action that led here (`?done=`), shown once. */
  readonly notice?: string | undefined;
  /** The time the page shows as "now" (ms epoch). */
  readonly now: number;
}

const STYLE = `
:root{--bad:#b3261e;--ok:#1b7f3b;--warn:#8a5a00;--muted:#667;--line:#d8dbe2;--bg:#f6f7f9}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d1f24;background:#fff}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;padding:.6rem 1.2rem;background:#1d2330;color:#fff}
header a{color:#cfd6e4;text-decoration:none;padding:.2rem .45rem;border-radius:4px}header a.on,header a:hover{background:#39425a;color:#fff}
header strong{margin-right:.6rem}header form{margin:0}header .grow{flex:1}
header input[type=search]{padding:.3rem .5rem;border-radius:4px;border:0;width:16rem}
main{padding:1rem 1.2rem;max-width:84rem}h1{font-size:1.35rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;width:100%}td,th{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:var(--bad)}.ok{color:var(--ok)}.warn{color:var(--warn)}.muted{color:var(--muted)}
tr.stuck td{background:#fdecea}.pill{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:var(--bg);border:1px solid var(--line);font-size:.85em}
.pill.bad{background:#fdecea;border-color:#f3b7b1}.pill.ok{background:#e7f5ec;border-color:#a9d8b8}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.7rem;margin:.5rem 0 1rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.55rem .75rem}.card b{display:block;font-size:1.35rem}.card span{color:var(--muted);font-size:.85em}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(24rem,1fr));gap:.8rem}
code{font-size:.9em}figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem}figcaption{font-weight:600;margin-bottom:.2rem}
.legend span{margin-right:.8rem;font-size:.85em}.legend i{display:inline-block;width:.8rem;height:.25rem;margin-right:.3rem;vertical-align:middle}
pre{background:var(--bg);border:1px solid var(--line);padding:.5rem;overflow:auto;max-height:20rem;font-size:12px;white-space:pre-wrap;word-break:break-word}
form.inline{display:inline;margin:0}button{cursor:pointer;padding:.25rem .7rem;border:1px solid #9aa3b5;border-radius:4px;background:#fff}
button.danger{border-color:#e2a29c;color:var(--bad)}.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.4rem 0}
.notice{padding:.5rem .8rem;border-radius:6px;background:#e7f5ec;border:1px solid #a9d8b8;margin-bottom:.8rem}
.bar{height:.55rem;background:var(--bg);border:1px solid var(--line);border-radius:4px;overflow:hidden;min-width:8rem}.bar i{display:block;height:100%;background:#3b82f6}
ol.timeline{list-style:none;padding:0;margin:.3rem 0 1rem;border-left:3px solid var(--line)}ol.timeline li{padding:.2rem .6rem}ol.timeline li.bad{border-left:3px solid var(--bad);margin-left:-3px}
ol.timeline time{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:.6rem}
.verdict{font-size:1.05rem;padding:.5rem .8rem;border-radius:6px;border:1px solid var(--line)}.verdict.bad{background:#fdecea;border-color:#f3b7b1}.verdict.ok{background:#e7f5ec;border-color:#a9d8b8}
input,select{font:inherit}label{margin-right:.6rem}`;

const NAV: readonly [string, string][] = [["/", "Overview"], ["/inbox", "Inbox"], ["/outbox", "Outbox"], ["/broadcasts", "Broadcasts"], ["/trace", "Trace"]];

/** A whole page: navigation with search and logout, the notice, the body. */
export function page(ctx: PageContext, title: string, body: Html, options: { readonly refreshSeconds?: number } = {}): string {
  const path = ctx.here.split("?")[0] ?? "/";
  const nav = NAV.map(([href, label]) => h`<a href="${href}" class="${(href === "/" ? path === "/" : path.startsWith(href)) ? "on" : ""}">${label}</a>`);
  const refresh = options.refreshSeconds === undefined ? "" : `<meta http-equiv="refresh" content="${options.refreshSeconds}">`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${refresh}<title>${escapeHtml(title)} · unlost</title><style>${STYLE}</style></head><body>${h`<header><strong>unlost</strong>${nav}<span class="grow"></span>
<form method="get" action="/search"><input type="search" name="q" placeholder="chat id, user id or update id" aria-label="search"></form>
${csrfForm(ctx, "/logout", "Log out")}</header><main>${ctx.notice === undefined ? "" : h`<p class="notice" role="status">${ctx.notice}</p>`}${body}</main>`.text}</body></html>`;
}

/** The login page (no navigation: nobody is logged in). */
export function bare(title: string, body: Html): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body.text}</main></body></html>`;
}

/** The hidden fields every action form carries: the CSRF token and the way back. */
export function hidden(ctx: PageContext): Html {
  return h`<input type="hidden" name="_csrf" value="${ctx.csrf}"><input type="hidden" name="back" value="${ctx.here}">`;
}

/** A one-button POST form (with the CSRF token); `fields` become hidden inputs. */
export function csrfForm(ctx: PageContext, action: string, label: string, fields: Readonly<Record<string, string | number>> = {}, danger = false): Html {
  const inputs = Object.entries(fields).map(([k, v]) => h`<input type="hidden" name="${k}" value="${String(v)}">`);
  return h`<form class="inline" method="post" action="${action}">${hidden(ctx)}${inputs}<button type="submit" class="${danger ? "danger" : ""}">${label}</button></form>`;
}

/** A table: a header row and rows of cells (text is escaped; {@link Html} cells stay). `num` marks right-aligned columns. */
export function table(head: readonly string[], rows: readonly (readonly Part[])[], options: { readonly num?: readonly number[]; readonly rowClass?: (i: number) => string; readonly empty?: string } = {}): Html {
  if (rows.length === 0) return h`<p class="muted">${options.empty ?? "None."}</p>`;
  const num = new Set(options.num ?? []);
  const cls = (i: number) => (num.has(i) ? "num" : "");
  return h`<table><thead><tr>${head.map((c, i) => h`<th class="${cls(i)}">${c}</th>`)}</tr></thead><tbody>${rows.map((row, r) => h`<tr class="${options.rowClass?.(r) ?? ""}">${row.map((c, i) => h`<td class="${cls(i)}">${c}</td>`)}</tr>`)}</tbody></table>`;
}

/** A time as `HH:MM:SS` UTC (`.mmm` with `ms`) with the date when not today, in a <time> element. */
export function time(at: number | null, now: number, ms = false): Html {
  if (at === null) return h`<span class="muted">—</span>`;
  const iso = new Date(at).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  const clock = iso.slice(11, ms ? 23 : 19);
  return h`<time datetime="${iso}">${sameDay ? clock : `${iso.slice(0, 10)} ${clock}`}</time>`;
}

/** A duration in words ("850 ms", "12 s", "4 min", "3 h 5 min"). */
export { formatDuration as duration } from "../../cli/format.js";

/** A number with thin thousands separators. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** A link to a chat's or an update's timeline. */
export function traceLink(kind: "update" | "chat", id: number | string): Html {
  return h`<a href="/trace?${kind}=${encodeURIComponent(String(id))}">${String(id)}</a>`;
}

/** JSON text indented for reading (as it is when it does not parse). */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
