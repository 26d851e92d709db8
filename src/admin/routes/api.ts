/**
 * The dashboard's data as JSON, for scripts (bearer token) and tests: the chart samples, jobs,
 * one job, broadcasts, updates and traces. Payloads are users' messages: all behind the token.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { isUnlostError } from "../../errors/index.js";
import type { JobState, Priority } from "../../outbound/types.js";
import type { Store, UpdateListOptions } from "../../store/index.js";
import { chatRef } from "../pages/outbox.js";
import { traceOf, traceTarget } from "../pages/trace.js";
import { json } from "../respond.js";
import type { Sampler } from "../samples.js";
import type { AdminSource } from "../source.js";

/** What the API routes need. */
export interface ApiDeps {
  readonly source: AdminSource;
  readonly sampler: Sampler;
  readonly notReady: (c: Context) => Response;
}

/** Adds the API routes to `app`. */
export function addApiRoutes(app: Hono, deps: ApiDeps): void {
  const { source } = deps;
  /** A route that needs the open store; a bad argument (the store's INVALID_ARGUMENT) is a 400. */
  const withStore = (fn: (store: Store, c: Context) => Promise<Response>) => async (c: Context) => {
    const store = source.store();
    if (store === undefined) return deps.notReady(c);
    try {
      return await fn(store, c);
    } catch (error) {
      if (isUnlostError(error) && error.code === "INVALID_ARGUMENT") return json(c, source, 400, { error: "bad_query", message: error.message });
      throw error;
    }
  };
  const limitOf = (c: Context): number | undefined => (c.req.query("limit") === undefined ? undefined : Number(c.req.query("limit")));

  app.get("/api/samples", (c) => json(c, source, 200, { intervalMs: deps.sampler.intervalMs, samples: deps.sampler.samples() }));
  app.get("/api/jobs", withStore(async (store, c) => {
    const q = c.req.query();
    const limit = limitOf(c);
    const page = await store.inspect.jobs({
      ...(q["state"] ? { state: q["state"] as JobState } : {}), ...(q["priority"] ? { priority: q["priority"] as Priority } : {}),
      ...(q["chat"] ? { chatId: chatRef(q["chat"]) } : {}), ...(q["broadcast"] ? { broadcastId: q["broadcast"] } : {}),
      ...(q["cursor"] ? { cursor: q["cursor"] } : {}), ...(limit === undefined ? {} : { limit }), newestFirst: q["order"] !== "oldest",
    });
    return json(c, source, 200, page);
  }));
  app.get("/api/jobs/:id", withStore(async (store, c) => {
    const job = await store.outbox.get(c.req.param("id") ?? "");
    return job === null ? json(c, source, 404, { error: "not_found", message: `there is no job ${c.req.param("id")}` }) : json(c, source, 200, job);
  }));
  app.get("/api/broadcasts", withStore(async (store, c) => json(c, source, 200, { items: await store.inspect.broadcasts({ ...(limitOf(c) === undefined ? {} : { limit: limitOf(c) as number }) }) })));
  app.get("/api/updates", withStore(async (store, c) => {
    const q = c.req.query();
    const limit = limitOf(c);
    const items = await store.inspect.updates({ ...(q["state"] ? { state: q["state"] as UpdateListOptions["state"] & string } : {}), ...(q["chat"] ? { chatKey: q["chat"] } : {}), ...(limit === undefined ? {} : { limit }) });
    return json(c, source, 200, { items: items.map(({ update: _parsed, ...record }) => record) });
  }));
  app.get("/api/trace", withStore(async (store, c) => {
    const target = traceTarget(c.req.query());
    if (target === undefined) return json(c, source, 400, { error: "bad_query", message: "say what to trace: ?update=<update_id>, ?chat=<chat id> or ?user=<user id>" });
    if (typeof target === "string") return json(c, source, 400, { error: "bad_query", message: target });
    return json(c, source, 200, await traceOf(store, target, source.clock()));
  }));
}
