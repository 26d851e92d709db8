/**
 * The admin server: a small Hono app on its own port (127.0.0.1 by default).
 *
 * | endpoint | auth | answer |
 * |---|---|---|
 * | `GET /healthz` | none | 200 `{ alive: true }` while the process answers |
 * | `GET /readyz` | none | 200 when ready, 503 with the reasons when not (see health.ts) |
 * | `GET /metrics` | none (`publicMetrics: false`: token) | Prometheus text |
 * | `GET /api/stats` | token | the runtime's and the store's counts as JSON |
 * | `GET /api/dead-letters` | token | a page of dead letters with payload, error, stack (see dead-letters-api.ts) |
 * | `POST /api/dead-letters/retry`, `/purge` | token | acts on the dead letters a JSON body selects |
 * | `GET /api/samples`, `/api/jobs`, `/api/jobs/:id`, `/api/broadcasts`, `/api/updates`, `/api/trace` | token | the dashboard's data (see routes/api.ts) |
 * | `GET /login`, `POST /login` | none | the login form: the token for a session cookie |
 * | `GET /`, `/inbox`, `/outbox`, `/outbox/jobs/:id`, `/broadcasts`, `/trace`, `/search` | token | the dashboard's pages (HTML, see pages/) |
 * | `POST /inbox/retry`, `/inbox/purge`, `/outbox/retry`, `/outbox/purge`, `/outbox/unreachable/clear`, `/broadcasts/:id/pause`, `…/resume`, `…/cancel` | token + CSRF | the dashboard's actions (see routes/actions.ts) |
 * | `POST /logout` | token | ends the session |
 *
 * Probes and scrapers come without credentials, and what they get is free of user data; the
 * rest needs the admin token: as a bearer header (scripts), or a session cookie from the login
 * form (browsers), with which every POST must also carry the session's CSRF token. Every answer passes through the scrubber: whatever a store
 * error quotes, no answer carries the bot token, the webhook secret or the admin token.
 *
 * @module
 */
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Logger } from "../runtime/logger.js";
import { gracefulServer } from "../inbound/webhook/listener.js";
import { bearerCheck, type AuthCheck } from "./auth.js";
import { BadQuery, deadLetterAction, listDeadLetters, storeDeadLetterActions } from "./dead-letters-api.js";
import { liveness, readiness } from "./health.js";
import { loginPage } from "./pages/login.js";
import { formField, html, json } from "./respond.js";
import { addActionRoutes } from "./routes/actions.js";
import { addApiRoutes } from "./routes/api.js";
import { addPageRoutes } from "./routes/pages.js";
import { Sampler } from "./samples.js";
import { sameSecret, Sessions, SESSION_COOKIE, SESSION_TTL_MS } from "./sessions.js";
import { createAdminMetrics, type AdminMetrics } from "./metrics.js";
import type { ResolvedAdminOptions } from "./options.js";
import type { AdminSource } from "./source.js";
import { probeStore } from "./store-probe.js";

/** Paths answered without the token (see the module's table). */
const OPEN: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/login"]);

/** How long closing waits for requests in progress, ms (scrapes and probes are short). */
const CLOSE_TIMEOUT_MS = 2_000;

/** Options of {@link createAdminApp}. */
export interface AdminAppOptions {
  /** What the endpoints read. */
  readonly source: AdminSource;
  /** The resolved `admin` options. */
  readonly options: ResolvedAdminOptions;
  /** The token in effect (see `adminToken`); undefined: protected endpoints answer 403. */
  readonly token: string | undefined;
  /** Where request failures are logged. */
  readonly logger: Logger;
}

/** A listening admin server. */
export interface AdminListener {
  /** `http://host:port`. */
  readonly url: string;
  /** The port bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting; resolves once requests in progress are answered. Idempotent. */
  close(): Promise<void>;
}

/** The admin app of one source; listens once per runtime start. */
export interface AdminApp {
  /** The Hono app (`app.request(...)` answers without a port, e.g. in tests). */
  readonly app: Hono;
  /** The metrics registry behind `/metrics`. */
  readonly metrics: AdminMetrics;
  /** The overview's chart samples (taken while the app listens). */
  readonly sampler: Sampler;
  /** Serves the app on `options.host:options.port`. */
  listen(): Promise<AdminListener>;
}

/** Builds the admin app of `source`. Create it once per runtime: its registry lives as long. */
export function createAdminApp(appOptions: AdminAppOptions): AdminApp {
  const { source, options, logger } = appOptions;
  const metrics = createAdminMetrics(source);
  const check: AuthCheck = bearerCheck(appOptions.token);
  const token = appOptions.token;
  const sessions = new Sessions();
  const sessionOf = (c: Context) => sessions.get(getCookie(c, SESSION_COOKIE));
  const log = logger.child({ component: "admin" });
  const sampler = new Sampler(source, options.sampleIntervalMs);
  const app = new Hono();
  const notReady = (c: Context): Response => json(c, source, 503, { error: "not_ready", message: "the store is not open (the runtime is starting or stopped)" });

  app.use("*", async (c, next) => {
    // Nothing the admin server answers is worth a cache (or a sniffed content type), refusals included.
    c.header("Cache-Control", "no-store");
    c.header("X-Content-Type-Options", "nosniff");
    const path = c.req.path;
    if (OPEN.has(path) || (options.publicMetrics && path === "/metrics")) return next();
    const authorization = c.req.header("authorization");
    // A bearer header is sent only by code that holds the token: no CSRF check needed. Without
    // a configured token, every way in ends in the refusal that says how to set one.
    if (authorization !== undefined || token === undefined || getCookie(c, SESSION_COOKIE) === undefined) {
      const refusal = check(authorization);
      if (refusal === undefined) return next();
      if (authorization === undefined && isPage(c) && token !== undefined) return c.redirect("/login", 303);
      return json(c, source, refusal.status, refusal.body, refusal.headers);
    }
    const session = sessionOf(c);
    if (session === undefined) {
      if (isPage(c)) return c.redirect("/login", 303);
      return json(c, source, 401, { error: "unauthorized", message: "the session expired or is unknown: log in again at /login" });
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const given = c.req.header("x-csrf-token") ?? (await formField(c, "_csrf"));
      if (given === undefined || !sameSecret(given, session.csrf)) {
        return json(c, source, 403, { error: "csrf", message: "a POST with the session cookie needs the session's CSRF token (X-CSRF-Token header or _csrf field)" });
      }
    }
    await next();
  });

  app.get("/login", (c) => (token === undefined ? html(c, source, 403, loginPage("No admin token is configured: set UNLOST_ADMIN_TOKEN (at least 16 characters) and restart.")) : html(c, source, 200, loginPage())));
  app.post("/login", async (c) => {
    if (token === undefined) return html(c, source, 403, loginPage("No admin token is configured: set UNLOST_ADMIN_TOKEN (at least 16 characters) and restart."));
    const given = await formField(c, "token");
    if (given === undefined || !sameSecret(given.trim(), token)) return html(c, source, 401, loginPage("That is not the admin token."));
    const { id } = sessions.create();
    const secure = new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: "Strict", path: "/", maxAge: SESSION_TTL_MS / 1_000, secure });
    log.info("admin login");
    return c.redirect("/", 303);
  });
  app.post("/logout", (c) => {
    sessions.delete(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });
  app.get("/healthz", (c) => json(c, source, 200, liveness()));
  app.get("/readyz", async (c) => {
    const ready = await readiness(source, options.maxBacklogAgeMs);
    return json(c, source, ready.ready ? 200 : 503, ready);
  });
  app.get("/metrics", async (c) => {
    const text = source.scrub(await metrics.render());
    return c.body(text, 200, { "Content-Type": metrics.contentType });
  });
  app.get("/api/stats", async (c) => {
    const probe = await probeStore(source);
    const runtime = source.runtime;
    return json(c, source, 200, {
      store: probe.ok ? { ok: true, inbox: probe.inbox, outbox: probe.outbox } : { ok: false, reason: probe.reason },
      ...(runtime === undefined ? {} : { runtime: { mode: runtime.mode, state: runtime.state(), counters: runtime.counters(), delivery: runtime.delivery() ?? null } }),
    });
  });
  addPageRoutes(app, { source, sampler, maxBacklogAgeMs: options.maxBacklogAgeMs, csrfOf: (c) => sessionOf(c)?.csrf ?? "" });
  addApiRoutes(app, { source, sampler, notReady });
  addActionRoutes(app, { source, log, notReady });
  app.get("/api/dead-letters", async (c) => {
    const store = source.store();
    if (store === undefined) return notReady(c);
    try {
      return json(c, source, 200, await listDeadLetters(store, c.req.query()));
    } catch (error) {
      if (error instanceof BadQuery) return json(c, source, 400, { error: "bad_query", message: error.message });
      throw error;
    }
  });
  for (const action of ["retry", "purge"] as const) {
    app.post(`/api/dead-letters/${action}`, async (c) => {
      const store = source.store();
      const actions = source.deadLetters?.() ?? (store === undefined ? undefined : storeDeadLetterActions(store, source.clock));
      if (actions === undefined) return json(c, source, 503, { error: "not_ready", message: "the store is not open (the runtime is starting or stopped)" });
      const body: unknown = await c.req.json().catch(() => undefined);
      try {
        const done = await deadLetterAction(actions, action, body);
        log.info({ ...done }, `dead letters: ${action} through the admin API`);
        return json(c, source, 200, done);
      } catch (error) {
        if (error instanceof BadQuery) return json(c, source, 400, { error: "bad_request", message: error.message });
        throw error;
      }
    });
  }
  app.notFound((c) => json(c, source, 404, { error: "not_found", message: `no such endpoint: ${c.req.method} ${c.req.path}` }));
  app.onError((error, c) => {
    log.error({ err: error, path: c.req.path }, "admin request failed");
    // The details are in the (scrubbed) log; the answer says only where to look.
    return json(c, source, 500, { error: "internal", message: "the admin request failed; see the bot's log" });
  });

  return {
    app,
    metrics,
    sampler,
    async listen() {
      const server = gracefulServer((request) => Promise.resolve(app.fetch(request)), "The admin server");
      const listening = await server.listen({ port: options.port, host: options.host }, "");
      sampler.start();
      return {
        url: listening.url, port: listening.port,
        close: () => {
          sampler.stop();
          return server.close(CLOSE_TIMEOUT_MS);
        },
      };
    },
  };
}

/** The dashboard's pages: a browser that asks for one without a session is sent to the login form. */
const PAGES = /^\/(?:$|inbox$|outbox(?:$|\/jobs\/)|broadcasts$|trace$|search$)/;

/** A browser's GET of a page (not the API, not an unknown path). */
function isPage(c: Context): boolean {
  return c.req.method === "GET" && PAGES.test(c.req.path);
}
