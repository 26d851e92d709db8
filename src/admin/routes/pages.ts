/**
 * The dashboard's pages (GET, HTML): overview, inbox, outbox, a job, broadcasts, trace and
 * search. The middleware has checked the token or the session.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { JobState, Priority } from "../../outbound/types.js";
import type { Store } from "../../store/index.js";
import { broadcastsPage } from "../pages/broadcasts.js";
import { h, page, type PageContext } from "../pages/html.js";
import { inboxPage } from "../pages/inbox.js";
import { overviewPage } from "../pages/overview.js";
import { jobPage, outboxPage } from "../pages/outbox.js";
import { searchPage, tracePage, traceTarget } from "../pages/trace.js";
import { html } from "../respond.js";
import type { Sampler } from "../samples.js";
import type { AdminSource } from "../source.js";

/** What the page routes need. */
export interface PageDeps {
  readonly source: AdminSource;
  readonly sampler: Sampler;
  readonly maxBacklogAgeMs: number;
  /** The CSRF token of the request's session ("" for a bearer request). */
  readonly csrfOf: (c: Context) => string;
}

/** The page context of a request: its session's CSRF token, where it is (without `done`), the notice. */
function contextOf(c: Context, deps: PageDeps): PageContext {
  const url = new URL(c.req.url);
  const notice = url.searchParams.get("done") ?? undefined;
  url.searchParams.delete("done");
  return { csrf: deps.csrfOf(c), here: `${url.pathname}${url.search}`, notice, now: deps.source.clock() };
}

const oneOf = <T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined => (allowed as readonly string[]).includes(value ?? "") ? (value as T) : undefined;

/** Adds the page routes to `app`. */
export function addPageRoutes(app: Hono, deps: PageDeps): void {
  const { source } = deps;
  /** A page that needs the open store; 503 with a page saying so otherwise. */
  const withStore = (render: (ctx: PageContext, store: Store, c: Context) => Promise<string | undefined>) => async (c: Context) => {
    const ctx = contextOf(c, deps);
    const store = source.store();
    if (store === undefined) return html(c, source, 503, page(ctx, "Not ready", h`<h1>Not ready</h1><p class="bad">The store is not open (the runtime is starting or stopped). Reload in a moment.</p>`));
    const text = await render(ctx, store, c);
    if (text === undefined) return html(c, source, 404, page(ctx, "Not found", h`<h1>Not found</h1><p>No such ${c.req.path.startsWith("/outbox/jobs/") ? "job" : "page"}: ${c.req.path}</p>`));
    return html(c, source, 200, text);
  };

  app.get("/", async (c) => html(c, source, 200, await overviewPage(contextOf(c, deps), { source, sampler: deps.sampler, maxBacklogAgeMs: deps.maxBacklogAgeMs })));
  app.get("/inbox", withStore((ctx, store, c) => inboxPage(ctx, store, { error: c.req.query("error") || undefined, chat: c.req.query("chat") || undefined })));
  app.get("/outbox", withStore((ctx, store, c) => outboxPage(ctx, store, {
    state: oneOf<JobState>(c.req.query("state"), ["queued", "sending", "delivered", "failed", "cancelled"]),
    priority: oneOf<Priority>(c.req.query("priority"), ["critical", "high", "normal", "low"]),
    chat: c.req.query("chat") || undefined, broadcast: c.req.query("broadcast") || undefined, cursor: /^\d{1,16}$/.test(c.req.query("cursor") ?? "") ? c.req.query("cursor") : undefined, error: c.req.query("error") || undefined,
  })));
  app.get("/outbox/jobs/:id", withStore((ctx, store, c) => jobPage(ctx, store, c.req.param("id") ?? "")));
  app.get("/broadcasts", withStore((ctx, store) => broadcastsPage(ctx, store)));
  app.get("/trace", withStore((ctx, store, c) => tracePage(ctx, store, traceTarget(c.req.query()))));
  app.get("/search", withStore((ctx, store, c) => searchPage(ctx, store, c.req.query("q") ?? "")));
}
