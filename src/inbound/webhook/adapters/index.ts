/**
 * Framework adapters of the webhook, like grammY's `webhookCallback(bot, adapter)`: each turns
 * a framework's request into a {@link WebhookDelivery}, lets the shared core answer it
 * (secret, body limit, durable ingest, status codes: see `ingest.ts`) and writes the answer
 * back the framework's way. The frameworks' types are described structurally: express and
 * fastify are not imported, at run time or for types.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { UnlostError } from "../../../errors/index.js";
import type { WebhookHandle } from "../ingest.js";
import { fetchDelivery, toResponse } from "./fetch.js";
import { nodeDelivery, writeNodeAnswer } from "./node.js";

/** An Express request: node:http's, with the `body` a parser such as `express.json()` may have set. */
export interface ExpressRequestLike extends IncomingMessage {
  /** What a body parser left (an object from `express.json()`, a string, a Buffer), if any ran. */
  body?: unknown;
}

/** An Express (4 or 5) route handler: `app.post("/telegram", handler)`. Resolves once answered; never rejects. */
export type ExpressWebhookHandler = (req: ExpressRequestLike, res: ServerResponse) => Promise<void>;

/** What the fastify adapter uses of fastify's `request`. */
export interface FastifyRequestLike {
  /** The node:http request underneath. */
  readonly raw: IncomingMessage;
  /** The request's headers. */
  readonly headers: IncomingHttpHeaders;
  /** The body as fastify's content-type parser left it (an object for `application/json`). */
  readonly body?: unknown;
}

/** What the fastify adapter uses of fastify's `reply`. */
export interface FastifyReplyLike {
  /** Sets the status code. */
  code(statusCode: number): unknown;
  /** Sets a header. */
  header(key: string, value: string): unknown;
  /** Sends the payload. */
  send(payload: string): unknown;
}

/** A fastify (4 or 5) route handler: `app.post("/telegram", handler)`. Resolves once answered; never rejects. */
export type FastifyWebhookHandler = (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>;

/** What the Hono adapter uses of Hono's context `c`. */
export interface HonoContextLike {
  /** Hono's request. */
  readonly req: {
    /** The Fetch API request. */
    readonly raw: Request;
    /** The body as text: from Hono's cache when a middleware already parsed it. */
    text(): Promise<string>;
  };
}

/** A Hono route handler: `app.post("/telegram", handler)`. */
export type HonoWebhookHandler = (c: HonoContextLike) => Promise<Response>;

/** A node:http (or node:https) request listener: `http.createServer(handler)`. Resolves once answered; never rejects. */
export type HttpWebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A Fetch API handler, `(Request) => Response` (std/http, `Deno.serve`, `Bun.serve`, `@hono/node-server`'s `serve({ fetch })`). */
export type StdHttpWebhookHandler = (request: Request) => Promise<Response>;

/** The handler each adapter returns. */
export interface WebhookHandlers {
  /** Express. */
  express: ExpressWebhookHandler;
  /** fastify. */
  fastify: FastifyWebhookHandler;
  /** Hono. */
  hono: HonoWebhookHandler;
  /** node:http. */
  http: HttpWebhookHandler;
  /** node:https (the same as `http`). */
  https: HttpWebhookHandler;
  /** Fetch API servers. */
  "std/http": StdHttpWebhookHandler;
}

/** The frameworks there is an adapter for (grammY's names). */
export type WebhookAdapterName = keyof WebhookHandlers;

const node = (handle: WebhookHandle): HttpWebhookHandler => async (req, res) => {
  writeNodeAnswer(res, await handle(nodeDelivery(req)));
};

const adapters: { readonly [A in WebhookAdapterName]: (handle: WebhookHandle) => WebhookHandlers[A] } = {
  express: (handle) => async (req, res) => {
    writeNodeAnswer(res, await handle(nodeDelivery(req, () => req.body)));
  },
  fastify: (handle) => async (request, reply) => {
    const answer = await handle(nodeDelivery(request.raw, () => request.body, request.headers));
    reply.code(answer.status);
    for (const [key, value] of Object.entries(answer.headers)) reply.header(key, value);
    reply.send(answer.text);
  },
  hono: (handle) => async (c) => toResponse(await handle(fetchDelivery(c.req.raw, () => c.req.text()))),
  http: node,
  https: node,
  "std/http": (handle) => async (request) => toResponse(await handle(fetchDelivery(request))),
};

/** The names of every adapter, for messages. */
export const WEBHOOK_ADAPTERS: readonly WebhookAdapterName[] = Object.keys(adapters) as WebhookAdapterName[];

/**
 * The handler of `adapter` answering through `handle`.
 *
 * @throws UnlostError `INVALID_ARGUMENT` for a name there is no adapter for.
 */
export function webhookAdapter<A extends WebhookAdapterName>(adapter: A, handle: WebhookHandle): WebhookHandlers[A] {
  if (typeof adapter !== "string" || !Object.hasOwn(adapters, adapter)) {
    throw new UnlostError("INVALID_ARGUMENT", `There is no webhook adapter ${JSON.stringify(adapter)}; use one of ${WEBHOOK_ADAPTERS.map((a) => JSON.stringify(a)).join(", ")}.`);
  }
  return adapters[adapter](handle);
}
