/**
 * The dashboard's actions (POST; the middleware has checked the token or the session and its
 * CSRF token): retry and purge dead letters (one, the selected, by error or chat, all), clear
 * an unreachable chat's mark, pause, resume and cancel a broadcast. A form (a browser) is sent
 * back to its page with the result; a JSON body (a script) gets the result as JSON.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { Logger } from "../../runtime/logger.js";
import type { Store } from "../../store/index.js";
import { BadQuery, deadLetterAction, storeDeadLetterActions, type DeadLetterActionAnswer } from "../dead-letters-api.js";
import { formValues, isForm, json, redirectBack } from "../respond.js";
import type { AdminSource, BroadcastActions } from "../source.js";
import { chatRef } from "../pages/outbox.js";

/** The body of a form as the JSON body of the same action (`id` may repeat: the selected ones). */
async function bodyOf(c: Context): Promise<{ body: Record<string, unknown>; ids: string[]; back: string | undefined } | undefined> {
  if (isForm(c)) {
    const form = await formValues(c);
    const first = (k: string): string | undefined => (form[k]?.[0] === "" ? undefined : form[k]?.[0]);
    const body: Record<string, unknown> = {};
    if (first("all") === "1") body["all"] = true;
    const error = first("error");
    const chat = first("chat");
    if (error !== undefined) body["error"] = error;
    if (chat !== undefined) body["chat"] = chat;
    return { body, ids: (form["id"] ?? []).filter((v) => v !== ""), back: first("back") };
  }
  const raw: unknown = await c.req.json().catch(() => undefined);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const { ids, ...body } = raw as Record<string, unknown>;
  return { body, ids: Array.isArray(ids) ? ids.map(String) : [], back: undefined };
}

/** What the dashboard's action routes need. */
export interface ActionDeps {
  readonly source: AdminSource;
  readonly log: Logger;
  readonly notReady: (c: Context) => Response;
}

/** The store's own broadcast controls, for a store served without a bot. */
function storeBroadcastActions(store: Store): BroadcastActions {
  return {
    pauseBroadcast: (id) => store.outbox.pauseBroadcast(id),
    resumeBroadcast: (id) => store.outbox.resumeBroadcast(id),
    cancelBroadcast: async (id) => (await store.outbox.cancelBroadcast(id)).count,
  };
}

/** Adds the action routes to `app`. */
export function addActionRoutes(app: Hono, deps: ActionDeps): void {
  const { source, log } = deps;
  const answer = (c: Context, back: string | undefined, result: Record<string, unknown>, text: string): Response => (isForm(c) ? redirectBack(c, back, text) : json(c, source, 200, result));
  const refuse = (c: Context, back: string | undefined, message: string): Response => (isForm(c) ? redirectBack(c, back, `Not done: ${message}`) : json(c, source, 400, { error: "bad_request", message }));

  for (const kind of ["inbox", "outbox"] as const) {
    for (const action of ["retry", "purge"] as const) {
      app.post(`/${kind}/${action}`, async (c) => {
        const store = source.store();
        const actions = source.deadLetters?.() ?? (store === undefined ? undefined : storeDeadLetterActions(store, source.clock));
        if (actions === undefined) return deps.notReady(c);
        const request = await bodyOf(c);
        if (request === undefined) return refuse(c, undefined, 'the body must be a form or a JSON object like {"id":123}, {"ids":[1,2]}, {"error":"timeout"} or {"all":true}');
        try {
          let done: DeadLetterActionAnswer;
          if (request.ids.length > 0) {
            // The selected ones: one by one (each its own transaction), counted together.
            let total = 0;
            for (const id of request.ids) {
              const one = kind === "inbox" ? Number(id) : id;
              if (kind === "inbox" && !Number.isSafeInteger(one)) throw new BadQuery(`an inbox dead letter's id is its update id (a number), got "${id}"`);
              total += (await deadLetterAction(actions, action, { kind, id: one })).count;
            }
            done = { kind, action, count: total };
          } else {
            const body: Record<string, unknown> = { ...request.body, kind };
            if (kind === "outbox" && typeof body["chat"] === "string") body["chat"] = chatRef(body["chat"]);
            done = await deadLetterAction(actions, action, body);
          }
          log.info({ ...done }, `dead letters: ${action} through the dashboard`);
          return answer(c, request.back, { ...done }, `${action === "retry" ? "Retried" : "Purged"} ${done.count} ${kind} dead letter${done.count === 1 ? "" : "s"}.`);
        } catch (error) {
          if (error instanceof BadQuery) return refuse(c, request.back, error.message);
          throw error;
        }
      });
    }
  }

  app.post("/outbox/unreachable/clear", async (c) => {
    const store = source.store();
    if (store === undefined) return deps.notReady(c);
    const request = await bodyOf(c);
    const chat = request?.body["chat"];
    if (request === undefined || (typeof chat !== "string" && typeof chat !== "number")) return refuse(c, request?.back, 'say which chat: {"chat": 123}');
    const cleared = await store.outbox.clearUnreachable(typeof chat === "string" ? chatRef(chat) : chat);
    log.info({ chat: String(chat), cleared }, "unreachable mark cleared through the dashboard");
    return answer(c, request.back, { chat, cleared }, cleared ? `Chat ${String(chat)} is no longer marked unreachable.` : `Chat ${String(chat)} was not marked.`);
  });

  for (const action of ["pause", "resume", "cancel"] as const) {
    app.post(`/broadcasts/:id/${action}`, async (c) => {
      const store = source.store();
      const controls = source.broadcasts?.() ?? (store === undefined ? undefined : storeBroadcastActions(store));
      if (controls === undefined) return deps.notReady(c);
      const id = c.req.param("id");
      const request = await bodyOf(c);
      const back = request?.back;
      if (action === "cancel") {
        const cancelled = await controls.cancelBroadcast(id);
        log.info({ broadcast: id, cancelled }, "broadcast cancelled through the dashboard");
        return answer(c, back, { broadcast: id, action, cancelled }, `Broadcast ${id}: cancelled ${cancelled} queued message${cancelled === 1 ? "" : "s"}.`);
      }
      const known = await (action === "pause" ? controls.pauseBroadcast(id) : controls.resumeBroadcast(id));
      if (!known) return isForm(c) ? redirectBack(c, back, `There is no broadcast ${id}.`) : json(c, source, 404, { error: "not_found", message: `there is no broadcast ${id}` });
      log.info({ broadcast: id }, `broadcast ${action}d through the dashboard`);
      return answer(c, back, { broadcast: id, action, ok: true }, `Broadcast ${id} ${action === "pause" ? "paused" : "resumed"}.`);
    });
  }
}
