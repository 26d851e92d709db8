/**
 * How the admin server answers: HTML pages that may load nothing from elsewhere, JSON, and the
 * redirect after a form's action; every answer scrubbed of the secrets the source knows. And
 * reading a form's fields.
 *
 * @module
 */
import type { Context } from "hono";
import type { AdminSource } from "./source.js";

/** What HTML pages may load and do: nothing but their own inline style and forms to this server. */
export const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** An HTML page, scrubbed, that may load nothing from elsewhere. */
export function html(c: Context, source: AdminSource, status: number, text: string): Response {
  return c.body(source.scrub(text), status as 200, { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_POLICY });
}

/** A JSON answer, scrubbed of every secret the source knows. */
export function json(c: Context, source: AdminSource, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Response {
  return c.body(source.scrub(JSON.stringify(body)), status as 200, { ...headers, "Content-Type": "application/json; charset=utf-8" });
}

/** True when the request's body is a form (a browser's POST), not JSON. */
export function isForm(c: Context): boolean {
  const type = c.req.header("content-type") ?? "";
  return type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data");
}

/** A form's fields (every value of a repeated one), or {} for a body that is not a form. Hono caches the parse. */
export async function formValues(c: Context): Promise<Record<string, string[]>> {
  if (!isForm(c)) return {};
  const body = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(body)) {
    const list = Array.isArray(value) ? value : [value];
    out[key] = list.filter((v): v is string => typeof v === "string");
  }
  return out;
}

/** A form field's first value, or undefined. */
export async function formField(c: Context, name: string): Promise<string | undefined> {
  return (await formValues(c))[name]?.[0];
}

/**
 * Back to the page a form was on (`back`, a path of this server only: never another site),
 * with the action's result shown there once (`done`).
 */
export function redirectBack(c: Context, back: string | undefined, done: string): Response {
  const path = back !== undefined && /^\/(?![/\\])[^\s]*$/.test(back) ? back : "/";
  const url = new URL(path, "http://x");
  url.searchParams.set("done", done);
  return c.redirect(`${url.pathname}${url.search}${url.hash}`, 303);
}
